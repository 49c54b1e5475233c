"""Scene memory: a camera pose puts objects in the world; re-sightings merge; memory is bounded; no pose, no memory."""

import dataclasses
import math

import numpy as np
import pytest

from ar_perception.errors import ArpError
from ar_perception.qa.memory import SceneMemory
from ar_perception.qa.model import SceneModel, SceneObject, direction_of, named


def obj(cls, at, t, structure=False, colour=None):
    x, y, z = at
    bearing = math.degrees(math.atan2(x, z))
    return SceneObject(
        name=cls,
        cls=cls,
        instance=1,
        structure=structure,
        area_px=100,
        area=0.01,
        centroid_m=(float(x), float(y), float(z)),
        extent_m=(0.5, 0.8, 0.3),
        distance_m=float(z),
        bearing_deg=bearing,
        elevation_deg=0.0,
        direction=direction_of(bearing),
        colour=colour,
        first_seen_s=t,
        last_seen_s=t,
        box=(0, 0, 10, 10),
    )


def frame(t, *objs):
    objects = named(sorted(objs, key=lambda o: o.distance_m))
    return SceneModel(objects, ["wall", "chair", "lamp", "table"], "camera", t, [o.name for o in objects])


def pose(yaw_deg=0.0, at=(0.0, 0.0, 0.0), pitch_deg=0.0, roll_deg=0.0):
    """Camera-to-world in a world with z up (the poses' convention): a level camera at `at` facing world +y,
    turned by `yaw_deg` about the vertical (+: to the right), pitched by `pitch_deg` (-: down), then rolled by
    `roll_deg` about its optical axis."""
    a, b = math.radians(yaw_deg), math.radians(pitch_deg)
    right = np.array([math.cos(a), -math.sin(a), 0.0])
    forward = np.array([math.sin(a) * math.cos(b), math.cos(a) * math.cos(b), math.sin(b)])
    down = np.cross(forward, right)  # camera x right, y down, z forward: x cross y = z
    r = math.radians(roll_deg)
    right, down = math.cos(r) * right + math.sin(r) * down, -math.sin(r) * right + math.cos(r) * down
    p = np.eye(4)
    p[:3, :3] = np.stack([right, down, forward], axis=1)
    p[:3, 3] = at
    return p


def test_without_a_pose_the_frame_comes_back_in_the_camera_frame():
    mem = SceneMemory()
    model = frame(1.0, obj("chair", (0, 0, 2), 1.0))
    for p in (None, np.full((4, 4), np.nan), np.eye(3)):
        out = mem.update(model, p)
        assert out is model and out.frame == "camera"
    assert mem.objects == []


def test_a_pose_puts_objects_in_world_coordinates():
    p = pose(90, at=(1.0, 2.0, 3.0))  # turned right: the camera's forward is world +x
    out = SceneMemory().update(frame(1.0, obj("chair", (0.5, 0.2, 2.0), 1.0)), p)
    assert out.frame == "world" and out.in_view == ["chair"]
    (chair,) = out.objects
    want = p[:3, :3] @ np.array([0.5, 0.2, 2.0]) + p[:3, 3]
    assert chair.centroid_m == pytest.approx(tuple(want)) and chair.centroid_m == pytest.approx((3.0, 1.5, 2.8))
    assert chair.distance_m == 2.0 and chair.extent_m == (0.5, 0.8, 0.3)  # as measured in the frame


def test_a_resighting_merges_and_keeps_when_first_seen():
    mem = SceneMemory(merge_m=0.5)
    mem.update(frame(1.0, obj("chair", (0, 0, 2), 1.0)), pose())
    # the camera moved 1 m forward and turned: the same chair is 1 m ahead of it, seen 0.2 m off
    out = mem.update(frame(2.0, obj("chair", (0.2, 0, 1.0), 2.0), obj("lamp", (0, 0, 1.0), 2.0)), pose(0, (0, 1, 0)))
    assert sorted(o.name for o in out.objects) == ["chair", "lamp"]
    chair = out.of_class("chair")[0]
    assert (chair.first_seen_s, chair.last_seen_s) == (1.0, 2.0)
    assert chair.centroid_m == pytest.approx((0.2, 2.0, 0.0))  # the newest sighting's place
    out = mem.update(frame(3.0, obj("chair", (0, 0, 3.0), 3.0)), pose(0, (0, 1, 0)))  # 2 m on: another chair
    assert [o.name for o in out.of_class("chair")] == ["chair 1", "chair 2"]
    assert out.in_view == ["chair 2"]  # the new one, farther


