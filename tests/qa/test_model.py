"""The scene model from generated masks and depth maps with known answers: instances, structure, geometry, colour."""

import math

import numpy as np
import pytest

from ar_perception.errors import ArpError
from ar_perception.qa.model import SceneModel, build_scene_model
from ar_perception.qa.regions import components, label_components

CLASSES = ["background", "floor", "wall", "chair", "table", "lamp", "box", "void"]
BG, FLOOR, WALL, CHAIR, TABLE, LAMP, BOX, VOID = range(8)
W, H = 320, 240
CAMERA = {"fx": 250.0, "fy": 250.0, "cx": 159.5, "cy": 119.5, "width": W, "height": H}


def scene(fill: int = WALL, z: float = 6.0) -> tuple[np.ndarray, np.ndarray]:
    return np.full((H, W), fill, np.uint8), np.full((H, W), z, np.float32)


def put(labels, depth, cls, rows, cols, z):
    labels[rows, cols], depth[rows, cols] = cls, z


def build(labels, depth, **kw):
    return build_scene_model(labels, depth, CLASSES, CAMERA, **kw)


def objects(model: SceneModel, cls: str):
    return model.of_class(cls)


def test_one_class_at_two_depths_is_two_objects_nearest_first():
    labels, depth = scene()
    put(labels, depth, CHAIR, slice(120, 200), slice(100, 160), 1.5)
    put(labels, depth, CHAIR, slice(60, 200), slice(160, 220), 3.0)  # touching it in the image, 1.5 m behind
    chairs = objects(build(labels, depth), "chair")
    assert [(c.name, c.instance) for c in chairs] == [("chair 1", 1), ("chair 2", 2)]
    assert [round(c.distance_m, 2) for c in chairs] == [1.5, 3.0]
    assert chairs[0].area_px == 80 * 60 and chairs[1].area_px == 140 * 60


def test_one_class_at_one_depth_is_one_object_and_apart_is_two():
    labels, depth = scene()
    put(labels, depth, CHAIR, slice(120, 200), slice(100, 160), 2.0)
    put(labels, depth, CHAIR, slice(120, 200), slice(160, 220), 2.05)  # touching, the same depth: one region
    ((chair,),) = [objects(build(labels, depth), "chair")]
    assert chair.name == "chair" and chair.area_px == 80 * 120
    put(labels, depth, CHAIR, slice(120, 200), slice(160, 200), 7.0)  # wall between them: apart
    put(labels, depth, WALL, slice(120, 200), slice(160, 200), 6.0)
    assert [c.name for c in objects(build(labels, depth), "chair")] == ["chair 1", "chair 2"]


def test_a_part_seen_under_its_own_edge_is_the_same_object_and_one_behind_above_is_another():
    labels, depth = scene()
    put(labels, depth, TABLE, slice(100, 130), slice(60, 200), 2.0)  # the top
    put(labels, depth, TABLE, slice(130, 190), slice(180, 190), 2.6)  # a back leg seen below it, farther
    model = build(labels, depth)
    ((table,),) = [objects(model, "table")]
    assert table.area_px == 30 * 140 + 60 * 10
    assert [o.name for o in model.of_class("wall")] == ["wall"]  # the first region (top left) kept when joining
    put(labels, depth, CHAIR, slice(140, 220), slice(220, 280), 1.5)
    put(labels, depth, CHAIR, slice(80, 140), slice(220, 280), 3.0)  # a farther chair showing above the near one
    assert [round(c.distance_m, 1) for c in objects(build(labels, depth), "chair")] == [1.5, 3.0]


