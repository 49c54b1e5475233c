"""Recording and replay through the real runtime: processes, ZeroMQ, reliable edges."""

import json
import shutil
import time
from itertools import pairwise
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from ar_perception.cli import app
from ar_perception.errors import GraphError, RecordingError
from ar_perception.graph.load import parse_graph
from ar_perception.graph.spec import QueueSpec
from ar_perception.nodes.replay import Replay
from ar_perception.recording import RecordingReader
from ar_perception.recording.graphs import for_replay, with_recorder
from ar_perception.runtime.harness import run_source
from ar_perception.runtime.launch import run_graph

from .conftest import same

runner = CliRunner()

PIPELINE = """
nodes:
  - {id: cam, node: pattern, params: {fps: 60, frames: 30, size: [64, 48]}}
  - {id: inv, node: invert, inputs: {image: {source: cam/image, queue: reliable}}}
"""

# What a camera graph looks like; `arp replay --graph` replaces `cam` (a source) by the recording.
CAMERA_GRAPH = """
nodes:
  - id: cam
    node: sim
    params: {fps: 5, size: [320, 240]}
  - id: inv
    node: invert
    inputs: {image: cam/image}
  - id: out
    node: sink
    inputs: {in: inv/image}
"""


# `trail` passes frame i on only once frame i + 4 has reached it, so `pair` gets each frame's trailing copy
# after images 0.8 s of capture time newer: past its sync timeout.
LAGGING_GRAPH = """
nodes:
  - {id: cam, node: sim, params: {fps: 5, size: [320, 240]}}
  - {id: trail, node: "lagging:Trail", params: {behind: 4, frames: 35}, inputs: {image: cam/image}}
  - id: pair
    node: "lagging:Pair"
    inputs: {image: cam/image, late: trail/image}
    sync: {mode: exact, timeout: 0.3}
  - {id: out, node: sink, params: {log: LOG}, inputs: {in: pair/pair}}
"""


def pattern_frame(i: int, w: int = 64, h: int = 48) -> np.ndarray:
    yy, xx = np.mgrid[0:h, 0:w]
    return np.stack([(xx + 4 * i) % 256, (yy + 2 * i) % 256, np.full_like(xx, (i * 8) % 256)], -1).astype(np.uint8)


def test_record_a_running_graph_losslessly(tmp_path):
    out = tmp_path / "rec.mcap"
    g, chosen = with_recorder(PIPELINE, str(tmp_path / "p.yaml"), out)
    assert chosen == ["cam/image", "inv/image"]
    r = run_graph(g, 30)
    assert r.reason == "all sources ended" and r.nodes["recorder"].exit_code == 0
    assert r.nodes["recorder"].stats["drops"] == {"cam/image": 0, "inv/image": 0}
    rec = RecordingReader(out)
    assert {t: i.count for t, i in rec.topics.items()} == {"cam/image": 30, "inv/image": 30}
    cams, invs = rec.read_topic("cam/image"), rec.read_topic("inv/image")
    assert [m.seq for m in cams] == list(range(30)) == [m.meta["frame"] for m in invs]
    for i, (c, v) in enumerate(zip(cams, invs, strict=True)):
        assert (c.data == pattern_frame(i)).all() and (v.data == 255 - c.data).all()
        assert c.capture_ns == v.capture_ns and c.publish_ns <= v.publish_ns
    assert "node: recorder" in rec.graph and "id: cam" in rec.graph  # the graph as it ran


def test_recorder_inputs_must_be_reliable_and_present():
    with pytest.raises(GraphError) as e:
        parse_graph(
            """
nodes:
  - {id: cam, node: pattern}
  - {id: rec, node: recorder, params: {file: x.mcap}, inputs: {img: cam/image}}
  - {id: rec2, node: recorder, params: {file: y.mcap}}
""",
            "g.yaml",
        )
    assert e.value.problems == [
        "g.yaml: nodes[1] (rec).inputs.img: 'recorder' must never drop, so its inputs need queue: reliable "
        "(got latest)",
        "g.yaml: nodes[2] (rec2).inputs: 'recorder' needs at least one input (got none)",
    ]


def test_record_topic_patterns(tmp_path):
    _, chosen = with_recorder(PIPELINE, "p.yaml", tmp_path / "x.mcap", topics=["inv/*"])
    assert chosen == ["inv/image"]
    with pytest.raises(
        RecordingError,
        match=r"^--topics enc/\*: no topic of the graph matches \(it has: cam/image, "
        r"inv/image\)$",
    ):
        with_recorder(PIPELINE, "p.yaml", tmp_path / "x.mcap", topics=["enc/*"])


def _replay_outputs(sample, graph, out):
    r = runner.invoke(app, ["replay", str(sample), "--graph", str(graph), "--speed", "0", "--record", str(out)])
    assert r.exit_code == 0, r.output
    return list(RecordingReader(out).messages())


