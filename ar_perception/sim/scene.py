"""Procedural indoor scenes: a closed room with furniture-like objects built from primitives.

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
from typing import TypeVar

import numpy as np

from ar_perception.errors import ArpError
from ar_perception.sim.classes import CLASS_IDS
from ar_perception.sim.materials import (
    CARDBOARD,
    FABRIC,
    LEAFY,
    PLAIN,
    PLANKS,
    SEGMENTS,
    STRIPES,
    TILES,
    WOOD,
    Material,
)
from ar_perception.sim.primitives import BOX, CYLINDER, SPHERE, Part, part_mesh

__all__ = ["SimScene", "SimObject", "Light", "SCENE_PRESETS", "make_scene"]

Color = tuple[float, float, float]
T = TypeVar("T")

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
# Palettes (RGB in [0, 1]); a sampled colour is jittered within the class palette.

_WOODS = [(0.62, 0.45, 0.28), (0.48, 0.32, 0.18), (0.75, 0.58, 0.38), (0.36, 0.22, 0.13), (0.68, 0.52, 0.36)]
_FLOOR_TILES = [
    ((0.82, 0.8, 0.76), (0.62, 0.6, 0.57)),
    ((0.9, 0.9, 0.9), (0.15, 0.15, 0.17)),
    ((0.72, 0.62, 0.5), (0.55, 0.45, 0.36)),
    ((0.55, 0.58, 0.6), (0.42, 0.45, 0.48)),
]
_CARPETS = [(0.45, 0.47, 0.5), (0.32, 0.38, 0.52), (0.6, 0.55, 0.47), (0.5, 0.32, 0.3)]
_PAINTS = [
    (0.93, 0.92, 0.88),
    (0.95, 0.9, 0.8),
    (0.8, 0.82, 0.84),
    (0.74, 0.82, 0.9),
    (0.76, 0.86, 0.76),
    (0.94, 0.8, 0.74),
    (0.88, 0.84, 0.94),
]
_CEILINGS = [(0.96, 0.96, 0.95), (0.92, 0.91, 0.88)]
_LAMINATES = [(0.92, 0.92, 0.9), (0.12, 0.12, 0.13), (0.55, 0.56, 0.58)]
_PLASTICS = [
    (0.8, 0.15, 0.12),
    (0.12, 0.3, 0.75),
    (0.15, 0.6, 0.3),
    (0.95, 0.75, 0.1),
    (0.95, 0.45, 0.1),
    (0.1, 0.55, 0.6),
    (0.2, 0.2, 0.22),
    (0.6, 0.2, 0.55),
]
_CARDBOARDS = [(0.72, 0.55, 0.36), (0.65, 0.48, 0.3), (0.78, 0.62, 0.42)]
_BALL_PAIRS = [
    ((0.9, 0.1, 0.1), (0.95, 0.95, 0.95)),
    ((0.1, 0.3, 0.9), (0.98, 0.85, 0.1)),
    ((0.1, 0.7, 0.2), (0.95, 0.95, 0.95)),
    ((0.95, 0.4, 0.05), (0.15, 0.1, 0.08)),
    ((0.9, 0.2, 0.6), (0.2, 0.8, 0.9)),
]
_SHELF_COLORS = [(0.93, 0.93, 0.91), (0.15, 0.14, 0.14), (0.45, 0.45, 0.47)]
_BOOKS = [
    (0.7, 0.1, 0.1),
    (0.1, 0.2, 0.55),
    (0.1, 0.45, 0.2),
    (0.85, 0.7, 0.2),
    (0.9, 0.9, 0.85),
    (0.15, 0.15, 0.15),
    (0.5, 0.25, 0.55),
    (0.9, 0.45, 0.2),
    (0.3, 0.6, 0.75),
]
_METALS = [(0.2, 0.2, 0.22), (0.7, 0.7, 0.72), (0.7, 0.55, 0.25)]
_SHADES = [(1.0, 0.96, 0.86), (1.0, 0.9, 0.7), (0.98, 0.98, 0.95), (1.0, 0.85, 0.75)]
_POTS = [(0.72, 0.38, 0.24), (0.92, 0.92, 0.9), (0.35, 0.36, 0.4), (0.3, 0.45, 0.65)]
_LEAVES = [
    ((0.2, 0.5, 0.15), (0.1, 0.3, 0.08)),
    ((0.3, 0.6, 0.2), (0.15, 0.38, 0.1)),
    ((0.15, 0.42, 0.25), (0.06, 0.24, 0.12)),
]
_SKINS = [(0.96, 0.8, 0.69), (0.87, 0.67, 0.52), (0.68, 0.47, 0.33), (0.45, 0.3, 0.2), (0.32, 0.2, 0.13)]
_HAIRS = [(0.08, 0.06, 0.05), (0.3, 0.18, 0.1), (0.75, 0.6, 0.35), (0.55, 0.55, 0.55)]
_SHIRTS = [
    (0.85, 0.15, 0.15),
    (0.2, 0.35, 0.7),
    (0.95, 0.95, 0.95),
    (0.15, 0.15, 0.17),
    (0.3, 0.6, 0.35),
    (0.95, 0.8, 0.2),
    (0.55, 0.3, 0.6),
]
_TROUSERS = [(0.15, 0.22, 0.4), (0.1, 0.1, 0.12), (0.65, 0.57, 0.42), (0.4, 0.4, 0.42)]


def _pick(rng: np.random.Generator, palette: list[T]) -> T:
    return palette[int(rng.integers(len(palette)))]


def _scaled(color: Color, k: float) -> Color:
    return (color[0] * k, color[1] * k, color[2] * k)


def _jitter(rng: np.random.Generator, color: Color, amount: float = 0.05) -> Color:
    c = np.clip(np.asarray(color) * rng.uniform(0.88, 1.08) + rng.uniform(-amount, amount, size=3), 0.0, 1.0)
    return (float(c[0]), float(c[1]), float(c[2]))


def _mat(
    rng: np.random.Generator,
    pattern: int,
    a: Color,
    b: Color | None = None,
    scale: float = 0.3,
    noise: float = 0.05,
    noise_freq: float = 4.0,
    emissive: bool = False,
) -> Material:
    a = _jitter(rng, a)
    b = _jitter(rng, b) if b is not None else _scaled(a, 0.7)
    return Material(pattern, a, b, scale, noise, noise_freq, emissive)


def _wood(rng: np.random.Generator, scale: float = 0.5) -> Material:
    base = _pick(rng, _WOODS)
    return _mat(rng, WOOD, base, _scaled(base, 0.72), scale=scale, noise=0.06)


# ---------------------------------------------------------------------------------------------------
# Object builders: parts in object coordinates (origin on the floor at the footprint centre, front
# towards +y), the footprint half extents (hx, hy) and the height.

Built = tuple[list[Part], tuple[float, float], float]


def _box(center: Color, size: Color, m: Material, yaw: float = 0.0) -> Part:
    return Part(BOX, center, size, m, yaw)


def _table(rng: np.random.Generator) -> Built:
    h = rng.uniform(0.7, 0.78)
    top_m = _wood(rng, scale=0.8) if rng.random() < 0.65 else _mat(rng, PLAIN, _pick(rng, _LAMINATES), noise=0.03)
    leg_m = top_m if rng.random() < 0.6 else _mat(rng, PLAIN, _pick(rng, _METALS), noise=0.02)
    if rng.random() < 0.25:  # round table on a pedestal
        r = rng.uniform(0.4, 0.6)
        parts = [
            Part(CYLINDER, (0, 0, h - 0.02), (2 * r, 2 * r, 0.04), top_m),
            Part(CYLINDER, (0, 0, (h - 0.04) / 2), (0.08, 0.08, h - 0.04), leg_m),
            Part(CYLINDER, (0, 0, 0.015), (0.5, 0.5, 0.03), leg_m),
        ]
        return parts, (r, r), h
    w, d = rng.uniform(0.8, 1.4), rng.uniform(0.6, 0.9)
    parts = [_box((0, 0, h - 0.02), (w, d, 0.04), top_m)]
    lh = h - 0.04
    for sx in (-1, 1):
        for sy in (-1, 1):
            parts.append(_box((sx * (w / 2 - 0.06), sy * (d / 2 - 0.06), lh / 2), (0.05, 0.05, lh), leg_m))
    return parts, (w / 2, d / 2), h


def _chair(rng: np.random.Generator) -> Built:
    w = rng.uniform(0.42, 0.5)
    sh = rng.uniform(0.43, 0.48)
    back_h = rng.uniform(0.38, 0.5)
    if rng.random() < 0.6:
        m = _mat(rng, PLAIN, _pick(rng, _PLASTICS), noise=0.03)
    else:
        m = _mat(rng, FABRIC, _pick(rng, _PLASTICS), scale=0.02, noise=0.05)
    leg_m = m if rng.random() < 0.5 else _mat(rng, PLAIN, _pick(rng, _METALS), noise=0.02)
    parts = [
        _box((0, 0, sh - 0.025), (w, w, 0.05), m),
        _box((0, -w / 2 + 0.025, sh + back_h / 2), (w, 0.05, back_h), m),
    ]
    lh = sh - 0.05
    for sx in (-1, 1):
        for sy in (-1, 1):
            parts.append(_box((sx * (w / 2 - 0.03), sy * (w / 2 - 0.03), lh / 2), (0.04, 0.04, lh), leg_m))
    return parts, (w / 2, w / 2), sh + back_h


def _cardboard_box(rng: np.random.Generator) -> Built:
    sx, sy, sz = rng.uniform(0.3, 0.7), rng.uniform(0.3, 0.6), rng.uniform(0.25, 0.6)
    base = _pick(rng, _CARDBOARDS)
    tape = (0.85, 0.75, 0.55) if rng.random() < 0.6 else (0.9, 0.9, 0.88)
    m = _mat(rng, CARDBOARD, base, tape, scale=0.2, noise=0.05, noise_freq=6.0)
    return [_box((0, 0, sz / 2), (sx, sy, sz), m)], (sx / 2, sy / 2), sz


def _ball(rng: np.random.Generator) -> Built:
    r = rng.uniform(0.15, 0.35)
    a, b = _pick(rng, _BALL_PAIRS)
    m = _mat(rng, SEGMENTS, a, b, noise=0.03) if rng.random() < 0.7 else _mat(rng, PLAIN, a, noise=0.04)
    return [Part(SPHERE, (0, 0, r), (2 * r, 2 * r, 2 * r), m)], (r, r), 2 * r


def _shelf(rng: np.random.Generator) -> Built:
    w, d, h = rng.uniform(0.7, 1.2), rng.uniform(0.28, 0.4), rng.uniform(1.2, 2.0)
    m = _wood(rng, 0.6) if rng.random() < 0.35 else _mat(rng, PLAIN, _pick(rng, _SHELF_COLORS), noise=0.03)
    t = 0.025
    parts = [
        _box((-w / 2 + t / 2, 0, h / 2), (t, d, h), m),
        _box((w / 2 - t / 2, 0, h / 2), (t, d, h), m),
        _box((0, -d / 2 + t / 2, h / 2), (w - 2 * t, t, h), m),
    ]
    levels = max(3, int(h / 0.38))
    gap = (h - t) / levels
    for k in range(levels + 1):
        parts.append(_box((0, 0, k * gap + t / 2), (w - 2 * t, d - t, t), m))
    for k in range(levels):  # books on every level, leaning on the back
        x = -w / 2 + t + rng.uniform(0.0, 0.1)
        end = w / 2 - t - rng.uniform(0.0, 0.25)
        while True:
            bw, bh, bd = rng.uniform(0.025, 0.06), rng.uniform(0.6, 0.9) * (gap - t), rng.uniform(0.15, d - 0.06)
            if x + bw > end:
                break
            book_m = _mat(rng, PLAIN, _pick(rng, _BOOKS), noise=0.02)
            parts.append(_box((x + bw / 2, -d / 2 + t + bd / 2, k * gap + t + bh / 2), (bw, bd, bh), book_m))
            x += bw + (rng.uniform(0.05, 0.2) if rng.random() < 0.08 else 0.002)
    return parts, (w / 2, d / 2), h


def _lamp(rng: np.random.Generator) -> Built:
    h = rng.uniform(1.35, 1.8)
    metal = _mat(rng, PLAIN, _pick(rng, _METALS), noise=0.02)
    r = rng.uniform(0.2, 0.3)
    sh = rng.uniform(0.28, 0.4)
    shade = _mat(rng, PLAIN, _pick(rng, _SHADES), noise=0.02, emissive=True)
    parts = [
        Part(CYLINDER, (0, 0, 0.015), (0.32, 0.32, 0.03), metal),
        Part(CYLINDER, (0, 0, h / 2), (0.045, 0.045, h - 0.03), metal),
        Part(CYLINDER, (0, 0, h - sh / 2 + 0.05), (2 * r, 2 * r, sh), shade),
    ]
    return parts, (r, r), h + 0.05


def _plant(rng: np.random.Generator) -> Built:
    pr, ph = rng.uniform(0.12, 0.22), rng.uniform(0.2, 0.4)
    pot = _mat(rng, PLAIN, _pick(rng, _POTS), noise=0.04)
    a, b = _pick(rng, _LEAVES)
    parts = [
        Part(CYLINDER, (0, 0, ph / 2), (2 * pr, 2 * pr, ph), pot),
        Part(CYLINDER, (0, 0, ph), (1.8 * pr, 1.8 * pr, 0.02), _mat(rng, PLAIN, (0.25, 0.17, 0.1))),
    ]
    tall = rng.random() < 0.4
    top = ph
    if tall:
        trunk = rng.uniform(0.4, 0.8)
        parts.append(Part(CYLINDER, (0, 0, ph + trunk / 2), (0.04, 0.04, trunk), _mat(rng, PLAIN, (0.35, 0.25, 0.15))))
        top = ph + trunk
    spread = rng.uniform(0.1, 0.25)
    reach = pr
    for _ in range(int(rng.integers(4, 8))):
        leaf = _mat(rng, LEAFY, a, b, scale=0.05, noise=0.08, noise_freq=12.0)
        rx, ry, rz = rng.uniform(0.1, 0.22), rng.uniform(0.1, 0.22), rng.uniform(0.12, 0.3)
        ang, rad = rng.uniform(0, 2 * math.pi), rng.uniform(0.0, spread)
        cx, cy = rad * math.cos(ang), rad * math.sin(ang)
        cz = top + rz * 0.7 + rng.uniform(0.0, 0.35)
        parts.append(Part(SPHERE, (cx, cy, cz), (2 * rx, 2 * ry, 2 * rz), leaf, yaw=rng.uniform(0, math.pi)))
        reach = max(reach, math.hypot(cx, cy) + max(rx, ry))
    height = max(p.center[2] + p.size[2] / 2 for p in parts)
    return parts, (reach, reach), height


def _person(rng: np.random.Generator) -> Built:
    hp = rng.uniform(1.55, 1.9)
    skin = _mat(rng, PLAIN, _pick(rng, _SKINS), noise=0.03)
    shirt_c = _pick(rng, _SHIRTS)
    if rng.random() < 0.3:
        shirt = _mat(rng, STRIPES, shirt_c, _pick(rng, _SHIRTS), scale=0.08, noise=0.03)
    else:
        shirt = _mat(rng, FABRIC, shirt_c, scale=0.03, noise=0.04)
    trousers = _mat(rng, FABRIC, _pick(rng, _TROUSERS), scale=0.02, noise=0.05)
    hair = _mat(rng, PLAIN, _pick(rng, _HAIRS), noise=0.05, noise_freq=20.0)
    shoes = _mat(rng, PLAIN, (0.12, 0.1, 0.1), noise=0.02)
    leg = 0.47 * hp
    torso_h = 0.3 * hp
    shoulder = leg + torso_h
    head = 0.13 * hp
    tw = rng.uniform(0.34, 0.42)
    arm = 0.36 * hp
    parts = [
        _box((-0.1, 0.03, 0.04), (0.11, 0.26, 0.08), shoes),
        _box((0.1, 0.03, 0.04), (0.11, 0.26, 0.08), shoes),
        Part(CYLINDER, (-0.1, 0, 0.08 + (leg - 0.08) / 2), (0.15, 0.15, leg - 0.08 + 0.02), trousers),
        Part(CYLINDER, (0.1, 0, 0.08 + (leg - 0.08) / 2), (0.15, 0.15, leg - 0.08 + 0.02), trousers),
        _box((0, 0, leg + torso_h / 2), (tw, 0.22, torso_h + 0.02), shirt),
        Part(CYLINDER, (-(tw / 2 + 0.05), 0, shoulder - arm / 2), (0.1, 0.1, arm), shirt),
        Part(CYLINDER, (tw / 2 + 0.05, 0, shoulder - arm / 2), (0.1, 0.1, arm), shirt),
        Part(SPHERE, (-(tw / 2 + 0.05), 0, shoulder - arm - 0.04), (0.09, 0.09, 0.12), skin),
        Part(SPHERE, (tw / 2 + 0.05, 0, shoulder - arm - 0.04), (0.09, 0.09, 0.12), skin),
        Part(CYLINDER, (0, 0, shoulder + 0.03), (0.1, 0.1, 0.07), skin),
        Part(SPHERE, (0, 0, shoulder + 0.05 + head / 2), (0.17, 0.2, head), skin),
        Part(SPHERE, (0, -0.015, shoulder + 0.05 + head * 0.62), (0.18, 0.2, head * 0.8), hair),
    ]
    return parts, (tw / 2 + 0.1, 0.16), hp


_BUILDERS = {
    "table": _table,
    "chair": _chair,
    "box": _cardboard_box,
    "ball": _ball,
    "shelf": _shelf,
    "lamp": _lamp,
    "plant": _plant,
    "person": _person,
}
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


# ---------------------------------------------------------------------------------------------------
# Layout


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


def _room(rng: np.random.Generator, w: float, d: float, h: float) -> list[Part]:
    kind = rng.random()
    if kind < 0.5:
        floor_m = _mat(rng, PLANKS, _pick(rng, _WOODS), None, scale=rng.uniform(0.12, 0.22), noise=0.04)
    elif kind < 0.8:
        a, b = _pick(rng, _FLOOR_TILES)
        floor_m = _mat(rng, TILES, a, b, scale=rng.uniform(0.3, 0.6), noise=0.03)
    else:
        floor_m = _mat(rng, FABRIC, _pick(rng, _CARPETS), scale=0.01, noise=0.08, noise_freq=15.0)
    paint = _pick(rng, _PAINTS)
    if rng.random() < 0.3:
        wall_m = _mat(rng, STRIPES, paint, _scaled(paint, 0.85), scale=rng.uniform(0.1, 0.3), noise=0.02)
    else:
        wall_m = _mat(rng, PLAIN, paint, noise=0.035, noise_freq=2.0)
    accent = _mat(rng, PLAIN, _pick(rng, _PAINTS), noise=0.035, noise_freq=2.0) if rng.random() < 0.3 else wall_m
    ceil_m = _mat(rng, PLAIN, _pick(rng, _CEILINGS), noise=0.02, noise_freq=1.5)
    t = 0.1  # slab thickness, outside the room volume
    fl, ce, wa = CLASS_IDS["floor"], CLASS_IDS["ceiling"], CLASS_IDS["wall"]
    skirting = _mat(rng, PLAIN, _pick(rng, _CEILINGS + _WOODS[:2]), noise=0.02)
    bh, bt = rng.uniform(0.06, 0.12), 0.015  # skirting boards: part of their wall
    boards = [
        Part(BOX, (0, -d / 2 + bt / 2, bh / 2), (w, bt, bh), skirting, 0.0, wa, 3),
        Part(BOX, (0, d / 2 - bt / 2, bh / 2), (w, bt, bh), skirting, 0.0, wa, 4),
        Part(BOX, (-w / 2 + bt / 2, 0, bh / 2), (d, bt, bh), skirting, math.pi / 2, wa, 5),
        Part(BOX, (w / 2 - bt / 2, 0, bh / 2), (d, bt, bh), skirting, math.pi / 2, wa, 6),
    ]
    return boards + [
        Part(BOX, (0, 0, -t / 2), (w + 2 * t, d + 2 * t, t), floor_m, 0.0, fl, 1),
        Part(BOX, (0, 0, h + t / 2), (w + 2 * t, d + 2 * t, t), ceil_m, 0.0, ce, 2),
        # Wall textures run along local x, so each wall's yaw lays x along the wall.
        Part(BOX, (0, -d / 2 - t / 2, h / 2), (w + 2 * t, t, h), accent, 0.0, wa, 3),
        Part(BOX, (0, d / 2 + t / 2, h / 2), (w + 2 * t, t, h), wall_m, 0.0, wa, 4),
        Part(BOX, (-w / 2 - t / 2, 0, h / 2), (d + 2 * t, t, h), wall_m, math.pi / 2, wa, 5),
        Part(BOX, (w / 2 + t / 2, 0, h / 2), (d + 2 * t, t, h), wall_m, math.pi / 2, wa, 6),
    ]


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
    parts = _room(rng, w, d, h)
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
        built = _BUILDERS["table"](rng)
        pose = place_somewhere("table", built)
        around = -(-chairs // (tables - k))  # this table's share, rounded up
        _place_chairs(rng, built, pose, len(layout.boxes) - 1, around, place, place_somewhere)
        chairs -= around
    for _ in range(chairs):
        place_somewhere("chair", _chair(rng))
    for _ in range(counts.get("shelf", 0)):
        place_somewhere("shelf", _shelf(rng))
    rest = [name for name in ("person", "lamp", "plant", "box", "ball") for _ in range(counts.get(name, 0))]
    for i in rng.permutation(len(rest)):
        name = rest[i]
        built = _BUILDERS[name](rng)
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
    top_parts, (thx, thy), top_h = _cardboard_box(rng)
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
        chair = _chair(rng)
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
