"""A recorder killed mid-run, and a disk that fills up: real processes, real files."""

import json
import os
import signal
import subprocess
import sys
import time

import psutil
import pytest
from typer.testing import CliRunner

from ar_perception.cli import app
from ar_perception.errors import RecordingError
from ar_perception.recording import RecordingReader

from .conftest import REPO

runner = CliRunner()


def _recorder_worker(parent: psutil.Process, timeout: float = 60.0) -> psutil.Process:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for c in parent.children(recursive=True):
            try:
                if any(a.endswith("recorder.json") for a in c.cmdline()):
                    return c
            except psutil.Error:
                continue
        time.sleep(0.05)
    raise AssertionError("the recorder process did not start")


def test_sigkill_of_the_recorder_loses_at_most_the_last_second_and_repair_recovers_the_rest(tmp_path):
    graph = tmp_path / "live.yaml"
    graph.write_text("nodes:\n  - {id: cam, node: pattern, params: {fps: 30, frames: 0, size: [160, 120]}}\n")
    out = tmp_path / "live.mcap"
    p = subprocess.Popen(
        [sys.executable, "-m", "ar_perception.cli", "record", str(graph), "-o", str(out)],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        rec = _recorder_worker(psutil.Process(p.pid))
        while not out.exists() or out.stat().st_size < 20_000:  # the recorder has started writing
            time.sleep(0.05)
        time.sleep(2.5)
        rec.send_signal(signal.SIGKILL)
        killed_ns = time.time_ns()
        rec.wait(10)
        p.send_signal(signal.SIGINT)
        _, err = p.communicate(timeout=60)
    finally:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
    assert p.returncode == 1
    assert "recording failed: recorder exited with code -9" in err
    assert f"recover it with: arp recording repair {out}" in err
    with pytest.raises(RecordingError, match="truncated"):
        RecordingReader(out)
    r = runner.invoke(app, ["recording", "repair", str(out)])
    assert r.exit_code == 0, r.output
    assert f"(original kept as {out}.bak)" in r.output
    info = json.loads(runner.invoke(app, ["recording", "info", str(out), "--json"]).output)
    assert info["complete"] and info["repaired"] and info["topics"]["cam/image"]["count"] > 60
    frames = RecordingReader(out).read_topic("cam/image")
    assert [m.seq for m in frames] == list(range(len(frames)))  # nothing missing before the crash
    assert killed_ns - frames[-1].capture_ns < 1.0e9  # and at most the last second lost


@pytest.fixture
def tiny_disk(tmp_path):
    disk = tmp_path / "disk"
    disk.mkdir()
    if (
        os.geteuid() != 0
        or subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(disk)], capture_output=True).returncode
        != 0
    ):
        pytest.skip("mounting a 1 MiB tmpfs needs root (the writer's own full-disk test runs everywhere)")
    yield disk
    subprocess.run(["umount", "-l", str(disk)], check=False)


def test_a_full_disk_fails_the_recording_loudly_and_keeps_what_was_written_readable(tiny_disk, tmp_path):
    graph = tmp_path / "g.yaml"
    graph.write_text("nodes:\n  - {id: cam, node: pattern, params: {fps: 30, frames: 90, size: [128, 96]}}\n")
    out = tiny_disk / "x.mcap"
    r = runner.invoke(app, ["record", str(graph), "-o", str(out)])
    assert r.exit_code == 1
    line = next(x for x in r.output.splitlines() if x.startswith("recording failed"))
    kept = RecordingReader(out)
    n = kept.message_count
    assert line.startswith(
        f"recording failed: handler: RecordingError: {out}: cannot write: No space left on device (errno 28) after "
    )
    assert line.endswith(f"messages; the file keeps the {n} messages flushed before the error and stays readable")
    assert f"{out} keeps {n} messages" in r.output and n > 5
    assert [m.seq for m in kept.messages()] == list(range(n))
