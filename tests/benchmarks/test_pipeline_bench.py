"""Smoke test of benchmarks/pipeline.py: a tiny run (160x120, a few frames; ~8 s) gives a well-formed row."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

pytest.importorskip("onnxruntime")
BENCH = Path(__file__).resolve().parents[2] / "benchmarks"
sys.path.insert(0, str(BENCH))

import pipeline  # noqa: E402

from ar_perception.models.heads import default_head_path  # noqa: E402


def test_graph_text_parses_in_both_modes(tmp_path: Path) -> None:
    for reliable in (False, True):
        g = pipeline.parse_graph(
            pipeline.graph_text((160, 120), 4, 3, not reliable, reliable, str(tmp_path)),
            "<test>",
            search_paths=[str(pipeline.ROOT)],
        )
        assert [n.id for n in g.spec.nodes] == [
            "cam",
            "enc",
            "seg",
            "depth",
            "cloud",
            "log_seg",
            "log_cloud",
            "log_encoder",
        ]
        sync = g.node("cloud").sync
        assert sync is not None and sync.mode == "exact"
        want = "reliable" if reliable else "fifo"
        assert g.node("cloud").inputs["depth"].queue.policy == want


@pytest.mark.skipif(not default_head_path("seg").is_file(), reason="default heads not built")
def test_tiny_run_gives_well_formed_rows(capsys: pytest.CaptureFixture[str]) -> None:
    assert pipeline.main(["--json", "--sizes", "160x120", "--fps", "4", "--frames", "10", "--max-frames", "6"]) == 0
    out = json.loads(capsys.readouterr().out)
    (row,) = out["rows"]
    assert row["size"] == "160x120" and row["frames"] == 10
    assert 0 < row["clouds"] <= 10 and 0 < row["masks"] <= 10
    for k in ("cloud_e2e_p50_ms", "cloud_e2e_p99_ms", "seg_e2e_p50_ms", "seg_e2e_p99_ms"):
        assert row[k] > 0, k
    assert row["cloud_e2e_p99_ms"] >= row["cloud_e2e_p50_ms"]
    assert row["cloud_compute_ms"] > 0 and row["seg_compute_ms"] > 0
    assert isinstance(row["cloud_framework_ms"], float) and isinstance(row["cloud_target_met"], bool)
    assert row["throughput_fps"] is None or row["throughput_fps"] > 0
    assert row["max_throughput_fps"] is None or row["max_throughput_fps"] > 0
    assert row["memory_mb"] > 0 and set(row["memory_by_node_mb"]) >= {"cam", "enc", "cloud"}
    assert row["encoder"]
    assert "160x120" in pipeline.render(out["rows"], out)
