"""A corpus of malformed graph files (tests/graph/bad/), each with its exact problem lines in expected.yaml."""

import re
from pathlib import Path
from typing import Any, get_args

import pytest
import yaml
from pydantic import BaseModel
from typer.testing import CliRunner

from ar_perception.cli import app
from ar_perception.errors import GraphError
from ar_perception.graph import spec
from ar_perception.graph.load import load_graph
from ar_perception.keys import create_keypair

BAD = Path(__file__).parent / "bad"
FILES = sorted(BAD.glob("[0-9][0-9]_*.yaml"))
EXPECTED: dict[str, list[str]] = yaml.safe_load((BAD / "expected.yaml").read_text())
MODELS = (
    spec.GraphSpec,
    spec.NodeSpec,
    spec.InputSpec,
    spec.QueueSpec,
    spec.SyncSpec,
    spec.RestartSpec,
    spec.PlacementSpec,
    spec.SecuritySpec,
)


@pytest.fixture
def keys(tmp_path, monkeypatch) -> Path:
    """KEYS: key pairs 'a' and 'b', and a folder 'allowed' that authorises b; ARP_TEST_UNSET stays unset."""
    create_keypair(tmp_path, "a")
    create_keypair(tmp_path, "b")
    (tmp_path / "allowed").mkdir()
    (tmp_path / "allowed" / "b.key").write_bytes((tmp_path / "b.key").read_bytes())
    monkeypatch.setenv("ARP_TEST_KEYS", str(tmp_path))
    monkeypatch.delenv("ARP_TEST_UNSET", raising=False)
    return tmp_path


def problems(path: Path, keys: Path) -> list[str]:
    with pytest.raises(GraphError) as e:
        load_graph(path)
    return [p.replace(str(path), "FILE").replace(str(keys), "KEYS") for p in e.value.problems]


def test_corpus_is_complete():
    assert len(FILES) >= 30
    assert sorted(EXPECTED) == [f.name for f in FILES]
    assert len({f.name[:2] for f in FILES}) == len(FILES), "two files share a number"


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.stem)
def test_bad_graph_gives_its_exact_problems(path, keys):
    assert problems(path, keys) == EXPECTED[path.name]


def test_set_into_a_malformed_graph_or_with_a_malformed_value_is_a_problem_not_a_crash(keys):
    with pytest.raises(GraphError) as e:
        load_graph(BAD / "31_params_not_a_mapping.yaml", sets=["cam.fps=5"])
    assert e.value.problems == [
        (
            f"{BAD / '31_params_not_a_mapping.yaml'}: --set 'cam.fps=5': cannot set a "
            "parameter inside cam.params (expected a mapping, got a list)"
        )
    ]
    hello = BAD.parents[2] / "graphs" / "hello.yaml"
    with pytest.raises(GraphError) as e:
        load_graph(hello, sets=["cam.fps=[1,"])  # not YAML: taken as the string it is
    assert e.value.problems == [
        (
            f"{hello}: nodes[0] (cam).params.fps: Input should be a valid number, unable to "
            "parse string as a number (got '[1,')"
        )
    ]


def test_validate_prints_the_problems_and_exits_2(keys):
    runner = CliRunner()
    for name in ("19_security_missing_key_files.yaml", "55_queue_bad_size.yaml"):
        path = BAD / name
        r = runner.invoke(app, ["validate", str(path)], terminal_width=400)
        assert r.exit_code == 2, r.output
        out = [line.replace(str(path), "FILE").replace(str(keys), "KEYS") for line in r.output.splitlines()]
        assert out == EXPECTED[name]
        assert "Traceback" not in r.output


# --- coverage: every field of every spec model appears as the location of some expected problem ---------------

_LOC = re.compile(r"^FILE(?::\d+(?::\d+)?)?: (?P<loc>(?:nodes\[\d+\](?: \([^)]*\))?|[A-Za-z_]\w*)(?:\.[^\s:]+)*): ")


def _model_of(annotation: Any) -> tuple[type[BaseModel] | None, bool]:
    """The spec model a field holds (directly, in a list, or as the values of a mapping), and whether keyed."""
    for arg in (annotation, *get_args(annotation)):
        if isinstance(arg, type) and issubclass(arg, BaseModel):
            return arg, False
        for inner in get_args(arg):
            if isinstance(inner, type) and issubclass(inner, BaseModel):
                return inner, get_args(arg)[0] is str
    return None, str(annotation).startswith("dict")


def _fields_named(location: str) -> set[str]:
    """'nodes[1] (view).inputs.a.queue.size' -> {GraphSpec.nodes, NodeSpec.inputs, InputSpec.queue, QueueSpec.size}."""
    segments = re.sub(r"^nodes\[\d+\](?: \([^)]*\))?", "nodes", location).split(".")
    model: type[BaseModel] | None = spec.GraphSpec
    found, skip_key = set(), False
    for seg in segments:
        if skip_key:  # a key the user chose: an input port, a host
            skip_key = False
            continue
        if model is None or seg not in model.model_fields:
            break
        found.add(f"{model.__name__}.{seg}")
        model, skip_key = _model_of(model.model_fields[seg].annotation)
    return found


def test_corpus_covers_every_field_of_the_spec():
    covered = set()
    for lines in EXPECTED.values():
        for line in lines:
            if m := _LOC.match(line):
                covered |= _fields_named(m["loc"])
    every = {f"{m.__name__}.{f}" for m in MODELS for f in m.model_fields}
    assert every - covered == set()
