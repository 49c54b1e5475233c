"""`arp batch` without Ray (`--cluster none`): the same jobs, manifest, retries and resume as on a cluster,
run one after another in this process. tests/cluster/test_on_ray.py runs them on a real Ray cluster."""

import json
import os
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ar_perception.cli import app
from ar_perception.cluster.batch import job_names
from ar_perception.cluster.connect import ClusterError, check_address, ray_module
from ar_perception.recording import RecordingReader
from tests.cluster.conftest import GRAPH, faulty_graph

runner = CliRunner()


def batch(*args: object) -> tuple[int, str]:
    r = runner.invoke(app, ["batch", *map(str, args), "--cluster", "none", "--quiet"])
    return r.exit_code, r.output


def manifest(out: Path) -> dict:
    return json.loads((out / "manifest.json").read_text())["entries"]


def test_names_are_stems_unless_stems_repeat():
    assert job_names([Path("/d/x.mcap"), Path("/d/y.mcap")]) == ["x", "y"]
    assert job_names([Path("/r/day1/s.mcap"), Path("/r/day2/s.mcap"), Path("/r/t.mcap")]) == [
        "day1__s",
        "day2__s",
        "t",
    ]


def test_a_batch_records_each_recording_and_a_manifest_of_what_failed_and_why(recordings, tmp_path):
    graph, out = tmp_path / "g.yaml", tmp_path / "out"
    graph.write_text(GRAPH)
    code, output = batch(graph, *recordings, "--out", out, "--stats")
    assert code == 1, output  # a recording failed
    entries = manifest(out)
    assert [entries[n]["status"] for n in ("a", "b", "junk")] == ["done", "done", "failed"]
    assert "junk.mcap: not an MCAP file" in entries["junk"]["error"]
    assert entries["junk"]["attempts"] == 1  # refused before it ran: trying again cannot help
    assert "junk failed: " in output and "2 done, 1 failed, 0 done before" in output
    for name in ("a", "b"):
        e = entries[name]
        assert (e["attempts"], e["frames"], e["drops"], e["error"]) == (1, 175, 0, None)
        r = RecordingReader(out / f"{name}.mcap")
        assert r.topics["inv/image"].count == 35  # every frame, inverted: speed 0 drops nothing
        stats = json.loads((out / f"{name}.stats.json").read_text())
        assert stats["reason"] == "all sources ended" and stats["nodes"]["inv"]["stats"]["in"]["image"] == 35


def test_the_same_command_again_skips_what_is_done_and_runs_what_changed(recordings, tmp_path):
    graph, out = tmp_path / "g.yaml", tmp_path / "out"
    graph.write_text(GRAPH)
    a, b, _ = recordings
    assert batch(graph, a, b, "--out", out)[0] == 0
    first = manifest(out)
    code, output = batch(graph, a, b, "--out", out)
    assert code == 0 and "skipping 2 recording(s) done before" in output
    assert manifest(out) == first  # nothing ran again
    os.utime(b, ns=(1, 1))  # the recording changed
    code, output = batch(graph, a, b, "--out", out)
    assert "skipping 1 recording(s)" in output
    again = manifest(out)
    assert again["a"] == first["a"] and again["b"]["fingerprint"] != first["b"]["fingerprint"]
    (out / "a.mcap").unlink()  # its output is gone
    assert "skipping 1 recording(s)" in batch(graph, a, b, "--out", out)[1]
    code, output = batch(graph, a, b, "--out", out, "--set", "inv.nonexistent=1")  # another graph
    assert code == 1 and "skipping" not in output
    assert batch(graph, a, "--out", out)[0] == 0
    assert "skipping" not in batch(graph, a, "--out", out, "--stats")[1]  # its statistics are wanted now
    assert "skipping" not in batch(graph, a, "--out", out, "--stats", "--record-topics", "inv/*")[1]


def test_a_name_taken_by_another_recording_is_refused(recordings, tmp_path):
    graph, out = tmp_path / "g.yaml", tmp_path / "out"
    graph.write_text(GRAPH)
    assert batch(graph, recordings[0], "--out", out)[0] == 0
    other = tmp_path / "elsewhere" / "a.mcap"
    other.parent.mkdir()
    other.write_bytes(recordings[0].read_bytes())
    code, output = batch(graph, other, "--out", out)
    assert (
        code == 1 and f"its outputs would be a.mcap, which {out / 'manifest.json'} has from {recordings[0]}" in output
    )
    assert manifest(out)["a"]["recording"] == str(recordings[0])  # untouched


def test_a_failing_node_is_tried_again_and_its_error_recorded(recordings, tmp_path):
    out = tmp_path / "out"
    graph = faulty_graph(tmp_path, "always")
    code, output = batch(graph, recordings[0], "--out", out, "--retries", "2")
    assert code == 1
    e = manifest(out)["a"]
    assert (e["status"], e["attempts"]) == ("failed", 3)
    assert "bad:" in e["error"] and "faulty on purpose" in e["error"]
    assert len(e["earlier_errors"]) == 2 and "faulty on purpose" in e["earlier_errors"][0]
    assert not (out / "a.mcap").exists()  # never a partial output under the real name
    assert not list(out.glob("*.partial"))  # nor left behind
    assert output.count("trying again") == 2


def test_bad_input_is_refused_before_anything_runs(recordings, tmp_path):
    graph, out = tmp_path / "g.yaml", tmp_path / "out"
    graph.write_text(GRAPH)
    code, output = batch(graph, tmp_path / "missing.mcap", "--out", out)
    assert code == 1 and f"recording(s) not found: {tmp_path / 'missing.mcap'}" in output
    code, output = batch(graph, recordings[0], "--out", recordings[0].parent)
    assert code == 1 and "would be overwritten by its own output" in output
    out.mkdir()
    (out / "manifest.json").write_text("{not json")
    code, output = batch(graph, recordings[0], "--out", out)
    assert code == 1 and "manifest.json: not a batch manifest arp can read" in output
    assert (out / "manifest.json").read_text() == "{not json"  # kept: it holds what earlier runs finished
    r = runner.invoke(app, ["batch", str(graph), str(recordings[0]), "--out", str(out), "--cluster", "gpu box"])
    assert r.exit_code == 1 and "expected none, local, auto or HOST:PORT" in r.output


def test_cluster_addresses_and_a_missing_ray(monkeypatch):
    assert [check_address(a) for a in ("none", "local", "auto", "gpu-box:6379", "10.0.0.2:6379")]
    with pytest.raises(ClusterError, match="expected none, local, auto or HOST:PORT"):
        check_address("gpu-box")
    monkeypatch.setitem(sys.modules, "ray", None)  # as if it were not installed
    with pytest.raises(ClusterError, match=r"pip install 'ar-perception\[cluster\]'.*--cluster none"):
        ray_module()
