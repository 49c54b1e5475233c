"""Cluster benchmark: what Ray costs and buys `arp batch` and `arp run --cluster` on this one machine.

Usage: python benchmarks/cluster.py [--json] [--quick] [--rounds N] [--recordings N]

It re-runs itself inside a loopback-only network namespace (`unshare -n`, then `ip link set lo up`), so Ray
binds and talks only to 127.0.0.1. Every figure is the median of `--rounds` rounds, taken in this one run:
- **cluster start**: `ray.init(address="local")` of a one-machine cluster, and its shutdown (Ray's own cost).
- **batch**: N copies of the sample session replayed at speed 0 through camera -> invert, with the outputs
  recorded (what `arp batch` does for each), three ways: one after another in this process without Ray
  (`--cluster none`), and as Ray tasks on an already started local cluster with at most 1 and 2 at once.
  Throughput is recordings per second; the overhead per recording is Ray (1 at once) minus the plain loop,
  divided by N: scheduling a task, shipping its small description, and the worker's imports once per worker.
- **live-graph start**: the time from the call to the first frame at the sink, for a three-node graph run by
  `run_graph` on this machine and by `run_on_cluster` on an already started local cluster (placement group,
  actors, two-phase wiring, start barrier).
The machine line gives the CPU, cores and the measured fp32 matmul peak (torch, benchmarks/encoder.py).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
SAMPLE = REPO / "recordings" / "sample.mcap"
NETNS_FLAG = "ARP_BENCH_IN_LOOPBACK_NETNS"

BATCH_GRAPH = """
nodes:
  - {id: cam, node: camera}
  - {id: inv, node: invert, inputs: {image: cam/image}}
"""

LIVE_GRAPH = """
nodes:
  - {{id: cam, node: pattern, params: {{fps: 30, frames: 3, size: [64, 48]}}}}
  - {{id: inv, node: invert, inputs: {{image: {{source: cam/image, queue: reliable}}}}}}
  - {{id: out, node: sink, params: {{log: {log}}}, inputs: {{in: {{source: inv/image, queue: reliable}}}}}}
"""


def reexec_in_loopback() -> None:
    """Run this script again in a loopback-only network namespace, unless it already is in one."""
    if os.environ.get(NETNS_FLAG):
        return
    if shutil.which("unshare") is None:
        sys.exit("benchmarks/cluster.py needs unshare (util-linux) and root, to keep Ray on loopback")
    env = dict(os.environ, **{NETNS_FLAG: "1"})
    cmd = ["unshare", "-n", "bash", "-c", 'ip link set lo up && exec "$@"', "_", sys.executable, *sys.argv]
    sys.exit(subprocess.run(cmd, env=env).returncode)


def machine() -> dict[str, Any]:
    from encoder import matmul_peak_gflops  # benchmarks/encoder.py

    cpu = "unknown CPU"
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name"))
    except (OSError, StopIteration):
        pass
    threads = os.cpu_count() or 1
    return {"cpu": cpu, "cores": threads, "matmul_gflops": round(matmul_peak_gflops(threads), 1)}


def timed(fn: Callable[[], Any]) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def cluster_start() -> tuple[float, float]:
    """Seconds to start a one-machine cluster as `--cluster local` does, and to shut it down."""
    from ar_perception.cluster.connect import connected

    t = time.perf_counter()
    with connected("local"):
        started = time.perf_counter() - t
        t = time.perf_counter()
    return started, time.perf_counter() - t


def batch_jobs(folder: Path, n: int) -> list[Any]:
    from ar_perception.cluster.batch import Job

    jobs = []
    for i in range(n):
        rec = folder / f"r{i}.mcap"
        if not rec.exists():
            shutil.copy(SAMPLE, rec)
        out = folder / "out"
        out.mkdir(exist_ok=True)
        jobs.append(Job(f"r{i}", str(rec), BATCH_GRAPH, str(folder / "g.yaml"), str(out)))
    return jobs


def run_batch(jobs: list[Any], ray: Any, parallel: int) -> float:
    from ar_perception.cluster.batch import run_jobs

    failed: list[str] = []

    def done(job: Any, outcome: Any, attempts: int) -> None:
        if not outcome.ok:
            failed.append(f"{job.name}: {outcome.error}")

    seconds = timed(lambda: run_jobs(jobs, ray=ray, parallel=parallel, retries=0, on_done=done))
    if failed:
        raise RuntimeError("; ".join(failed))
    return seconds


def first_frame_s(start: Callable[[], Any], log: Path) -> float:
    """Seconds from calling `start` (which runs the graph to its end) to the first line in the sink's log."""
    log.unlink(missing_ok=True)
    t0 = time.perf_counter()
    seen: list[float] = []

    def watch() -> None:
        while not seen:
            if log.exists() and log.stat().st_size > 0:
                seen.append(time.perf_counter() - t0)
            time.sleep(0.005)

    w = threading.Thread(target=watch, daemon=True)
    w.start()
    start()
    time.sleep(0.05)
    if not seen:
        seen.append(float("nan"))
    w.join(1)
    return seen[0]


