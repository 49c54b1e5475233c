"""Pinhole geometry: depth image to point cloud, voxel downsampling and PLY writing.

Conventions (OpenCV): camera x right, y down, z forward; pixel (u, v) has its centre at integer
coordinates, so its ray passes through ((u - cx) / fx, (v - cy) / fy, 1). Depth is z-depth in metres
along the optical axis (not the distance along the ray); 0, negative or non-finite depth means no
measurement. A pose is a 4x4 camera-to-world matrix. numpy only; open3d is imported when
downsampling or writing PLY.
"""

from __future__ import annotations

import os
from typing import Any, overload

import numpy as np

from ar_perception.errors import ArpError, MissingExtraError

__all__ = [
    "open3d_module",
    "intrinsics_matrix",
    "scaled_intrinsics",
    "pixel_rays",
    "depth_to_points",
    "transform_points",
    "project_points",
    "voxel_downsample",
    "write_ply",
]


def intrinsics_matrix(fx: float, fy: float, cx: float, cy: float) -> np.ndarray:
    """The 3x3 pinhole matrix K (float64)."""
    return np.array([[fx, 0.0, cx], [0.0, fy, cy], [0.0, 0.0, 1.0]], dtype=np.float64)


def scaled_intrinsics(camera: Any, width: int, height: int) -> tuple[float, float, float, float]:
    """fx, fy, cx, cy of CameraInfo metadata for an image of width x height (another resolution of the same
    view); pixel centres stay pixel centres."""
    sx, sy = width / float(camera["width"]), height / float(camera["height"])
    return (
        float(camera["fx"]) * sx,
        float(camera["fy"]) * sy,
        (float(camera["cx"]) + 0.5) * sx - 0.5,
        (float(camera["cy"]) + 0.5) * sy - 0.5,
    )


def pixel_rays(width: int, height: int, fx: float, fy: float, cx: float, cy: float) -> np.ndarray:
    """Camera-frame ray directions with z = 1 for every pixel: (height, width, 3) float32.

    A point at z-depth d on the ray of pixel (u, v) is ``d * pixel_rays(...)[v, u]``.
    """
    u = (np.arange(width, dtype=np.float64) - cx) / fx
    v = (np.arange(height, dtype=np.float64) - cy) / fy
    rays = np.empty((height, width, 3), dtype=np.float32)
    rays[..., 0] = u[None, :]
    rays[..., 1] = v[:, None]
    rays[..., 2] = 1.0
    return rays


@overload
def depth_to_points(
    depth: np.ndarray,
    fx: float,
    fy: float,
    cx: float,
    cy: float,
    pose: np.ndarray | None = ...,
    rgb: None = ...,
    max_range: float | None = ...,
    min_range: float | None = ...,
) -> np.ndarray: ...


@overload
def depth_to_points(
    depth: np.ndarray,
    fx: float,
    fy: float,
    cx: float,
    cy: float,
    pose: np.ndarray | None = ...,
    rgb: np.ndarray = ...,
    max_range: float | None = ...,
    min_range: float | None = ...,
) -> tuple[np.ndarray, np.ndarray]: ...


def depth_to_points(
    depth: np.ndarray,
    fx: float,
    fy: float,
    cx: float,
    cy: float,
    pose: np.ndarray | None = None,
    rgb: np.ndarray | None = None,
    max_range: float | None = None,
    min_range: float | None = None,
) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """Back-project a z-depth image (H, W) in metres to points (N, 3) float32.

    Pixels with depth <= 0 or non-finite are skipped, and so are those outside
    [min_range, max_range] (z-depth, metres) when given. Points are in the camera frame, or in the
    world frame when `pose` (4x4 camera-to-world) is given. With `rgb` (H, W, 3) uint8 the colour of
    each kept pixel is returned too, as (points, colours (N, 3) uint8), in the same row-major order.
    """
    depth = np.asarray(depth)
    if depth.ndim != 2:
        raise ArpError(f"depth_to_points: depth must be (H, W), got shape {depth.shape}")
    h, w = depth.shape
    if rgb is not None and (rgb.shape[:2] != (h, w) or rgb.ndim != 3 or rgb.shape[2] != 3):
        raise ArpError(f"depth_to_points: rgb must be ({h}, {w}, 3) to match depth, got {rgb.shape}")
    d = depth.astype(np.float32, copy=False)
    valid = np.isfinite(d) & (d > 0)
    if min_range is not None:
        valid &= d >= min_range
    if max_range is not None:
        valid &= d <= max_range
    x = (np.arange(w, dtype=np.float32) - np.float32(cx)) / np.float32(fx)  # (W,) ray slopes
    y = (np.arange(h, dtype=np.float32) - np.float32(cy)) / np.float32(fy)  # (H,)
    z = np.where(valid, d, np.float32(0.0))
    xyz = np.empty((h, w, 3), dtype=np.float32)
    if pose is None:
        np.multiply(z, x[None, :], out=xyz[..., 0])
        np.multiply(z, y[:, None], out=xyz[..., 1])
        xyz[..., 2] = z
    else:
        pose = np.asarray(pose, dtype=np.float64)
        if pose.shape != (4, 4):
            raise ArpError(f"depth_to_points: pose must be 4x4, got shape {pose.shape}")
        rot = pose[:3, :3].astype(np.float32)
        # World point = R @ (z * ray) + t, one output axis at a time: (H, W) passes, no (N, 3) matmul.
        zx, zy = z * x[None, :], z * y[:, None]
        for axis in range(3):
            out = xyz[..., axis]
            np.multiply(zx, rot[axis, 0], out=out)
            out += zy * rot[axis, 1]
            out += z * rot[axis, 2]
            out += np.float32(pose[axis, 3])
    # Row-major pixel order; np.take with flat indices is much faster than a 2-D boolean mask.
    keep = None if valid.all() else np.flatnonzero(valid)
    points = xyz.reshape(-1, 3) if keep is None else np.take(xyz.reshape(-1, 3), keep, axis=0)
    if rgb is None:
        return points
    colors = np.ascontiguousarray(rgb, dtype=np.uint8).reshape(-1, 3)
    return points, (colors.copy() if keep is None else np.take(colors, keep, axis=0))


