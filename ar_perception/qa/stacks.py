"""Objects stacked on one another: one region of a class mask, split into the layers its side faces show.

A class mask says "box" for a pile of boxes alike, and depth does not part them: the upper box stands on the
lower one. What parts them is their faces. A box's side faces are vertical planes that span its height; a box
on top of another shows side faces that begin where the lower box's faces end. So the region's pixels are
grouped into faces (neighbours whose surface normals, from the depth, agree), the vertical faces kept, and
wherever one vertical face begins (within `gap_m`) at the top of another below it, within reach across, the
region is cut at that height.

Boxes side by side in one region are parted first (`column_cuts`, `by_columns`): two vertical faces that face
the same way but stand apart along their normal (one box's front nearer than its neighbour's), overlap in height
and lie side by side across are two objects, whatever their shades; each column is then split into its layers.

Two boxes whose front faces lie in one plane (same size, same turn) show no such step and stay one region; the
at-least bound of model.py still reads their height. Where depth is too coarse for normals (an estimate that
smooths the faces away) no face spans a layer and nothing is cut.
"""

from __future__ import annotations

import math

import numpy as np

from ar_perception.qa.regions import union_roots

__all__ = ["STACKABLE", "faces", "layer_cuts", "seam_cuts", "column_cuts", "by_columns", "layers"]

STACKABLE = ("box",)  # classes whose objects are stacked on one another
_SAME_PLANE_COS = math.cos(math.radians(5.0))  # faces turned less than this ...
_SAME_PLANE_M = 0.02  # ... and less than this apart along their normal lie in one plane
_FACE_HEIGHT_M = 0.1  # the shortest vertical face `layer_cuts` and `column_cuts` read (their default `min_height_m`)


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
    label: np.ndarray | None = None,
    vertical: list[tuple[np.ndarray, np.ndarray]] | None = None,
) -> list[float]:
    """Heights (along the unit vector `up`) at which the region's pixels (see `faces`) hold one object on another,
    lowest first; [] for one layer. A face stands on another when it begins within `gap_m` of the other's top
    and within `reach_m` of it across (a side face of the upper box over the front face of the lower). Faces
    count when vertical (within about 17 degrees), of at least `min_points` pixels and `min_height_m` tall.
    `label`: `faces(v, u, points)` when the caller has it (else found here; also for `seam_cuts`)."""
    if len(points) < 3 * min_points:
        return []
    height = points @ up
    found = []
    if vertical is None:
        vertical = _vertical_faces(v, u, points, up, min_points, min_height_m, label)
    for idx, normal in vertical:
        p = points[idx]
        lo, hi = np.percentile(height[idx], [2, 98])
        flat = p - height[idx, None] * up  # across the view, onto the floor's plane
        found.append((float(lo), float(hi), flat.min(axis=0), flat.max(axis=0), normal, float(normal @ p.mean(axis=0))))
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


def _vertical_faces(
    v: np.ndarray,
    u: np.ndarray,
    points: np.ndarray,
    up: np.ndarray,
    min_points: int,
    min_height_m: float,
    label: np.ndarray | None = None,
) -> list[tuple[np.ndarray, np.ndarray]]:
    """The vertical faces of the region (within about 17 degrees) of at least `min_points` pixels and
    `min_height_m` tall: (indices of their pixels, unit normal) each. `label`: `faces(v, u, points)`, when known."""
    height = points @ up
    label = faces(v, u, points) if label is None else label
    keys, inverse, counts = np.unique(label, return_inverse=True, return_counts=True)
    order = np.argsort(inverse, kind="stable")
    starts = np.concatenate([[0], np.cumsum(counts)])
    out = []
    for k in np.flatnonzero((keys >= 0) & (counts >= min_points)):
        idx = order[starts[k] : starts[k + 1]]
        p = points[idx]
        normal = np.linalg.svd(p - p.mean(axis=0), full_matrices=False)[2][-1]
        lo, hi = np.percentile(height[idx], [2, 98])
        if abs(float(normal @ up)) <= 0.3 and hi - lo >= min_height_m:
            out.append((idx, normal))
    return out


