"""Regions of a class mask: 8-connected cells of one class, cut where depth jumps, joined where one object was cut.

The pixel-level half of the scene model (`model.py` turns regions into objects). Regions are found on a coarse
grid (at most `grid` cells across) so that this stays fast in pure numpy; `model.py` measures each region on
the full-resolution pixels under it.

- Connectivity: neighbouring cells (diagonals included) of one class belong together.
- Depth: for object classes, neighbours whose depths differ by more than `jump_rel` x distance + `jump_m` do
  not: a chair in front of another chair is two chairs. Room structure (wall, floor, ceiling) is cut by
  connectivity only: a wall seen at a grazing angle changes depth fast, and is still one wall.
- Joining: pieces of one class that nearly touch in the image and in 3D (within `join_m`) are one object, cut
  by an occluder or by a part thinner than the grid (a lamp's pole), or seen past its own edge (a table's back
  legs under its top).
- One or two: pieces of one class farther apart than that, with something of another class nearer than both
  covering the image between them, that together fit the size of one object of their class (`one_at_most`), may
  be one object seen on both sides of the occluder (a box behind a person's legs) or two: they are one region
  flagged `maybe_more` ("at least one"), neither count being known.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ar_perception.geometry import scaled_intrinsics
from ar_perception.qa.planes import fit_planes

__all__ = [
    "Region",
    "intrinsics",
    "label_components",
    "components",
    "find_regions",
    "objects_spanned",
    "pixels_of",
    "union_roots",
]

_OFFSETS = ((0, 1), (1, 0), (1, 1), (1, -1))  # each 8-neighbour pair once: right, down, down-right, down-left


def intrinsics(camera: Any | None, w: int, h: int) -> tuple[float, float, float, float]:
    """fx, fy, cx, cy for a (h, w) image: from CameraInfo metadata when given, else a 60 degree horizontal view."""
    if camera:
        return scaled_intrinsics({"width": w, "height": h, **camera}, w, h)
    f = (w / 2) / math.tan(math.radians(30))  # no intrinsics: assume a 60 degree horizontal field of view
    return f, f, (w - 1) / 2, (h - 1) / 2


def union_roots(n: int, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Union-find over n nodes joined by edges (a[i], b[i]), vectorised: each node's root (the smallest index
    of its component). Roots are hooked smaller-under-larger and paths halved until no edge spans two roots."""
    parent = np.arange(n)
    while a.size:
        ra, rb = parent[a], parent[b]
        apart = ra != rb
        a, b, ra, rb = a[apart], b[apart], ra[apart], rb[apart]  # a joined edge stays joined: drop it
        if not a.size:
            break
        np.minimum.at(parent, np.maximum(ra, rb), np.minimum(ra, rb))
        while True:  # every node straight to its root, so the next round sees roots only
            up = parent[parent]
            if np.array_equal(up, parent):
                break
            parent = up
    return parent


def components(
    keys: np.ndarray,
    valid: np.ndarray,
    depth: np.ndarray | None = None,
    split: np.ndarray | None = None,
    *,
    jump_rel: float = 0.1,
    jump_m: float = 0.1,
) -> tuple[np.ndarray, int]:
    """8-connected components of the `valid` cells of a (H, W) grid, where neighbours join only when their
    `keys` (class ids) are equal and, where `split` (H, W) bool is true at both, their `depth` differs by at most
    `jump_rel` x the nearer depth + `jump_m`. Returns (labels int32 with 0 = none, count), numbered in raster
    order of each component's first cell."""
    h, w = keys.shape
    idx = np.arange(h * w).reshape(h, w)
    ea, eb = [], []
    for dy, dx in _OFFSETS:
        ys, xs = slice(0, h - dy), slice(max(0, -dx), w - max(0, dx))  # a cell and its neighbour at (dy, dx)
        ys2, xs2 = slice(dy, h), slice(max(0, dx), w + min(0, dx))
        join = valid[ys, xs] & valid[ys2, xs2] & (keys[ys, xs] == keys[ys2, xs2])
        if depth is not None and split is not None:
            za, zb = depth[ys, xs], depth[ys2, xs2]
            near = np.abs(za - zb) <= jump_rel * np.minimum(za, zb) + jump_m
            join &= near | ~(split[ys, xs] & split[ys2, xs2])
        ea.append(idx[ys, xs][join])
        eb.append(idx[ys2, xs2][join])
    roots = union_roots(h * w, np.concatenate(ea), np.concatenate(eb)).reshape(h, w)
    uniq, inverse = np.unique(roots[valid], return_inverse=True)  # roots are first cells: raster order
    labels = np.zeros((h, w), np.int32)
    labels[valid] = inverse.astype(np.int32) + 1
    return labels, int(uniq.size)


