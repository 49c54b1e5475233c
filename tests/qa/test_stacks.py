"""Boxes stacked on one another, and pieces of one object, in rendered rooms (the simulator's ray caster): the
scene model counts each box of a pile, and one lamp or table whose pieces an occluder or the image edge parted."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from ar_perception.qa.colour import srgb_to_lab
from ar_perception.qa.model import build_scene_model
from ar_perception.qa.regions import label_components
from ar_perception.qa.stacks import column_cuts, layer_cuts, seam_cuts
from ar_perception.sim.camera import Intrinsics, look_at
from ar_perception.sim.classes import CLASS_IDS, CLASS_NAMES
from ar_perception.sim.materials import CARDBOARD, Material
from ar_perception.sim.primitives import BOX, CYLINDER, SPHERE, Part

pytest.importorskip("open3d")

from ar_perception.sim.render import Renderer
from ar_perception.sim.scene import make_scene

STRUCTURE = {CLASS_IDS[c] for c in ("wall", "floor", "ceiling")}


def _render(parts: list[Part], eye: tuple[float, float, float], target: tuple[float, float, float]):
    """The room of seed 1 emptied of its objects, with `parts` in it, seen from `eye`: (output, pose, K)."""
    room = make_scene(1)
    scene = dataclasses.replace(
        room, parts=tuple(p for p in room.parts if p.class_id in STRUCTURE) + tuple(parts), objects=()
    )
    k = Intrinsics.from_fov(320, 240)
    pose = look_at(np.array(eye), np.array(target))
    return Renderer(scene, k, shadows=False).render(pose), pose, k.as_dict()


def _model(out, pose, k):
    up = pose[:3, :3].T @ np.array([0.0, 0.0, 1.0])
    return build_scene_model(out.labels, out.depth, CLASS_NAMES, k, out.image, up=up)


def _material():
    return make_scene(1).parts[0].material


def _box(instance: int, center, size, yaw: float = 0.0) -> Part:
    return Part(BOX, center, size, _material(), yaw, CLASS_IDS["box"], instance)


@pytest.mark.parametrize(("turn", "smaller"), [(0.25, 0.0), (-0.15, 0.08), (0.0, 0.1)])
def test_a_box_on_a_box_is_two_boxes(turn: float, smaller: float) -> None:
    lower = _box(20, (0.0, 0.0, 0.2), (0.5, 0.45, 0.4))
    upper = _box(21, (0.02, 0.0, 0.6), (0.5 - smaller, 0.45 - smaller, 0.4), turn)
    out, pose, k = _render([lower, upper], (-0.4, -2.0, 1.5), (0.0, 0.0, 0.4))
    assert set(np.unique(out.instances[out.labels == CLASS_IDS["box"]])) == {20, 21}  # both in view
    boxes = [o for o in _model(out, pose, k).objects if o.cls == "box"]
    assert len(boxes) == 2
    lower_box, upper_box = sorted(boxes, key=lambda o: o.elevation_deg)
    assert lower_box.at_least == upper_box.at_least == 1


def test_one_box_and_two_boxes_side_by_side_are_not_cut() -> None:
    tall = _box(20, (0.0, 0.0, 0.3), (0.5, 0.4, 0.6))
    out, pose, k = _render([tall], (-0.6, -2.0, 1.5), (0.0, 0.0, 0.3))
    assert [o.cls for o in _model(out, pose, k).objects if o.cls == "box"] == ["box"]
    low = _box(21, (0.58, 0.0, 0.15), (0.5, 0.4, 0.3))  # beside it, 8 cm apart, lower: its top is no step
    out, pose, k = _render([tall, low], (0.0, -2.2, 1.5), (0.3, 0.0, 0.3))
    assert len([o for o in _model(out, pose, k).objects if o.cls == "box"]) == 2


def test_a_tall_box_beside_a_stack_is_its_own_column() -> None:
    """A tall box whose front stands 25 cm behind a stack of two beside it, touching in the image: depth never
    jumps enough to part them, and the stack's layer cut runs across the tall box too unless the region is first
    parted into columns: three boxes, the tall one a whole box."""
    tall = _box(20, (-0.45, 0.25, 0.35), (0.4, 0.4, 0.7))
    lower = _box(21, (0.0, 0.0, 0.2), (0.5, 0.45, 0.4))
    upper = _box(22, (0.0, 0.0, 0.6), (0.4, 0.4, 0.4))
    out, pose, k = _render([tall, lower, upper], (-0.3, -2.6, 1.5), (-0.2, 0.0, 0.35))
    box = out.labels == CLASS_IDS["box"]
    assert set(np.unique(out.instances[box])) == {20, 21, 22}
    assert label_components(box)[1] == 1  # one piece in the image
    boxes = sorted((o for o in _model(out, pose, k).objects if o.cls == "box"), key=lambda o: o.bearing_deg)
    assert len(boxes) == 3
    assert boxes[0].extent_m[1] > 0.6  # the tall box, whole (0.7 m)
    v, u = np.nonzero(box)
    fx, fy, cx, cy = k["fx"], k["fy"], k["cx"], k["cy"]
    z = out.depth[v, u].astype(np.float64)
    points = np.stack([(u - cx) / fx * z, (v - cy) / fy * z, z], axis=1)
    up = pose[:3, :3].T @ np.array([0.0, 0.0, 1.0])
    found = column_cuts(v, u, points, up)
    assert found is not None and len(found[1]) == 1 and len(found[2]) == 2  # one cut, set by two faces
    # the tall box's front in the lower box's plane: nothing in depth tells them apart, no column cut
    flush = _box(20, (-0.45, 0.0, 0.35), (0.4, 0.45, 0.7))
    out, pose, k = _render([flush, lower, upper], (-0.3, -2.6, 1.5), (-0.2, 0.0, 0.35))
    v, u = np.nonzero(out.labels == CLASS_IDS["box"])
    z = out.depth[v, u].astype(np.float64)
    points = np.stack([(u - cx) / fx * z, (v - cy) / fy * z, z], axis=1)
    assert column_cuts(v, u, points, up) is None


@pytest.mark.parametrize("back", [(0.0, 0.06, 0.12), (0.0, 0.1, 0.0)], ids=["staggered", "middle-set-back"])
def test_three_boxes_in_a_row_are_cut_only_between_neighbours(back: tuple[float, float, float]) -> None:
    """Three boxes in a row, touching in the image, each front set back from the one before (or the middle one
    back, the outer two in one plane): the outer two are no pair to cut between, and the row is three boxes."""
    row = [
        _box(20 + i, (x, y, 0.3), (0.45, 0.4, 0.6))
        for i, (x, y) in enumerate(zip((-0.45, 0.0, 0.45), back, strict=True))
    ]
    out, pose, k = _render(row, (-0.8, -2.6, 1.5), (0.0, 0.0, 0.3))
    box = out.labels == CLASS_IDS["box"]
    assert set(np.unique(out.instances[box])) == {20, 21, 22} and label_components(box)[1] == 1
    boxes = sorted((o for o in _model(out, pose, k).objects if o.cls == "box"), key=lambda o: o.bearing_deg)
    assert len(boxes) == 3 and all(o.extent_m[1] > 0.5 for o in boxes)  # each whole (0.6 m tall)


def test_no_cut_without_vertical_faces() -> None:
    flat = np.random.default_rng(0).normal(size=(400, 3)) * [1.0, 0.01, 1.0]  # a noisy horizontal sheet
    v, u = np.divmod(np.arange(400), 20)
    assert layer_cuts(v, u, flat, np.array([0.0, -1.0, 0.0])) == []


def test_a_floor_lamp_cut_by_a_table_top_is_one_lamp() -> None:
    lamp = CLASS_IDS["lamp"]
    m = _material()
    parts = [
        Part(CYLINDER, (0.0, 0.0, 0.015), (0.3, 0.3, 0.03), m, 0.0, lamp, 30),  # base
        Part(CYLINDER, (0.0, 0.0, 0.8), (0.03, 0.03, 1.6), m, 0.0, lamp, 30),  # pole
        Part(SPHERE, (0.0, 0.0, 1.65), (0.4, 0.4, 0.3), m, 0.0, lamp, 30),  # shade
        Part(BOX, (0.0, -0.5, 0.75), (1.2, 0.7, 0.04), m, 0.0, CLASS_IDS["table"], 40),  # a table top hides its middle
    ]
    out, pose, k = _render(parts, (0.3, -1.9, 1.3), (0.0, 0.0, 0.8))
    lamp_px = out.labels == lamp
    assert list(np.unique(out.instances[lamp_px])) == [30]
    rows = np.flatnonzero(lamp_px.any(axis=1))
    assert (np.diff(rows) > 5).any()  # in two pieces in the image, apart
    assert [o.cls for o in _model(out, pose, k).objects if o.cls == "lamp"] == ["lamp"]


def test_the_legs_of_a_table_under_the_image_edge_are_one_table() -> None:
    table = CLASS_IDS["table"]
    m = _material()
    legs = [
        Part(BOX, (sx * 0.6, sy * 0.35, 0.37), (0.05, 0.05, 0.74), m, 0.0, table, 40)
        for sx in (-1, 1)
        for sy in (-1, 1)
    ]
    top = Part(BOX, (0.0, 0.0, 0.76), (1.3, 0.8, 0.04), m, 0.0, table, 40)
    out, pose, k = _render([*legs, top], (0.2, -2.0, 0.45), (0.0, 0.0, -0.8))  # looking down: the top out of view
    assert label_components(out.labels == table)[1] >= 2  # legs apart in the image
    tables = [o for o in _model(out, pose, k).objects if o.cls == "table"]
    assert len(tables) == 1, [(o.centroid_m, o.area) for o in tables]


def test_the_face_test_is_about_height_not_turn() -> None:
    """Side faces of one box turned every way are one layer."""
    for yaw in np.linspace(0.0, math.pi / 2, 4):
        box = _box(20, (0.0, 0.0, 0.25), (0.6, 0.5, 0.5), float(yaw))
        out, pose, k = _render([box], (0.5, -2.0, 1.4), (0, 0, 0.25))
        assert len([o for o in _model(out, pose, k).objects if o.cls == "box"]) == 1


def test_a_seam_across_one_face_is_no_step() -> None:
    """One flat front, its lower half 4 mm nearer (a seam, tape): one plane, so no cut; 6 cm nearer: a step."""
    v, u = np.mgrid[0:100, 0:60]
    v, u = v.ravel(), u.ravel()
    for step_m, cuts in ((0.004, 0), (0.06, 1)):
        z = np.where(v >= 50, 2.0 - step_m, 2.0)
        points = np.stack([(u - 30) / 250 * z, (v - 50) / 250 * z, z], axis=1)
        assert len(layer_cuts(v, u, points, np.array([0.0, -1.0, 0.0]))) == cuts


def _cardboard(shade: float) -> Material:
    """Cardboard with a band of packing tape down the middle of two sides, `shade` times the usual brown."""
    return Material(CARDBOARD, (0.72 * shade, 0.55 * shade, 0.36 * shade), (0.85, 0.75, 0.55), 0.2, 0.05, 6.0)


def _flush_stack(lower_shade: float, upper_shade: float) -> list[Part]:
    """Two boxes of one size and turn, one on the other: their sides lie in the same planes (no step)."""
    size = (0.5, 0.45, 0.35)
    return [
        Part(BOX, (0.0, 0.0, 0.175), size, _cardboard(lower_shade), 0.3, CLASS_IDS["box"], 20),
        Part(BOX, (0.0, 0.0, 0.525), size, _cardboard(upper_shade), 0.3, CLASS_IDS["box"], 21),
    ]


def test_boxes_stacked_flush_are_parted_by_the_seam_between_their_shades() -> None:
    out, pose, k = _render(_flush_stack(1.0, 0.85), (-0.5, -2.2, 1.4), (0.0, 0.0, 0.35))
    box = out.labels == CLASS_IDS["box"]
    v, u = np.nonzero(box)
    fx, fy, cx, cy = k["fx"], k["fy"], k["cx"], k["cy"]
    z = out.depth[v, u].astype(np.float64)
    points = np.stack([(u - cx) / fx * z, (v - cy) / fy * z, z], axis=1)
    up = pose[:3, :3].T @ np.array([0.0, 0.0, 1.0])
    assert layer_cuts(v, u, points, up) == []  # no step in depth: only the colours tell
    cuts = seam_cuts(v, u, points, up, srgb_to_lab(out.image[v, u]))
    camera_height = float(pose[2, 3])
    assert len(cuts) == 1 and abs((camera_height + cuts[0]) - 0.35) < 0.04  # at the lower box's top, 0.35 m up
    assert len([o for o in _model(out, pose, k).objects if o.cls == "box"]) == 2


def test_boxes_stacked_flush_in_one_shade_stay_one_object() -> None:
    """Nothing in depth or colour parts them: the model does not guess (the at-least bound reads the height)."""
    out, pose, k = _render(_flush_stack(1.0, 1.0), (-0.5, -2.2, 1.4), (0.0, 0.0, 0.35))
    assert len([o for o in _model(out, pose, k).objects if o.cls == "box"]) == 1


def _face(colour_of_row_col) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """A flat vertical face 2 m ahead of a level camera, 100 rows x 60 columns (about 0.8 x 0.48 m), coloured
    by `colour_of_row_col(v, u)` -> (N, 3) RGB: rows, columns, points, up, Lab colours."""
    v, u = np.mgrid[0:100, 0:60]
    v, u = v.ravel(), u.ravel()
    z = np.full(v.shape, 2.0)
    points = np.stack([(u - 30) / 250 * z, (v - 50) / 250 * z, z], axis=1)
    rgb = np.clip(colour_of_row_col(v, u), 0, 255)
    return v, u, points, np.array([0.0, -1.0, 0.0]), srgb_to_lab(rgb)


def test_a_level_change_of_shade_across_a_face_is_a_seam_and_nothing_else_is() -> None:
    """The face's rows 0-99 span heights +0.4 m (row 0) to -0.4 m (row 99) about the camera's."""
    brown = np.array([180.0, 135.0, 90.0])
    seam = _face(lambda v, u: np.where((v < 50)[:, None], brown, brown * 0.85))
    (cut,) = seam_cuts(*seam)
    assert abs(cut - 0.0) <= 0.02  # where the shade changes, within a row of the grid
    three = _face(lambda v, u: brown * np.where(v < 33, 1.0, np.where(v < 66, 0.85, 0.72))[:, None])
    assert np.allclose(seam_cuts(*three), [-0.124, 0.14], atol=0.02)  # three boxes stacked flush: two seams
    # a label or tape across most columns but not all; light falling off fast down the face; one shade
    label = _face(lambda v, u: np.where(((v < 50) & (u < 36))[:, None], brown * 0.7, brown))
    gradient = _face(lambda v, u: brown * (1.0 - 0.5 * v / 100)[:, None])  # cut at -0.22 m if not netted out
    plain = _face(lambda v, u: np.broadcast_to(brown, (v.size, 3)))
    for face in (label, gradient, plain):
        assert seam_cuts(*face) == []
    assert seam_cuts(*label, agree=0.0) != []  # the label is refused by the columns that do not change


def test_a_pile_cut_by_the_image_edge_may_hold_more_and_one_in_view_does_not() -> None:
    """Looked at from close and low, a box on a box runs out of the image at the top: its layers cannot all be
    seen, so the model marks what it counts there as possibly more (`more`). In full view it does not."""
    lower = _box(20, (0.0, 0.0, 0.2), (0.5, 0.45, 0.4))
    upper = _box(21, (0.02, 0.0, 0.6), (0.5, 0.45, 0.4), 0.25)
    out, pose, k = _render([lower, upper], (0.0, -0.9, 0.35), (0.0, 0.0, 0.35))
    boxes = [o for o in _model(out, pose, k).objects if o.cls == "box"]
    assert boxes and any(o.box is not None and o.box[1] == 0 for o in boxes)  # cut by the top edge
    assert any(o.more for o in boxes)
    out, pose, k = _render([lower, upper], (-0.4, -2.0, 1.5), (0.0, 0.0, 0.4))
    assert [o.more for o in _model(out, pose, k).objects if o.cls == "box"] == [False, False]  # two, whole
