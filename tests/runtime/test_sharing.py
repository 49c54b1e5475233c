"""How node processes share the CPU: a node's `nice` lowers its priority (and its autogroup's, in its own
session), the runtime keeps numpy's OpenBLAS threads from spinning, and each node's CPU time while the graph
ran is in its statistics (`cpu_s`, setup excluded)."""

import json
import os
from pathlib import Path

from ar_perception.graph.load import parse_graph
from ar_perception.runtime.launch import run_graph

HERE = Path(__file__).parent


def _where(tmp_path: Path, nice_line: str) -> dict:
    out = tmp_path / "where.json"
    g = parse_graph(
        f"""
nodes:
  - id: probe
    node: "sched_nodes:Where"
    params: {{out: {json.dumps(str(out))}}}
{nice_line}
  - {{id: sink, node: sink, inputs: {{in: {{source: probe/out, queue: reliable}}}}}}
""",
        "g.yaml",
        search_paths=[str(HERE)],
    )
    r = run_graph(g, 60)
    assert r.nodes["probe"].exit_code == 0, r.nodes["probe"].errors
    return json.loads(out.read_text())


def test_a_node_at_nice_7_runs_at_nice_7_threads_and_autogroup_included(tmp_path):
    base = os.getpriority(os.PRIO_PROCESS, 0)  # pytest itself may run niced: nodes start from its value
    seen = _where(tmp_path, "    nice: 7")
    assert seen["nice"] == min(19, base + 7) and seen["thread_nice"] == min(19, base + 7)
    assert seen["blas_nice"] and all(n == min(19, base + 7) for n in seen["blas_nice"])  # those started at import too
    assert seen["session_leader"]  # the supervisor starts each node in a session (and autogroup) of its own
    if seen["autogroup"] is not None:  # kernels with autogroups: they share the CPU between groups first
        assert seen["autogroup"].endswith("nice 7")
    assert seen["openblas_timeout"] == "4"


def test_a_node_without_nice_keeps_the_default_priority(tmp_path):
    base = os.getpriority(os.PRIO_PROCESS, 0)
    seen = _where(tmp_path, "")
    assert seen["nice"] == base and seen["thread_nice"] == base
    if seen["autogroup"] is not None:
        assert seen["autogroup"].endswith("nice 0")


def test_cpu_seconds_count_the_run_not_the_setup():
    g = parse_graph(
        """
nodes:
  - {id: cam, node: pattern, params: {fps: 20, size: [16, 12], frames: 4}}
  - id: busy
    node: "sched_nodes:Burn"
    params: {setup_s: 1.0, run_s: 0.2}
    inputs: {in: {source: cam/image, queue: reliable}}
  - id: idle
    node: "sched_nodes:Burn"
    params: {setup_s: 1.0, sleep_s: 0.2}
    inputs: {in: {source: cam/image, queue: reliable}}
""",
        "g.yaml",
        search_paths=[str(HERE)],
    )
    r = run_graph(g, 60)
    busy, idle = r.nodes["busy"].stats, r.nodes["idle"].stats
    assert busy["in"]["in"] == 4 and idle["in"]["in"] == 4
    assert 0.8 <= busy["cpu_s"] < 1.0 + 0.5  # 4 x 0.2 s burnt while running; the 1 s of setup is not counted
    assert idle["cpu_s"] < 0.5  # sleeping costs no CPU; nor did its 1 s of setup
