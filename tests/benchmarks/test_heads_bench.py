"""Smoke test of benchmarks/heads.py: one repeat of each measurement gives well-formed rows."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

pytest.importorskip("open3d")
pytest.importorskip("safetensors")
BENCH = Path(__file__).resolve().parents[2] / "benchmarks"
sys.path.insert(0, str(BENCH))

import heads  # noqa: E402

from ar_perception.models.heads import default_head_path  # noqa: E402


@pytest.mark.skipif(not default_head_path("seg").is_file(), reason="default heads not built")
def test_tiny_run_gives_well_formed_rows() -> None:
    rows = heads.bench_heads(1)
    assert [(r["head"], r["grid"]) for r in rows] == [
        ("seg", "16x16"),
        ("seg", "16x21"),
        ("depth", "16x16"),
        ("depth", "16x21"),
    ]
    assert all(r["predict_ms"] > 0 and r["logits_ms"] > 0 for r in rows)
    cloud = heads.bench_pointcloud(1)
    assert [r["voxel_m"] for r in cloud] == [None, 0.05]
    assert cloud[0]["points_median"] == 640 * 480 and 0 < cloud[1]["points_median"] < cloud[0]["points_median"]
