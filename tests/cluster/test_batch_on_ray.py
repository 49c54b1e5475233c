"""`arp batch --cluster local`: a real Ray cluster on this machine, in a loopback-only network namespace."""

import json
import sys

import psutil
import pytest

from ar_perception.recording import RecordingReader
from tests.cluster.conftest import faulty_graph
from tests.cluster.loopback import in_loopback

pytestmark = pytest.mark.slow


def _ray_daemons() -> set[int]:
    names = {"raylet", "gcs_server"}
    return {p.pid for p in psutil.process_iter(["name"]) if p.info["name"] in names}


def test_a_batch_on_ray_retries_a_crashed_worker_and_records_a_bad_file(recordings, tmp_path):
    pytest.importorskip("ray")
    out = tmp_path / "out"
    graph = faulty_graph(tmp_path, "crash-once")  # the first replay kills the Ray worker that runs it
    before = _ray_daemons()
    p = in_loopback(
        [
            sys.executable,
            "-m",
            "ar_perception.cli",
            "batch",
            str(graph),
            *map(str, recordings),
            "--out",
            str(out),
            "--cluster",
            "local",
            "--parallel",
            "2",
            "--quiet",
        ],
        timeout=240,
    )
    assert p.returncode == 1, p.stdout + p.stderr  # junk.mcap failed
    entries = json.loads((out / "manifest.json").read_text())["entries"]
    assert [entries[n]["status"] for n in ("a", "b", "junk")] == ["done", "done", "failed"]
    crashed = [n for n in ("a", "b") if entries[n]["attempts"] == 2]
    assert len(crashed) == 1, entries  # exactly one replay lost its worker, and ran again
    assert "the Ray task failed" in entries[crashed[0]]["earlier_errors"][0]
    for name in ("a", "b"):
        assert RecordingReader(out / f"{name}.mcap").topics["inv/image"].count == 35
        assert entries[name]["host"] and "/" in entries[name]["host"]  # HOST/RAY-NODE
    assert "2 done, 1 failed" in p.stdout
    assert _ray_daemons() <= before  # the local cluster is gone with the command
