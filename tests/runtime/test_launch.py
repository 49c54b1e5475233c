"""The supervisor with real processes and real ZeroMQ sockets."""

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil
import pytest

from ar_perception.errors import NodeError
from ar_perception.graph.load import parse_graph
from ar_perception.runtime.launch import RunResult, Supervisor, run_graph

from .faulty import open_when_blocked

HERE = Path(__file__).parent
REPO = HERE.parents[1]


def graph(text: str):
    return parse_graph(text, "test.yaml", search_paths=[str(HERE), str(REPO)])


def lines(path: Path) -> list[dict]:
    """The JSON lines of a sink's log; whole lines only, for a log that a running sink may be writing."""
    return [json.loads(x) for x in path.read_text().split("\n")[:-1]] if path.exists() else []


@pytest.fixture
def private_tmp(monkeypatch):
    """A temp folder of the test's own for the supervisor (tempfile) and the nodes (TMPDIR): what a run leaves
    behind shows up there, and the runs of other tests on this machine do not. Short: ipc paths live in it,
    and a Unix socket path has at most 107 bytes."""
    private = tempfile.mkdtemp(prefix="arpc-")
    monkeypatch.setattr(tempfile, "tempdir", private)
    monkeypatch.setenv("TMPDIR", private)
    yield Path(private)
    shutil.rmtree(private, ignore_errors=True)


def test_pipeline_runs_to_the_end_and_leaves_nothing_behind(tmp_path, private_tmp):
    log = tmp_path / "out.jsonl"
    g = graph(f"""
nodes:
  - {{id: cam, node: pattern, params: {{fps: 100, frames: 30, size: [64, 48]}}}}
  - {{id: inv, node: invert, inputs: {{image: {{source: cam/image, queue: reliable}}}}}}
  - {{id: out, node: sink, params: {{log: "{log}"}}, inputs: {{in: {{source: inv/image, queue: reliable}}}}}}
""")
    r = run_graph(g, 30)
    assert r.reason == "all sources ended"
    got = lines(log)
    assert [x["seq"] for x in got] == list(range(30))
    assert all(x["shapes"]["data"] == [48, 64, 3] for x in got)
    assert {n: rep.exit_code for n, rep in r.nodes.items()} == {"cam": 0, "inv": 0, "out": 0}
    assert r.nodes["inv"].stats["in"] == {"image": 30} and r.nodes["inv"].stats["out"] == {"image": 30}
    assert r.nodes["out"].stats["lat_p50_ms"] > 0
    assert list(private_tmp.iterdir()) == []  # no run directory, ipc socket or other temp file


def test_reliable_never_drops_under_a_slow_consumer_while_latest_drops_and_counts(tmp_path):
    slow_rel, slow_lat, gate = tmp_path / "rel.jsonl", tmp_path / "lat.jsonl", tmp_path / "gate"
    # The producer sends as fast as it is let (a frame costs it a millisecond); both consumers take nothing
    # until it has stood blocked for a second (open_when_blocked), then 40 ms per frame. By then it has sent
    # all the reliable edge holds (~3 x 4 frames), which the reliable consumer must all get and the latest
    # one, which keeps only the newest, cannot: however fast or busy the machine.
    g = graph(f"""
nodes:
  - {{id: cam, node: "faulty:Fill", params: {{frames: 60, size: [640, 480]}}}}
  - id: rel
    node: "faulty:Gated"
    params: {{gate: "{gate}", delay_ms: 40, log: "{slow_rel}"}}
    inputs: {{in: {{source: cam/image, queue: {{policy: reliable, size: 4}}}}}}
  - id: lat
    node: "faulty:Gated"
    params: {{gate: "{gate}", delay_ms: 40, log: "{slow_lat}"}}
    inputs: {{in: cam/image}}
""")
    r = run_graph(g, 60, on_stats=open_when_blocked(gate, "cam"))
    assert [x["seq"] for x in lines(slow_rel)] == list(range(60))
    assert r.nodes["rel"].stats["drops"] == {"in": 0}
    assert r.nodes["cam"].stats["blocked_s"] > 0.2  # the producer felt the backpressure
    received = len(lines(slow_lat))
    assert received < 60
    # every frame the latest consumer did not handle is counted as a drop
    assert r.nodes["lat"].stats["drops"]["in"] == 60 - received


def test_timer_source_and_tcp_transport(tmp_path):
    log = tmp_path / "t.jsonl"
    g = graph(f"""
transport: tcp
nodes:
  - {{id: t, node: sink, params: {{log: "{log}"}}, inputs: {{in: timer/hz/20}}}}
""")
    r = run_graph(g, 1.0)
    assert r.reason == "--for 1 s elapsed"
    ticks = lines(log)
    assert 12 <= len(ticks) <= 24 and ticks[0]["kind"] == "Tick"


