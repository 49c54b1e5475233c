"""Scene facts: the latest segmentation and depth turned into short, precomputed sentences a small
language model can repeat rather than reason out (what is there, where, how far, which is nearest)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from ar_perception.runtime.msg import Msg
from ar_perception.runtime.node import Node, Outputs

__all__ = ["Scene", "SceneObject", "describe", "direction_phrase", "find_objects", "label_components", "plural"]

STRUCTURE = ("background", "unknown", "void", "floor", "wall", "ceiling")
_DIRECTION_PHRASES = {"left": "on the left", "right": "on the right", "centre": "straight ahead"}


def direction_phrase(direction: str) -> str:
    """How a sentence says an object's `direction` (left, right, centre): "on the left", "straight ahead"."""
    return _DIRECTION_PHRASES.get(direction, direction)


def plural(noun: str, n: int) -> str:
    """`noun` as said of `n` things: "box" for one, "boxes" for two."""
    if n == 1:
        return noun
    return noun + "es" if noun.endswith(("s", "x", "sh", "ch")) else noun + "s"


def label_components(mask: np.ndarray) -> tuple[np.ndarray, int]:
    """8-connected components of a boolean (H, W) grid: (labels int32 with 0 = none, count)."""
    h, w = mask.shape
    parent: list[int] = [0]

    def find(a: int) -> int:
        while parent[a] != a:
            parent[a] = parent[parent[a]]
            a = parent[a]
        return a

    runs: list[tuple[int, int, int, int]] = []  # (row, start, end exclusive, run id)
    prev: list[tuple[int, int, int]] = []
    padded = np.zeros((h, w + 2), np.int8)
    padded[:, 1:-1] = mask
    edges = np.diff(padded, axis=1)  # +1 where a run starts, -1 one past where it ends
    for r in range(h):
        starts = np.flatnonzero(edges[r] == 1)
        ends = np.flatnonzero(edges[r] == -1)
        cur = []
        for s, e in zip(starts.tolist(), ends.tolist(), strict=True):
            rid = len(parent)
            parent.append(rid)
            for ps, pe, pid in prev:
                if ps <= e and pe >= s:  # touching, diagonals included
                    ra, rb = find(rid), find(pid)
                    if ra != rb:
                        parent[max(ra, rb)] = min(ra, rb)
            cur.append((s, e, rid))
            runs.append((r, s, e, rid))
        prev = cur
    labels = np.zeros((h, w), np.int32)
    roots: dict[int, int] = {}
    for r, s, e, rid in runs:
        root = find(rid)
        labels[r, s:e] = roots.setdefault(root, len(roots) + 1)
    return labels, len(roots)


@dataclass
class SceneObject:
    cls: str
    distance_m: float  # median depth of the object's pixels
    bearing_deg: float  # + to the right of the optical axis
    elevation_deg: float  # + above the optical axis
    width_m: float
    height_m: float
    area: float  # share of the image
    box: tuple[int, int, int, int]  # u0, v0, u1, v1 pixels
    name: str = ""  # "chair 2" when there are several

    @property
    def direction(self) -> str:
        return "left" if self.bearing_deg < -_CENTRE_DEG else "right" if self.bearing_deg > _CENTRE_DEG else "centre"

    @property
    def vertical(self) -> str:
        return "up" if self.elevation_deg > _LEVEL_DEG else "down" if self.elevation_deg < -_LEVEL_DEG else "level"

    def sentence(self) -> str:
        return f"The {self.name} is {self.distance_m:.1f} metres away, {direction_phrase(self.direction)}."

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "class": self.cls,
            "distance_m": round(self.distance_m, 2),
            "direction": self.direction,
            "vertical": self.vertical,
            "bearing_deg": round(self.bearing_deg, 1),
            "elevation_deg": round(self.elevation_deg, 1),
            "width_m": round(self.width_m, 2),
            "height_m": round(self.height_m, 2),
            "area": round(self.area, 4),
            "box": list(self.box),
            "sentence": self.sentence(),
        }


_CENTRE_DEG = 10.0
_LEVEL_DEG = 12.0


def _intrinsics(camera: dict[str, Any] | None, w: int, h: int) -> tuple[float, float, float, float]:
    if camera:
        from ar_perception.geometry import scaled_intrinsics

        return scaled_intrinsics({"width": w, "height": h, **camera}, w, h)
    f = (w / 2) / math.tan(math.radians(30))  # no intrinsics: assume a 60 degree horizontal field of view
    return f, f, (w - 1) / 2, (h - 1) / 2