def test_a_chair_seen_close_from_behind_is_one_chair_and_one_behind_it_showing_its_top_is_another():
    # Its back near, its seat beside and below it 0.3 m farther (a depth step: 0.3 > 0.1 x 1.0 + 0.1).
    labels, depth = scene(FLOOR, 3.0)
    put(labels, depth, CHAIR, slice(100, 200), slice(100, 160), 1.0)
    put(labels, depth, CHAIR, slice(170, 240), slice(160, 220), 1.3)
    ((chair,),) = [objects(build(labels, depth), "chair")]
    assert chair.area_px == 100 * 60 + 70 * 60
    # the same pieces of a box (not a class of parts at different heights) stay two
    box_labels = np.where(labels == CHAIR, BOX, labels).astype(np.uint8)
    assert len(objects(build(box_labels, depth), "box")) == 2
    # another chair 0.3 m behind, beside the near one, its top as high as the near one's: two chairs
    put(labels, depth, CHAIR, slice(100, 240), slice(160, 220), 1.3)
    assert [round(c.distance_m, 1) for c in objects(build(labels, depth), "chair")] == [1.0, 1.3]
    # the same low piece 0.6 m behind (more than one chair's depth): another chair
    far_labels, far_depth = scene(FLOOR, 3.0)
    put(far_labels, far_depth, CHAIR, slice(100, 200), slice(100, 160), 1.0)
    put(far_labels, far_depth, CHAIR, slice(170, 240), slice(160, 220), 1.6)
    assert [round(c.distance_m, 1) for c in objects(build(far_labels, far_depth), "chair")] == [1.0, 1.6]
    # two slivers, each too small to be a region, are not joined into one that would count as a chair
    bits_labels, bits_depth = scene(FLOOR, 3.0)
    put(bits_labels, bits_depth, CHAIR, slice(90, 110), slice(100, 106), 1.0)
    put(bits_labels, bits_depth, CHAIR, slice(108, 118), slice(106, 118), 1.3)
    assert objects(build(bits_labels, bits_depth), "chair") == []


def test_a_shelf_cut_by_the_left_or_right_edge_may_be_more_than_one():
    # Bookcases stand in rows: one cut by a side edge may have a neighbour beyond it in the same region; one cut
    # only by the bottom edge is one. A chair cut by a side edge is one chair.
    classes = [*CLASSES, "shelf"]
    shelf = len(CLASSES)
    labels, depth = scene()
    put(labels, depth, shelf, slice(40, 200), slice(0, 80), 3.0)  # at the left edge
    put(labels, depth, shelf, slice(40, 240), slice(140, 200), 2.5)  # down to the bottom edge only
    put(labels, depth, CHAIR, slice(120, 200), slice(280, 320), 2.0)  # at the right edge
    model = build_scene_model(labels, depth, classes, CAMERA)
    assert [(o.distance_m, o.more) for o in model.of_class("shelf")] == [(2.5, False), (3.0, True)]
    assert [o.more for o in model.of_class("chair")] == [False]


def test_an_object_cut_by_a_nearer_occluder_is_one_object():
    labels, depth = scene()
    put(labels, depth, BOX, slice(100, 160), slice(100, 220), 3.0)
    put(labels, depth, LAMP, slice(40, 240), slice(156, 164), 2.0)  # a pole in front cuts the box in two
    model = build(labels, depth)
    ((box,),) = [objects(model, "box")]
    assert box.area_px == 60 * 112 and math.isclose(box.extent_m[0], 120 * 3.0 / 250, rel_tol=0.05)
    assert [o.name for o in objects(model, "lamp")] == ["lamp"]


def test_structure_is_in_the_model_flagged_and_non_surfaces_never():
    labels, depth = scene(WALL, 5.0)
    put(labels, depth, FLOOR, slice(200, 240), slice(0, W), 2.0)
    put(labels, depth, BG, slice(0, 40), slice(0, W), 0.0)
    put(labels, depth, VOID, slice(40, 60), slice(0, W), 9.0)
    put(labels, depth, WALL, slice(60, 200), slice(0, 100), 3.0)  # a nearer wall on the left...
    put(labels, depth, BOX, slice(60, 200), slice(100, 120), 2.0)  # ... apart from the far one
    put(labels, depth, CHAIR, slice(150, 200), slice(200, 260), 1.2)
    model = build(labels, depth)
    assert [(o.name, o.structure) for o in model.objects] == [
        ("chair", False),
        ("box", False),
        ("floor", True),
        ("wall 1", True),
        ("wall 2", True),
    ]
    assert model.of_class("wall")[0].distance_m == pytest.approx(3.0)  # "the wall": the nearest
    assert model.of_class("wall")[0].direction == "left"
    assert "void" not in model.classes and "background" not in model.classes and "wall" in model.classes
    assert model.frame == "camera" and model.in_view == [o.name for o in model.objects]