def _row_sums(h: np.ndarray, across: np.ndarray, lab: np.ndarray, bin_m: float, col_m: float) -> np.ndarray:
    """A face's pixels on a grid over it (rows `bin_m` of height, lowest first; columns `col_m` across): the sums
    of their colours and their count per cell, summed up the rows: (rows + 1, columns, 4), row 0 zeros, so that
    rows [a, b) of a column sum to [b] - [a]."""
    r = ((h - h.min()) / bin_m).astype(np.int64)
    c = ((across - across.min()) / col_m).astype(np.int64)
    rows, cols = int(r.max()) + 1, int(c.max()) + 1
    flat = r * cols + c
    sums = [np.bincount(flat, lab[:, k], rows * cols) for k in range(3)] + [np.bincount(flat, None, rows * cols)]
    cells = np.stack(sums, axis=-1).reshape(rows, cols, 4)
    return np.concatenate([np.zeros((1, cols, 4)), np.cumsum(cells, axis=0)])


def _mean(sums: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Each column's mean colour over rows [a[i], b[i]) of `_row_sums`: (len(a), columns, 3), NaN for no pixels."""
    d = sums[b] - sums[a]
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(d[..., 3:] > 0, d[..., :3] / d[..., 3:], np.nan)


def _seam_profile(
    h: np.ndarray, across: np.ndarray, lab: np.ndarray, bin_m: float, col_m: float, window: int, edge: int, least: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """How one face's colour changes along level lines: (heights, change, agreement) at every row edge with `edge`
    rows each side. Each column's mean colour over the `window` rows above the edge is compared with that below,
    leaving out the row either side (the seam's own line), less what the gradient inside the windows (light
    falling off across the face) accounts for; the change is the median over the columns (CIE76), the agreement
    the share of columns (NaN: fewer than `least`) that change at least half of it the same way. Where a window
    changes inside by more than half the change between the windows, the change is not at this edge: 0."""
    sums = _row_sums(h, across, lab, bin_m, col_m)
    rows = len(sums) - 1
    e = np.arange(edge, rows - edge + 1)  # cuts between rows e - 1 and e
    b0, b1 = np.maximum(0, e - 1 - window), e - 1  # the window below: rows [b0, b1); above: [a0, a1)
    a0, a1 = e + 1, np.minimum(rows, e + 1 + window)
    keep = (b1 > b0) & (a1 > a0)
    e, b0, b1, a0, a1 = e[keep], b0[keep], b1[keep], a0[keep], a1[keep]
    nb, na = b1 - b0, a1 - a0
    raw = _mean(sums, a0, a1) - _mean(sums, b0, b1)
    # the change inside each window: its upper half's mean less its lower half's (over half its rows)
    in_below = _mean(sums, b0 + nb // 2, b1) - _mean(sums, b0, b0 + nb // 2)
    in_above = _mean(sums, a0 + na // 2, a1) - _mean(sums, a0, a0 + na // 2)
    slope = in_below / (nb / 2)[:, None, None] + in_above / (na / 2)[:, None, None]
    gap = ((nb + na) / 2 + 2)[:, None, None]  # rows between the windows' middles
    d = np.where(((nb >= 2) & (na >= 2))[:, None, None], raw - slope / 2 * gap, raw)
    size, agree = np.zeros(len(e)), np.full(len(e), math.nan)
    for i in range(len(e)):
        cols = (
            np.isfinite(d[i]).all(axis=1) & np.isfinite(in_below[i]).all(axis=1) & np.isfinite(in_above[i]).all(axis=1)
        )
        if not cols.any():
            continue
        whole = np.median(d[i][cols], axis=0)
        inside = max(float(np.linalg.norm(np.median(x[i][cols], axis=0))) for x in (in_below, in_above))
        if inside > 0.5 * float(np.linalg.norm(np.median(raw[i][cols], axis=0))):
            continue  # the change is inside a window, not between them: a seam elsewhere, or a gradient
        size[i] = float(np.linalg.norm(whole))
        if cols.sum() >= least:
            agree[i] = float(np.mean(d[i][cols] @ whole >= 0.5 * size[i] ** 2))
    return h.min() + e * bin_m, size, agree


def seam_cuts(
    v: np.ndarray,
    u: np.ndarray,
    points: np.ndarray,
    up: np.ndarray,
    lab: np.ndarray,
    *,
    min_part_m: float = 0.15,
    min_delta_e: float = 4.0,
    bin_m: float = 0.02,
    col_m: float = 0.03,
    window_m: float = 0.08,
    min_columns: int = 4,
    agree: float = 0.75,
    min_points: int = 40,
    label: np.ndarray | None = None,
) -> list[float]:
    """Heights at which the vertical faces of the region change colour along a level line across their whole
    width: the seam between two objects stacked flush, front faces in one plane (no step for `layer_cuts`), that
    differ in colour (two boxes alike in kind are rarely alike in shade). `lab`: the pixels' colours in CIELAB.

    Each face is gridded (`bin_m` rows of height, `col_m` columns across) and read by `_seam_profile` over
    `window_m` either side. A face's seam: the change is at least `min_delta_e`, at least `agree` of at least
    `min_columns` columns change alike (packing tape or a label changes some columns, a level seam all; a
    shadow's edge falls aslant), and each side keeps `min_part_m` of the face. A seam runs round the whole
    stack: it is kept only where every other face that spans its height shows at least half that change there
    (a shadow's edge or a printed band marks one face only). Limits: with one face in view there is nothing to
    check against, so a level printed band across a box's front cuts it; two boxes alike in shade stay one."""
    if len(points) < 2 * min_points:
        return []
    height = points @ up
    window, edge = max(1, round(window_m / bin_m)), max(1, round(min_part_m / bin_m))
    profiles = []
    for idx, normal in _vertical_faces(v, u, points, up, min_points, 2 * min_part_m, label):
        side = np.cross(up, normal)
        across = points[idx] @ (side / np.linalg.norm(side))
        profiles.append(_seam_profile(height[idx], across, lab[idx], bin_m, col_m, window, edge, min_columns))
    cuts = []
    for k, (at, size, share) in enumerate(profiles):
        ok = np.flatnonzero((size >= min_delta_e) & (share >= agree))
        peaks: list[int] = []  # the strongest first; a weaker one within `min_part_m` is the same seam
        for i in ok[np.argsort(-size[ok], kind="stable")]:
            if all(abs(at[i] - at[j]) >= min_part_m for j in peaks):
                peaks.append(int(i))
        for i in peaks:
            lo = hi = i  # the seam lies between the rows either side of it: the middle of its plateau
            while lo > 0 and size[lo - 1] >= 0.95 * size[i]:
                lo -= 1
            while hi < len(size) - 1 and size[hi + 1] >= 0.95 * size[i]:
                hi += 1
            c = float(at[lo : hi + 1].mean())
            for m, (a, s, g) in enumerate(profiles):  # faces wide enough to tell (no NaN) that span it
                near = (np.abs(a - c) <= 2 * bin_m) & np.isfinite(g)
                if m != k and near.any() and a[0] <= c <= a[-1]:
                    if not ((s >= min_delta_e / 2) & (g >= agree / 2))[near].any():
                        break
            else:
                cuts.append((c, float(size[i])))
    kept: list[tuple[float, float]] = []  # seams nearer than `min_part_m` are one (two faces read one seam)
    for c, strength in sorted(cuts):
        if kept and c - kept[-1][0] < min_part_m:
            kept[-1] = max(kept[-1], (c, strength), key=lambda x: x[1])
        else:
            kept.append((c, strength))
    return [c for c, _ in kept]


def column_cuts(
    v: np.ndarray,
    u: np.ndarray,
    points: np.ndarray,
    up: np.ndarray,
    *,
    min_apart_m: float = 2 * _SAME_PLANE_M,
    overlap: float = 0.5,
    slack_m: float = 0.03,
    most_gap_m: float = 0.3,
    min_width_m: float = 0.1,
    min_points: int = 20,
    min_height_m: float = 0.1,
    label: np.ndarray | None = None,
    vertical: list[tuple[np.ndarray, np.ndarray]] | None = None,
) -> tuple[np.ndarray, list[float], list[np.ndarray]] | None:
    """Where the region holds objects side by side: (a level unit direction across, the positions along it at
    which to cut, ascending, the pixels of the faces that set the cuts), or None. Two vertical faces (see
    `layer_cuts`) at least `min_width_m` wide are two objects side by side when they face the same way (within 5
    degrees, on the floor's plane) but stand at least `min_apart_m` apart along that way (one box's front nearer
    than its neighbour's), share at least `overlap` of the shorter one's height, and lie next to each other
    across: overlapping by at most `slack_m`, at most `most_gap_m` apart, and no other face facing that way
    between them. The cut is midway between them, and is dropped where a face facing that way runs across it (a
    wide box under two set apart). Pairs facing the way most of their pixels face are read; cuts nearer than
    `min_width_m` are one."""
    if len(points) < 3 * min_points:
        return None
    height = points @ up
    found = []  # (lowest, highest, way it faces on the floor's plane, mean point, pixels)
    if vertical is None:
        vertical = _vertical_faces(v, u, points, up, min_points, min_height_m, label)
    for idx, normal in vertical:
        level = normal - (normal @ up) * up  # a face may lean a little
        level /= np.linalg.norm(level)
        lo, hi = np.percentile(height[idx], [2, 98])
        found.append((float(lo), float(hi), level, points[idx].mean(axis=0), idx))

    def span(idx: np.ndarray, side: np.ndarray) -> tuple[float, float]:
        lo, hi = np.percentile(points[idx] @ side, [2, 98])
        return float(lo), float(hi)

    def facing(way: np.ndarray) -> list[np.ndarray]:
        """The pixels of each face that faces `way` (or the opposite way)."""
        return [idx for _, _, n, _, idx in found if abs(float(n @ way)) >= _SAME_PLANE_COS]

    pairs = []  # (direction across, cut, pixels of the pair)
    for i, (lo_a, hi_a, n_a, mean_a, idx_a) in enumerate(found):
        for lo_b, hi_b, n_b, mean_b, idx_b in found[i + 1 :]:
            turn = float(n_a @ n_b)
            if abs(turn) < _SAME_PLANE_COS:
                continue
            way = n_a + math.copysign(1.0, turn) * n_b
            way /= np.linalg.norm(way)
            if abs(float(way @ (mean_a - mean_b))) < min_apart_m:  # one plane: a crease, tape, an occluder
                continue
            if min(hi_a, hi_b) - max(lo_a, lo_b) < overlap * min(hi_a - lo_a, hi_b - lo_b):
                continue
            side = np.cross(up, way)
            side /= np.linalg.norm(side)
            (a0, a1), (b0, b1) = span(idx_a, side), span(idx_b, side)
            if min(a1 - a0, b1 - b0) < min_width_m:
                continue
            if a1 <= b0 + slack_m:
                left, right = a1, b0
            elif b1 <= a0 + slack_m:
                left, right = b1, a0
            else:
                continue
            others = [span(idx, side) for idx in facing(way) if idx is not idx_a and idx is not idx_b]
            if right - left <= most_gap_m and not any(
                c0 < right - slack_m and c1 > left + slack_m for c0, c1 in others
            ):
                pairs.append((side, (left + right) / 2, idx_a, idx_b))  # neighbours, nothing between
    if not pairs:
        return None

    def support(side: np.ndarray) -> int:
        return sum(len(a) + len(b) for s, _, a, b in pairs if abs(float(s @ side)) >= _SAME_PLANE_COS)

    direction = max((s for s, _, _, _ in pairs), key=support)
    across = [span(idx, direction) for idx in facing(np.cross(direction, up))]
    cuts, seeds = [], []
    for s, _, idx_a, idx_b in pairs:
        if abs(float(s @ direction)) >= _SAME_PLANE_COS:
            (a0, a1), (b0, b1) = span(idx_a, direction), span(idx_b, direction)  # its own side may turn a little
            c = (a1 + b0) / 2 if a1 <= b0 + slack_m else (b1 + a0) / 2 if b1 <= a0 + slack_m else None
            if c is not None and not any(c0 < c - slack_m and c1 > c + slack_m for c0, c1 in across):
                cuts.append(c)
                seeds += [idx_a, idx_b]
    groups: list[list[float]] = []
    for c in sorted(cuts):  # one gap between two columns, read by several pairs of faces
        if groups and c - groups[-1][-1] < min_width_m:
            groups[-1].append(c)
        else:
            groups.append([c])
    return (direction, [sum(g) / len(g) for g in groups], seeds) if groups else None


def by_columns(
    v: np.ndarray,
    u: np.ndarray,
    points: np.ndarray,
    up: np.ndarray,
    label: np.ndarray,
    *,
    min_points: int = 20,
    min_column: int = 20,
    margin_m: float = 0.015,
    sample: int = 400,
    vertical: list[tuple[np.ndarray, np.ndarray]] | None = None,
) -> list[np.ndarray]:
    """The region's pixels parted into the columns `column_cuts` finds: boolean masks over them (one mask when
    it is one column). A face goes whole to the column it lies in across; one that reaches a cut (within
    `margin_m`), and a pixel on no face that near one, goes with the face nearest in 3D among those that set the
    cuts (about `sample` points per such face, evenly strided): a box's side face, set back along the cut's line,
    touches its own box's front. A column of fewer than `min_column` pixels joins its neighbour. `label`:
    `faces(v, u, points)`."""
    found = column_cuts(v, u, points, up, min_points=min_points, label=label, vertical=vertical)
    if found is None:
        return [np.ones(len(points), bool)]
    direction, at, seeds = found
    cuts = np.asarray(at)
    across = points @ direction
    col = np.searchsorted(cuts, across)
    unsure = (label < 0) & (np.abs(across[:, None] - cuts[None, :]).min(axis=1) < margin_m)
    for key in np.unique(label[label >= 0]):
        on = label == key
        lo, hi = np.percentile(across[on], [2, 98])
        if ((lo - margin_m < cuts) & (cuts < hi + margin_m)).any():
            unsure |= on
        else:
            col[on] = np.searchsorted(cuts, np.median(across[on]))
    seeded = np.zeros(len(points), bool)
    for idx in seeds:
        col[idx] = np.searchsorted(cuts, np.median(across[idx]))
        seeded[idx] = True
    unsure &= ~seeded
    known = np.flatnonzero(seeded)
    known = known[:: max(1, len(known) // (sample * len(seeds)))]
    rest = np.flatnonzero(unsure)
    for chunk in np.array_split(rest, max(1, len(rest) // 1024)):
        d = ((points[chunk, None, :] - points[None, known, :]) ** 2).sum(axis=-1)
        col[chunk] = col[known[np.argmin(d, axis=1)]]
    for key in np.unique(label[unsure & (label >= 0)]):  # an unsure face goes whole too
        on = label == key
        col[on] = np.bincount(col[on]).argmax()
    return _slices(col, len(at) + 1, min_column)


def layers(
    v: np.ndarray,
    u: np.ndarray,
    points: np.ndarray,
    up: np.ndarray,
    lab: np.ndarray | None = None,
    *,
    min_points: int = 20,
    min_layer: int = 20,
    min_height_m: float = 0.1,
    by_column: bool = True,
) -> list[np.ndarray]:
    """The region's pixels split into its objects: boolean masks over them (one mask when it is one object).
    First into columns side by side (`by_columns`; not with `by_column=False`), each column then into layers,
    lowest first: cut where one face stands on another (`layer_cuts`) and, given the pixels' colours `lab`
    (CIELAB), where a face's colour changes along a level line (`seam_cuts`). `min_points`: the smallest face; a
    column or layer of fewer than `min_layer` pixels is no object of its own and joins its neighbour."""
    label = faces(v, u, points)  # once, for every kind of cut
    # the vertical faces, once: columns and layers read the same ones (a face lies whole in one column)
    vertical = _vertical_faces(v, u, points, up, min_points, _FACE_HEIGHT_M, label)
    parts = [np.ones(len(points), bool)]
    if by_column:
        parts = by_columns(v, u, points, up, label, min_points=min_points, min_column=min_layer, vertical=vertical)
    out: list[np.ndarray] = []
    at = np.empty(len(points), np.intp)  # a pixel's index within its column
    for col in parts:
        idx = np.flatnonzero(col)
        at[idx] = np.arange(len(idx))
        mine = [(at[f], n) for f, n in vertical if col[f[0]]]
        for m in _layers_of(
            v[idx],
            u[idx],
            points[idx],
            up,
            None if lab is None else lab[idx],
            label[idx],
            mine,
            min_points=min_points,
            min_layer=min_layer,
            min_height_m=min_height_m,
        ):
            whole = np.zeros(len(points), bool)
            whole[idx[m]] = True
            out.append(whole)
    return out


def _slices(at: np.ndarray, n: int, least: int) -> list[np.ndarray]:
    """Masks of the values 0 .. n-1 of `at`, in order; one of fewer than `least` pixels joins the one before."""
    kept: list[np.ndarray] = []
    for m in (at == k for k in range(n)):
        if kept and (m.sum() < least or kept[-1].sum() < least):
            kept[-1] = kept[-1] | m
        else:
            kept.append(m)
    return kept


def _layers_of(
    v: np.ndarray,
    u: np.ndarray,
    points: np.ndarray,
    up: np.ndarray,
    lab: np.ndarray | None,
    label: np.ndarray,
    vertical: list[tuple[np.ndarray, np.ndarray]],
    *,
    min_points: int,
    min_layer: int,
    min_height_m: float,
) -> list[np.ndarray]:
    """One column's pixels split into its layers, lowest first (see `layers`); `vertical`: its vertical faces."""
    steps = layer_cuts(v, u, points, up, min_points=min_points, label=label, vertical=vertical)
    cuts: list[float] = []
    for c in sorted(steps):  # cuts nearer than `min_height_m` are one
        if not cuts or c - cuts[-1] > min_height_m:
            cuts.append(c)
    if lab is not None:  # a seam near a step is that step (depth places it better than shade)
        cuts = sorted(
            cuts
            + [c for c in seam_cuts(v, u, points, up, lab, label=label) if all(abs(c - s) > min_height_m for s in cuts)]
        )
    if not cuts:
        return [np.ones(len(points), bool)]
    return _slices(np.searchsorted(np.asarray(cuts), points @ up), len(cuts) + 1, min_layer)
