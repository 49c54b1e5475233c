"""Chairs side by side that touch in the image (rendered by the simulator's ray caster): the scene model parts them
by colour where their colours differ, and never parts one chair whose legs, or shaded back, differ from its seat."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from ar_perception.qa.hues import chromaticity, colour_groups, colour_parts_and_cores
from ar_perception.qa.model import build_scene_model
from ar_perception.sim.camera import Intrinsics, look_at
from ar_perception.sim.classes import CLASS_IDS, CLASS_NAMES
from ar_perception.sim.materials import PLAIN, Material
from ar_perception.sim.primitives import BOX, Part

pytest.importorskip("open3d")

from ar_perception.sim.render import Renderer
from ar_perception.sim.scene import make_scene

STRUCTURE = {CLASS_IDS[c] for c in ("wall", "floor", "ceiling")}


def colour_parts(*args, **kw) -> list[np.ndarray]:
    """The parts alone (each one object's pixels), without their cores."""
    return colour_parts_and_cores(*args, **kw)[0]


ORANGE, PURPLE, YELLOW, METAL = (0.95, 0.45, 0.1), (0.6, 0.2, 0.55), (0.95, 0.75, 0.1), (0.55, 0.55, 0.58)


def _chair(instance: int, x: float, y: float, seat, legs=None, w: float = 0.46) -> list[Part]:
    """A chair (seat, back, four legs) standing at (x, y), its back towards +y."""
    m = Material(PLAIN, seat, seat, noise_amp=0.03)
    leg_m = m if legs is None else Material(PLAIN, legs, legs, noise_amp=0.02)
    cid = CLASS_IDS["chair"]
    parts = [
        Part(BOX, (x, y, 0.435), (w, w, 0.05), m, 0.0, cid, instance),
        Part(BOX, (x, y + w / 2 - 0.025, 0.68), (w, 0.05, 0.44), m, 0.0, cid, instance),
    ]
    for sx in (-1, 1):
        for sy in (-1, 1):
            centre = (x + sx * (w / 2 - 0.03), y + sy * (w / 2 - 0.03), 0.205)
            parts.append(Part(BOX, centre, (0.04, 0.04, 0.41), leg_m, 0.0, cid, instance))
    return parts


def _chairs(parts: list[Part], eye=(0.3, -2.2, 1.5), target=(0.3, 0.0, 0.45)) -> tuple[list, np.ndarray]:
    """The chairs the scene model finds among `parts` in the room of seed 1 (emptied), and the rendered instances
    of the chair class."""
    room = make_scene(1)
    scene = dataclasses.replace(
        room, parts=tuple(p for p in room.parts if p.class_id in STRUCTURE) + tuple(parts), objects=()
    )
    k = Intrinsics.from_fov(320, 240)
    pose = look_at(np.array(eye), np.array(target))
    out = Renderer(scene, k).render(pose)
    up = pose[:3, :3].T @ np.array([0.0, 0.0, 1.0])
    model = build_scene_model(out.labels, out.depth, CLASS_NAMES, k.as_dict(), out.image, up=up)
    return [o for o in model.objects if o.cls == "chair"], out.instances[out.labels == CLASS_IDS["chair"]]


def test_two_chairs_touching_in_two_colours_are_two_chairs() -> None:
    """Side by side (the second a little behind): one region of the class mask, no depth step; the colours part it."""
    chairs, seen = _chairs(_chair(20, 0.0, 0.0, ORANGE, METAL) + _chair(21, 0.35, 0.47, PURPLE))
    assert set(np.unique(seen)) == {20, 21}
    assert len(chairs) == 2
    assert all(c.at_least == 1 for c in chairs)
    left, right = sorted(chairs, key=lambda c: c.bearing_deg)
    assert right.colour == "purple" and left.colour != "purple"  # each measured under its own chair only


def test_two_chairs_touching_in_one_colour_stay_one_region() -> None:
    """Nothing in depth or colour parts them: the model does not guess."""
    chairs, seen = _chairs(_chair(20, 0.0, 0.0, YELLOW) + _chair(21, 0.35, 0.47, YELLOW))
    assert set(np.unique(seen)) == {20, 21}
    assert len(chairs) == 1


@pytest.mark.parametrize("legs", [None, METAL])
@pytest.mark.parametrize("eye", [(0.3, -2.2, 1.5), (1.8, 1.6, 1.4), (-1.5, -0.8, 0.9)])
def test_one_chair_is_one_chair_lit_shaded_and_on_metal_legs(legs, eye) -> None:
    """Its seat in the light and its back in shade, or seen from behind, or with legs of another colour."""
    chairs, seen = _chairs(_chair(20, 0.0, 0.0, YELLOW, legs), eye=eye, target=(0.0, 0.0, 0.45))
    assert set(np.unique(seen)) == {20}
    assert len(chairs) == 1


def test_colour_groups_and_parts_on_made_up_pixels() -> None:
    """Two blocks of pixels side by side, each 20 rows tall: parted by colour; one colour, or a small second
    colour, or a second colour scattered over the first, is one part."""
    v, u = np.mgrid[0:20, 0:40]
    v, u = v.ravel(), u.ravel()
    points = np.stack([u * 0.02, -v * 0.03, np.full(v.size, 2.0)], axis=1)  # 0.6 m tall, up is +y
    up = np.array([0.0, 1.0, 0.0])
    rgb = np.where((u < 20)[:, None], np.array([230, 110, 20]), np.array([150, 50, 140])).astype(np.uint8)
    shares, lit = chromaticity(rgb)
    assert lit.all() and not chromaticity(np.array([[3, 2, 4]], np.uint8))[1].any()  # too dark for a colour
    second, apart = colour_groups(shares)
    assert apart > 0.12 and (second == (u >= 20)).all() | (second == (u < 20)).all()
    parts = colour_parts(v, u, points, up, rgb)
    assert len(parts) == 2 and sorted(int(p.sum()) for p in parts) == [400, 400]
    darker = (rgb * 0.4).astype(np.uint8)  # the same colours in shade: still the same two
    assert len(colour_parts(v, u, points, up, np.where((v < 10)[:, None], rgb, darker))) == 2
    one = np.tile(np.array([230, 110, 20], np.uint8), (v.size, 1))
    assert len(colour_parts(v, u, points, up, one)) == 1
    one[v >= 10] = (150, 50, 140)  # the same two colours, one above the other (a seat on legs): one object
    assert len(colour_parts(v, u, points, up, one, min_height_m=0.2)) == 1
    assert len(colour_parts(v, u, points, up, rgb, min_height_m=0.2)) == 2  # (side by side, as above: two)
    speckled = np.tile(np.array([230, 110, 20], np.uint8), (v.size, 1))
    dots = np.random.default_rng(0).random(v.size) < 0.3  # a colour in dots over the other: no piece of it
    speckled[dots] = (150, 50, 140)
    assert len(colour_parts(v, u, points, up, speckled)) == 1


def test_a_small_piece_of_another_colour_beside_is_another_object_and_strays_go_to_the_nearer_in_3d() -> None:
    """A chair mostly hidden behind another shows a narrow piece beside it (18 % of the region): parted. The
    pixels too dark for a colour join the part they are nearest to in 3D, not in the image (the farther chair's
    shaded legs seen right next to the nearer one)."""
    v, u = np.mgrid[0:20, 0:40]
    v, u = v.ravel(), u.ravel()
    up = np.array([0.0, 1.0, 0.0])
    orange, purple = np.array([230, 110, 20]), np.array([150, 50, 140])
    far = u >= 33  # 7 of 40 columns
    points = np.stack([u * 0.02, -v * 0.03, np.where(far, 2.6, 2.0)], axis=1)
    rgb = np.where(far[:, None], purple, orange).astype(np.uint8)
    parts = colour_parts(v, u, points, up, rgb)
    assert sorted(int(p.sum()) for p in parts) == [140, 660]
    narrow = u >= 35  # 5 of 40 columns: too little to be an object, one part
    assert len(colour_parts(v, u, points, up, np.where(narrow[:, None], purple, orange).astype(np.uint8))) == 1
    # dark pixels in the orange block's last columns, at the purple chair's depth: they go with the purple part
    shaded = (u >= 29) & (u < 33)
    points[shaded, 2] = 2.6
    rgb[shaded] = (2, 2, 2)
    parts = colour_parts(v, u, points, up, rgb)
    purple_part = next(p for p in parts if p[far].all())
    assert purple_part.sum() == 140 + 80 and purple_part[shaded].all()