def plane_depth(normal, offset, rows, cols):
    """z-depth of the plane normal . p = offset at the pixels rows x cols (CAMERA's rays)."""
    v, u = np.mgrid[rows, cols]
    n = np.asarray(normal, float) / np.linalg.norm(normal)
    along = n[0] * (u - CAMERA["cx"]) / CAMERA["fx"] + n[1] * (v - CAMERA["cy"]) / CAMERA["fy"] + n[2]
    return (offset / along).astype(np.float32)


def test_walls_are_counted_by_the_planes_they_lie_on_not_by_connectivity():
    labels, depth = scene(WALL, 4.0)  # a wall facing the camera, 4 m away, over the whole view
    seam = 200  # from this column on, a second wall meets it at a corner: connected in the mask, another plane
    x0 = (seam - CAMERA["cx"]) / CAMERA["fx"] * 4.0
    side = (-0.8, 0.0, 0.6)  # turned towards the camera on the right
    depth[:, seam:] = plane_depth(side, float(np.dot(side, (x0, 0.0, 4.0))), slice(0, H), slice(seam, W))
    assert np.allclose(depth[:, seam - 1], depth[:, seam], rtol=0.02)  # no depth step at the corner
    assert [o.name for o in build(labels, depth).of_class("wall")] == ["wall 1", "wall 2"]
    labels, depth = scene(WALL, 4.0)
    put(labels, depth, TABLE, slice(0, H), slice(120, 200), 2.0)  # something in front cuts one wall in two
    assert [o.name for o in build(labels, depth).of_class("wall")] == ["wall"]
    labels[:, :120] = FLOOR  # the same cut in the floor: still one floor, another class than the wall
    assert [o.name for o in build(labels, depth).of_class("floor")] == ["floor"]


def test_centroid_extent_distance_and_bearing_in_metres():
    labels, depth = scene()
    put(labels, depth, BOX, slice(40, 100), slice(20, 80), 2.0)  # upper left
    put(labels, depth, TABLE, slice(150, 200), slice(140, 180), 4.0)  # just below the centre
    put(labels, depth, CHAIR, slice(100, 140), slice(260, 300), 3.0)  # right
    model = build(labels, depth, time_s=12.5)
    box, table, chair = (model.of_class(c)[0] for c in ("box", "table", "chair"))
    u, v = (20 + 79) / 2, (40 + 99) / 2  # the box's middle pixel
    assert box.centroid_m == pytest.approx(((u - 159.5) / 250 * 2, (v - 119.5) / 250 * 2, 2.0), abs=0.01)
    assert box.extent_m == pytest.approx((60 * 2 / 250, 60 * 2 / 250, 0.0), rel=0.03, abs=0.01)
    assert table.extent_m == pytest.approx((40 * 4 / 250, 50 * 4 / 250, 0.0), rel=0.03, abs=0.01)
    assert box.bearing_deg == pytest.approx(math.degrees(math.atan2(u - 159.5, 250)), abs=0.5)
    assert box.elevation_deg > 0 > table.elevation_deg  # + above the optical axis
    assert (box.direction, table.direction, chair.direction) == ("left", "ahead", "right")
    assert abs(table.bearing_deg) <= 10 < abs(chair.bearing_deg)
    assert box.box == (20, 40, 80, 100) and box.area == pytest.approx(60 * 60 / (W * H))
    assert all(o.first_seen_s == o.last_seen_s == 12.5 for o in model.objects) and model.time_s == 12.5


