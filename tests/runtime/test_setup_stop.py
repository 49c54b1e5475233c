"""A stop while nodes are still in setup (Ctrl-C while models load) is prompt and clean: the nodes end at once,
nothing is left running, and no node is reported killed or failed.

The graphs give `stop_timeout: 30`: a supervisor that waited for the nodes to finish their setup would take
that long and then kill them, so the times asserted here are far from what a regression would take."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from ar_perception.graph.load import parse_graph
from ar_perception.runtime.launch import Supervisor

REPO = Path(__file__).resolve().parents[2]
NODES = "tests.runtime.setup_nodes"


def graph_text(*loading: tuple[str, str, Path]) -> str:
    """A source that is ready at once, and nodes (id, class, marker) that are still loading."""
    lines = [
        "stop_timeout: 30",
        "nodes:",
        "  - {id: cam, node: pattern, params: {fps: 10, size: [32, 24]}}",
    ]
    for nid, cls, marker in loading:
        lines.append(
            f'  - {{id: {nid}, node: "{NODES}:{cls}", params: {{marker: "{marker}"}}, inputs: {{in: cam/image}}}}'
        )
    return "\n".join(lines) + "\n"


def wait_for(paths: list[Path], timeout: float = 60.0) -> list[int]:
    """The pids the nodes wrote once their setup began."""
    deadline = time.monotonic() + timeout
    while not all(p.exists() for p in paths):
        assert time.monotonic() < deadline, f"the nodes did not reach their setup: {paths}"
        time.sleep(0.02)
    return [int(p.read_text()) for p in paths]


def gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


# SlowSetup's setup is interrupted: it exits by itself, 0, after its teardown. SetupIgnoresStop's cannot be (like
# native code that holds the GIL): the supervisor ends it, so it has no exit status of its own.
@pytest.mark.parametrize(("cls", "exit_code"), [("SlowSetup", 0), ("SetupIgnoresStop", None)])
def test_a_stop_during_setup_ends_the_nodes_at_once(tmp_path, cls, exit_code):
    markers = [tmp_path / "enc.pid", tmp_path / "speech.pid"]
    g = parse_graph(
        graph_text(("enc", cls, markers[0]), ("speech", cls, markers[1])),
        "test.yaml",
        search_paths=[str(REPO)],
    )
    sup = Supervisor(g)
    asked: list[float] = []

    def stop() -> bool:
        if not asked and all(m.exists() for m in markers):  # both nodes are inside their setup now
            asked.append(time.monotonic())
        return bool(asked)

    result = sup.run(None, stop)
    took = time.monotonic() - asked[0]
    assert result.reason == "interrupted"
    assert took < 3.0, f"the stop took {took:.1f} s"
    for nid in ("enc", "speech"):
        r = result.nodes[nid]
        assert (r.exit_code, r.killed, r.started, r.errors) == (exit_code, False, False, []), nid
    assert result.ok
    assert all(Path(f"{m}.teardown").exists() == (cls == "SlowSetup") for m in markers)
    assert all(gone(pid) for pid in wait_for(markers))
    assert not Path(sup.run_dir).exists()


def test_ctrl_c_of_arp_run_while_models_load(tmp_path):
    markers = [tmp_path / "enc.pid", tmp_path / "speech.pid"]
    graph = tmp_path / "g.yaml"
    graph.write_text(graph_text(("enc", "SlowSetup", markers[0]), ("speech", "SlowSetup", markers[1])))
    p = subprocess.Popen(
        [sys.executable, "-m", "ar_perception.cli", "run", str(graph), "--quiet"],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "COLUMNS": "200"},
    )
    try:
        pids = wait_for(markers)
        t0 = time.monotonic()
        p.send_signal(signal.SIGINT)
        out, err = p.communicate(timeout=60)
        took = time.monotonic() - t0
    finally:
        if p.poll() is None:
            p.kill()
    assert p.returncode == 0, err
    assert took < 5.0, f"arp run took {took:.1f} s to end after Ctrl-C"  # with its own exit and the table
    assert err == ""  # no "did not stop within ...; killing it"
    assert "interrupted" in out and "killed" not in out
    rows = {line.split("│")[1].strip(): line.split("│")[-2].strip() for line in out.splitlines() if line.count("│") > 3}
    assert [rows[nid] for nid in ("cam", "enc", "speech")] == ["not started"] * 3
    assert all(gone(pid) for pid in pids)
