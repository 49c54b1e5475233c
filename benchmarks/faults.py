"""Fault benchmark: how fast the runtime recovers from the faults it survives, and what they cost.

Usage: python benchmarks/faults.py [--json] [--quick] [--kills N] [--cycles N]

1. SIGKILL of a node. Graph: two pattern sources a and b at 20 Hz, an invert node c on a (latest input),
   a recorder of a, b and c over reliable inputs, a sink on c; every node `restart: on-failure`. 2 s after
   the start the supervisor's stats callback SIGKILLs c (or, in the second series, the source a).
   Restart time = the kill (time.time_ns, taken just before os.kill) to the new process's first output: its
   publish time in the recording, where the victim's sequence numbers start again at 0. Survivors' rate =
   frames of each producer that stayed alive (a and b when c dies, b when a dies) the recorder logged per
   second, over the outage (from the kill, for the restart time but at least 1 s) and over the 1.5 s before
   the kill. Frames lost = gaps in the survivors' recorded sequence numbers plus the recorder's drop counts.
2. SIGKILL of `arp run` (pattern -> invert -> sink, killed once frames reach the sink): time until no process
   of the run (node processes and the watchdog) is alive, and until its private run directory, with the ipc
   sockets in it, is gone.
3. Start/stop cycles of pattern -> invert -> sink with run_graph in this process, alternately ending by
   themselves (5 frames) and stopped after 0.3 s: open file descriptors, threads, child processes and temp
   files (a private TMPDIR) after one warm-up run and after the cycles.
4. A reliable edge under a slow consumer, 1280x1024 RGB frames (3.75 MiB), the condition forced as in the
   test (tests/runtime/test_faults.py), whatever the machine's speed: a producer whose frames cost a
   millisecond (tests/runtime/faulty.py:Fill) and a consumer that takes nothing until the producer has stood
   blocked for a second (Gated), then drains. Peak RSS = the kernel's VmHWM of each process as it ends,
   against a baseline run of the same two processes with one frame; the growth in frames is compared with
   the bound read from the code: producer size + 2, consumer 2 x size + 2. "In flight" = frames the producer
   had sent beyond those the consumer had taken, in a run stopped once the producer was blocked.

Every figure is a median over rounds, with the worst round beside it where it matters.
"""

from __future__ import annotations

import argparse
import gc
import itertools
import json
import os
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import psutil

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(Path(__file__).resolve().parent))

FPS = 20
KILL_AFTER_S = 1.5  # after the first stats callback, which comes ~0.5 s into the run
KILL_RUN_S = 5.0
W, H = 1280, 1024
FRAME_MIB = W * H * 3 / 2**20

KILL_GRAPH = """
nodes:
  - {{id: a, node: pattern, restart: on-failure, params: {{fps: {fps}, size: [64, 48]}}}}
  - {{id: b, node: pattern, restart: on-failure, params: {{fps: {fps}, size: [64, 48]}}}}
  - {{id: c, node: invert, restart: on-failure, inputs: {{image: a/image}}}}
  - id: rec
    node: recorder
    params: {{file: "{tmp}/run.mcap"}}
    inputs:
      a: {{source: a/image, queue: reliable}}
      b: {{source: b/image, queue: reliable}}
      c: {{source: c/image, queue: reliable}}
  - {{id: out, node: sink, restart: on-failure, params: {{log: "{tmp}/out.jsonl"}}, inputs: {{in: c/image}}}}
"""


def parse(text: str) -> Any:
    from ar_perception.graph.load import parse_graph

    return parse_graph(text, "<faults-bench>", search_paths=[str(REPO)])


