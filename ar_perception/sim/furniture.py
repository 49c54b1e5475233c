"""What a simulated scene is made of: the room shell (floor, ceiling, walls, skirting) and the furniture-like
objects (table, chair, box, ball, shelf, lamp, plant, person), each built from primitives in its own coordinates,
with materials sampled from per-class palettes. Where they go is scene.py's job.
"""

from __future__ import annotations

import math
from typing import TypeVar

import numpy as np

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
from ar_perception.sim.primitives import BOX, CYLINDER, SPHERE, Part

__all__ = ["BUILDERS", "Built", "Color", "room"]

Color = tuple[float, float, float]
T = TypeVar("T")


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


BUILDERS = {  # class name -> its builder
    "table": _table,
    "chair": _chair,
    "box": _cardboard_box,
    "ball": _ball,
    "shelf": _shelf,
    "lamp": _lamp,
    "plant": _plant,
    "person": _person,
}


# ---------------------------------------------------------------------------------------------------
# The room


def room(rng: np.random.Generator, w: float, d: float, h: float) -> list[Part]:
    """The shell of a W x D x H room: floor, ceiling and wall slabs outside its volume, skirting boards inside."""
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
