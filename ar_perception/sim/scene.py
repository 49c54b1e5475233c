"""Procedural indoor scenes: a closed room with furniture-like objects (built in furniture.py), laid out here.

World frame: metres, right-handed, z up. The floor is the plane z = 0, the room spans
x in [-W/2, W/2], y in [-D/2, D/2], z in [0, H], centred on the origin. Cameras move on a "free ring",
an ellipse around the centre at the `ring` semi-axes, kept clear of objects, so every trajectory of
a scene sees the same layout.

Instance ids: 0 = nothing, 1 = floor, 2 = ceiling, 3..6 = the four walls, 7.. = objects in the
order they were placed. Class ids index CLASS_NAMES.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ar_perception.errors import ArpError
from ar_perception.sim.classes import CLASS_IDS
from ar_perception.sim.furniture import BUILDERS, Built, Color, room
from ar_perception.sim.primitives import BOX, Part, part_mesh

__all__ = ["SimScene", "SimObject", "Light", "SCENE_PRESETS", "make_scene"]


# How many objects of each class a preset places: (min, max), both inclusive.
SCENE_PRESETS: dict[str, dict[str, tuple[int, int]]] = {
    "room": {
        "shelf": (1, 3),
        "table": (1, 2),
        "chair": (2, 5),
        "person": (1, 3),
        "lamp": (1, 3),
        "plant": (2, 4),
        "box": (2, 5),
        "ball": (2, 4),
    },
    "kitchen": {
        "shelf": (1, 1),
        "table": (1, 1),
        "chair": (3, 4),
        "person": (1, 2),
        "lamp": (0, 1),
        "plant": (1, 2),
        "box": (1, 2),
        "ball": (0, 1),
    },
    "living_room": {
        "shelf": (1, 2),
        "table": (1, 1),
        "chair": (1, 2),
        "person": (1, 1),
        "lamp": (1, 2),
        "plant": (2, 3),
        "box": (0, 2),
        "ball": (1, 2),
    },
    "office": {
        "shelf": (2, 3),
        "table": (1, 2),
        "chair": (2, 4),
        "person": (1, 2),
        "lamp": (1, 1),
        "plant": (1, 2),
        "box": (2, 4),
        "ball": (0, 1),
    },
    "empty": {},
}

_FIRST_OBJECT_INSTANCE = 7
_RING_CLEARANCE = 0.5  # metres between the camera ring and any object footprint


@dataclass(frozen=True)
class Light:
    """A point light with ambient fill; `color` tints the light, `gain` scales its diffuse term."""

    position: tuple[float, float, float]
    color: Color
    ambient: float
    gain: float
    falloff: float


@dataclass(frozen=True)
class SimObject:
    """A placed object: its base position on the floor (or on what it stands on), yaw, world AABB."""

    instance_id: int
    class_name: str
    position: tuple[float, float, float]
    yaw: float
    aabb_min: tuple[float, float, float]
    aabb_max: tuple[float, float, float]

    @property
    def class_id(self) -> int:
        return CLASS_IDS[self.class_name]

    def as_dict(self) -> dict[str, object]:
        return {
            "instance_id": self.instance_id,
            "class": self.class_name,
            "position": list(self.position),
            "yaw": self.yaw,
            "aabb_min": list(self.aabb_min),
            "aabb_max": list(self.aabb_max),
        }


@dataclass(frozen=True)
class SimScene:
    """A room (`size` = W, D, H metres), its parts with class and instance ids, objects and light."""

    seed: int
    preset: str
    size: tuple[float, float, float]
    ring: tuple[float, float]
    parts: tuple[Part, ...]
    objects: tuple[SimObject, ...]
    light: Light

    def as_dict(self) -> dict[str, object]:
        return {
            "seed": self.seed,
            "preset": self.preset,
            "room_size": list(self.size),
            "ring": list(self.ring),
            "light": {
                "position": list(self.light.position),
                "color": list(self.light.color),
                "ambient": self.light.ambient,
                "gain": self.light.gain,
            },
            "objects": [o.as_dict() for o in self.objects],
        }


# ---------------------------------------------------------------------------------------------------
# Layout

# Chance that an object is placed with its back against a wall (otherwise anywhere on the floor).
_WALL_CHANCE = {
    "shelf": 1.0,
    "lamp": 0.7,
    "plant": 0.5,
    "person": 0.25,
    "box": 0.4,
    "table": 0.4,
    "chair": 0.1,
    "ball": 0.1,
}


class _Layout:
    """Keeps footprints (AABBs on the floor) apart from each other, from the walls and from the ring."""

    def __init__(self, width: float, depth: float, ring: tuple[float, float]):
        self.w, self.d = width, depth
        a = np.linspace(0.0, 2.0 * math.pi, 256, endpoint=False)
        self.ring = np.stack([ring[0] * np.cos(a), ring[1] * np.sin(a)], axis=1)
        self.boxes: list[tuple[float, float, float, float]] = []

    @staticmethod
    def footprint(x: float, y: float, yaw: float, hx: float, hy: float) -> tuple[float, float, float, float]:
        c, s = abs(math.cos(yaw)), abs(math.sin(yaw))
        ex, ey = c * hx + s * hy, s * hx + c * hy
        return x - ex, y - ey, x + ex, y + ey

    def fits(self, fp: tuple[float, float, float, float], ignore: int | None = None, gap: float = 0.08) -> bool:
        x0, y0, x1, y1 = fp
        if x0 < -self.w / 2 + 0.01 or x1 > self.w / 2 - 0.01 or y0 < -self.d / 2 + 0.01 or y1 > self.d / 2 - 0.01:
            return False
        for i, (bx0, by0, bx1, by1) in enumerate(self.boxes):
            if i != ignore and x0 < bx1 + gap and bx0 < x1 + gap and y0 < by1 + gap and by0 < y1 + gap:
                return False
        dx = np.maximum(np.maximum(x0 - self.ring[:, 0], self.ring[:, 0] - x1), 0.0)
        dy = np.maximum(np.maximum(y0 - self.ring[:, 1], self.ring[:, 1] - y1), 0.0)
        return bool(np.min(dx * dx + dy * dy) >= _RING_CLEARANCE**2)

    def wall_pose(self, rng: np.random.Generator, hx: float, hy: float) -> tuple[float, float, float]:
        """A pose with the object's back (-y) against a random wall, facing into the room."""
        wall = int(rng.integers(4))
        normal = [(0.0, 1.0), (0.0, -1.0), (1.0, 0.0), (-1.0, 0.0)][wall]  # inward normal
        yaw = math.atan2(-normal[0], normal[1])
        along = (self.w if wall < 2 else self.d) / 2 - hx - 0.02
        t = rng.uniform(-along, along) if along > 0 else 0.0
        off = hy + 0.02
        if wall == 0:
            return t, -self.d / 2 + off, yaw
        if wall == 1:
            return t, self.d / 2 - off, yaw
        if wall == 2:
            return -self.w / 2 + off, t, yaw
        return self.w / 2 - off, t, yaw

    def free_pose(self, rng: np.random.Generator) -> tuple[float, float, float]:
        return rng.uniform(-self.w / 2, self.w / 2), rng.uniform(-self.d / 2, self.d / 2), rng.uniform(0, 2 * math.pi)


