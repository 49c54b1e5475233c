"""Scene facts and the scene model from a mask and a depth map with known answers (+ an image for colours, + a
camera pose for memory), and from simulated ground truth."""

import numpy as np
import pytest

from ar_perception.nodes.scene import Scene
from ar_perception.qa.model import SceneModel
from ar_perception.runtime.harness import NodeHarness, run_node
from ar_perception.runtime.msg import Msg, encode

CLASSES = ["background", "floor", "wall", "chair", "table", "person", "lamp"]
CAMERA = {"fx": 250.0, "fy": 250.0, "cx": 159.5, "cy": 119.5, "width": 320, "height": 240}


def room():
    labels = np.full((240, 320), 2, np.uint8)  # wall
    depth = np.full((240, 320), 5.0, np.float32)
    labels[200:], depth[200:] = 1, 2.0  # floor
    labels[150:230, 20:80], depth[150:230, 20:80] = 3, 1.2  # chair, left, low
    labels[130:180, 130:190], depth[130:180, 130:190] = 4, 2.3  # table, ahead
    labels[60:200, 250:290], depth[60:200, 250:290] = 5, 3.1  # person, right, tall
    labels[150:190, 220:240], depth[150:190, 220:240] = 3, 4.0  # a second chair, right
    return labels, depth


def msgs(labels, depth, t=1, camera=True):
    out = [
        ("mask", Msg(kind="Mask", arrays={"data": labels}, meta={"classes": CLASSES}, capture_ns=t)),
        ("depth", Msg(kind="Depth", arrays={"data": depth}, capture_ns=t)),
    ]
    return ([("camera", Msg(kind="CameraInfo", meta=CAMERA, capture_ns=t))] if camera else []) + out


def test_facts_with_known_answers():
    ((name, facts),) = run_node(Scene, msgs(*room()))
    assert name == "facts" and facts.kind == "Text" and facts.capture_ns == 1
    assert facts.meta["text"].splitlines() == [
        "In view: 2 chairs, 1 table, 1 person.",
        "Nearest: the chair 1, 1.2 m, left.",
        "chair 1: 1.2 m away, left, down, 0.3 m wide, 0.4 m tall.",
        "table: 2.3 m away, centre, level, 0.6 m wide, 0.5 m tall.",
        "person: 3.1 m away, right, level, 0.5 m wide, 1.7 m tall.",
        "chair 2: 4.0 m away, right, level, 0.3 m wide, 0.6 m tall.",
        "Left to right: chair 1, table, chair 2, person.",
        "Not in view: lamp.",
    ]
    objects = {o["name"]: o for o in facts.meta["objects"]}
    assert [o["name"] for o in facts.meta["objects"]] == ["chair 1", "table", "person", "chair 2"]
    assert objects["table"]["distance_m"] == 2.3 and objects["table"]["direction"] == "centre"
    assert objects["person"]["height_m"] == pytest.approx(140 * 3.1 / 250, rel=0.05)
    assert objects["chair 1"]["sentence"] == "The chair 1 is 1.2 metres away, on the left."
    assert facts.meta["classes"] == ["chair", "table", "person", "lamp"]


def test_pairs_mask_and_depth_of_one_capture_and_says_it_once():
    labels, depth = room()
    h = NodeHarness(Scene)
    assert h.feed("mask", msgs(labels, depth, t=10, camera=False)[0][1]) == []  # no depth yet
    assert len(h.feed("depth", msgs(labels, depth, t=10, camera=False)[1][1])) == 1
    assert h.feed("camera", Msg(kind="CameraInfo", meta=CAMERA, capture_ns=10)) == []
    late = Msg(kind="Depth", arrays={"data": depth}, capture_ns=10 + 500_000_000)
    assert h.feed("depth", late) == []  # half a second apart: not one moment
    assert len(h.feed("mask", msgs(labels, depth, t=10 + 500_000_000)[1][1])) == 1


def test_without_intrinsics_and_with_no_objects():
    labels, depth = room()
    ((_, facts),) = run_node(Scene, msgs(labels, depth, camera=False))
    assert [o["direction"] for o in facts.meta["objects"]] == ["left", "centre", "right", "right"]
    ((_, empty),) = run_node(Scene, msgs(np.full((48, 64), 2, np.uint8), np.ones((48, 64), np.float32)))
    assert empty.meta["text"] == "No objects in view." and empty.meta["objects"] == []


def test_mask_at_another_resolution_than_depth():
    labels, depth = room()
    small = labels[::2, ::2]  # a head's mask at half resolution
    ((_, facts),) = run_node(Scene, msgs(small, depth))
    assert [o["name"] for o in facts.meta["objects"]] == ["chair 1", "table", "person", "chair 2"]


