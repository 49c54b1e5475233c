"""The pointcloud node through the harness, against the simulator's exact ground truth.

The same checks as tests/sim/test_sim_geometry.py makes of ar_perception.geometry, here through the
node: floor points at floor height within 1 cm, a box's top face where the box was placed.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from pydantic import ValidationError

pytest.importorskip("open3d", reason="the sim and the point cloud need open3d: pip install 'ar-perception[vision]'")

from ar_perception.errors import NodeError
from ar_perception.nodes.pointcloud import PointCloud
from ar_perception.nodes.sim import Sim
from ar_perception.runtime.harness import NodeHarness, run_node, run_source
from ar_perception.runtime.msg import Msg
from ar_perception.sim import CLASS_IDS, SimFrame, SimSource

from ..sim.boxes import assert_on_box_with_flat_top, visible_box

CM = 0.01
EXACT = {"mode": "exact"}


def _messages(f: SimFrame, capture_ns: int = 1000) -> list[tuple[str, Msg]]:
    """A frame as the sim node sends it: depth, image and camera with one capture time."""
    meta = {"frame": f.index}
    return [
        ("camera", Msg("CameraInfo", {"pose": f.pose}, {**meta, **f.intrinsics}, capture_ns)),
        ("image", Msg("Image", {"data": f.image}, meta, capture_ns)),
        ("depth", Msg("Depth", {"data": f.depth}, meta, capture_ns)),
    ]


def test_floor_from_the_sim_node_lies_on_the_floor() -> None:
    frames = run_source(Sim, {"seed": 21, "trajectory": "walk", "frames": 3, "realtime": False})
    by_port: dict[str, list[Msg]] = {}
    for port, msg in frames:
        by_port.setdefault(port, []).append(msg)
    feed = [
        (p, by_port[src][i])
        for i in range(3)
        for p, src in (("depth", "depth_gt"), ("camera", "camera"), ("image", "image"))
    ]
    out = run_node(PointCloud, feed, sync=EXACT)
    assert len(out) == 3
    for i, (port, cloud) in enumerate(out):
        depth, labels = by_port["depth_gt"][i].data, by_port["labels_gt"][i].data
        image = by_port["image"][i].data
        assert port == "points" and cloud.kind == "PointCloud" and cloud.meta["frame"] == "world"
        assert cloud.capture_ns == by_port["depth_gt"][i].capture_ns and cloud.meta["frame_index"] == i
        valid = depth > 0
        pts, cols = cloud.arrays["points"], cloud.arrays["colors"]
        assert pts.shape == (int(valid.sum()), 3) and pts.dtype == np.float32 and cols.dtype == np.uint8
        floor = pts[labels[valid] == CLASS_IDS["floor"]]
        assert len(floor) > 1000 and np.abs(floor[:, 2]).max() < CM
        np.testing.assert_array_equal(cols, image[valid])


def test_box_top_face_is_where_the_box_was_placed() -> None:
    src, f, inst = visible_box()
    ((_, cloud),) = run_node(PointCloud, _messages(f), sync=EXACT)
    (part,) = [p for p in src.scene.parts if p.instance_id == inst]
    assert_on_box_with_flat_top(cloud.arrays["points"][(f.instances == inst)[f.depth > 0]], part)


def test_camera_frame_ranges_and_voxels() -> None:
    f = SimSource(23, size=(160, 120)).frame(0)
    ((_, cam),) = run_node(
        PointCloud, _messages(f), {"frame": "camera", "min_range": 1.5, "max_range": 3.0}, sync=EXACT
    )
    pts = cam.arrays["points"]
    assert cam.meta["frame"] == "camera" and len(pts) > 100
    assert pts[:, 2].min() >= 1.5 and pts[:, 2].max() <= 3.0
    full = run_node(PointCloud, _messages(f), sync=EXACT)[0][1].arrays["points"]
    ((_, down),) = run_node(PointCloud, _messages(f), {"voxel": 0.1}, sync=EXACT)
    assert 0 < len(down.arrays["points"]) < len(full) / 4 and down.arrays["colors"].shape == down.arrays["points"].shape
    with pytest.raises(ValidationError, match="min_range"):
        PointCloud.Params(min_range=3.0, max_range=1.0)


def test_depth_at_another_size_than_the_camera() -> None:
    import cv2

    f = SimSource(21, size=(320, 240), trajectory="walk").frame(0)
    msgs = _messages(f)
    small = cv2.resize(f.depth, (160, 120), interpolation=cv2.INTER_NEAREST)
    msgs[2] = ("depth", Msg("Depth", {"data": small}, {}, 1000))
    ((_, cloud),) = run_node(PointCloud, msgs, sync=EXACT)
    labels = cv2.resize(f.labels, (160, 120), interpolation=cv2.INTER_NEAREST)
    floor = cloud.arrays["points"][labels[small > 0] == CLASS_IDS["floor"]]
    assert len(floor) > 300 and np.abs(floor[:, 2]).max() < 2 * CM  # nearest sampling: half a pixel off
    assert cloud.arrays["colors"].shape == cloud.arrays["points"].shape


def test_without_sync_each_depth_uses_the_newest_camera_and_image() -> None:
    f = SimSource(23, size=(96, 72)).frame(0)
    out = run_node(PointCloud, _messages(f) + [("depth", Msg("Depth", {"data": f.depth}, {}, 2000))])
    assert [m.capture_ns for _, m in out] == [1000, 2000]
    no_image = run_node(PointCloud, [m for m in _messages(f) if m[0] != "image"])
    assert "colors" not in no_image[0][1].arrays
    pose_less = [("camera", Msg("CameraInfo", {}, dict(f.intrinsics), 1000)), _messages(f)[2]]
    assert run_node(PointCloud, pose_less)[0][1].meta["frame"] == "camera"
    with pytest.raises(NodeError, match="frame is 'world' but the CameraInfo carries no pose"):
        run_node(PointCloud, pose_less, {"frame": "world"})


def test_ply_is_written_at_stop_and_every_n_clouds(tmp_path: Path) -> None:
    import open3d as o3d

    src = SimSource(24, size=(96, 72))
    path = tmp_path / "out" / "cloud.ply"
    h = NodeHarness(PointCloud, {"ply": str(path), "voxel": 0.05}, sync=EXACT)
    last = None
    for i in range(3):
        for port, msg in _messages(src.frame(i), capture_ns=1000 + i):
            for _, cloud in h.feed(port, msg):
                last = cloud
    assert not path.exists()  # ply_every = 0: only at stop
    h.close()
    back = o3d.io.read_point_cloud(path)
    assert last is not None
    np.testing.assert_allclose(np.asarray(back.points), last.arrays["points"], atol=1e-5)
    every = tmp_path / "every.ply"
    h = NodeHarness(PointCloud, {"ply": str(every), "ply_every": 2}, sync=EXACT)
    for i in range(2):
        for port, msg in _messages(src.frame(i), capture_ns=1000 + i):
            h.feed(port, msg)
    assert every.is_file() and not list(tmp_path.glob(".every*"))  # written atomically after cloud 2
    h.close()
