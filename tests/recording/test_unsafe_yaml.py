"""A recording's metadata is data: YAML tags in its embedded graph are refused by safe loading, never run."""

import re

import numpy as np
import pytest
from typer.testing import CliRunner

from ar_perception import Msg
from ar_perception.cli import app
from ar_perception.commands.view import entity_names
from ar_perception.errors import GraphError
from ar_perception.recording import RecordingReader, RecordingWriter
from ar_perception.recording.graphs import for_replay


def hostile_graph(marker) -> str:
    """A graph whose YAML, if loaded unsafely, opens (creates) `marker`."""
    return (
        f"nodes:\n"
        f"  - id: cam\n"
        f"    node: sim\n"
        f"    params: !!python/object/apply:builtins.open ['{marker}', 'w']\n"
        f"  - id: view\n"
        f"    node: rerun_view\n"
        f"    inputs: {{image: cam/image}}\n"
    )


@pytest.fixture
def recording(tmp_path):
    path, marker = tmp_path / "hostile.mcap", tmp_path / "ran"
    graph = hostile_graph(marker)
    with RecordingWriter(
        path, graph=graph, metadata={"note": f"!!python/object/apply:os.system ['touch {marker}']"}
    ) as w:
        w.write(
            Msg(
                "Image",
                {"data": np.zeros((4, 4, 3), np.uint8)},
                {},
                capture_ns=10**18,
                topic="cam/image",
                seq=0,
                publish_ns=10**18,
            )
        )
    return path, marker, graph


def test_metadata_reads_back_as_plain_strings(recording):
    path, marker, graph = recording
    r = RecordingReader(path)
    assert r.graph == graph and r.meta["note"].startswith("!!python/object/apply:os.system")
    assert not marker.exists()


def test_replaying_the_recorded_graph_refuses_the_tag(recording):
    path, marker, _ = recording
    r = RecordingReader(path)
    where = f"{path} (recorded graph)"
    with pytest.raises(
        GraphError,
        match=rf"^{re.escape(where)}:4:13: YAML syntax error: could not determine a "
        r"constructor for the tag 'tag:yaml\.org,2002:python/object/apply:builtins\.open'$",
    ):
        for_replay(r.graph, where, path, {t: i.kind for t, i in r.topics.items()})
    assert not marker.exists()


def test_the_cli_refuses_it_too(recording):
    path, marker, _ = recording
    result = CliRunner().invoke(app, ["replay", str(path)])
    assert result.exit_code == 2 and "could not determine a constructor for the tag" in result.output  # a graph error
    assert "Traceback" not in result.output
    assert not marker.exists()


def test_the_viewer_reads_names_without_the_graph(recording):
    path, marker, _ = recording
    assert entity_names(["cam/image"], RecordingReader(path).graph) == {"cam/image": "image"}
    assert not marker.exists()