def test_two_seen_at_once_stay_two_and_other_classes_never_merge():
    mem = SceneMemory(merge_m=0.5)
    mem.update(frame(1.0, obj("chair", (0, 0, 2), 1.0)), pose())
    out = mem.update(frame(2.0, obj("chair", (0.1, 0, 2), 2.0), obj("chair", (-0.2, 0, 2), 2.0)), pose())
    assert len(out.of_class("chair")) == 2
    out = mem.update(frame(3.0, obj("table", (0.1, 0, 2), 3.0)), pose())
    assert len(out.of_class("chair")) == 2 and len(out.of_class("table")) == 1


def test_memory_is_bounded_least_recently_seen_go_first():
    mem = SceneMemory(max_objects=3, merge_m=0.5)
    for t in range(5):  # a chair 2 m apart each second
        out = mem.update(frame(float(t), obj("chair", (2.0 * t, 0, 5), float(t))), pose())
    assert len(mem.objects) == 3 and sorted(o.last_seen_s for o in out.objects) == [2.0, 3.0, 4.0]
    # seen again, the oldest kept one is recent again, and the next to go is another
    mem.update(frame(5.0, obj("chair", (4.0, 0, 5), 5.0)), pose())
    out = mem.update(frame(6.0, obj("chair", (-6.0, 0, 5), 6.0)), pose())
    assert sorted(o.last_seen_s for o in out.objects) == [4.0, 5.0, 6.0]


def test_what_is_out_of_view_is_placed_from_the_camera_now():
    mem = SceneMemory()
    mem.update(frame(1.0, obj("lamp", (0, 0, 2), 1.0), obj("wall", (0, 0, 4), 1.0, structure=True)), pose())
    out = mem.update(frame(5.0, obj("chair", (0, 0, 1.5), 5.0)), pose(180))  # turned around
    lamp = out.of_class("lamp")[0]
    assert out.in_view == ["chair"] and [o.name for o in out.visible()] == ["chair"]
    assert lamp.distance_m == pytest.approx(2.0) and abs(lamp.bearing_deg) == pytest.approx(180.0)  # behind
    assert lamp.last_seen_s == 1.0 and lamp.box is None
    assert out.of_class("wall") == []  # room structure is not remembered: only the frame's own
    out = mem.update(frame(6.0), pose(90))  # turned to the right: the lamp (straight ahead of the start) is left
    assert out.in_view == [] and out.visible() == [] and out.of_class("lamp")[0].direction == "left"


def test_behind_is_where_the_wearer_faces_not_the_optical_axis():
    """A camera pitched 60 degrees down has a lamp that stands behind the wearer, low down, in front of its image
    plane: it is still behind (the bearing is measured on the floor's plane)."""
    mem = SceneMemory()
    mem.update(frame(1.0, obj("lamp", (0.0, 1.2, 1.0), 1.0)), pose(180))  # seen facing back: world (0, -1, -1.2)
    tilted = pose(0, pitch_deg=-60)
    assert float(tilted[:3, :3].T[2] @ np.array([0.0, -1.0, -1.2])) > 0  # in front of the image plane
    lamp = mem.update(frame(2.0), tilted).of_class("lamp")[0]
    assert abs(lamp.bearing_deg) == pytest.approx(180.0) and lamp.distance_m == pytest.approx(math.hypot(1.0, 1.2))
    beside = mem.update(frame(3.0), pose(90, pitch_deg=-60)).of_class("lamp")[0]  # turned right: it is on the right
    assert beside.bearing_deg == pytest.approx(90.0) and beside.direction == "right"


@pytest.mark.parametrize(("pitch", "roll"), [(90, 0), (89.9, 0), (-90, 0), (-89.9, 0), (-45, 30), (-45, 60), (0, 90)])
def test_the_bearing_holds_looking_up_or_down_and_with_the_head_tilted(pitch: float, roll: float) -> None:
    """A lamp 2 m ahead of the wearer (world +y) and one 45 degrees to the right, both at eye height."""
    mem = SceneMemory()
    mem.update(frame(1.0, obj("lamp", (0.0, 0.0, 2.0), 1.0), obj("box", (2.0, 0.0, 2.0), 1.0)), pose())
    out = mem.update(frame(2.0), pose(0, pitch_deg=pitch, roll_deg=roll))
    lamp, box = out.of_class("lamp")[0], out.of_class("box")[0]
    assert lamp.bearing_deg == pytest.approx(0.0, abs=1e-6) and lamp.direction == "ahead"
    assert box.bearing_deg == pytest.approx(45.0) and box.direction == "right"
    assert lamp.elevation_deg == pytest.approx(0.0, abs=1e-6)  # from the floor's plane, not the optical axis


