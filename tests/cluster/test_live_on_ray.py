"""`arp run --cluster`: live graphs on a Ray cluster of two fake machines (tests/cluster/fake_cluster.py), one
cluster for the module, inside a loopback-only network namespace; every `arp run` joins that namespace."""

import json
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import psutil
import pytest

from tests.cluster.loopback import PREFIX, in_loopback

pytestmark = pytest.mark.slow
HERE = Path(__file__).parent


@pytest.fixture(scope="module")
def cluster() -> Iterator[tuple[str, list[str]]]:
    """(the head's address, the command prefix that runs a command in the cluster's namespace)."""
    pytest.importorskip("ray")
    in_loopback(["true"], timeout=30)  # skips where no namespace can be made
    p = subprocess.Popen(
        [*PREFIX, sys.executable, str(HERE / "fake_cluster.py")],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert p.stdout is not None and p.stdin is not None
    address = p.stdout.readline().strip()
    assert address, "the fake cluster did not start"
    try:
        yield address, ["nsenter", f"--net=/proc/{p.pid}/ns/net", "--"]
    finally:
        p.stdin.close()
        try:
            p.wait(60)
        except subprocess.TimeoutExpired:
            p.kill()


def arp_run(cluster: tuple[str, list[str]], graph: Path, *args: str, **kw: object) -> subprocess.Popen[str]:
    address, enter = cluster
    cmd = [*enter, sys.executable, "-m", "ar_perception.cli", "run", str(graph), "--cluster", address, "-q", *args]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw)  # type: ignore[call-overload]


def refused(cluster: tuple[str, list[str]], graph: Path) -> str:
    """`arp run --cluster` of a graph that must fail: its standard error."""
    p = arp_run(cluster, graph)
    out, err = p.communicate(timeout=120)
    assert p.returncode == 1, out + err
    return err


def lines(path: Path) -> list[dict]:
    return [json.loads(x) for x in path.read_text().splitlines()] if path.exists() else []


