import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

import ar_perception
import ar_perception.testing
from ar_perception.cli import app

REPO = Path(__file__).resolve().parents[1]
runner = CliRunner()


def test_public_api_is_pinned():
    assert ar_perception.__all__ == ["Node", "Msg", "load_graph", "run_graph"]
    assert ar_perception.testing.__all__ == ["run_node", "run_source", "NodeHarness"]


@pytest.mark.parametrize("graph", sorted((REPO / "graphs").glob("*.yaml")), ids=lambda p: p.name)
def test_every_graph_in_the_repo_validates(graph):
    r = runner.invoke(app, ["validate", str(graph)])
    assert r.exit_code == 0, r.output
    assert "valid" in r.output


def test_validate_prints_one_line_per_problem_and_exits_2(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("nodes:\n  - {id: cam, node: patern}\n  - {id: inv, node: invert, inputs: {image: cam/img}}\n")
    p = subprocess.run(
        [sys.executable, "-m", "ar_perception.cli", "validate", str(bad)], capture_output=True, text=True, cwd=REPO
    )
    assert p.returncode == 2
    assert p.stderr.splitlines() == [
        f"{bad}: nodes[0] (cam).node: unknown node type 'patern' (expected a built-in name or 'module:Class'; "
        "did you mean 'pattern'?)",
    ]
    assert "Traceback" not in p.stderr + p.stdout


def test_validate_missing_file_has_no_traceback(tmp_path):
    p = subprocess.run(
        [sys.executable, "-m", "ar_perception.cli", "validate", str(tmp_path / "nope.yaml")],
        capture_output=True,
        text=True,
        cwd=REPO,
    )
    assert p.returncode == 2 and p.stderr.strip() == f"{tmp_path / 'nope.yaml'}: no such graph file"


def test_run_with_set_prints_the_table_and_writes_stats(tmp_path):
    stats = tmp_path / "stats.json"
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "ar_perception.cli",
            "run",
            "graphs/hello.yaml",
            "--set",
            "cam.frames=5",
            "--set",
            "cam.fps=50",
            "--stats",
            str(stats),
        ],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
        env={**os.environ, "COLUMNS": "200"},
    )
    assert r.returncode == 0, r.stderr
    assert "all sources ended" in r.stdout and "restarts" in r.stdout
    import json

    data = json.loads(stats.read_text())
    inv = data["nodes"]["inv"]["stats"]
    assert data["nodes"]["cam"]["stats"]["out"] == {"image": 5}
    assert inv["in"]["image"] + inv["drops"]["image"] == 5  # a latest queue may drop under load, counted
    assert data["nodes"]["out"]["stats"]["in"] == {"in": inv["out"]["image"]}


def test_nodes_lists_builtins_and_plugins():
    r = runner.invoke(app, ["nodes", "--plugins", str(REPO / "plugins")], terminal_width=200)
    assert r.exit_code == 0
    for name in ("pattern", "invert", "sink", "plugins.brightness:Brigh", "gain"):
        assert name in r.output


def test_graph_prints_mermaid():
    r = runner.invoke(app, ["graph", str(REPO / "graphs" / "plugin.yaml")])
    assert r.exit_code == 0
    assert r.output.splitlines()[0] == "flowchart LR"
    assert '    cam -->|"image → image"| bright' in r.output
    assert '    t_timer_hz_5(("timer/hz/5")) -->|"in"| ticks' in r.output