def _aabb(parts: list[Part]) -> tuple[tuple[float, float, float], tuple[float, float, float]]:
    verts = np.concatenate([part_mesh(p)[0] for p in parts]).astype(np.float64)
    lo, hi = verts.min(axis=0), verts.max(axis=0)
    return (float(lo[0]), float(lo[1]), float(lo[2])), (float(hi[0]), float(hi[1]), float(hi[2]))


def make_scene(seed: int, preset: str = "room") -> SimScene:
    """Build the scene for `seed`: the same seed and preset always give the same scene."""
    if preset not in SCENE_PRESETS:
        raise ArpError(f"unknown sim scene {preset!r} (expected one of: {', '.join(SCENE_PRESETS)})")
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), 0x5CE7E]))
    w, d, h = rng.uniform(3.8, 5.6), rng.uniform(3.8, 5.6), rng.uniform(2.5, 3.0)
    inset = min(rng.uniform(0.95, 1.25), min(w, d) / 2 - 0.6)
    ring = (w / 2 - inset, d / 2 - inset)
    parts = room(rng, w, d, h)
    layout = _Layout(w, d, ring)
    objects: list[SimObject] = []
    next_id = _FIRST_OBJECT_INSTANCE

    def place(
        name: str,
        built: Built,
        pose: tuple[float, float, float],
        z: float = 0.0,
        ignore: int | None = None,
        stacked: bool = False,
    ) -> bool:
        nonlocal next_id
        obj_parts, (hx, hy), _ = built
        x, y, yaw = pose
        fp = layout.footprint(x, y, yaw, hx, hy)
        if not stacked and not layout.fits(fp, ignore):
            return False
        cid = CLASS_IDS[name]
        placed = [
            Part(p.shape, p.center, p.size, p.material, p.yaw, cid, next_id).placed(x, y, yaw, z) for p in obj_parts
        ]
        lo, hi = _aabb(placed)
        objects.append(SimObject(next_id, name, (float(x), float(y), float(z)), float(yaw), lo, hi))
        parts.extend(placed)
        if not stacked:
            layout.boxes.append(fp)
        next_id += 1
        return True

    def place_somewhere(name: str, built: Built, tries: int = 60) -> tuple[float, float, float] | None:
        hx, hy = built[1]
        for _ in range(tries):
            if rng.random() < _WALL_CHANCE[name]:
                x, y, yaw = layout.wall_pose(rng, hx, hy)
                yaw += rng.uniform(-0.1, 0.1) if name not in ("shelf", "table") else 0.0
            else:
                x, y, yaw = layout.free_pose(rng)
            if place(name, built, (x, y, yaw)):
                return x, y, yaw
        return None

    counts = {name: int(rng.integers(lo, hi + 1)) for name, (lo, hi) in SCENE_PRESETS[preset].items()}
    # Big furniture first; the small objects after, in random order so none is always last to find room.
    tables, chairs = counts.get("table", 0), counts.get("chair", 0)
    for k in range(tables):
        built = BUILDERS["table"](rng)
        pose = place_somewhere("table", built)
        around = -(-chairs // (tables - k))  # this table's share, rounded up
        _place_chairs(rng, built, pose, len(layout.boxes) - 1, around, place, place_somewhere)
        chairs -= around
    for _ in range(chairs):
        place_somewhere("chair", BUILDERS["chair"](rng))
    for _ in range(counts.get("shelf", 0)):
        place_somewhere("shelf", BUILDERS["shelf"](rng))
    rest = [name for name in ("person", "lamp", "plant", "box", "ball") for _ in range(counts.get(name, 0))]
    for i in rng.permutation(len(rest)):
        name = rest[i]
        built = BUILDERS[name](rng)
        pose = place_somewhere(name, built)
        if name == "box" and pose is not None and rng.random() < 0.35:
            _stack_box(rng, built, pose, place)
    return SimScene(
        int(seed),
        preset,
        (float(w), float(d), float(h)),
        (float(ring[0]), float(ring[1])),
        tuple(parts),
        tuple(objects),
        _light(rng, w, d, h),
    )


def _stack_box(
    rng: np.random.Generator, lower: Built, pose: tuple[float, float, float], place: Callable[..., bool]
) -> None:
    """A second, no larger, cardboard box on top of a placed one."""
    top_parts, (thx, thy), top_h = BUILDERS["box"](rng)
    hx, hy = min(thx, lower[1][0]), min(thy, lower[1][1])
    part = top_parts[0]
    top = Part(BOX, part.center, (2 * hx, 2 * hy, part.size[2]), part.material)
    place(
        "box", ([top], (hx, hy), top_h), (pose[0], pose[1], pose[2] + rng.uniform(-0.3, 0.3)), z=lower[2], stacked=True
    )


def _place_chairs(
    rng: np.random.Generator,
    table: Built,
    pose: tuple[float, float, float] | None,
    table_index: int,
    n: int,
    place: Callable[..., bool],
    place_somewhere: Callable[..., object],
) -> None:
    """Chairs around a placed table, facing it; a chair that does not fit there goes elsewhere."""
    sides = list(rng.permutation(4))
    hx, hy = table[1]
    for k in range(n):
        chair = BUILDERS["chair"](rng)
        ok = False
        if pose is not None and k < 4:
            side = int(sides[k])
            reach = (hy if side % 2 == 0 else hx) + chair[1][1] + rng.uniform(0.0, 0.12)
            local_yaw = side * math.pi / 2
            x, y, yaw = pose
            a = yaw + local_yaw
            cx, cy = x + reach * math.sin(a), y - reach * math.cos(a)
            ok = place("chair", chair, (cx, cy, a + rng.uniform(-0.25, 0.25)), ignore=table_index)
        if not ok:
            place_somewhere("chair", chair)


def _light(rng: np.random.Generator, w: float, d: float, h: float) -> Light:
    warm = rng.uniform(0.0, 1.0)
    color = (1.0, 0.95 + 0.03 * (1 - warm), 0.82 + 0.18 * (1 - warm))
    return Light(
        position=(float(rng.uniform(-0.3, 0.3) * w), float(rng.uniform(-0.3, 0.3) * d), float(h - 0.25)),
        color=color,
        ambient=float(rng.uniform(0.3, 0.45)),
        gain=float(rng.uniform(0.8, 1.2)),
        falloff=float(rng.uniform(3.0, 4.5)),
    )
