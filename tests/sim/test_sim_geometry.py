"""ar_perception.geometry against the simulator's exact ground truth."""

import numpy as np
import pytest

from ar_perception.errors import ArpError
from ar_perception.geometry import (
    depth_to_points,
    intrinsics_matrix,
    project_points,
    transform_points,
    voxel_downsample,
    write_ply,
)
from ar_perception.sim import CLASS_IDS, SimFrame, SimSource

from .boxes import assert_on_box_with_flat_top, visible_box

pytest.importorskip("open3d", reason="the sim needs open3d: pip install 'ar-perception[vision]'")

CM = 0.01


def _points(f: SimFrame, mask: np.ndarray | None = None) -> np.ndarray:
    k = f.intrinsics
    depth = f.depth if mask is None else np.where(mask, f.depth, 0.0)
    return depth_to_points(depth, k["fx"], k["fy"], k["cx"], k["cy"], pose=f.pose)


def test_floor_points_lie_on_the_floor_plane() -> None:
    src = SimSource(21, size=(320, 240), trajectory="walk")
    for i in (0, 40, 80):
        f = src.frame(i)
        floor = _points(f, f.labels == CLASS_IDS["floor"])
        assert len(floor) > 1000
        assert np.abs(floor[:, 2]).max() < CM


def test_walls_and_room_extent() -> None:
    src = SimSource(22, size=(320, 240), trajectory="orbit")
    w, d, h = src.scene.size
    f = src.frame(10)
    pts = _points(f)
    assert (np.abs(pts[:, 0]) <= w / 2 + CM).all() and (np.abs(pts[:, 1]) <= d / 2 + CM).all()
    assert pts[:, 2].min() > -CM and pts[:, 2].max() < h + CM
    # Wall instances 3..6 are the planes y = -D/2, y = D/2, x = -W/2, x = W/2 (above the skirting).
    planes = {3: (1, -d / 2), 4: (1, d / 2), 5: (0, -w / 2), 6: (0, w / 2)}
    checked = 0
    for inst, (axis, value) in planes.items():
        wall = pts[(f.instances == inst)[f.depth > 0]]
        wall = wall[wall[:, 2] > 0.2]
        if len(wall) > 100:
            assert np.abs(wall[:, axis] - value).max() < CM
            checked += 1
    assert checked >= 1


def test_box_top_face_is_where_the_box_was_placed() -> None:
    src, f, inst = visible_box("handheld", range(30, 60))
    (part,) = [p for p in src.scene.parts if p.instance_id == inst]
    assert_on_box_with_flat_top(_points(f, f.instances == inst), part)
    obj = next(o for o in src.scene.objects if o.instance_id == inst)
    assert obj.aabb_max[2] == pytest.approx(part.center[2] + np.asarray(part.size)[2] / 2, abs=1e-6)


def test_depth_to_points_projects_back_to_its_pixels() -> None:
    f = SimSource(23, size=(96, 72)).frame(0)
    k = f.intrinsics
    pts = depth_to_points(f.depth, k["fx"], k["fy"], k["cx"], k["cy"], pose=f.pose)
    uv, z = project_points(pts, k["fx"], k["fy"], k["cx"], k["cy"], pose=f.pose)
    v, u = np.nonzero(f.depth > 0)
    np.testing.assert_allclose(uv[:, 0], u, atol=1e-3)
    np.testing.assert_allclose(uv[:, 1], v, atol=1e-3)
    np.testing.assert_allclose(z, f.depth[v, u], rtol=1e-5)


def test_depth_to_points_ranges_colours_and_invalid_pixels() -> None:
    depth = np.array([[1.0, 0.0, np.nan], [2.0, 5.0, np.inf]], dtype=np.float32)
    rgb = np.arange(18, dtype=np.uint8).reshape(2, 3, 3)
    pts, cols = depth_to_points(depth, 2.0, 2.0, 1.0, 0.5, rgb=rgb)
    assert pts.dtype == np.float32 and cols.dtype == np.uint8
    np.testing.assert_allclose(pts, [[-0.5, -0.25, 1.0], [-1.0, 0.5, 2.0], [0.0, 1.25, 5.0]])
    np.testing.assert_array_equal(cols, rgb[[0, 1, 1], [0, 0, 1]])
    near = depth_to_points(depth, 2.0, 2.0, 1.0, 0.5, min_range=1.5, max_range=4.0)
    np.testing.assert_allclose(near, [[-1.0, 0.5, 2.0]])
    assert depth_to_points(np.zeros((3, 3)), 1, 1, 1, 1).shape == (0, 3)
    with pytest.raises(ArpError, match=r"depth must be \(H, W\)"):
        depth_to_points(np.zeros((2, 2, 1)), 1, 1, 1, 1)
    with pytest.raises(ArpError, match="rgb must be"):
        depth_to_points(depth, 1, 1, 1, 1, rgb=rgb[:, :2])


def test_transform_and_intrinsics_helpers() -> None:
    pose = np.eye(4)
    pose[:3, :3] = [[0, -1, 0], [1, 0, 0], [0, 0, 1]]
    pose[:3, 3] = [1, 2, 3]
    np.testing.assert_allclose(transform_points(np.array([[1.0, 0, 0]]), pose), [[1, 3, 3]])
    np.testing.assert_array_equal(intrinsics_matrix(1, 2, 3, 4), [[1, 0, 3], [0, 2, 4], [0, 0, 1]])


def test_voxel_downsample_and_ply(tmp_path) -> None:
    import open3d as o3d

    f = SimSource(24, size=(160, 120)).frame(0)
    k = f.intrinsics
    pts, cols = depth_to_points(f.depth, k["fx"], k["fy"], k["cx"], k["cy"], pose=f.pose, rgb=f.image)
    down, down_cols = voxel_downsample(pts, 0.05, cols)
    assert 0 < len(down) < len(pts) and down.dtype == np.float32 and down_cols.dtype == np.uint8
    assert down.shape == down_cols.shape
    assert (down >= pts.min(axis=0) - 1e-4).all() and (down <= pts.max(axis=0) + 1e-4).all()
    # Tight clusters far apart: one point per cluster, at its mean, with its mean colour.
    rng = np.random.default_rng(0)
    centres = np.array([[0, 0, 0], [1, 0, 0], [0, 2, 1]], dtype=np.float32)
    cloud = np.repeat(centres, 50, axis=0) + rng.uniform(-0.004, 0.004, size=(150, 3)).astype(np.float32)
    shades = np.repeat(np.array([[10, 20, 30], [200, 100, 0], [0, 0, 255]], dtype=np.uint8), 50, axis=0)
    got, got_cols = voxel_downsample(cloud, 0.5, shades)
    order = np.lexsort(got.T[::-1])
    means = cloud.reshape(3, 50, 3).mean(axis=1)
    np.testing.assert_allclose(got[order], means[np.lexsort(means.T[::-1])], atol=1e-5)
    assert sorted(map(tuple, got_cols.tolist())) == [(0, 0, 255), (10, 20, 30), (200, 100, 0)]
    assert voxel_downsample(pts, 0.05).shape == down.shape
    with pytest.raises(ArpError, match="voxel_size must be > 0"):
        voxel_downsample(pts, 0.0)
    path = tmp_path / "cloud.ply"
    write_ply(path, down, down_cols)
    back = o3d.io.read_point_cloud(path)
    np.testing.assert_allclose(np.asarray(back.points), down, atol=1e-5)
    np.testing.assert_array_equal(np.rint(np.asarray(back.colors) * 255).astype(np.uint8), down_cols)
