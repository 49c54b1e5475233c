"""Every built-in node that writes a file makes the file's folder (a fresh clone has no `out/`), and a path
whose folder cannot be made fails the setup with the node and the parameter named."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest

from ar_perception.errors import NodeError
from ar_perception.runtime.harness import NodeHarness, run_node
from ar_perception.runtime.msg import Msg

IMAGE = Msg("Image", {"data": np.zeros((4, 4, 3), np.uint8)}, capture_ns=1000)
CAMERA = Msg("CameraInfo", {}, {"fx": 4.0, "fy": 4.0, "cx": 1.5, "cy": 1.5, "width": 4, "height": 4}, capture_ns=1000)
DEPTH = Msg("Depth", {"data": np.full((4, 4), 2.0, np.float32)}, capture_ns=1000)


def _node_class(name: str) -> type:
    if name == "sink":
        from ar_perception.nodes.sink import Sink

        return Sink
    if name == "rerun_view":
        pytest.importorskip("rerun")
        from ar_perception.nodes.rerun_view import RerunView

        return RerunView
    if name == "pointcloud":
        pytest.importorskip("open3d")
        from ar_perception.nodes.pointcloud import PointCloud

        return PointCloud
    pytest.importorskip("mcap")
    from ar_perception.nodes.recorder import Recorder

    return Recorder


# node, the parameter that names a file (and its extension), other parameters, and what to feed it
WRITERS = [
    ("sink", "log.jsonl", {}, [("in", IMAGE)]),
    ("rerun_view", "path.rrd", {"mode": "save"}, [("image", IMAGE)]),
    ("pointcloud", "ply.ply", {}, [("camera", CAMERA), ("depth", DEPTH)]),
    ("recorder", "file.mcap", {}, [("image", IMAGE)]),
]


@pytest.mark.parametrize(("node", "param", "params", "feed"), WRITERS, ids=[w[0] for w in WRITERS])
def test_a_missing_folder_is_made_and_the_file_written(tmp_path, node, param, params, feed):
    param, ext = param.split(".")
    path = tmp_path / "out" / "deeper" / f"{node}.{ext}"
    run_node(_node_class(node), feed, {**params, param: str(path)})
    assert path.is_file() and path.stat().st_size > 0


@pytest.mark.parametrize(("node", "param", "params", "feed"), WRITERS, ids=[w[0] for w in WRITERS])
def test_a_folder_that_cannot_be_made_names_the_node_and_the_parameter(tmp_path, node, param, params, feed):
    param, ext = param.split(".")
    blocker = tmp_path / "out"
    blocker.write_text("a file where the folder should be")
    path = blocker / f"{node}.{ext}"
    with pytest.raises(NodeError) as e:
        NodeHarness(_node_class(node), {**params, param: str(path)}, node_id="w")
    assert str(e.value) == (
        f"node 'w': params.{param}: cannot create the folder '{blocker}' for '{path}' (File exists); "
        "give a path in a folder that can be written"
    )


def test_the_sink_log_holds_one_line_per_message(tmp_path):
    path = tmp_path / "out" / "encoder.jsonl"
    sent = Msg("Image", {"data": np.zeros((4, 4, 3), np.uint8)}, capture_ns=1000, publish_ns=2000)
    run_node(_node_class("sink"), [("in", sent)] * 3, {"log": str(path)})
    lines = [json.loads(x) for x in path.read_text().splitlines()]
    assert [x["kind"] for x in lines] == ["Image"] * 3 and lines[0]["shapes"] == {"data": [4, 4, 3]}
    assert lines[0]["capture_ns"] == 1000 and lines[0]["publish_ns"] == 2000


def test_the_pointcloud_makes_the_folder_at_setup_not_at_the_first_write(tmp_path):
    path = tmp_path / "out" / "cloud.ply"
    h: NodeHarness[Any] = NodeHarness(_node_class("pointcloud"), {"ply": str(path)})
    assert path.parent.is_dir() and not path.exists()  # a bad path fails the start, not the stop
    h.close()
    assert not path.exists()  # no cloud, no file
