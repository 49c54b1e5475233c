"""The typed scene model: the objects perception found, not pixels.

Built from one frame's Mask + Depth (+ Image for colour, + CameraInfo; with a pose in CameraInfo the objects
get world coordinates). Regions of one class become separate instances where they are not connected or
where depth jumps between them. Structure classes (wall, floor, ceiling) are in the model too, flagged, so
that "how far is the wall?" has an answer; classes that are no surface (background, unknown, void) are not.

Coordinates: camera frame x right, y down, z forward (metres), or the world frame of the camera pose when
`frame == "world"`. `direction` is always relative to the camera at the time of the model.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Literal

import numpy as np

from ar_perception.errors import ArpError
from ar_perception.qa.colour import colour_name, srgb_to_lab
from ar_perception.qa.hues import ONE_COLOUR, colour_parts_and_cores
from ar_perception.qa.regions import find_regions, intrinsics, objects_spanned, pixels_of
from ar_perception.qa.stacks import STACKABLE, layers

__all__ = [
    "STRUCTURE",
    "NOT_SURFACES",
    "AHEAD_DEG",
    "ONE_AT_MOST_M",
    "SceneObject",
    "SceneModel",
    "build_scene_model",
    "direction_of",
    "vocabulary",
    "named",
]

STRUCTURE = ("wall", "floor", "ceiling")  # in the model, flagged `structure`, not counted as "objects"
NOT_SURFACES = ("background", "unknown", "void")  # never in the model

# The largest one object of a class is, (height, across) in metres: common household sizes with a margin (a
# dining chair is up to 1.1 m tall and 0.7 m across its footprint's diagonal). The box's height (0.62 m) and the
# shelf's width (1.3 m) are fitted to the simulator on the tuning seeds of benchmarks/scene_qa.py (its boxes are
# at most 0.6 m tall, its bookcases at most about 1.26 m across): 0.7 let two low boxes stacked pass for one, and
# two bookcases side by side were one. Real bookcases can be wider (1.5 m): counted "at least two" there. A floor
# lamp's shade and foot are at most about 0.6 m across: two lamps whose shades touch in the image, one behind the
# other, are one region 1 m or more deep (an arc lamp reaches further: "at least two" there).
# A region bigger than that is several objects that touch (stacked boxes, chairs side by side at a table), and is
# counted as at least as many as it takes to span it. Classes not listed have no bound.
ONE_AT_MOST_M: dict[str, tuple[float, float]] = {
    "chair": (1.2, 0.95),
    "box": (0.62, 1.0),
    "ball": (0.7, 0.8),
    "shelf": (2.5, 1.3),
    "lamp": (2.0, 0.75),
}

# How far apart one object's legs stand, at most (a dining table up to 1.8 m long): a leg or a row of legs seen
# without the rest (the table's top out of the image) is part of the nearest piece of its class within that.
LEG_REACH_M: dict[str, float] = {"table": 1.6}

# Objects that stand side by side in rows (bookcases along a wall): two of one shade, seen at a slant, are one region
# with no depth step between them, so a region cut by the image's left or right edge may hold more than one, like a
# pile of boxes cut by any edge (`SceneObject.more`; with or without `stacks`). A bookcase cut only by the top or
# bottom edge (a tall one, near) is one.
IN_ROWS = ("shelf",)

# Objects with parts at different heights, a lower one of which may be seen beside a higher one past a depth step
# (a chair seen from behind, close: its seat beside its back). Not boxes or balls: one of those beside and below
# another is another.
LOW_PARTS = ("chair",)

Direction = Literal["left", "ahead", "right"]
AHEAD_DEG = 10.0  # |bearing| up to this is "ahead"


def direction_of(bearing_deg: float) -> Direction:
    """left / ahead / right of a bearing (degrees, + to the right)."""
    return "left" if bearing_deg < -AHEAD_DEG else "right" if bearing_deg > AHEAD_DEG else "ahead"


@dataclass(frozen=True)
class SceneObject:
    name: str  # "chair" when it is the only one of its class in the model, else "chair 2" (2nd nearest)
    cls: str
    instance: int  # 1-based within its class, nearest first
    structure: bool  # wall, floor, ceiling
    area_px: int  # pixels of the mask (at the mask's resolution)
    area: float  # share of the image
    centroid_m: tuple[float, float, float]  # in `SceneModel.frame`
    extent_m: tuple[float, float, float]  # width (x), height (y), depth (z) of the visible part, metres
    distance_m: float  # median depth of its pixels, from the camera
    bearing_deg: float  # + to the right: of the optical axis (in view), of the way the camera faces (remembered)
    elevation_deg: float  # + above the optical axis
    direction: Direction  # left / ahead / right of the camera (|bearing| <= 10 degrees: ahead)
    colour: str | None  # a palette name measured from the image, None without an image
    first_seen_s: float  # capture time (seconds, graph clock) it was first seen; the model's time for one frame
    last_seen_s: float
    box: tuple[int, int, int, int] | None = None  # u0, v0, u1, v1 (exclusive) pixels in the depth image, when seen
    at_least: int = 1  # how many objects of its class it is at least: > 1 when too big to be one (`ONE_AT_MOST_M`)
    more: bool = False  # there may be more objects in it than `at_least`: a box pile or shelves in a row, at the edge
    # how far its lowest and highest visible points lie below and above its centroid along the world's up, metres
    # (the centroid leans to where most pixels are: a lamp's shade); None: half its height both ways
    span_up_m: tuple[float, float] | None = None
    # its lowest part may be out of view: its pixels reach the image's lower edge, or below most of it in the image is
    # something nearer (a person behind a box)
    bottom_hidden: bool = False

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> SceneObject:
        box, span = d.get("box"), d.get("span_up_m")
        return cls(
            **{
                **d,
                "centroid_m": tuple(d["centroid_m"]),
                "extent_m": tuple(d["extent_m"]),
                "box": tuple(box) if box is not None else None,
                "span_up_m": tuple(span) if span is not None else None,
            }
        )


@dataclass
class SceneModel:
    objects: list[SceneObject]  # nearest first
    classes: list[str]  # every class perception can name (the vocabulary questions are checked against)
    frame: Literal["camera", "world"] = "camera"
    time_s: float = 0.0  # capture time of the newest frame it holds
    in_view: list[str] = field(default_factory=list)  # names of the objects in the current frame (memory: subset)

    def of_class(self, cls: str) -> list[SceneObject]:
        return [o for o in self.objects if o.cls == cls]

    def visible(self) -> list[SceneObject]:
        """The objects in the current frame: all of a camera-frame model, those `in_view` of a memory."""
        if self.frame == "camera":
            return list(self.objects)
        names = set(self.in_view)
        return [o for o in self.objects if o.name in names]

    def as_dict(self) -> dict[str, Any]:
        return {
            "objects": [o.as_dict() for o in self.objects],
            "classes": list(self.classes),
            "frame": self.frame,
            "time_s": self.time_s,
            "in_view": list(self.in_view),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> SceneModel:
        return cls(
            objects=[SceneObject.from_dict(o) for o in d.get("objects", [])],
            classes=list(d.get("classes", [])),
            frame=d.get("frame", "camera"),
            time_s=float(d.get("time_s", 0.0)),
            in_view=list(d.get("in_view", [])),
        )


def named(objects: list[SceneObject]) -> list[SceneObject]:
    """`objects` (nearest first) named by class: "chair" when it is the only one, else "chair 2" (2nd nearest)."""
    counts: dict[str, int] = {}
    for o in objects:
        counts[o.cls] = counts.get(o.cls, 0) + 1
    seen: dict[str, int] = {}
    out = []
    for o in objects:
        seen[o.cls] = seen.get(o.cls, 0) + 1
        out.append(replace(o, name=o.cls if counts[o.cls] == 1 else f"{o.cls} {seen[o.cls]}", instance=seen[o.cls]))
    return out


def _resample(a: np.ndarray, h: int, w: int) -> np.ndarray:
    """Nearest-neighbour resample of the first two axes of `a` onto (h, w)."""
    if a.shape[:2] == (h, w):
        return a
    ys = (np.arange(h) * a.shape[0] // h)[:, None]
    xs = (np.arange(w) * a.shape[1] // w)[None, :]
    return a[ys, xs]


def at_least(cls: str, points: np.ndarray, up: np.ndarray) -> int:
    """How many objects of `cls` the visible points (N, 3) must be at least: the height along `up` (a unit
    vector in the points' frame) and the widest span across it, each over the class's `ONE_AT_MOST_M`; 1 for a
    class without a bound."""
    if cls not in ONE_AT_MOST_M or len(points) < 2:
        return 1
    return objects_spanned(points, up, *ONE_AT_MOST_M[cls])


def _measure(
    cls: str,
    v: np.ndarray,
    u: np.ndarray,
    pts: np.ndarray,
    rgb: np.ndarray | None,
    up: np.ndarray,
    fxy: tuple[float, float, float, float],
    shape: tuple[int, int],
    core: np.ndarray,
) -> dict[str, Any]:
    """What one object's pixels (rows `v`, columns `u`; their points `pts` (N, 3)) say of it; its size, how many
    objects it is at least, and its lowest and highest points from `core` (a mask over them: the pixels that surely
    belong to it, not those that joined it by nearness)."""
    fx, fy, cx, cy = fxy
    lo, hi = np.percentile(pts[core], [1, 99], axis=0)
    dist = float(np.median(pts[:, 2]))
    pixel = np.array([dist / fx, dist / fy, 0.0])  # a pixel's width and height at that distance
    colour = None
    if rgb is not None:
        v0, u0 = int(v.min()), int(u.min())
        sel = np.zeros((int(v.max()) - v0 + 1, int(u.max()) - u0 + 1), bool)
        sel[v - v0, u - u0] = True
        inner = _interior(sel)
        patch = rgb[v0 : v0 + sel.shape[0], u0 : u0 + sel.shape[1]]
        colour = colour_name(patch[inner if inner.sum() >= 16 else sel])
    uc, vc = float(np.median(u)), float(np.median(v))
    centroid = np.median(pts, axis=0)
    heights = np.sort(pts[core] @ up)
    stray = min(3, (len(heights) - 1) // 2)  # a few stray pixels set aside, not a share (a lamp's pole is thin)
    low, high = heights[stray] - float(centroid @ up), heights[-1 - stray] - float(centroid @ up)
    return {
        "cls": cls,
        "at_least": at_least(cls, pts[core], up),
        "area": v.size / (shape[0] * shape[1]),
        "centroid_m": tuple(float(c) for c in centroid),
        "extent_m": tuple(float(e) for e in hi - lo + pixel),
        "span_up_m": (max(0.0, -float(low)), max(0.0, float(high))),
        "distance_m": dist,
        "bearing_deg": math.degrees(math.atan2(uc - cx, fx)),
        "elevation_deg": math.degrees(math.atan2(cy - vc, fy)),
        "colour": colour,
        "box": (int(u.min()), int(v.min()), int(u.max()) + 1, int(v.max()) + 1),
    }


def _bottom_hidden(
    v: np.ndarray, u: np.ndarray, depth: np.ndarray, labels: np.ndarray, is_object: np.ndarray, most: float = 0.5
) -> bool:
    """Whether an object's lowest part may be out of view: in at least `most` of the pixel columns where it reaches
    down to near its lowest row (the lowest tenth of its height in the image), what lies just below is the image's
    lower edge or another object nearer than it (`is_object`: per class id; not the floor in front of it)."""
    low = np.full(depth.shape[1], -1)
    np.maximum.at(low, u, v)
    bottom = int(low.max())
    band = max(2, (bottom - int(v.min()) + 1) // 10)
    cols = np.flatnonzero(low > bottom - band)
    rows = low[cols]
    edge = rows + 1 >= depth.shape[0]
    below = np.minimum(rows + 1, depth.shape[0] - 1)
    z_below, z_own = depth[below, cols], depth[rows, cols]
    ids = labels[below, cols].astype(np.int64)
    known = (ids >= 0) & (ids < len(is_object))
    other = known & is_object[np.where(known, ids, 0)] & (ids != labels[rows, cols]) if known.any() else known
    nearer = other & np.isfinite(z_below) & (z_below > 0) & (z_below < z_own - 0.05)
    return bool((edge | nearer).mean() >= most)


def _at_edge(box: tuple[int, int, int, int], w: int, h: int) -> bool:
    """Whether a pixel box (u0, v0, u1, v1; exclusive) touches the image's edge."""
    u0, v0, u1, v1 = box
    return u0 <= 0 or v0 <= 0 or u1 >= w or v1 >= h


def _at_side(box: tuple[int, int, int, int], w: int) -> bool:
    """Whether a pixel box (u0, v0, u1, v1; exclusive) touches the image's left or right edge."""
    return box[0] <= 0 or box[2] >= w


def _interior(sel: np.ndarray) -> np.ndarray:
    """The pixels of `sel` whose 4 neighbours are in it too (edges mix in the colour of what is behind)."""
    inner = sel.copy()
    inner[1:] &= sel[:-1]
    inner[:-1] &= sel[1:]
    inner[:, 1:] &= sel[:, :-1]
    inner[:, :-1] &= sel[:, 1:]
    return inner


def vocabulary(classes: Sequence[str]) -> list[str]:
    """The classes of a segmentation that a scene model names (questions are checked against these)."""
    return [c for c in classes if c not in NOT_SURFACES]


def build_scene_model(
    labels: np.ndarray,
    depth: np.ndarray,
    classes: Sequence[str],
    camera: Mapping[str, Any] | None = None,
    image: np.ndarray | None = None,
    time_s: float = 0.0,
    *,
    up: Sequence[float] | np.ndarray | None = None,
    min_area: float = 0.002,
    grid: int = 128,
    jump_rel: float = 0.1,
    jump_m: float = 0.1,
    join_m: float = 0.25,
    stacks: bool = True,
) -> SceneModel:
    """The scene model of one frame, in the camera frame.

    `labels` (H', W') class ids into `classes` (any resolution; resampled onto the depth's); `depth` (H, W)
    z-depth in metres, <= 0 or non-finite = none; `camera` CameraInfo metadata (fx, fy, cx, cy, width, height;
    without it a 60 degree horizontal view is assumed); `image` (H'', W'', 3) uint8 RGB of the same view, for
    colours; `time_s` the capture time; `up` the world's up direction in the camera frame (from the camera pose;
    without one, the camera is taken to be level: -y). Regions smaller than `min_area` (share of the image) are noise.
    Instances: see `regions.py` (`jump_rel`, `jump_m`: the depth step that separates two objects of one class;
    `join_m`: pieces this close in 3D are one object; with `stacks`, a region of a class in `stacks.STACKABLE` is
    split into the objects stacked in it and is `more` at the image's edge; a region of a class in `IN_ROWS` is
    `more` at its left or right edge, with or without `stacks`).
    """
    depth = np.asarray(depth, np.float32)
    if depth.ndim != 2:
        raise ArpError(f"build_scene_model: depth must be (H, W), got shape {depth.shape}")
    labels = np.asarray(labels)
    if labels.ndim != 2:
        raise ArpError(f"build_scene_model: labels must be (H, W) class ids, got shape {labels.shape}")
    if image is not None and (image.ndim != 3 or image.shape[2] != 3):
        raise ArpError(f"build_scene_model: image must be (H, W, 3) RGB, got shape {image.shape}")
    mask_px = labels.shape[0] * labels.shape[1]
    h, w = depth.shape
    labels = _resample(labels, h, w)
    rgb = _resample(image, h, w) if image is not None else None
    up_axis = np.array(up if up is not None else (0.0, -1.0, 0.0), np.float64)  # a copy: a pose may be read-only
    if up_axis.shape != (3,) or not np.isfinite(up_axis).all() or np.linalg.norm(up_axis) < 1e-6:
        raise ArpError(f"build_scene_model: up must be a finite 3-vector, got {up!r}")
    up_axis = up_axis / np.linalg.norm(up_axis)
    fx, fy, cx, cy = intrinsics(camera, w, h)
    step = max(1, math.ceil(max(h, w) / grid))
    cells_total = math.ceil(h / step) * math.ceil(w / step)
    regions = find_regions(
        labels,
        depth,
        classes,
        (fx, fy, cx, cy),
        step,
        skip=NOT_SURFACES,
        structure=STRUCTURE,
        min_cells=min_area * cells_total,
        jump_rel=jump_rel,
        jump_m=jump_m,
        join_m=join_m,
        up=up_axis,
        leg_reach=LEG_REACH_M,
        low_parts=LOW_PARTS,
        one_at_most=ONE_AT_MOST_M,
    )
    is_object = np.array([c not in STRUCTURE and c not in NOT_SURFACES for c in classes], bool)
    least = max(20, math.ceil(min_area * h * w))  # a stacked layer is an object: no smaller than a region may be
    measured = []
    for r, (v, u) in zip(
        regions, pixels_of(regions, labels, depth, step, jump_rel=jump_rel, jump_m=jump_m), strict=True
    ):
        if v.size == 0:
            continue
        cls = classes[r.class_id] if 0 <= r.class_id < len(classes) else f"class {r.class_id}"
        z = depth[v, u].astype(np.float64)
        pts = np.stack([(u - cx) / fx * z, (v - cy) / fy * z, z], axis=1)
        parts = [np.ones(v.size, bool)]  # one object, unless a stack of them (colours, where given, find seams)
        cores = parts  # what surely belongs to each: its size, and how many objects it is at least, measured on that
        if cls in STACKABLE and stacks:
            # pieces joined round an occluder (`maybe_more`) already say "one or more": no columns in them
            lab = srgb_to_lab(rgb[v, u]) if rgb is not None else None
            parts = cores = layers(v, u, pts, up_axis, lab, min_layer=least, by_column=not r.maybe_more)
        elif cls in ONE_COLOUR and rgb is not None:
            parts, cores = colour_parts_and_cores(v, u, pts, up_axis, rgb[v, u], min_part=least)
        for part, core in zip(parts, cores, strict=True):
            m = _measure(cls, v[part], u[part], pts[part], rgb, up_axis, (fx, fy, cx, cy), (h, w), core[part])
            # a pile's layers show only where its faces are seen whole, and a row's members only where both its ends
            # are in view: cut by the image's edge (a row: by its left or right edge), it may hold more
            m["more"] = (
                r.maybe_more  # pieces round an occluder: one object or more
                or (cls in STACKABLE and stacks and _at_edge(m["box"], w, h))
                or (cls in IN_ROWS and _at_side(m["box"], w))
            )
            m["bottom_hidden"] = _bottom_hidden(v[part], u[part], depth, labels, is_object)
            measured.append(m)
    objects = named(
        [
            SceneObject(
                name=m["cls"],
                instance=1,
                structure=m["cls"] in STRUCTURE,
                area_px=round(m["area"] * mask_px),
                direction=direction_of(m["bearing_deg"]),
                first_seen_s=float(time_s),
                last_seen_s=float(time_s),
                **m,
            )
            for m in sorted(measured, key=lambda m: m["distance_m"])
        ]
    )
    return SceneModel(
        objects=objects,
        classes=vocabulary(classes),
        frame="camera",
        time_s=float(time_s),
        in_view=[o.name for o in objects],
    )