def test_exact_sync_pairs_frames_from_two_branches(tmp_path):
    log = tmp_path / "p.jsonl"
    g = graph(f"""
nodes:
  - {{id: cam, node: pattern, params: {{fps: 50, frames: 20, size: [32, 24]}}}}
  - {{id: a, node: invert, inputs: {{image: {{source: cam/image, queue: reliable}}}}}}
  - {{id: b, node: invert, inputs: {{image: {{source: cam/image, queue: reliable}}}}}}
  - id: pair
    node: "faulty:Pair"
    inputs: {{a: {{source: a/image, queue: reliable}}, b: {{source: b/image, queue: reliable}}}}
    sync: {{mode: exact}}
  - {{id: out, node: sink, params: {{log: "{log}"}}, inputs: {{in: {{source: pair/pair, queue: reliable}}}}}}
""")
    run_graph(g, 30)
    got = lines(log)
    assert [x["meta"]["frame"] for x in got] == list(range(20))
    assert all(x["meta"]["text"] == "0" for x in got)


def test_node_that_crashes_at_start_fails_the_run_with_its_error():
    g = graph("""
nodes:
  - {id: cam, node: pattern, params: {fps: 10, frames: 5}}
  - {id: bad, node: "faulty:CrashAtStart", inputs: {in: cam/image}}
""")
    with pytest.raises(NodeError) as e:
        run_graph(g, 10)
    assert str(e.value) == (
        "node 'bad' failed in setup: RuntimeError: no camera here (run with --log-level debug for the traceback)"
    )


def test_on_failure_restart_brings_a_crashed_node_back(tmp_path):
    log = tmp_path / "o.jsonl"
    g = graph(f"""
nodes:
  - {{id: cam, node: pattern, params: {{fps: 20, size: [16, 16]}}}}
  - id: flaky
    node: "faulty:CrashOnce"
    params: {{marker: "{tmp_path / "crashed"}"}}
    on_error: restart
    restart: {{policy: on-failure, max: 2}}
    inputs: {{in: cam/image}}
  - {{id: out, node: sink, params: {{log: "{log}"}}, inputs: {{in: {{source: flaky/out, queue: reliable}}}}}}
""")
    # The run lasts until the restarted node has passed on 11 frames (however long its restart takes here),
    # or 60 s, which it fails.
    r = Supervisor(g).run(60, stop_event=lambda: len(lines(log)) > 10)
    assert r.nodes["flaky"].restarts == 1 and r.nodes["flaky"].exit_code == 0
    assert r.nodes["flaky"].errors == ["handler: RuntimeError: first-run crash"]
    assert len(lines(log)) > 10  # frames flow again after the restart


def test_skip_policy_logs_and_keeps_going(tmp_path, capfd):
    log = tmp_path / "s.jsonl"
    g = graph(f"""
nodes:
  - {{id: cam, node: pattern, params: {{fps: 100, frames: 10, size: [16, 16]}}}}
  - {{id: odd, node: "faulty:RaiseOnOdd", inputs: {{in: {{source: cam/image, queue: reliable}}}}}}
  - {{id: out, node: sink, params: {{log: "{log}"}}, inputs: {{in: {{source: odd/out, queue: reliable}}}}}}
""")
    r = run_graph(g, 30)
    assert [x["meta"]["frame"] for x in lines(log)] == [0, 2, 4, 6, 8]
    assert len(r.nodes["odd"].errors) == 5 and r.nodes["odd"].exit_code == 0
    err = capfd.readouterr().err
    assert "node 'odd' raised while handling input 'in' (Image from cam/image, seq 1)" in err
    assert "ValueError: odd frame 1" in err


def test_node_that_hangs_on_stop_is_killed():
    g = graph("""
nodes:
  - {id: cam, node: pattern, params: {fps: 10}}
  - {id: hang, node: "faulty:HangOnStop", inputs: {in: cam/image}}
""")
    t0 = time.monotonic()
    # 3 s to stop: ample for a node that stops when asked, even on a slow, busy machine; a node that sleeps
    # 60 s in its teardown needs the kill.
    r = Supervisor(g, stop_timeout=3.0).run(duration=0.5)
    assert r.nodes["hang"].killed and not r.nodes["cam"].killed
    assert time.monotonic() - t0 < 15


def test_bad_message_is_dropped_and_counted_or_raises_in_strict_mode(tmp_path):
    text = """
nodes:
  - {id: src, node: "faulty:BadSource"}
  - {id: inv, node: invert, inputs: {image: {source: src/image, queue: reliable}}}
"""
    r = run_graph(graph(text), 20)
    assert r.nodes["inv"].stats["drops"] == {"image": 1} and r.nodes["inv"].stats["out"] == {"image": 1}
    r = run_graph(graph(text), 20, strict=True)
    assert r.nodes["inv"].exit_code == 4


