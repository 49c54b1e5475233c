"""A node that fails in setup, through a real `arp run`: one line that names the node, the parameter when the
error is about one, and the fix; the traceback only with `--log-level debug`."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
NODES = "tests.runtime.setup_nodes"
HINT = "(run with --log-level debug for the traceback)"


def arp_run(tmp_path: Path, node_yaml: str, *args: str) -> subprocess.CompletedProcess[str]:
    """`arp run` of a pattern source feeding the node under test (its id: `bad`)."""
    graph = tmp_path / "g.yaml"
    graph.write_text(
        "nodes:\n"
        "  - {id: cam, node: pattern, params: {fps: 10, frames: 3, size: [32, 24]}}\n"
        f"  - {{id: bad, inputs: {{in: cam/image}}, {node_yaml}}}\n"
    )
    return subprocess.run(
        [sys.executable, "-m", "ar_perception.cli", "run", str(graph), "--quiet", *args],
        capture_output=True,
        text=True,
        cwd=REPO,  # the test nodes import as tests.runtime.setup_nodes
        timeout=120,
        env={**os.environ, "COLUMNS": "200"},
    )


def _int_of_a_list() -> str:
    try:
        int([])  # type: ignore[call-overload]
    except TypeError as e:
        return str(e)
    raise AssertionError("unreachable")


CASES = {
    "a bug in setup": (
        f"node: {NODES}:TypeErrorInSetup",
        f"node 'bad' failed in setup: TypeError: {_int_of_a_list()} {HINT}",
    ),
    "the project's own error, with its parameter": (
        f"node: {NODES}:ModelErrorInSetup",
        "node 'bad' failed in setup: params.model: no model file 'weights.bin' (arp weights list)",
    ),
    "a file a parameter names is missing": (
        f"node: {NODES}:OpensItsModel, params: {{model: no/such/model.onnx}}",
        "node 'bad' failed in setup: params.model: 'no/such/model.onnx': No such file or directory "
        "(fix the path: --set bad.model=...)",
    ),
    "the node cannot be built": (
        f"node: {NODES}:FailsToBuild",
        f"node 'bad' failed to start: RuntimeError: no GPU in this constructor {HINT}",
    ),
    "a teardown that trips over the failed setup stays quiet": (
        f"node: {NODES}:TeardownTripsOverSetup",
        f"node 'bad' failed in setup: ValueError: bad calibration {HINT}",
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_a_failed_setup_is_one_line_naming_the_node(tmp_path, case):
    node_yaml, line = CASES[case]
    r = arp_run(tmp_path, node_yaml)
    assert r.returncode == 1
    assert r.stderr.splitlines() == [line]
    assert r.stdout == ""


def test_a_built_in_node_names_its_parameter_and_the_fix(tmp_path):
    (tmp_path / "out").write_text("a file where the folder should be")
    log = tmp_path / "out" / "log.jsonl"
    r = arp_run(tmp_path, f'node: sink, params: {{log: "{log}"}}')
    assert r.returncode == 1
    assert r.stderr.splitlines() == [
        f"node 'bad' failed in setup: params.log: cannot create the folder '{tmp_path / 'out'}' for '{log}' "
        "(File exists); give a path in a folder that can be written"
    ]


def test_log_level_debug_adds_the_traceback(tmp_path):
    r = arp_run(tmp_path, f"node: {NODES}:TypeErrorInSetup", "--log-level", "debug")  # any case
    assert r.returncode == 1
    assert "Traceback (most recent call last):" in r.stderr
    assert "int([])" in r.stderr  # the line of the node that raised
    assert r.stderr.splitlines()[-1] == f"node 'bad' failed in setup: TypeError: {_int_of_a_list()} {HINT}"


def test_an_unknown_log_level_is_refused_before_anything_runs(tmp_path):
    r = arp_run(tmp_path, "node: sink", "--log-level", "loud")
    assert r.returncode == 2
    assert "Invalid value for '--log-level'" in r.stderr and "Traceback" not in r.stderr