def test_two_replays_through_a_deterministic_graph_give_bit_identical_outputs(sample, tmp_path):
    graph = tmp_path / "camera.yaml"
    graph.write_text(CAMERA_GRAPH)
    first = _replay_outputs(sample, graph, tmp_path / "a.mcap")
    second = _replay_outputs(sample, graph, tmp_path / "b.mcap")
    recorded = RecordingReader(sample).read_topic("cam/image")
    assert len(first) == len(second) == len(recorded) == 35
    for a, b, src in zip(first, second, recorded, strict=True):
        same(a, b, publish=False)  # only the wall-clock publish times differ
        assert a.topic == "inv/image" and a.capture_ns == src.capture_ns and dict(a.meta) == dict(src.meta)
        assert (a.data == 255 - src.data).all()


def test_speed_0_drops_nothing_at_an_exact_sync_whose_input_trails_past_its_timeout(sample, tmp_path):
    shutil.copy(Path(__file__).with_name("lagging.py"), tmp_path)  # plugins resolve next to the graph file
    log, graph = tmp_path / "pairs.jsonl", tmp_path / "lag.yaml"
    graph.write_text(LAGGING_GRAPH.replace("LOG", str(log)))
    recorded = {t: i.kind for t, i in RecordingReader(sample).topics.items()}
    g, plan = for_replay(graph.read_text(), str(graph), sample, recorded, speed=0)
    assert sorted(plan["made_reliable"]) == ["out.in", "pair.image", "pair.late", "trail.image"]
    r = run_graph(g, 120)
    assert r.reason == "all sources ended", r.reason
    pairs = [json.loads(x)["meta"] for x in log.read_text().splitlines()]
    assert [(p["frame"], p["late_frame"]) for p in pairs] == [(i, i) for i in range(35)]
    assert r.nodes["pair"].stats["drops"] == {"image": 0, "late": 0}
    # Latency counts from the replay, not from the recorded capture (long before): none can exceed the run.
    # `pair` publishes a new Msg (its inputs' clock carries over) and `out` measures on what arrived.
    for node in ("cam", "pair", "out"):
        st = r.nodes[node].stats
        assert 0 <= st["lat_p50_ms"] <= st["lat_p99_ms"] <= r.duration_s * 1000, (node, st)


def test_replay_keeps_the_original_timing_scaled_by_speed(sample, tmp_path):
    # Reliable wires: on a loaded machine a `latest` queue may drop frames, which is not what this tests.
    text = CAMERA_GRAPH.replace("inputs: {in: inv/image}", "inputs: {in: {source: inv/image, queue: reliable}}")
    text = text.replace("inputs: {image: cam/image}", "inputs: {image: {source: cam/image, queue: reliable}}")
    recorded = {t: i.kind for t, i in RecordingReader(sample).topics.items()}
    g, _ = for_replay(text, "camera.yaml", sample, recorded, speed=4.0, start=1.0, end=6.0)
    t0 = time.monotonic()
    r = run_graph(g, 30)
    took = time.monotonic() - t0
    assert r.nodes["out"].stats["in"] == {"in": 26}  # frames at 1.0, 1.2, ..., 6.0 s
    assert took >= 5.0 / 4  # never ahead of the recorded schedule
    assert r.duration_s < 5.0  # and not at the original pace either


def test_replay_start_end_loop_and_restamp(sample):
    out = run_source(
        Replay, {"file": str(sample), "topics": {"image": "cam/image"}, "speed": 0, "start": 2.0, "end": 3.0}, limit=100
    )
    assert [m.meta["frame"] for _, m in out] == [10, 11, 12, 13, 14, 15]
    looped = run_source(
        Replay,
        {"file": str(sample), "topics": {"image": "cam/image"}, "speed": 0, "start": 2.0, "end": 3.0, "loop": True},
        limit=14,
    )
    assert [m.meta["frame"] for _, m in looped] == [10, 11, 12, 13, 14, 15] * 2 + [10, 11]
    caps = [m.capture_ns for _, m in looped]
    assert all(b > a for a, b in pairwise(caps))  # capture times keep growing over loops
    assert caps[6] - caps[5] == caps[5] - caps[4]  # one frame interval between passes
    now = time.time_ns()
    restamped = run_source(
        Replay, {"file": str(sample), "topics": {"a": "mic/audio"}, "speed": 0, "restamp": True}, limit=3
    )
    assert abs(restamped[0][1].capture_ns - now) < 5e9