def _median_depth(depth: np.ndarray, sel: np.ndarray) -> float | None:
    d = depth[sel]
    d = d[np.isfinite(d) & (d > 0)]
    return float(np.median(d)) if d.size else None


def _box(sel: np.ndarray) -> tuple[int, int, int, int]:
    rows, cols = np.flatnonzero(sel.any(axis=1)), np.flatnonzero(sel.any(axis=0))
    return int(cols[0]), int(rows[0]), int(cols[-1]), int(rows[-1])


def _merge_parts(parts: list[tuple[np.ndarray, float]], gap: int = 2) -> list[tuple[np.ndarray, float]]:
    """Join pieces of one class that touch (within `gap` cells) at about the same depth: one object
    split by an occluder or by a part thinner than the grid (a lamp's pole)."""
    parts = sorted(parts, key=lambda p: -int(p[0].sum()))
    merged = True
    while merged and len(parts) > 1:
        merged = False
        for i in range(len(parts)):
            for j in range(i + 1, len(parts)):
                (a, za), (b, zb) = parts[i], parts[j]
                ba, bb = _box(a), _box(b)
                near = ba[0] - gap <= bb[2] and bb[0] - gap <= ba[2] and ba[1] - gap <= bb[3] and bb[1] - gap <= ba[3]
                if near and abs(za - zb) < 0.25 + 0.05 * min(za, zb):
                    union = a | b
                    parts[i] = (union, (za * a.sum() + zb * b.sum()) / union.sum())
                    del parts[j]
                    merged = True
                    break
            if merged:
                break
    return parts