def test_time_going_back_starts_again_and_bad_input_is_refused():
    mem = SceneMemory()
    mem.update(frame(10.0, obj("lamp", (0, 0, 2), 10.0)), pose())
    out = mem.update(frame(1.0, obj("chair", (0, 0, 2), 1.0)), pose())  # a replay started over
    assert [o.name for o in out.objects] == ["chair"]
    with pytest.raises(ArpError, match="camera frame"):
        mem.update(out, pose())
    with pytest.raises(ArpError, match="max_objects"):
        SceneMemory(max_objects=0)


@pytest.mark.parametrize("seed", [3000, 3001, 3002])  # scene_qa.py's tuning rooms
def test_an_orbit_round_a_simulated_room_counts_each_object_once(seed):
    """The camera goes once round the room (the orbit, a frame a second, as benchmarks/scene_qa.py watches it): each
    object is seen from many sides, its visible part's middle moving. Memory holds no more objects of a class than
    the room has in view along the way, counted from the renderer's instance ids, and forgets none of the classes."""
    pytest.importorskip("open3d")
    from ar_perception.qa.model import build_scene_model
    from ar_perception.sim import SimSource

    src = SimSource(seed, (320, 240), "room", "orbit")
    cls_of = {o.instance_id: o.class_name for o in src.scene.objects}
    mem = SceneMemory()
    seen: dict[str, set[int]] = {}
    for k in range(24):
        f = src.frame_at(float(k), k)
        ids, counts = np.unique(f.instances, return_counts=True)
        for i, n in zip(ids.tolist(), counts.tolist(), strict=True):
            if i in cls_of and n >= 0.002 * f.instances.size:  # as large as the scene model's smallest object
                seen.setdefault(cls_of[i], set()).add(i)
        model = build_scene_model(f.labels, f.depth, list(f.class_names), dict(f.intrinsics), f.image, float(k))
        out = mem.update(model, f.pose)
    got = {c: len(out.of_class(c)) for c in seen}
    assert all(got[c] <= len(seen[c]) for c in seen), (got, {c: len(v) for c, v in seen.items()})
    assert all(got[c] >= 1 for c in seen), got


def test_a_box_on_a_box_stays_two_after_a_view_that_saw_the_pile_as_one():
    """A pile seen as one object first, then parted into its boxes: both boxes match the remembered pile; the one
    left over is not taken for a part of the other (as a lamp's shade over its base is)."""
    mem = SceneMemory(merge_m=0.5)
    pile = dataclasses.replace(obj("box", (0, -0.4, 2), 1.0), extent_m=(0.5, 0.9, 0.5))
    mem.update(frame(1.0, pile), pose())
    lower = dataclasses.replace(obj("box", (0, -0.2, 2), 2.0), extent_m=(0.5, 0.45, 0.5))
    upper = dataclasses.replace(obj("box", (0, -0.65, 2), 2.0), extent_m=(0.5, 0.45, 0.5))
    out = mem.update(frame(2.0, lower, upper), pose())
    assert len(out.of_class("box")) == 2 and len(out.in_view) == 2
    shade = dataclasses.replace(obj("lamp", (0, -1.2, 2), 3.0), extent_m=(0.4, 0.3, 0.4))
    base = dataclasses.replace(obj("lamp", (0, 0.4, 2), 3.0), extent_m=(0.3, 0.1, 0.3))
    mem.update(frame(3.0, dataclasses.replace(obj("lamp", (0, -0.4, 2), 3.0), extent_m=(0.4, 1.7, 0.4))), pose())
    out = mem.update(frame(4.0, shade, base), pose())
    assert len(out.of_class("lamp")) == 1  # the lamp's shade and base, its pole unseen: one lamp


def _seen_as(o, extent, box, distance=None, pixels=100):
    return dataclasses.replace(o, extent_m=extent, box=box, distance_m=distance or o.distance_m, area_px=pixels)


