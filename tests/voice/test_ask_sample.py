"""The questions of issue 14, asked as `arp ask "..." --recording recordings/sample.mcap --at 3.0` asks them (the
recording's scene through the scene node with its history, then the vqa node), checked against the recording's
own ground truth (instance masks, depth, camera), read here without the QA code."""

import math
import re
from pathlib import Path

import numpy as np
import pytest

from ar_perception.recording.reader import RecordingReader
from ar_perception.runtime.msg import Msg
from ar_perception.voice import answer, recording_scene

SAMPLE = Path(__file__).resolve().parents[2] / "recordings" / "sample.mcap"
AT_S = 3.0
MIN_AREA = 0.002  # the scene node's default: smaller regions are noise
STRUCTURE = {"wall", "floor", "ceiling", "background"}


def truth(until_s: float) -> list[list[dict]]:
    """The instances in view in each recorded frame up to `until_s`, oldest first: id, class, area share,
    median depth, bearing (degrees, + right), median RGB."""
    r = RecordingReader(SAMPLE)
    topics = ["cam/labels_gt", "cam/instances_gt", "cam/depth_gt", "cam/camera", "cam/image"]
    by_time: dict[int, dict[str, Msg]] = {}
    for m in r.messages(topics, r.start_ns, r.start_ns + round(until_s * 1e9) + 1):
        by_time.setdefault(m.capture_ns, {})[m.topic] = m
    frames = []
    for _, f in sorted(by_time.items()):
        labels, inst = f["cam/labels_gt"].data, f["cam/instances_gt"].data
        depth, image, cam = f["cam/depth_gt"].data, f["cam/image"].data, f["cam/camera"].meta
        names = f["cam/labels_gt"].meta["classes"]
        found = []
        for i in np.unique(inst):
            sel = inst == i
            v, u = np.nonzero(sel)
            found.append(
                {
                    "id": int(i),
                    "class": names[int(np.bincount(labels[sel]).argmax())],
                    "area": float(sel.mean()),
                    "depth": float(np.median(depth[sel])),
                    "bearing": math.degrees(math.atan2(float(np.median(u)) - cam["cx"], cam["fx"])),
                    "rgb": np.median(image[sel], axis=0),
                }
            )
        frames.append([x for x in found if x["area"] >= MIN_AREA])  # smaller: noise to the scene node too
    return frames


def objects(frame: list[dict]) -> set[str]:
    return {x["class"] for x in frame if x["class"] not in STRUCTURE}


PLURALS = {
    "table": "tables",
    "chair": "chairs",
    "box": "boxes",
    "ball": "balls",
    "shelf": "shelves",
    "lamp": "lamps",
    "plant": "plants",
    "person": "people",
}


def classes_named(text: str) -> set[str]:
    words = set(re.findall(r"[a-z]+", text.lower()))
    return {c for c, p in PLURALS.items() if c in words or p in words}


@pytest.fixture(scope="module")
def scene() -> Msg:
    return recording_scene(SAMPLE, AT_S)


@pytest.fixture(scope="module")
def frames() -> list[list[dict]]:
    return truth(AT_S)


@pytest.fixture(scope="module")
def now(frames) -> list[dict]:
    return frames[-1]


def ask(vqa, scene: Msg, text: str) -> str:
    meta = answer(vqa, text, scene)
    assert meta["done"] and meta["query"] is not None
    return str(meta["text"])


def test_is_there_a_car(vqa, scene, now):
    said = ask(vqa, scene, "is there a car?")
    assert said.startswith("I can't recognise cars. I can see ")
    assert classes_named(said) == objects(now)  # every object in view, nothing else


def test_how_far_is_the_wall(vqa, scene, now):
    said = ask(vqa, scene, "how far is the wall?")
    m = re.fullmatch(r"The (?:nearest )?wall is (\d+\.\d) metres away, ahead\.", said)  # one wall, or more
    assert m, said
    walls = [x for x in now if x["class"] == "wall"]
    assert abs(max(walls, key=lambda w: w["area"])["bearing"]) <= 10  # the wall that fills the view is ahead
    assert min(abs(float(m.group(1)) - w["depth"]) for w in walls) <= 0.1


def test_what_colour_is_the_chair(vqa, scene, now):
    (chair,) = [x for x in now if x["class"] == "chair"]
    r, g, _ = chair["rgb"]
    assert r > 2.5 * g  # the truth: what is seen of it is red
    assert ask(vqa, scene, "what color is the chair?") == "The chair is red."


def test_how_many_chairs(vqa, scene, now):
    assert [x["class"] for x in now].count("chair") == 1
    assert ask(vqa, scene, "how many chairs are there?") == "There is one chair in view."


def test_what_is_on_my_left(vqa, scene, now):
    said = ask(vqa, scene, "what is on my left?")
    assert said.startswith("On your left, I can see ")
    left = {x["class"] for x in now if x["class"] not in STRUCTURE and x["bearing"] < -10}
    assert left == {"person", "shelf"} and classes_named(said) == left


def test_describe_the_room(vqa, scene, frames, now):
    said = ask(vqa, scene, "describe the room")
    seen, _, rest = said.partition(". ")
    assert seen.startswith("I can see") and classes_named(seen) == objects(now)
    assert rest.startswith("The nearest objects, 2.8 metres away, are a chair on the right and a table on the right.")
    near = [x for x in now if x["class"] in ("chair", "table")]
    assert len(near) == 2 and all(abs(x["depth"] - 2.8) < 0.05 and x["bearing"] > 10 for x in near)
    in_view = {x["id"] for x in now}
    gone = {x["class"] for f in frames[:-1] for x in f if x["id"] not in in_view and x["class"] not in STRUCTURE}
    remembered = rest.partition("Out of view, I remember ")[2]
    assert gone == {"box", "person"} and remembered and classes_named(remembered) <= gone