def label_components(mask: np.ndarray) -> tuple[np.ndarray, int]:
    """8-connected components of a boolean (H, W) grid: (labels int32 with 0 = none, count)."""
    mask = np.asarray(mask, bool)
    return components(np.zeros(mask.shape, np.int8), mask)


@dataclass
class Region:
    """A piece of the grid: `cells` (gh, gw) bool, its class id, its cells' 3D points (N, 3) camera frame, and
    whether depth steps part it from others of its class (not for room structure)."""

    class_id: int
    cells: np.ndarray
    points: np.ndarray
    cut: bool = True
    maybe_more: bool = False  # pieces on both sides of an occluder that may be one object or more

    @property
    def box(self) -> tuple[int, int, int, int]:
        """c0, r0, c1, r1 (inclusive) of its cells."""
        rows, cols = np.flatnonzero(self.cells.any(axis=1)), np.flatnonzero(self.cells.any(axis=0))
        return int(cols[0]), int(rows[0]), int(cols[-1]), int(rows[-1])


def _min_distance(p: np.ndarray, q: np.ndarray, most: int = 1200) -> float:
    """The smallest distance between two point sets (each thinned evenly to at most `most` points)."""
    p = p[:: max(1, len(p) // most)]
    q = q[:: max(1, len(q) // most)]
    best = math.inf
    for i in range(0, len(p), 256):  # (256, M, 3) at a time
        d2 = ((p[i : i + 256, None, :] - q[None, :, :]) ** 2).sum(-1)
        best = min(best, float(d2.min()))
    return math.sqrt(best)


def objects_spanned(points: np.ndarray, up: np.ndarray, most_h: float, most_w: float) -> int:
    """How many objects at most `most_h` tall (along `up`, a unit vector in the points' frame) and `most_w` across
    (the widest span across `up`) the points (N, 3) take at least; robust to a few stray points (an edge, an
    estimated depth's blur)."""
    along = points @ up
    lo, hi = np.percentile(along, [5, 95])
    flat = points - along[:, None] * up  # onto the plane across `up`
    flat = flat[:: max(1, len(flat) // 250)]
    span = np.sqrt(((flat[:, None, :] - flat[None, :, :]) ** 2).sum(-1))
    across = float(np.percentile(span, 97))
    return max(1, math.ceil((hi - lo) / most_h - 1e-9), math.ceil(across / most_w - 1e-9))


def _floor_axes(up: np.ndarray) -> np.ndarray:
    """(3, 3) rows: two unit vectors across `up` (along the floor), then `up`."""
    side = np.cross(up, (0.0, 0.0, 1.0) if abs(up[2]) < 0.9 else (1.0, 0.0, 0.0))
    side /= np.linalg.norm(side)
    return np.stack([side, np.cross(up, side), up])


def _line_between(a: Region, b: Region, shape: tuple[int, ...], step: int) -> tuple[np.ndarray, np.ndarray] | None:
    """The full-resolution pixels (rows, cols) on the line between the closest cells of two pieces, without its
    ends; None when the cells are neighbours (nothing lies between them)."""
    pa, pb = np.argwhere(a.cells), np.argwhere(b.cells)
    pa, pb = pa[:: max(1, len(pa) // 300)], pb[:: max(1, len(pb) // 300)]
    d2 = ((pa[:, None, :] - pb[None, :, :]) ** 2).sum(-1)
    i, j = np.unravel_index(int(np.argmin(d2)), d2.shape)
    (r0, c0), (r1, c1) = (pa[i] * step + step // 2), (pb[j] * step + step // 2)
    n = int(max(abs(r1 - r0), abs(c1 - c0)))
    if n <= step:
        return None
    t = np.linspace(0.0, 1.0, n + 1)[1:-1]
    rows = np.clip(np.round(r0 + t * (r1 - r0)).astype(int), 0, shape[0] - 1)
    cols = np.clip(np.round(c0 + t * (c1 - c0)).astype(int), 0, shape[1] - 1)
    return rows, cols


def _hidden_between(a: Region, b: Region, labels: np.ndarray, depth: np.ndarray, step: int, most: float = 0.25) -> bool:
    """Whether what lies between two pieces of one class in the image (along the line between their closest
    cells, at full resolution) is the class itself or something nearer than both (an occluder) for all but
    `most` of it: then an object may go on there unseen. Where the gap shows what is behind (the floor or wall
    between two boxes side by side), the pieces are two objects."""
    seen = _between(a, b, labels, depth, step)
    return seen is None or bool((~seen[0]).mean() <= most)


def _occluded_between(
    a: Region, b: Region, labels: np.ndarray, depth: np.ndarray, step: int, most: float = 0.25
) -> bool:
    """Whether the image between two pieces of one class (as `_hidden_between` looks at it) shows nothing behind
    them, and is something of another class nearer than both (an occluder) for at least half of it."""
    seen = _between(a, b, labels, depth, step)
    if seen is None:
        return False  # side by side in the image: nothing between them
    covered, occluder = seen
    return bool((~covered).mean() <= most and occluder.mean() >= 0.5)


def _between(
    a: Region, b: Region, labels: np.ndarray, depth: np.ndarray, step: int
) -> tuple[np.ndarray, np.ndarray] | None:
    """Along the line between two pieces' closest cells (`_line_between`): which pixels are covered (the class
    itself, no depth, or something nearer than both) and which are an occluder (another class nearer than both);
    None when the cells are neighbours."""
    line = _line_between(a, b, labels.shape, step)
    if line is None:
        return None
    nearest = min(float(np.min(a.points[:, 2])), float(np.min(b.points[:, 2])))
    z = depth[line]
    placed = np.isfinite(z) & (z > 0)
    nearer = placed & (z < nearest - 0.05)
    own = labels[line] == a.class_id
    return own | ~placed | nearer, nearer & ~own


def _join(
    regions: list[Region],
    join_m: float,
    inside_m: float,
    up: np.ndarray,
    reach_m: float = 0.0,
    thin_m: float = 0.12,
    image: tuple[np.ndarray, np.ndarray, int] | None = None,
) -> list[Region]:
    """Join the pieces of one class that are one object (transitively: a chain of pieces is one object): their
    points come within `join_m` (an occluder or a thin part cut it), or the middle of the smaller lies, on the
    floor's plane (across `up`), inside the larger grown by `inside_m` (a part seen past the object's own edge or
    above it: a table's back legs below its top, a lamp's base under its shade; two objects of one class do
    not stand in one place), also with the image between them looked at (`_hidden_between`). Pieces thinner than
    `thin_m` one way on the floor's plane (a leg, or a row of legs: no whole table) whose middles are all within
    `reach_m` of each other, and of at most one thicker piece, are one object (a table's legs seen under the
    image's top edge). `image`: full-resolution labels, depth and the grid step."""
    n = len(regions)
    if n < 2:
        return regions
    axes = _floor_axes(up)
    flat = [r.points @ axes[:2].T for r in regions]  # on the floor's plane
    bounds = np.array([np.percentile(f, [2, 98], axis=0) for f in flat])  # (n, 2, 2)
    floor_lo, floor_hi = bounds[:, 0], bounds[:, 1]
    floor_mid = np.array([np.median(f, axis=0) for f in flat])
    size = np.array([len(r.points) for r in regions])
    ii, jj = np.triu_indices(n, 1)
    big, small = np.where(size[ii] >= size[jj], ii, jj), np.where(size[ii] >= size[jj], jj, ii)
    inside = ((floor_lo[big] - inside_m <= floor_mid[small]) & (floor_mid[small] <= floor_hi[big] + inside_m)).all(
        axis=1
    )
    lo = np.array([np.percentile(r.points, 2, axis=0) for r in regions])
    hi = np.array([np.percentile(r.points, 98, axis=0) for r in regions])
    mid = np.array([np.median(r.points, axis=0) for r in regions])  # and across and along the view
    inside |= ((lo[big] - inside_m <= mid[small]) & (mid[small] <= hi[big] + inside_m))[:, [0, 2]].all(axis=1)
    near = np.asarray(((lo[ii] - join_m <= hi[jj]) & (lo[jj] - join_m <= hi[ii])).all(axis=1) & ~inside)
    for k in np.flatnonzero(near):  # boxes within reach: measure the points, and look between them
        a, b = regions[ii[k]], regions[jj[k]]
        near[k] = _min_distance(a.points, b.points) <= join_m and (image is None or _hidden_between(a, b, *image))
    same = inside | near
    if reach_m > 0:
        thin = (floor_hi - floor_lo).min(axis=1) < thin_m  # a leg, or legs one behind another
        apart = np.sqrt(((floor_mid[:, None] - floor_mid[None]) ** 2).sum(-1))
        groups: list[list[int]] = []  # legs all within reach of each other, with at most one other piece
        for k in np.argsort(-size):
            fits = [g for g in groups if all(apart[k, m] <= reach_m for m in g) and (thin[k] or all(thin[g]))]
            if fits:
                fits[0].append(int(k))
            else:
                groups.append([int(k)])
        for g in groups:
            for m in g[1:]:
                same |= (ii == min(g[0], m)) & (jj == max(g[0], m))
    roots = union_roots(n, ii[same], jj[same])
    out = []
    for root in np.unique(roots):
        group = [regions[k] for k in np.flatnonzero(roots == root)]
        cells = np.logical_or.reduce([r.cells for r in group])
        out.append(Region(group[0].class_id, cells, np.concatenate([r.points for r in group]), group[0].cut))
    return out


def _maybe_one(
    regions: list[Region],
    bound: tuple[float, float],
    up: np.ndarray,
    image: tuple[np.ndarray, np.ndarray, int],
    min_cells: float,
) -> list[Region]:
    """Pieces of one class (each a region in its own right) on both sides of an occluder that together fit one
    object `bound` (height, across) in size: one region flagged `maybe_more` (see the module's docstring). Pairs
    nearest in the image first, again and again, so that three pieces round two occluders are one."""
    regions = list(regions)
    # pairs already found not to be one, by their regions' ids (the regions kept too, so that no id is reused)
    apart: dict[frozenset[int], tuple[Region, Region]] = {}
    while True:
        big = [k for k, r in enumerate(regions) if r.cells.sum() >= min_cells]
        mids = {k: np.argwhere(regions[k].cells).mean(axis=0) for k in big}
        pairs = sorted(
            (float(np.linalg.norm(mids[a] - mids[b])), a, b) for i, a in enumerate(big) for b in big[i + 1 :]
        )
        for _, a, b in pairs:
            ra, rb = regions[a], regions[b]
            key = frozenset((id(ra), id(rb)))
            if key in apart:
                continue
            both = np.concatenate([ra.points, rb.points])
            if objects_spanned(both, up, *bound) > 1 or not _occluded_between(ra, rb, *image):
                apart[key] = (ra, rb)
                continue
            joined = Region(ra.class_id, ra.cells | rb.cells, both, ra.cut, maybe_more=True)
            regions = [r for k, r in enumerate(regions) if k not in (a, b)] + [joined]
            break
        else:
            return regions


def _seen_under(
    comp: np.ndarray,
    n: int,
    lab: np.ndarray,
    dep: np.ndarray,
    under_m: float,
    height: np.ndarray | None = None,
    low_parts: np.ndarray | None = None,
    low_m: float = 0.5,
    min_cells: float = 0.0,
) -> tuple[np.ndarray, int]:
    """Join the pieces of one class that a depth step parted where the farther is seen below the nearer, at most
    `under_m` behind it: a part of the same object seen under its own edge (a table's back legs under its top, a
    lamp's pole under its shade, a pot under its leaves). Another object behind is hidden from the bottom up, so
    it shows above or beside the nearer one: that boundary runs along rows, or has the farther piece on top.

    With `height` (each cell's height along the world's up) and `low_parts` (per class id: objects whose parts
    stand at different heights, a chair's seat below its back), a farther piece beside the nearer one, at most
    `low_m` behind it and wholly below the nearer's middle height, is a low part of it seen past its edge (a
    chair seen from behind, close: its seat beside its back). The top of another object behind would show. Both
    pieces must be large enough to be regions alone (`min_cells`): slivers (the pieces of a leg) are not joined
    into a region that would stand for an object of its own."""
    ys, ys2 = slice(0, -1), slice(1, None)
    a, b = comp[ys], comp[ys2]  # each cell and the one below it
    cut = (a > 0) & (b > 0) & (a != b) & (lab[ys] == lab[ys2])
    ha, hb = comp[:, :-1], comp[:, 1:]  # each cell and the one right of it
    side = (ha > 0) & (hb > 0) & (ha != hb) & (lab[:, :-1] == lab[:, 1:])
    p = np.concatenate([a[cut], ha[side]]).astype(np.int64)
    q = np.concatenate([b[cut], hb[side]]).astype(np.int64)
    # a vote per boundary cell: +1 the farther is below, -1 it is above, -0.5 side by side
    vote = np.concatenate([np.where(dep[ys2][cut] > dep[ys][cut], 1.0, -1.0), np.full(int(side.sum()), -0.5)])
    pairs, at = np.unique(np.minimum(p, q) * (n + 1) + np.maximum(p, q), return_inverse=True)
    total = np.bincount(at, weights=vote, minlength=len(pairs))
    ii, jj = pairs // (n + 1), pairs % (n + 1)
    cells = np.bincount(comp.ravel(), minlength=n + 1)  # per component (0: no region)
    mean_z = np.bincount(comp.ravel(), weights=np.where(comp > 0, dep, 0).ravel(), minlength=n + 1) / np.maximum(
        cells, 1
    )
    keep = (total > 0) & (np.abs(mean_z[ii] - mean_z[jj]) <= under_m)
    if height is not None and low_parts is not None:
        big = (cells[ii] >= min_cells) & (cells[jj] >= min_cells)
        for k in np.flatnonzero(~keep & big & (np.abs(mean_z[ii] - mean_z[jj]) <= low_m)):
            near, far = (ii[k], jj[k]) if mean_z[ii[k]] <= mean_z[jj[k]] else (jj[k], ii[k])
            if not low_parts[lab[comp == near][0]]:
                continue
            keep[k] = np.percentile(height[comp == far], 95) < np.median(height[comp == near])
    if not keep.any():
        return comp, n
    roots = union_roots(n + 1, ii[keep], jj[keep])[1:]  # of components 1..n (0 is no region)
    uniq = np.unique(roots)
    relabel = np.concatenate([[0], np.searchsorted(uniq, roots) + 1]).astype(np.int32)
    return relabel[comp], int(uniq.size)


def find_regions(
    labels: np.ndarray,
    depth: np.ndarray,
    classes: Sequence[str],
    fxy: tuple[float, float, float, float],
    step: int,
    *,
    skip: Sequence[str],
    structure: Sequence[str],
    min_cells: float,
    jump_rel: float = 0.1,
    jump_m: float = 0.1,
    join_m: float = 0.25,
    inside_m: float = 0.2,
    under: bool = True,
    under_m: float = 1.5,
    planes: bool = True,
    up: Sequence[float] | np.ndarray = (0.0, -1.0, 0.0),
    leg_reach: Mapping[str, float] | None = None,
    low_parts: Sequence[str] = (),
    one_at_most: Mapping[str, tuple[float, float]] | None = None,
) -> list[Region]:
    """The regions of `labels` (class ids, at `depth`'s resolution) on the grid of every `step`-th pixel.

    Cells without valid depth belong to no region (they cannot be placed); classes in `skip` are never
    regions; classes in `structure` are not cut by depth, and with `planes` each plane they lie on is one
    region (planes.py), else each connected piece. Regions of fewer than `min_cells` cells are
    dropped after joining. `up`: the world's up direction in the camera frame (for what stands in one place);
    `leg_reach`: per class, how far from its middle one object's legs may stand (see `_join`); `low_parts`:
    classes whose low parts may be seen beside a higher part past a depth step (see `_seen_under`);
    `one_at_most`: per class, the largest one object is (height, across) in metres: pieces on both sides of an
    occluder that fit it are one region that may be more (`Region.maybe_more`).
    """
    fx, fy, cx, cy = fxy
    up_axis = np.asarray(up, np.float64) / np.linalg.norm(up)
    lab = labels[::step, ::step].astype(np.int64)
    dep = depth[::step, ::step].astype(np.float32)
    names = [classes[c] if 0 <= c < len(classes) else f"class {c}" for c in range(int(lab.max(initial=0)) + 1)]
    skipped = np.array([n in skip for n in names], bool)
    is_structure = np.array([n in structure for n in names], bool)
    valid = np.isfinite(dep) & (dep > 0) & ~skipped[np.clip(lab, 0, None)] & (lab >= 0)
    comp, n = components(lab, valid, dep, ~is_structure[np.clip(lab, 0, None)], jump_rel=jump_rel, jump_m=jump_m)
    vv, uu = np.mgrid[0 : lab.shape[0], 0 : lab.shape[1]]
    uu, vv = uu * step + (step - 1) / 2, vv * step + (step - 1) / 2  # pixel coordinates of the cell centres
    if under:
        height = ((uu - cx) / fx * up_axis[0] + (vv - cy) / fy * up_axis[1] + up_axis[2]) * dep
        low = np.array([nm in low_parts for nm in names], bool)
        comp, n = _seen_under(comp, n, lab, dep, under_m, height, low, min_cells=min_cells)
    flat = comp.ravel()
    order = np.argsort(flat, kind="stable")
    bounds = np.searchsorted(flat[order], np.arange(1, n + 2))
    by_class: dict[int, list[Region]] = {}
    for k in range(n):
        cells_at = order[bounds[k] : bounds[k + 1]]
        in_region = np.zeros(flat.shape, bool)
        in_region[cells_at] = True
        cells = in_region.reshape(comp.shape)
        z = dep[cells]
        points = np.stack([(uu[cells] - cx) / fx * z, (vv[cells] - cy) / fy * z, z], axis=1)
        cid = int(lab.ravel()[cells_at[0]])
        by_class.setdefault(cid, []).append(Region(cid, cells, points, not is_structure[cid]))
    out: list[Region] = []
    for cid, parts in by_class.items():
        if is_structure[cid] and planes:
            out += _planes(parts, min_cells)
        else:
            reach = (leg_reach or {}).get(names[cid], 0.0)
            joined = _join(parts, join_m, inside_m, up_axis, reach, image=(labels, depth, step))
            bound = (one_at_most or {}).get(names[cid])
            if bound is not None:
                joined = _maybe_one(joined, bound, up_axis, (labels, depth, step), min_cells)
            out += [r for r in joined if r.cells.sum() >= min_cells]
    return out


def _planes(parts: list[Region], min_cells: float) -> list[Region]:
    """The pieces of one structure class regrouped by the plane they lie on: a wall's pieces on either side of
    a shelf are one wall, two walls meeting at a corner are two. Cells on no plane of `min_cells` are dropped."""
    cells = np.logical_or.reduce([r.cells for r in parts])
    at = np.concatenate([np.flatnonzero(r.cells) for r in parts])  # each point's cell, in the points' order
    points = np.concatenate([r.points for r in parts])
    plane = fit_planes(points, max(3, math.ceil(min_cells)))
    grid = np.zeros(cells.shape, np.int32)
    grid.flat[at] = plane
    plane = _bent(grid, points, plane)[plane]  # of every point: its plane after joining
    out = []
    for label in np.unique(plane[plane > 0]):
        on = plane == label
        mine = np.zeros(cells.size, bool)
        mine[at[on]] = True
        out.append(Region(parts[0].class_id, mine.reshape(cells.shape), points[on], cut=False))
    return out


def _bent(grid: np.ndarray, points: np.ndarray, plane: np.ndarray, most_deg: float = 25.0) -> np.ndarray:
    """Planes that touch on the grid and turn by at most `most_deg` are one surface (a floor that a depth estimate
    bends, seen as several planes); walls at a corner turn by far more. Returns each plane label's new label
    (index 0: none)."""
    n = int(plane.max(initial=0))
    if n < 2:
        return np.arange(n + 1)
    normals = []
    for label in range(1, n + 1):
        p = points[plane == label]
        normals.append(np.linalg.svd(p - p.mean(axis=0), full_matrices=False)[2][-1])
    cos = np.abs(np.array(normals) @ np.array(normals).T)
    a, b = [], []
    for dy, dx in _OFFSETS:  # neighbouring cells on two planes
        h, w = grid.shape
        p = grid[0 : h - dy, max(0, -dx) : w - max(0, dx)]
        q = grid[dy:h, max(0, dx) : w + min(0, dx)]
        touch = (p > 0) & (q > 0) & (p != q)
        a.append(p[touch])
        b.append(q[touch])
    ii, jj = np.concatenate(a) - 1, np.concatenate(b) - 1
    join = cos[ii, jj] >= math.cos(math.radians(most_deg))
    roots = union_roots(n, ii[join], jj[join])
    return np.concatenate([[0], roots + 1])


def _grown(cells: np.ndarray) -> np.ndarray:
    """`cells` and their 8 neighbours."""
    out = cells.copy()
    out[1:] |= cells[:-1]
    out[:-1] |= cells[1:]
    grown = out.copy()
    grown[:, 1:] |= out[:, :-1]
    grown[:, :-1] |= out[:, 1:]
    return grown


def _around(z: np.ndarray, op: np.ufunc) -> np.ndarray:
    """`op` (np.fmin, np.fmax) of each cell's 3 x 3 neighbourhood of a grid with NaN where there is nothing."""
    h, w = z.shape
    p = np.pad(z, 1, constant_values=np.nan)
    out = z.copy()
    for dy in range(3):
        for dx in range(3):
            out = op(out, p[dy : dy + h, dx : dx + w])
    return out


def _blocks(g: np.ndarray, box: tuple[int, int, int, int], step: int, shape: tuple[int, ...]) -> np.ndarray:
    """The grid cells of `box` (r0, r1, c0, c1) -> the pixels of their blocks, cut to `shape` at the image edge."""
    g = g[box[0] : box[1], box[2] : box[3]]
    return np.repeat(np.repeat(g, step, axis=0), step, axis=1)[: shape[0], : shape[1]]


def pixels_of(
    regions: list[Region],
    labels: np.ndarray,
    depth: np.ndarray,
    step: int,
    *,
    jump_rel: float = 0.1,
    jump_m: float = 0.1,
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Each region's pixels at full resolution, (rows, cols): the pixels of its class with depth in the blocks of
    its cells and of the cells around them (the grid samples one pixel a block, so a block at an edge may be
    sampled as something else and still hold pixels of this region); for a region that depth steps part from
    others of its class, only those within a step of the depths of its cells around them. (Two regions of one
    class never touch on the grid unless a depth step parts them.)"""
    grid = depth[::step, ::step].astype(np.float32)
    out = []
    for r in regions:
        cells = _grown(r.cells)
        rows, cols = np.flatnonzero(cells.any(axis=1)), np.flatnonzero(cells.any(axis=0))
        r0, r1, c0, c1 = int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1
        ys, xs = slice(r0 * step, r1 * step), slice(c0 * step, c1 * step)
        d = depth[ys, xs]
        box = (r0, r1, c0, c1)
        sel = _blocks(cells, box, step, d.shape) & (labels[ys, xs] == r.class_id) & np.isfinite(d) & (d > 0)
        if r.cut:
            z = np.where(r.cells, grid, np.nan)
            lo, hi = _blocks(_around(z, np.fmin), box, step, d.shape), _blocks(_around(z, np.fmax), box, step, d.shape)
            with np.errstate(invalid="ignore"):
                sel &= (d >= lo - (jump_rel * d + jump_m)) & (d <= hi + (jump_rel * hi + jump_m))
        pr, pc = np.nonzero(sel)
        out.append((pr + ys.start, pc + xs.start))
    return out