def test_simulated_ground_truth_objects_are_found_at_their_distance():
    from ar_perception.sim import SimSource

    src = SimSource(seed=3)
    f = src.frame(0)
    ((_, facts),) = run_node(
        Scene,
        [
            ("camera", Msg(kind="CameraInfo", meta=f.intrinsics, capture_ns=1)),
            ("mask", Msg(kind="Mask", arrays={"data": f.labels}, meta={"classes": list(f.class_names)}, capture_ns=1)),
            ("depth", Msg(kind="Depth", arrays={"data": f.depth}, capture_ns=1)),
        ],
    )
    found = facts.meta["objects"]
    gt: dict[str, list[float]] = {}  # class -> median depths of its instances
    for iid in np.unique(f.instances):
        sel = f.instances == iid
        if iid >= 7 and sel.mean() >= 0.002:  # objects, not room structure
            cls = f.class_names[int(np.bincount(f.labels[sel]).argmax())]
            gt.setdefault(cls, []).append(float(np.median(f.depth[sel])))
    assert {o["class"] for o in found} == set(gt)
    for o in found:  # two chairs that touch in the image are one region: its distance is one of theirs
        assert min(abs(o["distance_m"] - d) / d for d in gt[o["class"]]) < 0.15, (o, gt)


def test_the_scene_model_rides_along_with_structure_and_travels():
    ((_, facts),) = run_node(Scene, msgs(*room()))
    encode(facts)  # the model is plain JSON
    model = model_of(facts)
    assert model.frame == "camera" and model.time_s == pytest.approx(1e-9)
    assert [(o.name, o.structure) for o in model.objects] == [
        ("chair 1", False),
        ("floor", True),
        ("table", False),
        ("person", False),
        ("chair 2", False),
        ("wall", True),
    ]
    assert [o.name for o in model.objects if not o.structure] == [o["name"] for o in facts.meta["objects"]]
    assert all(o.colour is None for o in model.objects)  # no image: no colours


def test_an_image_gives_colours_and_must_be_of_the_moment():
    labels, depth = room()
    image = np.full((240, 320, 3), 240, np.uint8)
    image[150:230, 20:80] = (200, 30, 30)  # chair 1 red
    image[130:180, 130:190] = (110, 65, 30)  # table brown
    h = NodeHarness(Scene)
    assert h.feed("image", Msg(kind="Image", arrays={"data": image}, capture_ns=1)) == []
    for name, m in msgs(labels, depth):
        out = h.feed(name, m)
    ((_, facts),) = out
    colours = {o["name"]: o["colour"] for o in facts.meta["objects"]}
    assert colours["chair 1"] == "red" and colours["table"] == "brown"
    assert "chair 1: 1.2 m away, left, down, 0.3 m wide, 0.4 m tall, red." in facts.meta["text"].splitlines()
    later = 1 + 10**9  # a mask a second after the newest image: no colours rather than another moment's
    ((_, facts),) = [o for name, m in msgs(labels, depth, t=later) for o in h.feed(name, m)]
    assert all(o["colour"] is None for o in facts.meta["objects"])


def test_with_a_pose_objects_are_remembered_in_the_world():
    labels, depth = room()
    h = NodeHarness(Scene)

    def see(t_s: float, lab, dep, at_x: float):
        pose = np.eye(4)
        pose[0, 3] = at_x
        t = int(t_s * 1e9)
        h.feed("camera", Msg(kind="CameraInfo", arrays={"pose": pose}, meta=CAMERA, capture_ns=t))
        h.feed("mask", Msg(kind="Mask", arrays={"data": lab}, meta={"classes": CLASSES}, capture_ns=t))
        ((_, facts),) = h.feed("depth", Msg(kind="Depth", arrays={"data": dep}, capture_ns=t))
        return facts

    first = model_of(see(1.0, labels, depth, 0.0))
    assert first.frame == "world" and first.in_view == ["chair 1", "floor", "table", "person", "chair 2", "wall"]
    person = first.of_class("person")[0]
    lab2, dep2 = labels.copy(), depth.copy()
    lab2[60:200, 250:290], dep2[60:200, 250:290] = 2, 5.0  # the person has left the view
    facts = see(3.0, lab2, dep2, 0.0)
    model = model_of(facts)
    gone = model.of_class("person")[0]
    assert "person" not in model.in_view and gone.last_seen_s == pytest.approx(1.0)
    assert gone.centroid_m == pytest.approx(person.centroid_m)
    assert "Seen before, out of view: person (2 s ago)." in facts.meta["text"].splitlines()
    assert "person" not in [o["class"] for o in facts.meta["objects"]]
    moved = model_of(see(4.0, labels, depth, 1.0))  # the camera 1 m to the right sees it all again
    assert moved.of_class("table")[0].centroid_m[0] == pytest.approx(first.of_class("table")[0].centroid_m[0] + 1)
    off = run_node(
        Scene,
        [("camera", Msg(kind="CameraInfo", arrays={"pose": np.eye(4)}, meta=CAMERA, capture_ns=1))]
        + msgs(labels, depth, camera=False),
        {"memory": False},
    )
    assert off[0][1].meta["model"]["frame"] == "camera"


def model_of(facts: Msg) -> SceneModel:
    return SceneModel.from_dict(facts.meta["model"])
