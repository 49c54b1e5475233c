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
    args = [
        "--json",
        "--sizes",
        "160x120",
        "--fps",
        "4",
        "--frames",
        "10",
        "--latency-rounds",
        "2",
        "--max-frames",
        "6",
    ]
    assert pipeline.main(args) == 0
    out = json.loads(capsys.readouterr().out)
    (row,) = out["rows"]
    assert row["size"] == "160x120" and row["frames"] == 10 and row["rounds"] == 2
    assert len(row["clouds"]) == len(row["masks"]) == 2
    assert all(0 < n <= 10 for n in row["clouds"] + row["masks"])
    assert len(row["cloud_framework_rounds_ms"]) == 2
    # the sinks log the publish time of what they got: the framework share is split into its parts
    assert row["cloud_last_hop_ms"] > 0 and row["seg_last_hop_ms"] > 0
    assert isinstance(row["cloud_into_enc_ms"], float) and isinstance(row["cloud_between_ms"], float)
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


def test_rounds_are_reported_by_their_medians_and_the_target_judged_on_them(monkeypatch: pytest.MonkeyPatch) -> None:
    def fake_round(framework: float, e2e: float, enc: float) -> dict:
        return {
            "size": "8x8",
            "fps_offered": 3.0,
            "frames": 4,
            "encoder": "x",
            "clouds": 4,
            "masks": 4,
            "warmup_frames_skipped": 2,
            "cloud_e2e_p50_ms": e2e,
            "cloud_e2e_p99_ms": e2e + 10,
            "seg_e2e_p50_ms": None,
            "seg_e2e_p99_ms": None,
            "throughput_fps": 3.0,
            "drops": {"cloud": 1},
            "compute_ms": {"enc": enc, "seg": None},
            "stage_lat_p50_ms": {"enc": enc + 1, "seg": None},
            "cloud_e2e_mean_ms": e2e,
            "seg_e2e_mean_ms": None,
            "cloud_compute_ms": e2e - framework,
            "cloud_framework_ms": framework,
            "cloud_framework_pct": 100 * framework / e2e,
            "cloud_target_ms": max(0.05 * e2e, 5.0),
            "cloud_target_met": framework <= max(0.05 * e2e, 5.0),
            "seg_compute_ms": None,
            "seg_framework_ms": None,
            "seg_framework_pct": None,
            "seg_target_met": None,
            "memory_mb": 100.0 + e2e,
            "memory_by_node_mb": {"enc": e2e},
            "wall_s": 1.0,
        }

    third = fake_round(5.5, 100.0, 70.0)
    third["seg_framework_ms"], third["seg_e2e_mean_ms"] = 2.0, 60.0  # only one round has a mask path: its median
    rounds = iter([fake_round(9.0, 110.0, 80.0), fake_round(4.0, 120.0, 90.0), third])
    monkeypatch.setattr(pipeline, "latency_round", lambda *a: next(rounds))
    row = pipeline.bench_size((8, 8), 3.0, 4, max_frames=0, rounds=3)
    assert row["cloud_framework_rounds_ms"] == [9.0, 4.0, 5.5]
    assert row["cloud_framework_ms"] == 5.5 and row["cloud_e2e_mean_ms"] == 110.0 and row["cloud_target_ms"] == 5.5
    assert row["cloud_framework_pct"] == 5.0  # 5.5 of 110, from the medians (the rounds' % have median 5.5)
    assert row["cloud_target_met"] is True  # the first round alone would have missed it (9.0 > 5.5)
    assert row["compute_ms"] == {"enc": 80.0, "seg": None} and row["stage_lat_p50_ms"]["enc"] == 81.0
    assert row["clouds"] == [4, 4, 4] and row["drops"] == {"cloud": 3} and row["memory_mb"] == 220.0
    assert row["seg_framework_ms"] == 2.0 and row["seg_target_met"] is True
    assert "[9.0, 4.0, 5.5]" in pipeline.render([row], {"machine": "m"})