def test_sigkill_of_arp_run_leaves_no_orphans_and_no_ipc_files(tmp_path):
    # Within 2 s of the SIGKILL no node process, watchdog, ipc socket or run directory of the run remains
    # (benchmarks/faults.py: ~0.07 s for the processes, ~0.01 s for the directory, on 2 cores).
    log, spec = tmp_path / "out.jsonl", tmp_path / "g.yaml"
    spec.write_text(f"""
nodes:
  - {{id: cam, node: pattern, params: {{fps: 20, size: [64, 48]}}}}
  - {{id: inv, node: invert, inputs: {{image: cam/image}}}}
  - {{id: out, node: sink, params: {{log: "{log}"}}, inputs: {{in: {{source: inv/image, queue: reliable}}}}}}
""")
    p = subprocess.Popen(
        [sys.executable, "-m", "ar_perception.cli", "run", str(spec), "--for", "60"],
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and (not log.exists() or log.read_text().count("\n") < 5):
        time.sleep(0.05)  # frames reach the sink: every node is up and bound
    procs = psutil.Process(p.pid).children(recursive=True)
    workers = [c for c in procs if "ar_perception.runtime.worker" in c.cmdline()]
    assert len(workers) == 3
    # This run's directory holds its node configurations (other runs on the machine have their own).
    run_dir = Path(workers[0].cmdline()[-1]).parent
    # The watchdog has left its parent (runtime/reaper.py): found by its run directory.
    reapers = [r for r in psutil.process_iter(["cmdline"]) if (r.info["cmdline"] or [])[-1:] == [str(run_dir)]]
    assert len(reapers) == 1 and "ar_perception.runtime.reaper" in reapers[0].cmdline()
    procs += reapers
    sockets = [f for f in run_dir.iterdir() if f.is_socket()]
    assert sockets

    def alive() -> list[int]:
        out = []
        for c in procs:
            try:
                if c.is_running() and c.status() != psutil.STATUS_ZOMBIE:  # a zombie is dead, only unreaped
                    out.append(c.pid)
            except psutil.NoSuchProcess:
                pass
        return out

    t0 = time.monotonic()
    os.kill(p.pid, signal.SIGKILL)
    p.wait()
    while time.monotonic() - t0 < 2.0 and (alive() or run_dir.exists()):
        time.sleep(0.01)
    assert not alive()
    assert not run_dir.exists() and not [f for f in sockets if os.path.lexists(f)]


def test_a_graph_split_across_two_supervisors_over_tcp_with_fixed_ports(tmp_path):
    """What `arp run G --only cam` on one machine and `--only inv,out` on another do, on one host."""
    import threading

    from ar_perception.runtime.transport import free_tcp_port

    log = tmp_path / "split.jsonl"
    base = free_tcp_port("127.0.0.1")
    g = graph(f"""
transport: tcp
host: 127.0.0.1
nodes:
  - {{id: cam, node: pattern, port: {base}, params: {{fps: 50, frames: 25, size: [32, 24]}}}}
  - {{id: inv, node: invert, port: {base + 10}, inputs: {{image: {{source: cam/image, queue: reliable}}}}}}
  - {{id: out, node: sink, params: {{log: "{log}"}}, inputs: {{in: {{source: inv/image, queue: reliable}}}}}}
""")
    results: dict[str, RunResult] = {}
    remote = threading.Thread(target=lambda: results.setdefault("cam", Supervisor(g, only={"cam"}).run(60)))
    remote.start()
    results["rest"] = Supervisor(g, only={"inv", "out"}).run(60)
    remote.join(60)
    assert [x["seq"] for x in lines(log)] == list(range(25))
    assert set(results["cam"].nodes) == {"cam"} and set(results["rest"].nodes) == {"inv", "out"}
    assert results["rest"].reason == "all sources ended"


def test_fixed_ports_need_tcp():
    from ar_perception.errors import GraphError

    with pytest.raises(GraphError) as e:
        graph("nodes:\n  - {id: cam, node: pattern, port: 47000}\n")
    assert e.value.problems == [
        "test.yaml: nodes[0] (cam).port: fixed ports need tcp (set transport: tcp on the node or the graph; got ipc)"
    ]


def test_a_node_that_hangs_is_killed_reported_and_restarted(tmp_path):
    log = tmp_path / "out.jsonl"
    g = graph(f"""
nodes:
  - {{id: cam, node: pattern, params: {{fps: 20, size: [16, 12]}}}}
  - id: stuck
    node: faulty:HangOnce
    params: {{marker: "{tmp_path / "hung"}"}}
    inputs: {{in: {{source: cam/image, queue: reliable}}}}
    restart: on-failure
    health_timeout: 1.0
  - {{id: out, node: sink, params: {{log: "{log}"}}, inputs: {{in: {{source: stuck/out, queue: reliable}}}}}}
""")
    # Reliable edges, so that frames 0-4 (before the hang) all arrive however busy the machine; the run
    # lasts until a frame past 10 came through after the restart (or 60 s, which fails).
    r = Supervisor(g).run(60, stop_event=lambda: any(x["meta"]["frame"] > 10 for x in lines(log)))
    rep = r.nodes["stuck"]
    assert rep.hangs == 1 and rep.restarts == 1, rep
    assert len(rep.errors) == 1 and rep.errors[0].startswith("hung: no progress for 1."), rep.errors
    assert rep.errors[0].endswith(" s (health timeout 1 s)")
    frames = [x["meta"]["frame"] for x in lines(log)]
    assert frames[:5] == list(range(5)) and max(frames) > 10  # it came back and went on
    assert r.nodes["cam"].restarts == 0 and r.nodes["out"].restarts == 0


def test_malformed_wire_messages_are_dropped_and_counted_and_the_node_keeps_running(tmp_path, capfd):
    """The test plays a producer on another machine and sends a node garbage over a real tcp socket."""
    import threading

    import numpy as np
    import zmq

    from ar_perception.runtime.msg import Msg, encode
    from ar_perception.runtime.transport import free_tcp_port

    port, log = free_tcp_port("127.0.0.1"), tmp_path / "out.jsonl"
    g = graph(f"""
transport: tcp
max_message_mb: 1
nodes:
  - {{id: cam, node: pattern, port: {port}}}
  - {{id: out, node: sink, params: {{log: "{log}"}}, inputs: {{in: {{source: cam/image, queue: "fifo:64"}}}}}}
""")
    res: dict[str, RunResult] = {}
    t = threading.Thread(target=lambda: res.setdefault("r", Supervisor(g, only={"out"}).run(5)))
    t.start()
    ctx = zmq.Context()
    pub = ctx.socket(zmq.XPUB)
    pub.setsockopt(zmq.LINGER, 0)
    pub.bind(f"tcp://127.0.0.1:{port}")
    try:
        assert pub.poll(10_000), "the node never subscribed"
        pub.recv()

        def good(i: int) -> list:
            return encode(
                Msg(
                    kind="Image",
                    arrays={"data": np.full((4, 4, 3), i, np.uint8)},
                    meta={"frame": i},
                    topic="cam/image",
                    seq=i,
                )
            )

        head, img = good(0)
        bad = [
            [head],  # wrong frame count
            [b"{not json", img],  # bad header
            [head.replace(b"|u1", b"|O1"), img],  # wrong dtype
            [head.replace(b"[4,4,3]", b"[5,4,3]"), img],  # wrong shape
            encode(Msg(kind="Image", arrays={"data": np.zeros((4, 4), np.uint8)}, topic="cam/image", seq=1)),
            encode(
                Msg(kind="Image", arrays={"data": np.zeros((1024, 1024, 3), np.uint8)}, topic="cam/image", seq=1)
            ),  # oversized: 3 MiB over a 1 MiB limit
        ]
        pub.send_multipart(good(0))
        for frames in bad:
            pub.send_multipart(frames)
        for i in range(1, 4):
            pub.send_multipart(good(i))
    finally:
        t.join(30)
        ctx.destroy(0)
    rep = res["r"].nodes["out"]
    assert rep.exit_code == 0 and rep.restarts == 0
    assert rep.stats["bad"] == {"in": 6} and rep.stats["in"] == {"in": 4}
    assert [x["meta"]["frame"] for x in lines(log)] == [0, 1, 2, 3]
    assert (
        "arp.out WARNING: node 'out' input 'in': message on 'cam/image' declares 1 arrays but carries 0; "
        "dropped (warned once per input)"
    ) in capfd.readouterr().err


def test_slow_sources_and_idle_consumers_are_not_taken_for_hung(tmp_path):
    g = graph("""
health_timeout: 1.0
nodes:
  - {id: cam, node: pattern, params: {fps: 0.4, frames: 2, size: [8, 6]}}
  - {id: out, node: sink, inputs: {in: cam/image}}
""")
    r = run_graph(g, 30)  # 5 s: two frames 2.5 s apart, then the source's last period; the consumer idles
    assert r.reason == "all sources ended"
    assert {n: (rep.hangs, rep.errors) for n, rep in r.nodes.items()} == {"cam": (0, []), "out": (0, [])}
    assert r.nodes["out"].stats["in"] == {"in": 2}  # frames at 0 s and 2.5 s
