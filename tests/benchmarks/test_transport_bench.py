"""Smoke test of benchmarks/transport.py: a tiny run of both contenders yields well-formed rows."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import numpy as np
import pytest

BENCH = Path(__file__).resolve().parents[2] / "benchmarks"
sys.path.insert(0, str(BENCH))

import transport  # noqa: E402


@pytest.mark.slow  # about 10 s on 2 cores: twelve short process pairs
def test_tiny_run_gives_well_formed_rows() -> None:
    plan = [
        transport.Case(8, count=10, period_ms=2.0, burst=20),
        transport.Case(64 * 1024, count=10, period_ms=2.0, burst=20),
    ]
    results = transport.run(plan, rounds=1)
    rows = json.loads(json.dumps([r.row() for r in results]))

    # arp-shm (the default graph: direct edges, shared memory) at every size; dora: the `bench` extra
    contenders = ["arp", "arp-shm", "raw-zmq"] + (["dora"] if transport.dora_cli() else [])
    assert sorted((r["contender"], r["bytes"]) for r in rows) == sorted((c, n) for c in contenders for n in (8, 65536))
    for row in rows:
        assert set(row) == {"contender", "bytes", "p50_us", "p50_rounds_us", "p99_us", "msgs_per_s"}
        assert row["p50_rounds_us"] == [row["p50_us"]]  # one round
        assert 0 < row["p50_us"] <= row["p99_us"] and math.isfinite(row["p99_us"]), row
        assert row["msgs_per_s"] > 0 and math.isfinite(row["msgs_per_s"]), row
    for r in results:
        assert r.sent == 10 and 0 < r.received <= r.sent
    assert {x["bytes"]: x["target"] for x in transport.targets(results)}[8].startswith("<=")


def test_latency_and_rate_from_rows() -> None:
    # rows: seq, publish_ns, recv_ns, nbytes; the first `warmup` sequence numbers are discarded
    rows = np.array([[0, 0, 9_000, 8], [1, 1_000_000, 1_050_000, 8], [2, 2_000_000, 2_100_000, 8]])
    assert transport.latencies_us(rows, warmup=1).tolist() == [50.0, 100.0]
    assert transport.rate(rows, warmup=1) == pytest.approx(1 / 0.00105)


def test_p50_is_the_median_of_the_rounds_p50s_and_p99_that_of_the_pooled_samples() -> None:
    rounds = [np.array([1.0, 2.0, 3.0]), np.array([10.0, 11.0, 12.0, 13.0, 14.0]), np.array([5.0, 6.0, 7.0])]
    r = transport.Result("arp", 8, latencies_us=rounds, rates=[1.0, 3.0, 2.0])
    assert r.round_p50s_us == [2.0, 12.0, 6.0]
    assert r.p50_us == 6.0  # pooled, the p50 would be 7.0 (the long second round weighs more)
    assert r.p99_us == pytest.approx(np.percentile(np.concatenate(rounds), 99)) and r.msgs_per_s == 2.0


def test_targets_take_the_default_path_shared_memory_where_it_is_used() -> None:
    def result(contender: str, nbytes: int, p50: float) -> transport.Result:
        return transport.Result(contender, nbytes, latencies_us=[np.array([p50, p50])], rates=[100.0])

    n = transport.FRAME_BYTES
    rows = [result("raw-zmq", 8, 100), result("arp", 8, 190), result("raw-zmq", n, 500), result("arp", n, 800)]
    by = {x["bytes"]: x for x in transport.targets([*rows, result("arp-shm", n, 400)])}
    assert by[8]["arp"] == "arp" and by[8]["met"] is True  # +90 µs
    assert by[n]["arp"] == "arp-shm" and by[n]["ratio"] == pytest.approx(0.8) and by[n]["met"] is True
    by = {x["bytes"]: x for x in transport.targets(rows)}  # no shared-memory row: the frames row
    assert by[n]["arp"] == "arp" and by[n]["met"] is False  # 1.6x


def test_memcpy_floor_is_measured_in_microseconds() -> None:
    small, large = transport.memcpy_p50_us(64 * 1024), transport.memcpy_p50_us(16 * 1024 * 1024)
    assert 0 < small < large and math.isfinite(large)  # 256x the bytes cannot copy faster
