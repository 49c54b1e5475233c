"""What importing the package costs: the root imports a name only when it is used (layering itself is checked
by `lint-imports`, pyproject.toml [tool.importlinter])."""

import importlib.metadata
import subprocess
import sys

import pytest

import ar_perception


def modules_after(code: str) -> set[str]:
    """The modules a fresh interpreter holds after running `code`."""
    out = subprocess.run(
        [sys.executable, "-c", f"{code}\nimport sys\nprint('\\n'.join(sys.modules))"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return set(out.split())


def test_importing_the_package_imports_none_of_its_modules():
    assert {m for m in modules_after("import ar_perception") if m.startswith("ar_perception")} == {"ar_perception"}


def test_the_node_api_costs_no_supervisor_zeromq_or_graph_loader():
    loaded = modules_after("from ar_perception import Msg, Node")
    assert loaded & {"zmq", "psutil", "ar_perception.runtime.launch", "ar_perception.graph.load"} == set()


def test_loading_graphs_costs_no_zeromq():
    loaded = modules_after("from ar_perception import load_graph")
    assert "ar_perception.graph.load" in loaded
    assert loaded & {"zmq", "psutil", "ar_perception.runtime.launch"} == set()


def test_the_lazy_names_are_the_modules_own():
    from ar_perception.graph.load import load_graph
    from ar_perception.runtime.launch import run_graph

    assert ar_perception.load_graph is load_graph and ar_perception.run_graph is run_graph
    assert ar_perception.__version__ == importlib.metadata.version("ar-perception")
    assert set(ar_perception.__all__) <= set(dir(ar_perception))
    with pytest.raises(AttributeError, match="has no attribute 'Nod'"):
        ar_perception.Nod  # noqa: B018
