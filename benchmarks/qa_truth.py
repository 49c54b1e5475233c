"""What is true in a simulated frame, for the scene-QA benchmark: computed from the simulator's own ground truth,
with no code from ar_perception.qa or the scene/vqa nodes.

From a SimFrame (instance and class masks, z-depth, intrinsics, pose) and its SimScene (parts, materials, object
boxes), `GroundTruth.frame` gives a `FrameTruth`: every instance that covers at least FAINT_AREA of the image,
with its class, share of the image, median depth and range, bearing, 3-D extent in the camera frame, world box
and colour. The colour comes from the materials, not the rendered pixels: each pixel's surface is found by a ray
cast of its own against the scene's parts, its albedo is the material's base colour blended by the material's
pattern (no light, no noise), and that albedo is named under PALETTE (nearest in CIELAB). An object's colour is
the name most of its pixels get; the names a correct answer may use are those of that albedo under dimmer,
brighter and warmer light (the renderer's light varies), so that the system is judged on the colour, not on a
hair-splitting boundary of this palette, and the names a person gives the material's base colour (sim_colours.py,
a table written by hand, which scene_model.py judges by too: a pale pink paint is "white" to PALETTE, "pink" or
"beige" to a person).

Two thresholds make the truth tolerant where perception honestly cannot be sure: an instance is *clearly*
visible from CLEAR_AREA of the image, *at all* from FAINT_AREA. Counts are ranges (clear .. any); questions are
only asked where the truth is not in between (qa_questions.py).
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
from sim_colours import names_of

from ar_perception.sim import SimFrame, SimSource
from ar_perception.sim.materials import PLAIN, pattern_blend
from ar_perception.sim.primitives import open3d_module, part_mesh

__all__ = [
    "CLEAR_AREA",
    "FAINT_AREA",
    "OBJECT_CLASSES",
    "STRUCTURE_CLASSES",
    "PALETTE",
    "COLOUR_WORDS",
    "AHEAD_DEG",
    "colour_name",
    "compatible_colours",
    "directions_for",
    "ColourTruth",
    "TruthObject",
    "FrameTruth",
    "GroundTruth",
    "with_earlier_colours",
]

CLEAR_AREA = 0.005  # share of the image: an instance this large is clearly visible (must be reported)
FAINT_AREA = 0.0005  # ... this large is visible at all (may be reported); smaller: not in view
OBJECT_CLASSES = ("table", "chair", "box", "ball", "shelf", "lamp", "plant", "person")
STRUCTURE_CLASSES = ("wall", "floor", "ceiling")
AHEAD_DEG = 10.0  # |bearing| up to this is "ahead" (the meaning of the word, as the issue and qa/model.py state it)
_DIRECTION_SLACK_DEG = 4.0  # near a boundary both words are right
CLEAR_COLOUR_SHARE = 0.6  # an object "has a colour" when this share of its pixels is named so
PRESENT_COLOUR_SHARE = 0.08  # a colour on this share of an object's pixels is on the object (not a made-up colour)

# Named colours (sRGB in [0, 1]), compared in CIELAB. The benchmark's own palette, not the system's.
PALETTE: dict[str, tuple[float, float, float]] = {
    "red": (0.80, 0.12, 0.10),
    "orange": (0.95, 0.50, 0.10),
    "yellow": (0.95, 0.85, 0.15),
    "green": (0.20, 0.55, 0.20),
    "teal": (0.10, 0.55, 0.55),
    "blue": (0.15, 0.30, 0.80),
    "purple": (0.50, 0.20, 0.60),
    "pink": (0.95, 0.55, 0.70),
    "brown": (0.50, 0.32, 0.18),
    "beige": (0.85, 0.75, 0.58),
    "white": (0.95, 0.95, 0.93),
    "grey": (0.55, 0.55, 0.55),
    "black": (0.10, 0.10, 0.10),
}
# Words an answer may use for a colour -> the palette names each may mean.
COLOUR_WORDS: dict[str, frozenset[str]] = {
    **{name: frozenset({name}) for name in PALETTE},
    "gray": frozenset({"grey"}),
    "silver": frozenset({"grey", "white"}),
    "charcoal": frozenset({"grey", "black"}),
    "cream": frozenset({"white", "beige"}),
    "ivory": frozenset({"white", "beige"}),
    "tan": frozenset({"beige", "brown"}),
    "khaki": frozenset({"beige", "brown"}),
    "gold": frozenset({"yellow", "orange", "brown", "beige"}),
    "golden": frozenset({"yellow", "orange", "brown", "beige"}),
    "maroon": frozenset({"red", "brown"}),
    "crimson": frozenset({"red"}),
    "scarlet": frozenset({"red"}),
    "navy": frozenset({"blue"}),
    "turquoise": frozenset({"teal", "blue", "green"}),
    "cyan": frozenset({"teal", "blue"}),
    "aqua": frozenset({"teal", "blue"}),
    "olive": frozenset({"green", "brown"}),
    "lime": frozenset({"green", "yellow"}),
    "violet": frozenset({"purple"}),
    "magenta": frozenset({"pink", "purple"}),
    "lilac": frozenset({"purple", "pink", "white"}),
    "lavender": frozenset({"purple", "pink", "white"}),
}
_NAMES = tuple(PALETTE)
_LIGHT_SCALES = (0.7, 0.85, 1.0, 1.15)  # how much darker/brighter a lit surface looks: names a correct answer may use
_SHADOW_SCALES = (0.55,) + _LIGHT_SCALES  # ... a surface in shadow: names that are not made up
_LIGHT_TINTS = ((1.0, 1.0, 1.0), (1.0, 0.95, 0.85))  # neutral and the warmest light the sim uses
_NEAR_TIE_DE = 6.0  # a colour this close (Delta E) to the next palette entry may be called either
# Names next to each other on the colour wheel or in lightness: calling a colour by its neighbour is imprecise, not
# made up (a teal chair called blue). Used for what is on an object, not for what a correct answer says, except
# teal, which plain speech calls blue or green.
_NEIGHBOURS = {
    "red": {"orange", "pink", "brown"},
    "orange": {"red", "yellow", "brown"},
    "yellow": {"orange", "beige"},
    "green": {"teal"},
    "teal": {"blue", "green"},
    "blue": {"teal", "purple"},
    "purple": {"blue", "pink"},
    "pink": {"red", "purple"},
    "brown": {"orange", "beige", "black"},
    "beige": {"white", "brown", "yellow"},
    "white": {"grey", "beige"},
    "grey": {"white", "black"},
    "black": {"grey", "brown"},
}
for _name, _next_to in list(_NEIGHBOURS.items()):  # neighbours both ways (brown was red's, red not brown's)
    for _other in _next_to:
        _NEIGHBOURS[_other].add(_name)
_ALSO_CALLED = {"teal": {"blue", "green"}}


def _lab(rgb: np.ndarray) -> np.ndarray:
    """CIELAB (L 0..100) of sRGB values in [0, 1], shape (..., 3)."""
    import cv2

    a = np.clip(np.asarray(rgb, np.float32), 0.0, 1.0).reshape(-1, 1, 3)
    return cv2.cvtColor(a, cv2.COLOR_RGB2Lab).reshape(np.shape(rgb))


_PALETTE_LAB = _lab(np.array([PALETTE[n] for n in _NAMES]))


def _distances(rgb: np.ndarray) -> np.ndarray:
    """Delta E (CIE76) of each colour (N, 3) to each palette entry: (N, len(PALETTE))."""
    lab = _lab(np.asarray(rgb, np.float32).reshape(-1, 3))
    return np.linalg.norm(lab[:, None, :] - _PALETTE_LAB[None, :, :], axis=2)


def colour_name(rgb: tuple[float, float, float] | np.ndarray) -> str:
    """The palette name of one sRGB colour in [0, 1]."""
    return _NAMES[int(np.argmin(_distances(np.asarray(rgb))[0]))]


def compatible_colours(rgb: tuple[float, float, float] | np.ndarray, shadow: bool = False) -> frozenset[str]:
    """Names a surface of albedo `rgb` may truthfully be given: its name under the light range of the sim (with
    `shadow`, in shadow too), and the runner-up where the two are about equally close."""
    base = np.asarray(rgb, np.float64)
    scales = _SHADOW_SCALES if shadow else _LIGHT_SCALES
    variants = np.array([base * k * np.asarray(tint) for k in scales for tint in _LIGHT_TINTS])
    d = _distances(variants)
    out = {_NAMES[int(i)] for i in np.argmin(d, axis=1)}
    d0 = np.sort(_distances(base)[0])
    order = np.argsort(_distances(base)[0])
    if d0[1] - d0[0] < _NEAR_TIE_DE:
        out.add(_NAMES[int(order[1])])
    return frozenset(out)


def directions_for(bearing_deg: float) -> frozenset[str]:
    """left / ahead / right words true of an object at `bearing_deg` (+ right), both near a boundary."""
    out = set()
    for b in (bearing_deg - _DIRECTION_SLACK_DEG, bearing_deg + _DIRECTION_SLACK_DEG):
        out.add("left" if b < -AHEAD_DEG else "right" if b > AHEAD_DEG else "ahead")
    return frozenset(out)


@dataclass(frozen=True)
class ColourTruth:
    primary: str | None  # the name most of the object's pixels have
    share: float  # the share of the object's pixels named `primary`
    accepted: frozenset[str]  # names a correct answer may give
    present: frozenset[str]  # names of colours really on the object (anything else is made up)

    @property
    def clear(self) -> bool:
        return self.primary is not None and self.share >= CLEAR_COLOUR_SHARE


@dataclass(frozen=True)
class TruthObject:
    instance: int  # the simulator's instance id
    cls: str
    structure: bool
    area: float  # share of the image
    distance_m: float  # median z-depth of its pixels
    range_m: float  # median distance along the ray
    bearing_deg: float  # + right of the optical axis (median pixel column)
    centroid_cam: tuple[float, float, float]  # median of its pixels' points, camera frame (x right, y down)
    extent_cam: tuple[float, float, float]  # 2nd-98th percentile span of its points along camera x, y, z
    touches_border: bool  # cut by the image edge: its visible extent is not its size
    colour: ColourTruth
    world_min: tuple[float, float, float] | None = None  # the whole object's box in the world (objects only)
    world_max: tuple[float, float, float] | None = None

    @property
    def clear(self) -> bool:
        return self.area >= CLEAR_AREA

    @property
    def directions(self) -> frozenset[str]:
        return directions_for(self.bearing_deg)

    @property
    def world_centre(self) -> np.ndarray | None:
        if self.world_min is None or self.world_max is None:
            return None
        return (np.asarray(self.world_min) + np.asarray(self.world_max)) / 2


@dataclass
class FrameTruth:
    """The instances visible (at least FAINT_AREA) in one frame, structure included."""

    seed: int
    time_s: float
    pose: np.ndarray  # camera-to-world
    objects: list[TruthObject] = field(default_factory=list)
    # Colours each instance showed in the frames before this one on the path (`with_earlier_colours`): a colour
    # of a part out of view now (a lamp's shade above the image) is still on the object, so not made up.
    earlier: dict[int, frozenset[str]] = field(default_factory=dict)

    def of_class(self, cls: str, clear: bool = False) -> list[TruthObject]:
        """Instances of `cls` ("*": every object, no structure), nearest first."""
        if cls == "*":
            return [o for o in self.objects if not o.structure and (o.clear or not clear)]
        return [o for o in self.objects if o.cls == cls and (o.clear or not clear)]

    def count_range(self, cls: str, direction: str | None = None) -> tuple[int, int]:
        """(instances clearly visible, instances visible at all) of `cls` ("*": all objects): a true count lies in
        between. With a `direction` (left / ahead / right of the viewer): of the instances there (at least those
        clearly visible and only there, at most those visible and possibly there)."""
        if direction is None:
            return len(self.of_class(cls, clear=True)), len(self.of_class(cls))
        sure = [o for o in self.of_class(cls, clear=True) if o.directions == {direction}]
        return len(sure), len([o for o in self.of_class(cls) if direction in o.directions])

    def visible_classes(self) -> set[str]:
        return {o.cls for o in self.objects}

    def clear_classes(self, structure: bool = False) -> set[str]:
        return {o.cls for o in self.objects if o.clear and (structure or not o.structure)}

    def single(self, cls: str) -> TruthObject | None:
        """The one instance of `cls` when exactly one is visible (and clearly), else None."""
        objs = self.of_class(cls)
        return objs[0] if len(objs) == 1 and objs[0].clear else None

    def class_colours(self, cls: str) -> frozenset[str]:
        """Colours really on some visible instance of `cls`: on its part in view, or on the parts of it that
        earlier frames of the path showed (`earlier`)."""
        return frozenset(c for o in self.of_class(cls) for c in o.colour.present | self.earlier.get(o.instance, set()))

    def summary(self) -> dict[str, Any]:
        return {
            c: list(self.count_range(c))
            for c in sorted(self.visible_classes(), key=lambda c: (c in STRUCTURE_CLASSES, c))
        }


def with_earlier_colours(truths: list[FrameTruth]) -> FrameTruth:
    """The last of `truths` (frames of one path, in order), knowing the colours its objects showed in all of them."""
    seen: dict[int, frozenset[str]] = {}
    for t in truths:
        for o in t.objects:
            seen[o.instance] = seen.get(o.instance, frozenset()) | o.colour.present
    last = truths[-1]
    return replace(last, earlier={o.instance: seen[o.instance] for o in last.objects})


class GroundTruth:
    """The truth about frames of one SimSource: a ray cast of its own against the scene's parts gives, per pixel,
    the part hit (and so the material) independently of the renderer's bookkeeping."""

    def __init__(self, source: SimSource):
        o3d = open3d_module()
        self.seed = source.seed
        self.scene = source.scene
        parts = self.scene.parts
        meshes = [part_mesh(p) for p in parts]
        offsets = np.cumsum([0] + [len(v) for v, _ in meshes])[:-1]
        verts = np.concatenate([v for v, _ in meshes])
        tris = np.concatenate([f + np.uint32(o) for (_, f), o in zip(meshes, offsets, strict=True)])
        self._tri_part = np.concatenate([np.full(len(f), i, np.intp) for i, (_, f) in enumerate(meshes)])
        self._rc = o3d.t.geometry.RaycastingScene()
        self._rc.add_triangles(o3d.core.Tensor(verts), o3d.core.Tensor(tris))
        self._o3d = o3d
        self._instance = np.array([p.instance_id for p in parts], np.int64)
        self._pattern = np.array([p.material.pattern for p in parts], np.int64)
        self._ca = np.array([p.material.color_a for p in parts], np.float32)
        self._cb = np.array([p.material.color_b for p in parts], np.float32)
        self._scale = np.array([p.material.scale for p in parts], np.float32)
        self._centre = np.array([p.center for p in parts], np.float32)
        self._yaw = np.array([p.yaw for p in parts], np.float32)
        self._boxes = {o.instance_id: (o.aabb_min, o.aabb_max) for o in self.scene.objects}
        k = source.intrinsics
        self.fx, self.fy, self.cx, self.cy, self.w, self.h = k.fx, k.fy, k.cx, k.cy, k.width, k.height
        u = (np.arange(self.w) - self.cx) / self.fx
        v = (np.arange(self.h) - self.cy) / self.fy
        self._dirs = np.stack(np.broadcast_arrays(u[None, :], v[:, None], np.ones((1, 1))), axis=-1).reshape(-1, 3)

    def _albedo(self, pose: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(part index per pixel, -1 for none: (H, W); base albedo per pixel (H, W, 3), no light, no noise)."""
        d = self._dirs @ np.asarray(pose[:3, :3], np.float64).T  # world directions, camera z = 1
        origin = np.asarray(pose[:3, 3], np.float64)
        rays = np.concatenate([np.broadcast_to(origin, d.shape), d], axis=1).astype(np.float32)
        hits = self._rc.cast_rays(self._o3d.core.Tensor(rays))
        t = hits["t_hit"].numpy()
        hit = np.isfinite(t)
        part = np.full(t.shape, -1, np.intp)
        part[hit] = self._tri_part[hits["primitive_ids"].numpy()[hit].astype(np.intp)]
        albedo = np.zeros((t.size, 3), np.float32)
        idx = np.flatnonzero(hit)
        g = part[idx]
        albedo[idx] = self._ca[g]
        patterned = idx[self._pattern[g] != PLAIN]
        if patterned.size:
            gp = part[patterned]
            p = origin + d[patterned] * t[patterned, None]  # hit points (z-depth along camera z = 1 rays)
            rx, ry = p[:, 0] - self._centre[gp, 0], p[:, 1] - self._centre[gp, 1]
            c, s = np.cos(self._yaw[gp]), np.sin(self._yaw[gp])
            lx, ly, lz = c * rx + s * ry, c * ry - s * rx, p[:, 2] - self._centre[gp, 2]
            f = np.zeros(patterned.size, np.float32)
            for pat in np.unique(self._pattern[gp]).tolist():
                sel = self._pattern[gp] == pat
                f[sel] = pattern_blend(
                    pat,
                    lx[sel].astype(np.float32),
                    ly[sel].astype(np.float32),
                    lz[sel].astype(np.float32),
                    self._scale[gp[sel]],
                )
            darken = 1.0 - np.clip(f - 1.0, 0.0, 1.0)  # blend weights past 1 are grout and seams
            w = np.clip(f, 0.0, 1.0)[:, None]
            albedo[patterned] = (self._ca[gp] + (self._cb[gp] - self._ca[gp]) * w) * darken[:, None]
        return part.reshape(self.h, self.w), albedo.reshape(self.h, self.w, 3)

    def frame(self, f: SimFrame) -> FrameTruth:
        part, albedo = self._albedo(f.pose)
        inst = np.where(part >= 0, self._instance[np.maximum(part, 0)], 0)
        agree = float((inst == f.instances).mean())
        if agree < 0.99:  # the truth must describe the frame the system sees
            raise RuntimeError(
                f"seed {self.seed}, t={f.time:g}: the truth's ray cast agrees with the rendered instance mask on "
                f"{agree:.1%} of pixels (expected >= 99%)"
            )
        names = np.full(part.shape, -1, np.intp)
        hit = part >= 0
        names[hit] = np.argmin(_distances(albedo[hit]), axis=1)
        total = f.instances.size
        depth = np.asarray(f.depth, np.float64)
        vv, uu = np.mgrid[0 : self.h, 0 : self.w]
        out = FrameTruth(self.seed, float(f.time), np.asarray(f.pose))
        for iid, n in zip(*np.unique(f.instances, return_counts=True), strict=True):
            if iid == 0 or n < FAINT_AREA * total:
                continue
            sel = (f.instances == iid) & (depth > 0)
            if not sel.any():
                continue
            cls = f.class_names[int(np.bincount(f.labels[sel]).argmax())]
            z = depth[sel]
            x = (uu[sel] - self.cx) * z / self.fx
            y = (vv[sel] - self.cy) * z / self.fy
            lo, hi = np.percentile(np.stack([x, y, z]), [2, 98], axis=1)
            box = self._boxes.get(int(iid))
            out.objects.append(
                TruthObject(
                    instance=int(iid),
                    cls=cls,
                    structure=cls in STRUCTURE_CLASSES,
                    area=float(n / total),
                    distance_m=float(np.median(z)),
                    range_m=float(np.median(np.sqrt(x * x + y * y + z * z))),
                    bearing_deg=math.degrees(math.atan2(float(np.median(uu[sel])) - self.cx, self.fx)),
                    centroid_cam=(float(np.median(x)), float(np.median(y)), float(np.median(z))),
                    extent_cam=tuple(float(v) for v in hi - lo),  # type: ignore[arg-type]
                    touches_border=bool(sel[0].any() or sel[-1].any() or sel[:, 0].any() or sel[:, -1].any()),
                    colour=_colour_truth(names[sel], albedo[sel]),
                    world_min=None if box is None else _xyz(box[0]),
                    world_max=None if box is None else _xyz(box[1]),
                )
            )
        out.objects.sort(key=lambda o: o.distance_m)
        return out


def _xyz(v: Any) -> tuple[float, float, float]:
    return float(v[0]), float(v[1]), float(v[2])


def _colour_truth(names: np.ndarray, albedo: np.ndarray) -> ColourTruth:
    """An object's colour from its pixels' palette indices and albedos."""
    keep = names >= 0
    names, albedo = names[keep], albedo[keep]
    if names.size == 0:
        return ColourTruth(None, 0.0, frozenset(), frozenset())
    counts = Counter(names.tolist())
    total = names.size
    top, n_top = counts.most_common(1)[0]
    present: set[str] = set()
    accepted: frozenset[str] = frozenset()
    for i, n in counts.items():
        if n / total < PRESENT_COLOUR_SHARE:
            continue
        mean = albedo[names == i].mean(axis=0)
        # and what a person calls the material's colour (sim_colours' table, written by hand): a pale pink paint
        # is "white" to PALETTE's nearest entry, "pink" or "beige" to a person
        said = set(names_of(mean, strict=True))
        here = compatible_colours(mean, shadow=True) | {_NAMES[i]}
        present |= here.union(*(_NEIGHBOURS[n] for n in here)) | said  # a person's names, not their neighbours
        if i == top:
            accepted = compatible_colours(mean) | {_NAMES[i]} | _ALSO_CALLED.get(_NAMES[i], set()) | said
    return ColourTruth(_NAMES[top], n_top / total, accepted, frozenset(present))