def transform_points(points: np.ndarray, pose: np.ndarray) -> np.ndarray:
    """Apply a 4x4 rigid transform to points (N, 3); returns float32."""
    pose = np.asarray(pose, dtype=np.float64)
    if pose.shape != (4, 4):
        raise ArpError(f"transform_points: pose must be 4x4, got shape {pose.shape}")
    rot = pose[:3, :3].astype(np.float32)
    out = np.asarray(points, dtype=np.float32) @ rot.T
    out += pose[:3, 3].astype(np.float32)
    return out


def project_points(
    points: np.ndarray, fx: float, fy: float, cx: float, cy: float, pose: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Project points (N, 3) to pixels: returns (uv (N, 2) float64, z-depth (N,) float64).

    With `pose` (camera-to-world) the points are in the world frame; otherwise in the camera frame.
    Points behind the camera get z <= 0 and meaningless uv.
    """
    p = np.asarray(points, dtype=np.float64)
    if pose is not None:
        pose = np.asarray(pose, dtype=np.float64)
        p = (p - pose[:3, 3]) @ pose[:3, :3]  # world -> camera: R^T (p - t)
    z = p[:, 2]
    with np.errstate(divide="ignore", invalid="ignore"):
        uv = np.stack([fx * p[:, 0] / z + cx, fy * p[:, 1] / z + cy], axis=1)
    return uv, z


def open3d_module() -> Any:
    """open3d, or an error that says how to install it."""
    try:
        import open3d
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise MissingExtraError("open3d-cpu", "vision") from exc
    return open3d


@overload
def voxel_downsample(points: np.ndarray, voxel_size: float, colors: None = ...) -> np.ndarray: ...


@overload
def voxel_downsample(points: np.ndarray, voxel_size: float, colors: np.ndarray) -> tuple[np.ndarray, np.ndarray]: ...


def voxel_downsample(
    points: np.ndarray, voxel_size: float, colors: np.ndarray | None = None
) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """Average points (and uint8 colours) per cubic voxel of `voxel_size` metres (open3d).

    Returns float32 points (M, 3), plus uint8 colours (M, 3) when `colors` is given.
    """
    if voxel_size <= 0:
        raise ArpError(f"voxel_downsample: voxel_size must be > 0 metres, got {voxel_size}")
    o3d = open3d_module()
    pcd = o3d.geometry.PointCloud()
    pcd.points = o3d.utility.Vector3dVector(np.asarray(points, dtype=np.float64).reshape(-1, 3))
    if colors is not None:
        pcd.colors = o3d.utility.Vector3dVector(np.asarray(colors, dtype=np.float64).reshape(-1, 3) / 255.0)
    down = pcd.voxel_down_sample(float(voxel_size))
    out = np.asarray(down.points, dtype=np.float32)
    if colors is None:
        return out
    cols = np.clip(np.rint(np.asarray(down.colors) * 255.0), 0, 255).astype(np.uint8)
    return out, cols


def write_ply(path: str | os.PathLike[str], points: np.ndarray, colors: np.ndarray | None = None) -> None:
    """Write points (N, 3) and optional uint8 colours (N, 3) as a binary PLY file (open3d)."""
    o3d = open3d_module()
    pcd = o3d.geometry.PointCloud()
    pcd.points = o3d.utility.Vector3dVector(np.asarray(points, dtype=np.float64).reshape(-1, 3))
    if colors is not None:
        pcd.colors = o3d.utility.Vector3dVector(np.asarray(colors, dtype=np.float64).reshape(-1, 3) / 255.0)
    if not o3d.io.write_point_cloud(os.fspath(path), pcd, write_ascii=False):
        raise ArpError(f"write_ply: open3d could not write {os.fspath(path)!r}")
