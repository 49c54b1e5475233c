"""Smoke test of benchmarks/cluster.py: a quick run (it puts itself in a loopback-only namespace) gives
well-formed figures from real Ray runs."""

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

from tests.cluster.loopback import in_loopback

BENCH = Path(__file__).resolve().parents[2] / "benchmarks" / "cluster.py"


@pytest.mark.slow  # about 40 s: two local clusters, four small batches, two live graphs
def test_a_quick_run_gives_well_formed_figures() -> None:
    pytest.importorskip("ray")
    in_loopback(["true"], timeout=30)  # skips where no namespace can be made
    p = subprocess.run([sys.executable, str(BENCH), "--quick", "--json"], capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stderr
    r = json.loads(p.stdout)
    assert r["rounds"] == 1 and r["recordings"] == 2 and r["machine"]["matmul_gflops"] > 0
    for key in (
        "cluster_start_s",
        "batch_loop_s",
        "batch_ray_1_s",
        "batch_ray_2_s",
        "live_first_frame_s",
        "live_first_frame_cluster_s",
    ):
        assert r[key] > 0 and math.isfinite(r[key]), key
    assert r["recordings_per_s"]["Ray, 2 workers"] == pytest.approx(2 / r["batch_ray_2_s"], rel=0.01)
