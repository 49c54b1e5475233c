"""Shared by the batch and cluster tests: recordings to replay, a graph, and a plugin node that fails on
purpose (every time, or by killing the process that supervises it, once)."""

import shutil
from pathlib import Path

import pytest

from tests.recording.conftest import sample  # noqa: F401  (the session's sample recording, a fixture)

GRAPH = """
nodes:
  - {id: cam, node: camera}
  - {id: inv, node: invert, inputs: {image: cam/image}}
"""

# `fail: always` raises on the first frame (with `on_error: restart` and no restart policy, the node exits 4);
# `fail: crash-once` SIGKILLs its supervisor (the Ray worker that runs the replay) on the first frame of the first
# replay anywhere, claiming MARKER first so that it happens once.
FAULTY = """
import os, signal
from pathlib import Path
from typing import Literal
from pydantic import BaseModel, ConfigDict
from ar_perception import Msg, Node


class Faulty(Node):
    inputs = {"image": "Image"}
    outputs = {"image": "Image"}

    class Params(BaseModel):
        model_config = ConfigDict(extra="forbid")
        fail: Literal["never", "always", "crash-once"] = "never"
        marker: str = ""

    def on_input(self, name: str, msg: Msg) -> dict[str, Msg]:
        if self.params.fail == "always":
            raise RuntimeError("faulty on purpose")
        if self.params.fail == "crash-once":
            try:
                os.close(os.open(self.params.marker, os.O_CREAT | os.O_EXCL))
            except FileExistsError:
                pass
            else:
                os.kill(os.getppid(), signal.SIGKILL)
        return {"image": msg}
"""


def faulty_graph(folder: Path, fail: str) -> Path:
    """A graph in `folder` whose middle node is the Faulty plugin (batch_faulty.py next to it: not faulty.py,
    which tests/runtime has, since a module imported once is found again by name)."""
    (folder / "batch_faulty.py").write_text(FAULTY)
    graph = folder / f"faulty_{fail}.yaml"
    graph.write_text(
        "nodes:\n"
        "  - {id: cam, node: camera}\n"
        f"  - {{id: bad, node: 'batch_faulty:Faulty', params: {{fail: {fail}, marker: {folder / 'crashed'}}}, "
        "on_error: restart, inputs: {image: cam/image}}\n"
        "  - {id: inv, node: invert, inputs: {image: bad/image}}\n"
    )
    return graph


@pytest.fixture
def recordings(sample: Path, tmp_path: Path) -> list[Path]:  # noqa: F811
    """Two copies of the sample session (35 frames each) and a file that is not a recording."""
    folder = tmp_path / "in"
    folder.mkdir()
    a, b = shutil.copy(sample, folder / "a.mcap"), shutil.copy(sample, folder / "b.mcap")
    junk = folder / "junk.mcap"
    junk.write_text("not a recording")
    return [Path(a), Path(b), junk]