def test_colour_from_the_image_under_the_object():
    labels, depth = scene()
    image = np.full((H, W, 3), 235, np.uint8)  # white wall
    put(labels, depth, CHAIR, slice(100, 180), slice(40, 100), 2.0)
    image[100:180, 40:100] = (200, 30, 30)
    put(labels, depth, BOX, slice(100, 160), slice(200, 260), 3.0)
    image[100:160, 200:260] = (40, 80, 200)
    image[100:104, 200:260] = 0  # a dark edge: outliers do not change the name
    model = build(labels, depth, image=image)
    assert {o.name: o.colour for o in model.objects} == {"chair": "red", "box": "blue", "wall": "white"}
    half = build(labels, depth, image=np.ascontiguousarray(image[::2, ::2]))  # the image at another resolution
    assert {o.name: o.colour for o in half.objects} == {"chair": "red", "box": "blue", "wall": "white"}
    assert all(o.colour is None for o in build(labels, depth).objects)


def test_mask_at_another_resolution_and_without_intrinsics():
    labels, depth = scene()
    put(labels, depth, CHAIR, slice(100, 180), slice(40, 100), 2.0)
    small = build_scene_model(labels[::2, ::2], depth, CLASSES)  # no camera: a 60 degree view is assumed
    chair = small.of_class("chair")[0]
    assert chair.area_px == 40 * 30  # pixels of the mask, at its resolution
    assert chair.extent_m[0] == pytest.approx(60 * 2 / ((W / 2) / math.tan(math.radians(30))), rel=0.05)
    assert chair.direction == "left"


def test_small_regions_invalid_depth_and_bad_input():
    labels, depth = scene()
    put(labels, depth, CHAIR, slice(100, 105), slice(40, 45), 2.0)  # 25 pixels: noise
    put(labels, depth, BOX, slice(100, 180), slice(140, 200), 0.0)  # no depth: cannot be placed
    assert [o.cls for o in build(labels, depth).objects] == ["wall"]
    with pytest.raises(ArpError, match="depth must be"):
        build(labels, depth[None])
    with pytest.raises(ArpError, match="image must be"):
        build(labels, depth, image=np.zeros((H, W), np.uint8))


def test_model_round_trips_through_a_dict():
    labels, depth = scene()
    put(labels, depth, CHAIR, slice(100, 180), slice(40, 100), 2.0)
    model = build(labels, depth, image=np.full((H, W, 3), 128, np.uint8), time_s=3.0)
    again = SceneModel.from_dict(model.as_dict())
    assert again == model and again.objects[0].box == model.objects[0].box


def test_connected_components_match_scipy_and_depth_cuts():
    m = np.zeros((6, 7), bool)
    m[1:5, 1] = m[4, 1:5] = m[1:5, 4] = True  # a U
    m[0, 6] = m[1, 5] = True  # (1, 5) touches the U at (1, 4); (0, 6) touches (1, 5) diagonally
    m[5, 6] = True  # alone: its only diagonal neighbour (4, 5) is empty
    labels, n = label_components(m)
    assert n == 2 and labels[0, 6] == labels[1, 1] and labels[5, 6] != labels[1, 1]
    ndimage = pytest.importorskip("scipy.ndimage")
    rng = np.random.default_rng(1)
    for _ in range(5):
        r = rng.random((40, 50)) < 0.45
        ours, n = label_components(r)
        ref, n_ref = ndimage.label(r, structure=np.ones((3, 3)))
        assert n == n_ref and len({(a, b) for a, b in zip(ours.ravel(), ref.ravel(), strict=True)}) == n + 1
    keys = np.zeros((4, 6), np.int8)
    depth = np.array([[1.0, 1.0, 1.0, 2.0, 2.0, 2.0]] * 4, np.float32)
    valid = np.ones((4, 6), bool)
    assert components(keys, valid, depth, valid)[1] == 2  # a step of 1 m at 1 m: cut
    assert components(keys, valid, depth, ~valid)[1] == 1  # not where cutting is off (room structure)
    assert components(keys, valid, depth, valid, jump_rel=0.5, jump_m=0.6)[1] == 1