def wait_for(condition: Callable[[], object], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"not within {timeout:g} s: {what}"
        time.sleep(0.2)


def alive(p: psutil.Process) -> bool:
    try:
        return p.is_running() and p.status() != psutil.STATUS_ZOMBIE  # a zombie is dead, only unreaped
    except psutil.NoSuchProcess:
        return False


def wait_gone(procs: list[psutil.Process], timeout: float) -> None:
    wait_for(lambda: not any(alive(x) for x in procs), timeout, "every node process and machine agent gone")


def workers(node: str | None = None) -> list[psutil.Process]:
    """The node processes of parts of a cluster run (their configs live in arp-part-* folders)."""
    out = []
    for p in psutil.process_iter(["cmdline"]):
        cmd = p.info["cmdline"] or []
        if "ar_perception.runtime.worker" in cmd and any("arp-part-" in c for c in cmd):
            if node is None or cmd[-1].endswith(f"/{node}.json"):
                out.append(p)
    return out


def agents() -> list[psutil.Process]:
    return [p for p in psutil.process_iter(["cmdline"]) if "MachineAgent" in " ".join(p.info["cmdline"] or [])]


SPLIT = """
nodes:
  - {{id: cam, node: pattern, params: {{fps: 20, frames: {frames}, size: [64, 48]}}, placement: {{machine: laptop}}}}
  - id: mid
    node: invert
    inputs: {{image: {{source: cam/image, queue: reliable}}}}
    placement: {{machine: gpu-box, resources: {{accel: 1}}}}
    restart: {{policy: on-failure, max: 2}}
  - {{id: out, node: sink, params: {{log: {log}}}, inputs: {{in: {{source: mid/image, queue: reliable}}}}}}
"""


def test_a_graph_split_across_two_machines_by_label_delivers_every_frame(cluster, tmp_path):
    log, stats, graph = tmp_path / "out.jsonl", tmp_path / "stats.json", tmp_path / "split.yaml"
    graph.write_text(SPLIT.format(frames=40, log=log))
    p = arp_run(cluster, graph, "--stats", str(stats))
    out, err = p.communicate(timeout=180)
    assert p.returncode == 0, out + err
    assert [x["meta"]["frame"] for x in lines(log)] == list(range(40))  # reliable across the machines
    nodes = json.loads(stats.read_text())["nodes"]
    assert {n: nodes[n]["host"] for n in nodes} == {"cam": "laptop", "mid": "gpu-box", "out": "laptop"}
    assert nodes["mid"]["stats"]["drops"] == {"image": 0}


def test_a_node_whose_machine_or_resources_are_missing_is_named(cluster, tmp_path):
    graph = tmp_path / "gpu.yaml"
    graph.write_text(
        "nodes:\n"
        "  - {id: cam, node: pattern, params: {frames: 5}}\n"
        "  - {id: enc, node: invert, inputs: {image: cam/image}, placement: {resources: {GPU: 1}}}\n"
    )
    err = refused(cluster, graph)
    assert "node 'enc' cannot be placed: no machine in the cluster has GPU: 1 (machine labels: gpu-box, laptop;" in err
    graph.write_text(graph.read_text().replace("{resources: {GPU: 1}}", "{machine: jetson}"))
    err = refused(cluster, graph)
    assert "node 'enc' cannot be placed: no machine in the cluster has machine jetson" in err
    assert not workers()  # nothing started


def test_a_node_killed_on_the_remote_machine_is_restarted_and_its_reliable_edges_carry_on(cluster, tmp_path):
    log, stats, graph = tmp_path / "out.jsonl", tmp_path / "stats.json", tmp_path / "split.yaml"
    graph.write_text(SPLIT.format(frames=120, log=log))
    p = arp_run(cluster, graph, "--stats", str(stats))
    wait_for(lambda: len(lines(log)) >= 10, 120, "frames through the graph")
    (mid,) = workers("mid")
    mid.send_signal(signal.SIGKILL)
    out, err = p.communicate(timeout=180)
    assert p.returncode == 0, out + err
    nodes = json.loads(stats.read_text())["nodes"]
    assert nodes["mid"]["restarts"] == 1 and nodes["mid"]["exit_code"] == 0
    frames = [x["meta"]["frame"] for x in lines(log)]
    assert frames == sorted(frames) and frames[-1] == 119  # in order, to the end
    gap = [b for a, b in zip(frames, frames[1:], strict=False) if b != a + 1]
    assert len(gap) <= 1  # what the killed process held is lost once; after its restart, nothing
    after = frames[frames.index(gap[0]) :] if gap else frames
    assert after == list(range(after[0], 120))


def test_sigkill_of_arp_run_cluster_leaves_no_process_anywhere(cluster, tmp_path):
    log, graph = tmp_path / "out.jsonl", tmp_path / "split.yaml"
    graph.write_text(SPLIT.format(frames=100000, log=log))
    p = arp_run(cluster, graph)
    wait_for(lambda: len(lines(log)) >= 5, 120, "frames through the graph")
    wait_for(lambda: len(workers()) == 3 and len(agents()) == 2, 30, "three nodes and two machine agents")
    running = workers() + agents()
    run_dirs = {Path(w.cmdline()[-1]).parent for w in workers()}  # each part's folder (this run's keys in it)
    assert len(run_dirs) == 2 and all((d / "keys").is_dir() for d in run_dirs)
    p.send_signal(signal.SIGKILL)
    p.wait(10)
    wait_gone(running, 60)
    wait_for(lambda: not any(d.exists() for d in run_dirs), 10, "the parts' folders removed")


def test_ctrl_c_stops_every_machine_cleanly(cluster, tmp_path):
    log, stats, graph = tmp_path / "out.jsonl", tmp_path / "stats.json", tmp_path / "split.yaml"
    graph.write_text(SPLIT.format(frames=100000, log=log))
    p = arp_run(cluster, graph, "--stats", str(stats))
    wait_for(lambda: len(lines(log)) >= 5, 120, "frames through the graph")
    running = workers() + agents()
    p.send_signal(signal.SIGINT)
    out, err = p.communicate(timeout=60)
    assert p.returncode == 0, out + err
    result = json.loads(stats.read_text())
    assert result["reason"] == "interrupted"
    assert {n: (r["host"], r["killed"]) for n, r in result["nodes"].items()} == {
        "cam": ("laptop", False),
        "mid": ("gpu-box", False),
        "out": ("laptop", False),
    }  # each stopped when asked, none had to be killed
    wait_gone(running, 30)


def test_a_node_failing_setup_on_the_remote_machine_fails_the_run_with_its_error(cluster, tmp_path):
    graph = tmp_path / "setup.yaml"
    graph.write_text(
        "nodes:\n"
        "  - {id: cam, node: camera, params: {source: /nonexistent/video.mp4}, placement: {machine: gpu-box}}\n"
        "  - {id: inv, node: invert, inputs: {image: cam/image}}\n"
    )
    err = refused(cluster, graph)
    assert "node 'cam' failed in setup: params.source: no such video file '/nonexistent/video.mp4'" in err
    wait_for(lambda: not workers() and not agents(), 30, "every node process and machine agent gone")