def test_replay_refuses_a_graph_that_reads_topics_the_recording_lacks(sample, tmp_path):
    graph = tmp_path / "depth.yaml"
    graph.write_text(CAMERA_GRAPH + "  - {id: d, node: sink, inputs: {in: cam/depth}}\n")
    r = runner.invoke(app, ["replay", str(sample), "--graph", str(graph)])
    assert r.exit_code == 1
    assert r.output.strip().splitlines() == [
        f"{graph}: nodes[3] (d).inputs.in: reads 'cam/depth', which the recording {sample} does not hold "
        "(recorded topics of 'cam': cam/camera, cam/depth_gt, cam/image, cam/instances_gt, cam/labels_gt; "
        "all recorded topics: cam/camera, cam/depth_gt, cam/image, cam/instances_gt, cam/labels_gt, mic/audio)"
    ]


def test_replay_checks_recorded_kinds_against_the_graph(sample):
    text = CAMERA_GRAPH.replace("inputs: {image: cam/image}", "inputs: {image: cam/depth_gt}")
    recorded = {t: i.kind for t, i in RecordingReader(sample).topics.items()}
    with pytest.raises(
        GraphError,
        match=r"camera.yaml: nodes\[1\] \(inv\).inputs.image: kind mismatch: 'cam/depth_gt' "
        r"gives Depth, but 'image' takes Image",
    ):
        for_replay(text, "camera.yaml", sample, recorded)


# A tcp source, a reliable queue of its own size, a timer, and the recorder of the run that made the recording.
REPLACED_GRAPH = """
nodes:
  - {id: cam, node: sim, transport: tcp, host: 127.0.0.1, params: {fps: 5, size: [320, 240]}}
  - {id: inv, node: invert, inputs: {image: {source: cam/image, queue: {policy: reliable, size: 4}}}}
  - {id: out, node: sink, inputs: {in: inv/image}}
  - {id: tick, node: sink, inputs: {in: timer/hz/2}}
  - {id: rec, node: recorder, params: {file: old.mcap}, inputs: {x: {source: inv/image, queue: reliable}}}
"""


def test_replay_rewrites_the_validated_graph_and_stores_what_runs(sample, tmp_path):
    recorded = {t: i.kind for t, i in RecordingReader(sample).topics.items()}
    g, plan = for_replay(REPLACED_GRAPH, "g.yaml", sample, recorded, speed=0, record=tmp_path / "out.mcap")
    assert plan["replaced"] == {"cam": ["cam/camera", "cam/depth_gt", "cam/image", "cam/instances_gt", "cam/labels_gt"]}
    assert plan["made_reliable"] == ["out.in"] and plan["recorded"] == ["inv/image"]
    cam = g.node("cam")
    assert (cam.node, cam.transport, cam.host, cam.params["speed"]) == ("replay", "tcp", "127.0.0.1", 0)
    assert g.node("inv").inputs["image"].queue == QueueSpec(policy="reliable", size=4)  # already reliable: kept
    assert g.node("out").inputs["in"].queue == QueueSpec.model_validate("reliable")
    assert g.node("tick").inputs["in"].queue.policy == "latest"  # a timer is never waited for
    assert [n.id for n in g.spec.nodes] == ["cam", "inv", "out", "tick", "recorder"]  # the old recorder is gone
    assert g.node("recorder").params["file"] == str(tmp_path / "out.mcap")
    assert parse_graph(g.text, "again.yaml").spec == g.spec  # the text a recording stores reads back the same


def test_replay_node_in_a_graph_checks_its_file_at_load_time(sample, tmp_path):
    with pytest.raises(GraphError) as e:
        parse_graph(
            f"""
nodes:
  - {{id: rep, node: replay, params: {{file: "{tmp_path}/none.mcap"}}}}
  - {{id: rep2, node: replay, params: {{file: "{sample}", topics: {{x: cam/nope}}}}}}
""",
            "g.yaml",
        )
    assert e.value.problems == [
        f"g.yaml: nodes[0] (rep).params: {tmp_path}/none.mcap: no such recording",
        f"g.yaml: nodes[1] (rep2).params: {sample}: no topic cam/nope in this recording (it has: cam/camera, "
        "cam/depth_gt, cam/image, cam/instances_gt, cam/labels_gt, mic/audio)",
    ]
    g = parse_graph(
        f"""
nodes:
  - {{id: rep, node: replay, params: {{file: "{sample}"}}}}
  - {{id: inv, node: invert, inputs: {{image: rep/cam/image}}}}
""",
        "g.yaml",
    )
    assert g.output_kinds["rep"]["cam/depth_gt"] == "Depth"
    assert sorted(g.outputs["rep"]) == [
        "cam/camera",
        "cam/depth_gt",
        "cam/image",
        "cam/instances_gt",
        "cam/labels_gt",
        "mic/audio",
    ]


def test_the_recorded_graph_is_the_default_for_replay(sample):
    r = runner.invoke(app, ["replay", str(sample), "--speed", "0"])
    assert r.exit_code == 0, r.output
    assert "cam: replaying cam/camera, cam/depth_gt, cam/image, cam/instances_gt, cam/labels_gt" in r.output
    assert "mic: replaying mic/audio" in r.output
    assert "245/245" in r.output  # the progress bar counted every message