def test_a_region_too_big_for_one_object_of_its_class_is_at_least_as_many():
    labels, depth = scene(WALL, 6.0)
    put(labels, depth, BOX, slice(40, 190), slice(40, 100), 2.0)  # 1.2 m tall at 2 m: over 0.7 m, two boxes at least
    put(labels, depth, BOX, slice(150, 200), slice(200, 250), 2.0)  # 0.4 m: one box
    put(labels, depth, LAMP, slice(0, 230), slice(150, 160), 2.0)  # 1.84 m tall: one floor lamp (2 m at most)
    by_class = {o.name: o.at_least for o in build(labels, depth).objects if not o.structure}
    assert by_class == {"box 1": 2, "box 2": 1, "lamp": 1} or by_class == {"box 2": 2, "box 1": 1, "lamp": 1}
    # height is along the up the camera pose gives: a box 0.9 m wide and 0.4 m tall is one box with the camera
    # level, and at least two with it rolled 90 degrees (the 0.9 m is then its height)
    labels, depth = scene(WALL, 6.0)
    put(labels, depth, BOX, slice(100, 150), slice(100, 212), 2.0)
    assert [o.at_least for o in build(labels, depth).of_class("box")] == [1]
    assert [o.at_least for o in build(labels, depth, up=(1.0, 0.0, 0.0)).of_class("box")] == [2]
    with pytest.raises(ArpError, match="up must be"):
        build(labels, depth, up=(0.0, 0.0, 0.0))
    pose_row = np.array([2.0, 0.0, 0.0])  # from a recorded pose: read-only, and not of unit length
    pose_row.flags.writeable = False
    assert [o.at_least for o in build(labels, depth, up=pose_row).of_class("box")] == [2]


def test_a_lamp_region_a_metre_deep_is_two_lamps_at_least():
    # two lamps one behind the other whose shades touch in the image: one region, its depth running from 2 m to 3 m
    labels, depth = scene(WALL, 6.0)
    put(labels, depth, LAMP, slice(20, 200), slice(100, 130), np.linspace(2.0, 3.0, 30, dtype=np.float32))
    assert [o.at_least for o in build(labels, depth).of_class("lamp")] == [2]
    labels, depth = scene(WALL, 6.0)
    put(labels, depth, LAMP, slice(20, 200), slice(100, 130), np.linspace(2.0, 2.4, 30, dtype=np.float32))
    assert [o.at_least for o in build(labels, depth).of_class("lamp")] == [1]


def test_pieces_on_both_sides_of_an_occluder_that_fit_one_object_may_be_one_or_two():
    # a box's two ends on either side of a nearer lamp's base: one object or two, so "at least one"
    labels, depth = scene(WALL, 6.0)
    put(labels, depth, BOX, slice(100, 140), slice(130, 150), 3.0)
    put(labels, depth, LAMP, slice(60, 160), slice(150, 180), 2.0)
    put(labels, depth, BOX, slice(100, 140), slice(180, 200), 3.2)
    ((box,),) = [objects(build(labels, depth), "box")]
    assert (box.at_least, box.more, box.area_px) == (1, True, 2 * 40 * 20)
    # the wall in view between them: two boxes side by side
    put(labels, depth, WALL, slice(60, 160), slice(150, 180), 6.0)
    assert [(o.at_least, o.more) for o in objects(build(labels, depth), "box")] == [(1, False), (1, False)]
    # too far apart to be one box (1.4 m across at 3 m), the lamp between them: two
    labels, depth = scene(WALL, 6.0)
    put(labels, depth, BOX, slice(100, 140), slice(80, 120), 3.0)
    put(labels, depth, LAMP, slice(60, 160), slice(120, 160), 2.0)
    put(labels, depth, BOX, slice(100, 140), slice(160, 200), 3.0)
    assert [(o.at_least, o.more) for o in objects(build(labels, depth), "box")] == [(1, False), (1, False)]