def live_graph(folder: Path) -> Any:
    from ar_perception.graph.load import parse_graph

    log = folder / "live.jsonl"
    return parse_graph(LIVE_GRAPH.format(log=log), str(folder / "live.yaml")), log


def measure(rounds: int, n: int, progress: Callable[[str], None]) -> dict[str, Any]:
    from ar_perception.cluster.connect import connected
    from ar_perception.cluster.live import run_on_cluster
    from ar_perception.runtime.launch import run_graph

    folder = Path(tempfile.mkdtemp(prefix="arp-bench-cluster-"))
    rows: dict[str, list[float]] = {k: [] for k in ("start", "shutdown", "loop", "ray1", "ray2", "live", "live_ray")}
    try:
        jobs = batch_jobs(folder, n)
        graph, log = live_graph(folder)
        for r in range(rounds):
            progress(f"round {r + 1}/{rounds}: cluster start")
            s, d = cluster_start()
            rows["start"].append(s)
            rows["shutdown"].append(d)
            progress(f"round {r + 1}/{rounds}: batch of {n} without Ray")
            rows["loop"].append(run_batch(jobs, None, 1))
            rows["live"].append(first_frame_s(lambda: run_graph(graph), log))
            with connected("local") as ray:
                progress(f"round {r + 1}/{rounds}: batch of {n} on Ray, 1 and 2 at once")
                rows["ray1"].append(run_batch(jobs, ray, 1))
                rows["ray2"].append(run_batch(jobs, ray, 2))
                progress(f"round {r + 1}/{rounds}: live graph on Ray")
                rows["live_ray"].append(first_frame_s(lambda: run_on_cluster(ray, graph), log))
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    med = {k: statistics.median(v) for k, v in rows.items()}
    return {
        "rounds": rounds,
        "recordings": n,
        "cluster_start_s": round(med["start"], 2),
        "cluster_shutdown_s": round(med["shutdown"], 2),
        "batch_loop_s": round(med["loop"], 2),
        "batch_ray_1_s": round(med["ray1"], 2),
        "batch_ray_2_s": round(med["ray2"], 2),
        "recordings_per_s": {
            "no Ray": round(n / med["loop"], 3),
            "Ray, 1 worker": round(n / med["ray1"], 3),
            "Ray, 2 workers": round(n / med["ray2"], 3),
        },
        "speedup_2_vs_1": round(med["ray1"] / med["ray2"], 2),
        "overhead_per_recording_s": round((med["ray1"] - med["loop"]) / n, 3),
        "live_first_frame_s": round(med["live"], 2),
        "live_first_frame_cluster_s": round(med["live_ray"], 2),
        "raw": {k: [round(x, 3) for x in v] for k, v in rows.items()},
    }


def report(result: dict[str, Any], console: Any) -> None:
    from rich.table import Table

    m = result["machine"]
    console.print(
        f"machine: {m['cpu']}, {m['cores']} cores, fp32 matmul peak {m['matmul_gflops']} GFLOP/s; "
        f"load average {result['load_1m'][0]} before, {result['load_1m'][1]} after; "
        f"medians of {result['rounds']} rounds",
        highlight=False,
    )
    t = Table(title=f"arp on Ray, one machine ({result['recordings']} recordings of the sample session)")
    t.add_column("what")
    t.add_column("median", justify="right")
    for what, value in (
        ("cluster start (ray.init, local)", f"{result['cluster_start_s']:.2f} s"),
        ("cluster shutdown", f"{result['cluster_shutdown_s']:.2f} s"),
        ("batch, no Ray (one loop)", f"{result['recordings_per_s']['no Ray']:.2f} rec/s"),
        ("batch, Ray, 1 worker", f"{result['recordings_per_s']['Ray, 1 worker']:.2f} rec/s"),
        ("batch, Ray, 2 workers", f"{result['recordings_per_s']['Ray, 2 workers']:.2f} rec/s"),
        ("2 workers vs 1", f"{result['speedup_2_vs_1']:.2f}x"),
        ("Ray overhead per recording", f"{result['overhead_per_recording_s'] * 1000:.0f} ms"),
        ("live graph: first frame, arp run", f"{result['live_first_frame_s']:.2f} s"),
        ("live graph: first frame, --cluster (started)", f"{result['live_first_frame_cluster_s']:.2f} s"),
    ):
        t.add_row(what, value)
    console.print(t)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", action="store_true", help="print the result as JSON")
    ap.add_argument("--quick", action="store_true", help="1 round of 2 recordings (a smoke run)")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--recordings", type=int, default=6)
    args = ap.parse_args(argv)
    reexec_in_loopback()
    from rich.console import Console

    console = Console(stderr=args.json)
    rounds, n = (1, 2) if args.quick else (args.rounds, args.recordings)
    load0 = os.getloadavg()[0]
    result: dict[str, Any] = {"machine": machine()}
    result |= measure(rounds, n, lambda s: console.print(s, style="dim"))
    result["load_1m"] = [round(load0, 2), round(os.getloadavg()[0], 2)]
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        report(result, console)
    return 0


if __name__ == "__main__":
    sys.exit(main())