# -- 1. SIGKILL of a node -------------------------------------------------------------------------------
def kill_round(victim: str) -> dict[str, Any]:
    from ar_perception.recording import RecordingReader
    from ar_perception.runtime.launch import run_graph

    with tempfile.TemporaryDirectory(prefix="faults-bench-") as tmp:
        state: dict[str, Any] = {}

        def on_stats(reports: dict[str, Any]) -> None:
            now = time.monotonic()
            t0 = state.setdefault("t0", now)
            if "kill_ns" not in state and now - t0 >= KILL_AFTER_S:
                state["kill_ns"] = time.time_ns()
                os.kill(reports[victim].pid, signal.SIGKILL)

        r = run_graph(parse(KILL_GRAPH.format(fps=FPS, tmp=tmp)), KILL_RUN_S, on_stats=on_stats)
        kill = state["kill_ns"]
        rec = RecordingReader(f"{tmp}/run.mcap")
        timed = {n: list(rec.timed_messages([f"{n}/image"])) for n in ("a", "b", "c")}
    seqs = [m.seq for _, m in timed[victim]]
    back = next(i for i in range(1, len(seqs)) if seqs[i] < seqs[i - 1])
    restart_s = (timed[victim][back][1].publish_ns - kill) / 1e9
    window = max(restart_s, 1.0)
    out: dict[str, Any] = {
        "victim": victim,
        "restart_s": restart_s,
        "restarts": r.nodes[victim].restarts,
        "exit_code": r.nodes[victim].exit_code,
        "during_hz": {},
        "before_hz": {},
        "lost": 0,
    }
    for s in ("a", "b") if victim == "c" else ("b",):
        logs = [t for t, _ in timed[s]]
        got = [m.seq for _, m in timed[s]]
        out["lost"] += sum(max(0, y - x - 1) for x, y in itertools.pairwise(got)) + r.nodes["rec"].stats["drops"][s]
        out["during_hz"][s] = sum(kill <= t < kill + window * 1e9 for t in logs) / window
        out["before_hz"][s] = sum(kill - 1.5e9 <= t < kill for t in logs) / 1.5
    return out


# -- 2. SIGKILL of `arp run` ----------------------------------------------------------------------------
def _alive(procs: list[psutil.Process]) -> bool:
    for p in procs:
        try:
            if p.is_running() and p.status() != psutil.STATUS_ZOMBIE:
                return True
        except psutil.NoSuchProcess:
            pass
    return False


