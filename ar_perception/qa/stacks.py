"""Objects stacked on one another: one region of a class mask, split into the layers its side faces show.

A class mask says "box" for a pile of boxes alike, and depth does not part them: the upper box stands on the
lower one. What parts them is their faces. A box's side faces are vertical planes that span its height; a box
on top of another shows side faces that begin where the lower box's faces end. So the region's pixels are
grouped into faces (neighbours whose surface normals, from the depth, agree), the vertical faces kept, and
wherever one vertical face begins (within `gap_m`) at the top of another below it, within reach across, the
region is cut at that height.

Two boxes whose front faces lie in one plane (same size, same turn) show no such step and stay one region; the
at-least bound of model.py still reads their height. Where depth is too coarse for normals (an estimate that
smooths the faces away) no face spans a layer and nothing is cut.
"""

from __future__ import annotations

import math

import numpy as np

from ar_perception.qa.regions import union_roots

__all__ = ["STACKABLE", "faces", "layer_cuts", "layers"]

STACKABLE = ("box",)  # classes whose objects are stacked on one another
_SAME_PLANE_COS = math.cos(math.radians(5.0))  # faces turned less than this ...
_SAME_PLANE_M = 0.02  # ... and less than this apart along their normal lie in one plane


def faces(v: np.ndarray, u: np.ndarray, points: np.ndarray, *, most_deg: float = 8.0) -> np.ndarray:
    """Which face each pixel (rows `v`, columns `u`, their points (N, 3)) lies on: (N,) int, -1 for none (an
    edge, where the normal is not defined). A face: 4-connected pixels whose normals (from the neighbouring
    pixels' points) turn by at most `most_deg` from one to the next."""
    v0, u0 = int(v.min()), int(u.min())
    h, w = int(v.max()) - v0 + 1, int(u.max()) - u0 + 1
    grid = np.full((h + 2, w + 2, 3), np.nan)
    grid[v - v0 + 1, u - u0 + 1] = points
    across = grid[1:-1, 2:] - grid[1:-1, :-2]
    down = grid[2:, 1:-1] - grid[:-2, 1:-1]
    with np.errstate(invalid="ignore"):
        n = np.cross(across, down)
        n /= np.linalg.norm(n, axis=-1, keepdims=True)
    ok: np.ndarray = np.asarray(np.isfinite(n).all(axis=-1))
    idx = np.arange(h * w).reshape(h, w)
    limit = math.cos(math.radians(most_deg))
    a, b = [], []
    for p, q in ((np.s_[:, :-1], np.s_[:, 1:]), (np.s_[:-1, :], np.s_[1:, :])):
        join = ok[p] & ok[q] & ((n[p] * n[q]).sum(-1) >= limit)
        a.append(idx[p][join])
        b.append(idx[q][join])
    roots = union_roots(h * w, np.concatenate(a), np.concatenate(b))
    label = np.where(ok.ravel(), roots, -1).reshape(h, w)
    return label[v - v0, u - u0]


def layer_cuts(
    v: np.ndarray,
    u: np.ndarray,
    points: np.ndarray,
    up: np.ndarray,
    *,
    gap_m: float = 0.05,
    reach_m: float = 0.25,
    min_height_m: float = 0.1,
    min_points: int = 20,
) -> list[float]:
    """Heights (along the unit vector `up`) at which the region's pixels (see `faces`) hold one object on another,
    lowest first; [] for one layer. A face stands on another when it begins within `gap_m` of the other's top
    and within `reach_m` of it across (a side face of the upper box over the front face of the lower). Faces
    count when vertical (within about 17 degrees), of at least `min_points` pixels and `min_height_m` tall."""
    if len(points) < 3 * min_points:
        return []
    height = points @ up
    label = faces(v, u, points)
    keys, inverse, counts = np.unique(label, return_inverse=True, return_counts=True)
    order = np.argsort(inverse, kind="stable")
    starts = np.concatenate([[0], np.cumsum(counts)])
    found = []
    for k in np.flatnonzero((keys >= 0) & (counts >= min_points)):
        idx = order[starts[k] : starts[k + 1]]  # the pixels of face k
        p = points[idx]
        mid = p.mean(axis=0)
        normal = np.linalg.svd(p - mid, full_matrices=False)[2][-1]
        lo, hi = np.percentile(height[idx], [2, 98])
        if abs(float(normal @ up)) <= 0.3 and hi - lo >= min_height_m:
            flat = p - height[idx, None] * up  # across the view, onto the floor's plane
            found.append((float(lo), float(hi), flat.min(axis=0), flat.max(axis=0), normal, float(normal @ mid)))
    cuts: list[float] = []
    for _, hi_a, min_a, max_a, n_a, d_a in found:
        for lo_b, _, min_b, max_b, n_b, d_b in found:
            across = bool(((min_a - reach_m <= max_b) & (min_b - reach_m <= max_a)).all())
            # one plane (a crease or a seam across one face) is no step: the faces must turn or stand apart
            turned = abs(float(n_a @ n_b)) < _SAME_PLANE_COS
            apart = abs(abs(d_a) - abs(d_b)) > _SAME_PLANE_M
            if across and (turned or apart) and hi_a - gap_m <= lo_b <= hi_a + 2 * gap_m:  # b begins where a ends
                cuts.append((hi_a + lo_b) / 2)
    merged: list[float] = []
    for c in sorted(cuts):
        if not merged or c - merged[-1] > min_height_m:
            merged.append(c)
    return merged


def layers(
    v: np.ndarray, u: np.ndarray, points: np.ndarray, up: np.ndarray, *, min_points: int = 20, min_layer: int = 20
) -> list[np.ndarray]:
    """The region's pixels split into layers: boolean masks over them, lowest first (one mask when it is one
    object). `min_points`: the smallest face (`layer_cuts`); a layer of fewer than `min_layer` pixels is no
    object of its own and joins its neighbour."""
    cuts = layer_cuts(v, u, points, up, min_points=min_points)
    if not cuts:
        return [np.ones(len(points), bool)]
    at = np.searchsorted(np.asarray(cuts), points @ up)
    kept: list[np.ndarray] = []
    for m in (at == k for k in range(len(cuts) + 1)):
        if kept and (m.sum() < min_layer or kept[-1].sum() < min_layer):
            kept[-1] = kept[-1] | m
        else:
            kept.append(m)
    return kept
