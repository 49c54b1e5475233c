"""Objects side by side in two colours: one region of a class mask, split where it holds two differently coloured
objects of that class.

A class mask says "chair" for two chairs that touch in the image (one beside or partly in front of the other at
about the same depth), and depth does not part them. Their colours often do: a chair is mostly one material
(its seat and back; the legs may be metal), so a chair region whose pixels fall into two large colour groups,
each a coherent piece of the image and each as tall as much of a chair, is two chairs. A group that is small or
short (metal legs under a plastic seat, a shadowed strip) is part of the same object, and nothing is split.

Only classes in `ONE_COLOUR` are split this way: objects mostly of one colour (a person's shirt and trousers, a
ball's segments, a shelf's books, a box's tape are two colours of one object).
"""

from __future__ import annotations

import numpy as np

from ar_perception.qa.colour import srgb_to_linear
from ar_perception.qa.regions import label_components

__all__ = ["ONE_COLOUR", "colour_groups", "colour_parts_and_cores"]

ONE_COLOUR = ("chair",)  # classes whose one object is mostly of one colour
_DARK = 0.03  # linear r + g + b below this: too dark to tell a colour


def chromaticity(rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(N, 3) sRGB uint8 -> the red and green shares of linear light (N, 2), r / (r + g + b) and g / (...), which
    shading (one surface lit and in shade) leaves nearly as they are; and (N,) bool: bright enough for them to
    mean something (in deep shade an 8-bit pixel's shares are noise)."""
    lin = srgb_to_linear(rgb)
    total = lin.sum(axis=1)
    return lin[:, :2] / np.maximum(total, 1e-3)[:, None], total >= _DARK


def colour_groups(x: np.ndarray, iterations: int = 10) -> tuple[np.ndarray, float]:
    """Two groups of the pixels' colours `x` (N, k) by 2-means, started from the 10th and 90th percentiles along
    their main axis (a few outliers, such as thin legs of another colour, do not pull a start to themselves):
    (N,) bool (True: the second group), and the distance between the groups' medians."""
    centred = x - x.mean(axis=0)
    axis = np.linalg.svd(centred, full_matrices=False)[2][0]
    along = centred @ axis
    lo, hi = np.percentile(along, [10, 90])
    centres = np.stack([x[np.argmin(np.abs(along - lo))], x[np.argmin(np.abs(along - hi))]])
    second = np.zeros(len(x), bool)
    for _ in range(iterations):
        d = ((x[:, None, :] - centres[None]) ** 2).sum(-1)
        new = d[:, 1] < d[:, 0]
        if new.all() or not new.any():
            return new, 0.0
        centres = np.stack([x[~new].mean(0), x[new].mean(0)])
        if np.array_equal(new, second):
            break
        second = new
    apart = float(np.linalg.norm(np.median(x[~second], 0) - np.median(x[second], 0)))
    return second, apart


def colour_parts_and_cores(
    v: np.ndarray,
    u: np.ndarray,
    points: np.ndarray,
    up: np.ndarray,
    rgb: np.ndarray,
    *,
    min_apart: float = 0.12,
    min_share: float = 0.15,
    min_height_m: float = 0.3,
    coherent: float = 0.6,
    min_part: int = 20,
    peel: int = 2,
    side_by_side: float = 0.5,
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """The region's pixels (rows `v`, columns `u`, points (N, 3), colours `rgb` (N, 3) sRGB uint8) as boolean
    masks over them, one per object, and each one's core (its colour's main piece, without the pixels that joined
    it by nearness: what surely belongs to it): two where the pixels bright enough to have a colour fall into two groups
    whose `chromaticity` is at least `min_apart` apart, each at least `min_share` of those pixels and `min_part`
    pixels, `min_height_m` tall along `up`, side by side (their heights shared for at least `side_by_side` of the
    shorter's), and with at least `coherent` of it in one 8-connected piece of the
    image (the rest, and the dark pixels, join the nearer piece); else one. A group too small to be an object
    (metal legs, a shadow) is set aside and the rest grouped again, up to `peel` times."""
    whole = [np.ones(len(points), bool)], [np.ones(len(points), bool)]
    if len(points) < 2 * min_part:
        return whole
    shares, pool = chromaticity(rgb)
    height = points @ up
    v0, u0 = int(v.min()), int(u.min())
    shape = (int(v.max()) - v0 + 1, int(u.max()) - u0 + 1)
    for _ in range(peel + 1):
        if pool.sum() < 2 * min_part:
            return whole
        in_pool, apart = colour_groups(shares[pool])
        if apart < min_apart:
            return whole
        second = np.zeros(len(points), bool)
        second[pool] = in_pool
        groups = (pool & ~second, second)
        small = [g for g in groups if g.sum() < max(min_part, min_share * int(pool.sum()))]
        if not small:
            break
        pool = pool & ~small[0]  # a colour too little to be an object (legs, a shadow): set aside, look again
    else:
        return whole
    spans = [np.percentile(height[g], [5, 95]) for g in groups]
    if min(hi - lo for lo, hi in spans) < min_height_m:
        return whole
    (lo1, hi1), (lo2, hi2) = spans
    if min(hi1, hi2) - max(lo1, lo2) < side_by_side * min(hi1 - lo1, hi2 - lo2):
        return whole  # one colour above the other (a seat on legs of another colour): one object
    cores = []
    for g in groups:
        grid = np.zeros(shape, bool)
        grid[v[g] - v0, u[g] - u0] = True
        lab_img, _ = label_components(grid)
        piece = lab_img[v - v0, u - u0]
        core = g & (piece == np.bincount(piece[g]).argmax())
        if core.sum() < coherent * g.sum():
            return whole
        cores.append(core)
    return _nearest(points, cores), cores


def _nearest(points: np.ndarray, cores: list[np.ndarray], most: int = 200, chunk: int = 4096) -> list[np.ndarray]:
    """`cores` (boolean masks over the pixels) grown to cover every pixel: each pixel in none joins the core with
    the nearest point in 3D (`points` (N, 3); a stray of one colour amid the other: dark legs, a shadow's edge, a
    leg of the farther object seen between the nearer one's: the image would give it to whichever is next to it
    there); measured against at most `most` pixels of each core, `chunk` pixels at a time (memory stays small for
    a large region)."""
    rest = np.flatnonzero(~np.logical_or.reduce(cores))
    if not rest.size:
        return cores
    refs = [points[np.flatnonzero(core)[:: max(1, int(core.sum()) // most)]] for core in cores]
    pick = np.empty(rest.size, np.int64)
    for start in range(0, rest.size, chunk):
        at = points[rest[start : start + chunk]]
        near = [((at[:, None, :] - ref[None, :, :]) ** 2).sum(-1).min(axis=1) for ref in refs]
        pick[start : start + chunk] = np.argmin(np.stack(near), axis=0)
    out = []
    for k, core in enumerate(cores):
        grown = core.copy()
        grown[rest[pick == k]] = True
        out.append(grown)
    return out