def find_objects(
    labels: np.ndarray,
    depth: np.ndarray,
    classes: Sequence[str],
    camera: dict[str, Any] | None = None,
    *,
    ignore: Sequence[str] = STRUCTURE,
    min_area: float = 0.002,
    grid: int = 128,
) -> list[SceneObject]:
    """Objects (connected regions of one class with valid depth) sorted by distance, nearest first."""
    h, w = depth.shape
    if labels.shape != depth.shape:  # nearest-neighbour resample of the class ids onto the depth grid
        ys = (np.arange(h) * labels.shape[0] // h)[:, None]
        xs = (np.arange(w) * labels.shape[1] // w)[None, :]
        labels = labels[ys, xs]
    fx, fy, cx, cy = _intrinsics(camera, w, h)
    step = max(1, math.ceil(max(h, w) / grid))
    lab = labels[::step, ::step]  # (h/step, w/step): components on a coarse grid, fast in pure numpy
    dep = depth[::step, ::step]
    vv, uu = np.mgrid[0 : lab.shape[0], 0 : lab.shape[1]]
    uu, vv = uu * step + (step - 1) / 2, vv * step + (step - 1) / 2  # pixel coordinates of the cell centres
    total = lab.size
    found: list[SceneObject] = []
    for cid in np.unique(lab).tolist():
        name = classes[cid] if 0 <= cid < len(classes) else f"class {cid}"
        if name in ignore:
            continue
        comp, n = label_components(lab == cid)
        parts = []
        for k in range(1, n + 1):
            sel = comp == k
            z = _median_depth(dep, sel)
            if z is not None:
                parts.append((sel, z))
        for sel, z in _merge_parts(parts):
            if sel.sum() < min_area * total:
                continue
            uc, vc = float(np.median(uu[sel])), float(np.median(vv[sel]))
            # the extent at full resolution: the class's pixels in the region's box, one grid cell around
            gu0, gv0, gu1, gv1 = _box(sel)
            r0, c0 = max(gv0 - 1, 0) * step, max(gu0 - 1, 0) * step
            rows, cols = np.nonzero(labels[r0 : (gv1 + 2) * step, c0 : (gu1 + 2) * step] == cid)
            v0, v1 = np.percentile(rows + r0, [1, 99])
            u0, u1 = np.percentile(cols + c0, [1, 99])
            found.append(
                SceneObject(
                    cls=name,
                    distance_m=z,
                    bearing_deg=math.degrees(math.atan2(uc - cx, fx)),
                    elevation_deg=math.degrees(math.atan2(cy - vc, fy)),
                    width_m=(u1 - u0 + 1) * z / fx,
                    height_m=(v1 - v0 + 1) * z / fy,
                    area=sel.sum() / total,
                    box=(int(u0), int(v0), int(u1) + 1, int(v1) + 1),
                )
            )
    found.sort(key=lambda o: o.distance_m)
    counts: dict[str, int] = {}
    for o in found:
        counts[o.cls] = counts.get(o.cls, 0) + 1
    seen: dict[str, int] = {}
    for o in found:
        seen[o.cls] = seen.get(o.cls, 0) + 1
        o.name = o.cls if counts[o.cls] == 1 else f"{o.cls} {seen[o.cls]}"
    return found


def describe(objects: list[SceneObject], classes: Sequence[str], ignore: Sequence[str] = STRUCTURE) -> str:
    """The facts, one per line: what is in view, the nearest, each object, left-to-right order, what is not."""
    if not objects:
        return "No objects in view."
    counts: dict[str, int] = {}
    for o in objects:
        counts[o.cls] = counts.get(o.cls, 0) + 1
    near = objects[0]
    lines = [
        "In view: " + ", ".join(f"{n} {plural(c, n)}" for c, n in counts.items()) + ".",
        f"Nearest: the {near.name}, {near.distance_m:.1f} m, {near.direction}.",
    ]
    for o in objects:
        lines.append(
            f"{o.name}: {o.distance_m:.1f} m away, {o.direction}, {o.vertical}, "
            f"{o.width_m:.1f} m wide, {o.height_m:.1f} m tall."
        )
    order = sorted(objects, key=lambda o: o.bearing_deg)
    lines.append("Left to right: " + ", ".join(o.name for o in order) + ".")
    absent = [c for c in classes if c not in counts and c not in ignore]
    if absent:
        lines.append("Not in view: " + ", ".join(absent) + ".")
    return "\n".join(lines)


class Scene(Node):
    """Mask + Depth (+ CameraInfo) -> Text facts about the objects in view.

    `meta.text` holds one fact per line; `meta.objects` the same as data (name, class, distance_m, direction,
    vertical, bearing_deg, width_m, height_m, sentence), nearest first; `meta.classes` all known classes.
    It answers when it holds a mask and a depth captured within `max_skew_ms` of each other.
    """

    inputs = {"mask": "Mask", "depth": "Depth", "camera": "CameraInfo"}
    outputs = {"facts": "Text"}

    class Params(BaseModel):
        model_config = ConfigDict(extra="forbid")
        ignore: list[str] = Field(list(STRUCTURE), description="classes that are not objects (room structure)")
        min_area: float = Field(0.002, ge=0, lt=1, description="smaller regions (share of the image) are noise")
        max_skew_ms: float = Field(150.0, ge=0, description="mask and depth must be this close in capture time")
        grid: int = Field(128, ge=16, le=2048, description="regions are found on a grid this wide, at most")

    params: Params

    def setup(self) -> None:
        self._latest: dict[str, Msg] = {}
        self._last_pair: tuple[int, int] | None = None

    def on_input(self, name: str, msg: Msg) -> Outputs:
        self._latest[name] = msg
        mask, depth = self._latest.get("mask"), self._latest.get("depth")
        if name == "camera" or mask is None or depth is None:
            return None
        pair = (mask.capture_ns, depth.capture_ns)
        if pair == self._last_pair or abs(pair[0] - pair[1]) > self.params.max_skew_ms * 1e6:
            return None
        self._last_pair = pair
        return self.facts(mask, depth, self._latest.get("camera"))

    def on_sync(self, msgs: dict[str, Msg]) -> Outputs:
        if "camera" in msgs:
            self._latest["camera"] = msgs["camera"]
        return self.facts(msgs["mask"], msgs["depth"], self._latest.get("camera"))

    def facts(self, mask: Msg, depth: Msg, camera: Msg | None) -> dict[str, Msg]:
        classes = list(mask.meta.get("classes") or [])
        cam = dict(camera.meta) if camera is not None else None
        objects = find_objects(
            np.asarray(mask.data),
            np.asarray(depth.data, np.float32),
            classes,
            cam,
            ignore=self.params.ignore,
            min_area=self.params.min_area,
            grid=self.params.grid,
        )
        text = describe(objects, classes, self.params.ignore)
        newer = mask if mask.capture_ns >= depth.capture_ns else depth
        return {
            "facts": newer.derive(
                "Text",
                {
                    "text": text,
                    "objects": [o.as_dict() for o in objects],
                    "classes": [c for c in classes if c not in self.params.ignore],
                },
            )
        }