def test_pieces_of_a_remembered_chair_parted_by_a_nearer_one_are_that_chair():
    """A chair seen whole, then behind a nearer chair: the two ends of its back's top, left and right of the
    nearer one and both inside its remembered box, are the one chair; the same two pieces with nothing nearer
    between them in the image are two chairs (the frame saw two, nothing says otherwise)."""

    def start():
        mem = SceneMemory(merge_m=0.5)
        rear = _seen_as(obj("chair", (0, 0, 3.0), 1.0), (0.5, 0.9, 0.5), (100, 50, 160, 150), pixels=2000)
        mem.update(frame(1.0, rear), pose())
        return mem

    left = _seen_as(obj("chair", (-0.18, -0.3, 3.0), 2.0), (0.1, 0.15, 0.1), (100, 50, 112, 70), pixels=240)
    right = _seen_as(obj("chair", (0.18, -0.3, 3.0), 2.0), (0.1, 0.15, 0.1), (148, 50, 160, 70), pixels=240)
    front = _seen_as(obj("chair", (0, 0.1, 2.0), 2.0), (0.5, 0.9, 0.5), (110, 60, 150, 200), pixels=5000)
    out = start().update(frame(2.0, front, left, right), pose())
    assert len([o for o in out.objects if o.name in out.in_view]) == 2  # the nearer chair, and the one behind it
    out = start().update(frame(2.0, left, right), pose())
    assert len([o for o in out.objects if o.name in out.in_view]) == 2  # no occluder: two pieces, two chairs
    far = _seen_as(front, front.extent_m, front.box, distance=3.5)  # between them in the image, but farther
    out = start().update(frame(2.0, far, left, right), pose())
    assert len([o for o in out.objects if o.name in out.in_view]) == 3


def test_a_pile_is_a_lower_bound_while_the_image_edge_cuts_it():
    """Seen whole before (one region, which may itself have hidden a flush stack), cut by the edge now: what the
    newest view says; memory does not make a count surer than the view."""
    mem = SceneMemory(merge_m=0.5)
    whole = obj("box", (0, 0, 2), 1.0)
    assert not mem.update(frame(1.0, whole), pose()).of_class("box")[0].more
    cut = dataclasses.replace(obj("box", (0, 0, 2), 2.0), more=True)  # its top out of the image now
    out = mem.update(frame(2.0, cut), pose())
    assert out.of_class("box")[0].more and len(out.of_class("box")) == 1


def test_two_chairs_seen_as_one_before_stay_two_behind_a_table():
    """Two chairs side by side, seen as one region 0.9 m wide first (one object's size), then apart, with a table
    in front covering the image between them: each is half the region, no fragment of it: two chairs."""
    mem = SceneMemory(merge_m=0.5)
    merged = _seen_as(obj("chair", (0, 0, 3.0), 1.0), (0.9, 0.9, 0.5), (100, 50, 200, 150), pixels=2000)
    mem.update(frame(1.0, merged), pose())
    a = _seen_as(obj("chair", (-0.25, 0, 3.0), 2.0), (0.45, 0.9, 0.5), (100, 50, 148, 150), pixels=900)
    b = _seen_as(obj("chair", (0.25, 0, 3.0), 2.0), (0.45, 0.9, 0.5), (152, 50, 200, 150), pixels=900)
    table = _seen_as(obj("table", (0, 0.3, 2.2), 2.0), (1.4, 0.75, 0.9), (60, 90, 240, 200), pixels=6000)
    out = mem.update(frame(2.0, table, a, b), pose())
    assert len([o for o in out.objects if o.name in out.in_view and o.cls == "chair"]) == 2


def test_a_remembered_objects_lowest_point_is_the_lowest_seen_and_its_bottom_hidden_only_if_always():
    # a lamp seen whole (its foot on the floor, 1.5 m below a level camera), then close with its foot below the
    # image's edge: memory still knows where its bottom is
    mem = SceneMemory()
    whole = dataclasses.replace(obj("lamp", (0.0, 0.2, 3.0), 1.0), span_up_m=(1.3, 0.3))
    mem.update(frame(1.0, whole), pose())
    near = dataclasses.replace(obj("lamp", (0.0, -0.2, 3.0), 2.0), span_up_m=(0.5, 0.3), bottom_hidden=True)
    (lamp,) = mem.update(frame(2.0, near), pose()).of_class("lamp")
    assert lamp.span_up_m is not None
    below, above = lamp.span_up_m
    assert math.isclose(lamp.centroid_m[2] - below, -1.5, abs_tol=1e-6)  # world z: the foot seen at first
    assert math.isclose(lamp.centroid_m[2] + above, 0.5, abs_tol=1e-6)
    assert not lamp.bottom_hidden
    # hidden in every sighting: still hidden
    mem = SceneMemory()
    mem.update(frame(1.0, near), pose())
    (lamp,) = mem.update(frame(2.0, dataclasses.replace(near, last_seen_s=2.0)), pose()).of_class("lamp")
    assert lamp.bottom_hidden