def test_an_objects_bottom_and_top_are_where_its_lowest_and_highest_points_are():
    # a floor lamp: a thin pole under a big shade; its centroid is in the shade, its bottom on the floor
    labels, depth = scene(WALL, 6.0)
    put(labels, depth, LAMP, slice(20, 80), slice(120, 200), 2.0)  # the shade
    put(labels, depth, LAMP, slice(80, 200), slice(158, 162), 2.0)  # the pole
    ((lamp,),) = [objects(build(labels, depth), "lamp")]
    below, above = lamp.span_up_m
    centre_v = 119.5 + lamp.centroid_m[1] * 250 / 2.0  # the centroid's image row (y down)
    assert math.isclose(below, (199 - centre_v) * 2.0 / 250, abs_tol=0.05)
    assert math.isclose(above, (centre_v - 20) * 2.0 / 250, abs_tol=0.05)
    assert below > 2 * above and not lamp.bottom_hidden
    put(labels, depth, LAMP, slice(200, 240), slice(158, 162), 2.0)  # down to the image's lower edge
    ((lamp,),) = [objects(build(labels, depth), "lamp")]
    assert lamp.bottom_hidden
    # standing on the floor, the floor in front of its foot just below it in the image: its bottom is in view
    labels, depth = scene(WALL, 20.0)
    rows = np.arange(150, 240)[:, None]
    put(labels, depth, FLOOR, slice(150, 240), slice(0, W), 1.5 * 250 / (rows - 119.5))  # 1.5 m below the camera
    put(labels, depth, LAMP, slice(40, 160), slice(150, 170), 1.5 * 250 / (160 - 119.5))
    ((lamp,),) = [objects(build(labels, depth), "lamp")]
    assert not lamp.bottom_hidden
    # the same lamp behind a nearer box that covers its lower part: its bottom may be hidden
    put(labels, depth, BOX, slice(140, 200), slice(130, 190), 5.0)
    ((lamp,),) = [objects(build(labels, depth), "lamp")]
    assert lamp.bottom_hidden


def test_how_many_a_chair_parted_by_colour_is_at_least_is_measured_on_its_own_colour():
    # an orange chair and a purple one touching in the image; dark pixels (no colour) reaching far behind it (the
    # legs of a chair beyond), in the same region, join the purple part but do not make it "two chairs at least"
    labels, depth = scene(WALL, 8.0)
    image = np.full((H, W, 3), 200, np.uint8)
    put(labels, depth, CHAIR, slice(100, 180), slice(100, 150), 2.0)
    put(labels, depth, CHAIR, slice(100, 180), slice(150, 200), 2.3)
    image[100:180, 100:150], image[100:180, 150:200] = (230, 110, 20), (150, 50, 140)
    ramp = np.linspace(2.4, 3.6, 20, dtype=np.float32)[:, None]  # dark, up to 1.3 m behind, no depth step
    put(labels, depth, CHAIR, slice(160, 180), slice(190, 200), ramp)  # 5 % of the region
    image[160:180, 190:200] = (3, 3, 3)
    chairs = objects(build(labels, depth, image=image), "chair")
    assert sorted(c.colour for c in chairs) == ["orange", "purple"]
    assert [c.at_least for c in chairs] == [1, 1]
    assert all(c.extent_m[2] < 0.1 for c in chairs)  # each a flat board, not 1.3 m deep: the size of its own colour


def test_three_pieces_of_one_box_round_two_occluders_are_one_region_that_may_be_more():
    labels, depth = scene(WALL, 6.0)
    for c0, z in ((100, 2.5), (140, 2.6), (180, 2.7)):  # a box 0.9 m wide at 2.5 m, seen between two lamp poles
        put(labels, depth, BOX, slice(100, 140), slice(c0, c0 + 10), z)
    for c0 in (110, 150):  # 0.3 m gaps: too far apart to be joined as pieces of one object for sure
        put(labels, depth, LAMP, slice(40, 200), slice(c0, c0 + 30), 1.5)
    ((box,),) = [objects(build(labels, depth), "box")]
    assert (box.at_least, box.more, box.area_px) == (1, True, 3 * 40 * 10)