def arp_run_kill_round() -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="faults-bench-") as tmp:
        log = Path(tmp) / "out.jsonl"
        spec = Path(tmp) / "g.yaml"
        spec.write_text(f"""
nodes:
  - {{id: cam, node: pattern, params: {{fps: 20, size: [64, 48]}}}}
  - {{id: inv, node: invert, inputs: {{image: cam/image}}}}
  - {{id: out, node: sink, params: {{log: "{log}"}}, inputs: {{in: {{source: inv/image, queue: reliable}}}}}}
""")
        p = subprocess.Popen(
            [sys.executable, "-m", "ar_perception.cli", "run", str(spec), "--for", "60", "--quiet"],
            cwd=REPO,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and (not log.exists() or len(log.read_text().splitlines()) < 5):
            time.sleep(0.05)
        procs = psutil.Process(p.pid).children(recursive=True)
        worker = next(c for c in procs if "ar_perception.runtime.worker" in c.cmdline())
        run_dir = os.path.dirname(worker.cmdline()[-1])
        # the watchdog has left its parent (runtime/reaper.py): found by its run directory
        procs += [r for r in psutil.process_iter(["cmdline"]) if (r.info["cmdline"] or [])[-1:] == [run_dir]]
        sockets = [f for f in os.listdir(run_dir) if stat.S_ISSOCK(os.stat(os.path.join(run_dir, f)).st_mode)]
        t0 = time.monotonic()
        os.kill(p.pid, signal.SIGKILL)
        p.wait()
        procs_s = dir_s = None
        while (procs_s is None or dir_s is None) and time.monotonic() - t0 < 10:
            if procs_s is None and not _alive(procs):
                procs_s = time.monotonic() - t0
            if dir_s is None and not os.path.exists(run_dir):
                dir_s = time.monotonic() - t0
            time.sleep(0.002)
    return {"processes": len(procs), "sockets": len(sockets), "procs_s": procs_s, "dir_s": dir_s}


# -- 3. start/stop cycles -------------------------------------------------------------------------------
def cycles(n: int) -> dict[str, Any]:
    from ar_perception.runtime.launch import run_graph

    private = tempfile.mkdtemp(prefix="arpc-")  # short: ipc socket paths live in it
    old_tempdir, old_env = tempfile.tempdir, os.environ.get("TMPDIR")
    tempfile.tempdir, os.environ["TMPDIR"] = private, private
    me = psutil.Process()

    def snap() -> dict[str, int]:
        gc.collect()
        return {
            "fds": len(os.listdir("/proc/self/fd")),
            "threads": threading.active_count(),
            "os_threads": me.num_threads(),
            "children": len(me.children(recursive=True)),
            "temp_files": sum(len(d) + len(f) for _, d, f in os.walk(private)),
        }

    try:
        tail = f"""
  - {{id: inv, node: invert, inputs: {{image: {{source: cam/image, queue: reliable}}}}}}
  - id: out
    node: sink
    params: {{log: "{private}/out.jsonl"}}
    inputs: {{in: {{source: inv/image, queue: reliable}}}}
"""
        ends = parse(f"nodes:\n  - {{id: cam, node: pattern, params: {{fps: 100, frames: 5, size: [64, 48]}}}}{tail}")
        stopped = parse(f"nodes:\n  - {{id: cam, node: pattern, params: {{fps: 100, size: [64, 48]}}}}{tail}")
        run_graph(ends, 30)
        os.remove(f"{private}/out.jsonl")
        before = snap()
        t0 = time.monotonic()
        failed = 0
        for i in range(n):
            r = run_graph(stopped, 0.3) if i % 2 else run_graph(ends, 30)
            failed += not r.ok
        seconds = time.monotonic() - t0
        os.remove(f"{private}/out.jsonl")
        after = snap()
    finally:
        tempfile.tempdir = old_tempdir
        if old_env is None:
            os.environ.pop("TMPDIR", None)
        else:
            os.environ["TMPDIR"] = old_env
        shutil.rmtree(private, ignore_errors=True)
    return {"cycles": n, "s_per_cycle": seconds / n, "failed": failed, "before": before, "after": after}


# -- 4. a reliable edge under a slow consumer -----------------------------------------------------------
def _edge_run(size: int, frames: int, tmp: Path, tag: str, stop_when_blocked: bool = False) -> tuple[Any, dict, list]:
    """One run of a reliable edge: `Fill` (a frame costs a millisecond: the producer is never the bottleneck)
    into `Gated` (takes nothing until the producer has stood blocked for a second, then drains), the condition
    forced whatever the machine's speed, as in the test (tests/runtime/test_faults.py). Peaks are each
    process's own VmHWM, written as it ends. With `stop_when_blocked` the run stops once the producer is
    blocked, with the consumer still holding everything back."""
    from ar_perception.runtime.launch import Supervisor
    from tests.runtime.faulty import open_when_blocked

    log, peaks, gate = tmp / f"{tag}.jsonl", tmp / f"{tag}.peaks", tmp / f"{tag}.gate"
    g = parse(f"""
shm: false  # ZeroMQ's buffers, whose bound (3 x size) this measures; direct edges: tests/runtime/test_direct.py
nodes:
  - {{id: cam, node: "tests.runtime.faulty:Fill", params: {{frames: {frames}, size: [{W}, {H}], peak_log: "{peaks}"}}}}
  - id: slow
    node: "tests.runtime.faulty:Gated"
    params: {{gate: "{gate}", gate_timeout_s: 60, log: "{log}", peak_log: "{peaks}"}}
    inputs: {{in: {{source: cam/image, queue: {{policy: reliable, size: {size}}}}}}}
""")
    if frames == 1:
        gate.touch()  # nothing to wait for
    sup = Supervisor(g, on_stats=open_when_blocked(gate, "cam"))
    r = sup.run(120, stop_event=gate.exists if stop_when_blocked else None)
    peak = {x["node"]: x["peak_mib"] for x in map(json.loads, peaks.read_text().splitlines())}
    seqs = [json.loads(x)["seq"] for x in log.read_text().splitlines()] if log.exists() else []
    return r, peak, seqs


def reliable_edge(size: int) -> dict[str, Any]:
    frames = 3 * size + 10
    with tempfile.TemporaryDirectory(prefix="faults-bench-") as d:
        tmp = Path(d)
        _, base, _ = _edge_run(size, 1, tmp, "base")  # each process with the one frame it makes or handles
        r, peak, seqs = _edge_run(size, frames, tmp, "slow")
        blocked, _, _ = _edge_run(size, frames, tmp, "blocked", stop_when_blocked=True)
    bound = {"cam": size + 2, "slow": 2 * size + 2}
    return {
        "size": size,
        "frames": frames,
        "lost": frames - len(seqs) if seqs == list(range(len(seqs))) else -1,
        "blocked_s": r.nodes["cam"].stats["blocked_s"],
        "base_mib": base,
        "peak_mib": peak,
        "growth_frames": {n: (peak[n] - base[n]) / FRAME_MIB for n in bound},
        "bound_frames": bound,
        "in_flight": blocked.nodes["cam"].stats["out"]["image"] - blocked.nodes["slow"].stats["in"]["in"],
    }


# -- output ---------------------------------------------------------------------------------------------
def machine() -> str:
    from transport import (
        machine as host,  # the one description of the host the benchmarks share
    )

    return f"{host()}, {psutil.virtual_memory().total / 2**30:.0f} GiB"


def report(res: dict[str, Any], console: Any) -> None:
    from rich.table import Table

    t = Table(title=f"SIGKILL of a node (restart: on-failure), sources at {FPS} Hz")
    for col in (
        "killed",
        "kills",
        "restart s p50",
        "max",
        "survivors Hz during p50 (min)",
        "before p50",
        "frames lost",
        "restarts / final exit",
    ):
        t.add_column(col, justify="right")
    for victim, rounds in res["kill"].items():
        rs = [x["restart_s"] for x in rounds]
        during = [v for x in rounds for v in x["during_hz"].values()]
        before = [v for x in rounds for v in x["before_hz"].values()]
        t.add_row(
            f"{victim} ({'invert' if victim == 'c' else 'source'})",
            str(len(rounds)),
            f"{np.median(rs):.2f}",
            f"{max(rs):.2f}",
            f"{np.median(during):.1f} ({min(during):.1f})",
            f"{np.median(before):.1f}",
            str(sum(x["lost"] for x in rounds)),
            ", ".join(sorted({f"{x['restarts']} / {x['exit_code']}" for x in rounds})),
        )
    console.print(t)

    k = res["arp_run_kill"]
    t = Table(title="SIGKILL of `arp run` (3 nodes + watchdog): time until gone")
    for col in ("kills", "processes", "ipc sockets", "processes gone p50 s", "max", "run dir gone p50 s", "max"):
        t.add_column(col, justify="right")
    ps, ds = [x["procs_s"] for x in k], [x["dir_s"] for x in k]
    gone = all(v is not None for v in ps + ds)
    t.add_row(
        str(len(k)),
        str(k[0]["processes"]),
        str(k[0]["sockets"]),
        *(
            (f"{np.median(ps):.3f}", f"{max(ps):.3f}", f"{np.median(ds):.3f}", f"{max(ds):.3f}")
            if gone
            else ("NOT GONE",) * 4
        ),
    )
    console.print(t)

    c = res["cycles"]
    t = Table(title=f"{c['cycles']} start/stop cycles of pattern -> invert -> sink (run_graph in-process)")
    for col in ("", "open fds", "threads (Python / OS)", "child processes", "temp files"):
        t.add_column(col, justify="right")
    for when in ("before", "after"):
        s = c[when]
        t.add_row(when, str(s["fds"]), f"{s['threads']} / {s['os_threads']}", str(s["children"]), str(s["temp_files"]))
    console.print(t)
    console.print(f"{c['s_per_cycle']:.2f} s per cycle, {c['failed']} failed runs")

    t = Table(title=f"reliable edge, {W}x{H} RGB frames ({FRAME_MIB:.2f} MiB), consumer held until the producer blocks")
    for col in (
        "size",
        "frames",
        "lost",
        "producer blocked s",
        "in flight / 3 x size",
        "producer MiB base -> peak",
        "growth / bound frames",
        "consumer MiB base -> peak",
        "growth / bound frames",
    ):
        t.add_column(col, justify="right")
    for e in res["reliable"]:
        row = [
            str(e["size"]),
            str(e["frames"]),
            str(e["lost"]),
            f"{e['blocked_s']:.1f}",
            f"{e['in_flight']} / {3 * e['size']}",
        ]
        for n in ("cam", "slow"):
            row += [
                f"{e['base_mib'][n]:.0f} -> {e['peak_mib'][n]:.0f}",
                f"{e['growth_frames'][n]:.1f} / {e['bound_frames'][n]}",
            ]
        t.add_row(*row)
    console.print(t)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Fault recovery figures of the arp runtime.")
    ap.add_argument("--json", action="store_true", help="print one JSON object instead of tables")
    ap.add_argument("--quick", action="store_true", help="2 kills each, 10 cycles, size 4 only; no results file")
    ap.add_argument("--kills", type=int, default=None, help="rounds per kill series (default 5)")
    ap.add_argument("--cycles", type=int, default=None, help="start/stop cycles (default 50)")
    args = ap.parse_args(argv)
    kills = args.kills or (2 if args.quick else 5)
    n_cycles = args.cycles or (10 if args.quick else 50)
    from rich.console import Console

    progress = Console(stderr=True, highlight=False)
    say = (lambda s: progress.print(f"[dim]  {s}[/]")) if not args.json else (lambda s: None)
    load0 = os.getloadavg()
    res: dict[str, Any] = {"kill": {}, "arp_run_kill": []}
    for victim in ("c", "a"):
        res["kill"][victim] = []
        for i in range(kills):
            say(f"SIGKILL {victim}: round {i + 1}/{kills}")
            res["kill"][victim].append(kill_round(victim))
    for i in range(kills):
        say(f"SIGKILL arp run: round {i + 1}/{kills}")
        res["arp_run_kill"].append(arp_run_kill_round())
    say(f"{n_cycles} start/stop cycles")
    res["cycles"] = cycles(n_cycles)
    res["reliable"] = []
    for size in (4,) if args.quick else (4, 16):
        say(f"reliable edge, size {size}")
        res["reliable"].append(reliable_edge(size))
    load1 = os.getloadavg()
    res["load_1m"] = [round(load0[0], 2), round(load1[0], 2)]
    if args.json:
        print(json.dumps(res))
        return 0
    console = Console(record=True, width=120, highlight=False)
    console.print(
        f"arp fault benchmark ({'quick' if args.quick else 'full'}: {kills} kills per series, "
        f"{n_cycles} cycles), {time.strftime('%Y-%m-%dT%H:%MZ', time.gmtime())}\nmachine: {machine()}"
    )
    report(res, console)
    console.print(
        f"load average (1 min): {load0[0]:.2f} before, {load1[0]:.2f} after (this benchmark included), "
        f"{os.cpu_count()} cores"
    )
    if not args.quick:
        (HERE / "results").mkdir(exist_ok=True)
        (HERE / "results" / "faults.txt").write_text(console.export_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
