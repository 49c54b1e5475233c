"""Room structure as planes: one wall is one plane, wherever the mask shows pieces of it.

The mask says "wall" for every wall alike, and connectivity is no guide to how many there are: two walls meet
at a corner and are one connected region, while one wall seen past a shelf is two pieces. Planes are: the
cells of a structure class are split into the planes they lie on (a greedy RANSAC, seeded, so the same input
gives the same planes), and every plane is one instance, its pieces together.
"""

from __future__ import annotations

import numpy as np

__all__ = ["fit_planes"]


def _plane(p: np.ndarray) -> tuple[np.ndarray, float]:
    """The least-squares plane (unit normal n, offset d: n . x = d) through points (N, 3)."""
    mid = p.mean(axis=0)
    n = np.linalg.svd(p - mid, full_matrices=False)[2][-1]
    return n, float(n @ mid)


def fit_planes(
    points: np.ndarray,
    min_points: int,
    *,
    tol_m: float = 0.03,
    tol_rel: float = 0.01,
    tries: int = 300,
    most: int = 8,
    seed: int = 0,
) -> np.ndarray:
    """Which plane each of `points` (N, 3, camera frame) lies on: (N,) int, 0 for none, 1.. for the planes
    found, largest first. A point lies on a plane within `tol_m` + `tol_rel` x its depth (depth is coarser far
    away). Planes are taken greedily, the one with most points first, while one still holds `min_points`;
    at most `most`. A point near no plane (a corner's rounding, noise) goes to none."""
    n_pts = len(points)
    out = np.zeros(n_pts, np.int32)
    if n_pts < max(3, min_points):
        return out
    rng = np.random.default_rng(seed)
    tol = tol_m + tol_rel * np.abs(points[:, 2])
    left = np.arange(n_pts)
    for label in range(1, most + 1):
        if len(left) < max(3, min_points):
            break
        p = points[left]
        tri = p[rng.integers(0, len(p), size=(tries, 3))]  # (tries, 3 points, xyz)
        normals = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
        length = np.linalg.norm(normals, axis=1)
        ok = length > 1e-9
        if not ok.any():
            break
        normals = normals[ok] / length[ok, None]
        offsets = (normals * tri[ok, 0]).sum(axis=1)
        on = np.abs(p @ normals.T - offsets) <= tol[left, None]  # (points, candidates)
        best = int(np.argmax(on.sum(axis=0)))
        inliers = on[:, best]
        if inliers.sum() < 3:
            break
        n, d = _plane(p[inliers])  # refit on its points, then take what lies on the refit plane
        inliers = np.abs(p @ n - d) <= tol[left]
        if inliers.sum() < min_points:
            break
        out[left[inliers]] = label
        left = left[~inliers]
    return out
