"""What CurveZMQ costs on a tcp link: plain tcp against Curve-encrypted tcp over 127.0.0.1.

Usage: python benchmarks/curve.py [--rounds N] [--quick]

Both links are the runtime's own sockets (runtime/transport.py push_socket/pull_socket), in one process:
the sender in the main thread, the receiver in a thread. Latency: one message, then a pause, so each
crosses an idle link; receipt time minus send time (time.perf_counter_ns). Throughput: a back-to-back
burst of messages through the runtime's reliable-edge bound (16). Plain and Curve alternate round by
round and the tables report medians over rounds.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import zmq
from rich.console import Console
from rich.table import Table

from ar_perception.keys import CurveKeys, create_keypair
from ar_perception.runtime import transport as tp

sys.path.insert(0, str(Path(__file__).resolve().parent))  # benchmarks/transport.py, when run from elsewhere
from transport import machine

HERE = Path(__file__).resolve().parent

SIZES = (8, 640 * 480 * 3, 4 * 2**20)
BOUND = 16


def one_round(ctx: zmq.Context, curve: CurveKeys | None, nbytes: int, paced: int, burst: int) -> tuple[float, float]:
    """(p50 latency µs, burst MB/s) of one link."""
    ep = f"tcp://127.0.0.1:{tp.free_tcp_port('127.0.0.1')}"
    push = tp.push_socket(ctx, ep, BOUND, curve)
    pull = tp.pull_socket(ctx, ep, BOUND, curve)
    payload = np.random.default_rng(0).integers(0, 255, nbytes, dtype=np.uint8)  # sent as .data, as runtime/msg.py does
    got: list[int] = []
    done = threading.Event()

    def receive(n: int) -> None:
        for _ in range(n):
            pull.recv(copy=False)
            got.append(time.perf_counter_ns())
        done.set()

    try:
        push.send(b"warm")
        pull.recv()
        t = threading.Thread(target=receive, args=(paced,))
        t.start()
        sent = []
        for _ in range(paced):
            sent.append(time.perf_counter_ns())
            push.send(payload.data, copy=False)
            time.sleep(0.003 if nbytes < 2**20 else 0.02)
        t.join()
        lat = np.median((np.array(got) - np.array(sent)) / 1e3)
        got.clear()
        t = threading.Thread(target=receive, args=(burst,))
        t.start()
        t0 = time.perf_counter_ns()
        for _ in range(burst):
            push.send(payload.data, copy=False)
        t.join()
        rate = burst * nbytes / ((got[-1] - t0) / 1e9) / 1e6
        return float(lat), float(rate)
    finally:
        push.close(0)
        pull.close(0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--quick", action="store_true", help="fewer messages, 2 rounds (a smoke run)")
    args = ap.parse_args()
    rounds = 2 if args.quick else args.rounds
    scale = 0.2 if args.quick else 1.0
    with tempfile.TemporaryDirectory() as d:
        create_keypair(d, "bench")
        allowed = Path(d) / "allowed"
        allowed.mkdir()
        (allowed / "bench.key").write_bytes((Path(d) / "bench.key").read_bytes())
        curve = CurveKeys.load(f"{d}/bench.key_secret", str(allowed), {})
        ctx = zmq.Context()
        gate = tp.Gatekeeper(ctx, curve, __import__("logging").getLogger("bench"))
        results: dict[tuple[int, str], list[tuple[float, float]]] = {}
        try:
            for _ in range(rounds):
                for nbytes in SIZES:
                    paced = max(20, int((300 if nbytes < 2**20 else 60) * scale))
                    burst = max(20, int((5000 if nbytes < 1000 else 300 if nbytes < 2**21 else 100) * scale))
                    for name, keys in (("plain tcp", None), ("curve tcp", curve)):
                        results.setdefault((nbytes, name), []).append(one_round(ctx, keys, nbytes, paced, burst))
        finally:
            gate.stop()
            ctx.destroy(0)
    out = Console(record=True, width=100)
    out.print(f"arp CurveZMQ benchmark ({'quick' if args.quick else 'full'}, {rounds} rounds)")
    out.print(f"machine: {machine()}, load average {os.getloadavg()[0]:.2f}")
    t = Table(title="plain vs Curve-encrypted tcp on 127.0.0.1 (medians over rounds)")
    for col in ("payload", "link", "p50 µs", "MB/s", "curve/plain p50", "curve/plain MB/s"):
        t.add_column(col, justify="right")
    for nbytes in SIZES:
        med = {name: np.median(np.array(results[(nbytes, name)]), axis=0) for name in ("plain tcp", "curve tcp")}
        for name in ("plain tcp", "curve tcp"):
            lat, rate = med[name]
            ratio = (
                (f"{med['curve tcp'][0] / med['plain tcp'][0]:.2f}x", f"{rate / med['plain tcp'][1]:.2f}x")
                if name == "curve tcp"
                else ("", "")
            )
            t.add_row(f"{nbytes:,} B", name, f"{lat:,.1f}", f"{rate:,.1f}", *ratio)
    out.print(t)
    if not args.quick:
        (HERE / "results").mkdir(exist_ok=True)
        (HERE / "results" / "curve.txt").write_text(out.export_text())


if __name__ == "__main__":
    main()
