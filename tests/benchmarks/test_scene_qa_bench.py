"""Smoke test of benchmarks/scene_qa.py's own truth and scoring (not of the system it measures): the reader marks
wrong answers wrong and made-up facts as made up, and the ground truth describes the frame the system sees."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("cv2")
BENCH = Path(__file__).resolve().parents[2] / "benchmarks"
sys.path.insert(0, str(BENCH))

from qa_questions import PLURALS, Question, QuestionMaker, pick_moments  # noqa: E402
from qa_score import judge  # noqa: E402
from qa_truth import (  # noqa: E402
    PALETTE,
    ColourTruth,
    FrameTruth,
    TruthObject,
    _colour_truth,
    colour_name,
    compatible_colours,
    with_earlier_colours,
)
from sim_colours import names_of  # noqa: E402


def _obj(instance: int, cls: str, distance: float, bearing: float, colour: str = "red", area: float = 0.02):
    names = compatible_colours(colour_rgb(colour))
    return TruthObject(
        instance=instance,
        cls=cls,
        structure=cls in ("wall", "floor", "ceiling"),
        area=area,
        distance_m=distance,
        range_m=distance * 1.05,
        bearing_deg=bearing,
        centroid_cam=(0.0, 0.0, distance),
        extent_cam=(0.5, 0.8, 0.5),
        touches_border=False,
        colour=ColourTruth(colour, 0.9, names, names),
        world_min=(0.0, 0.0, 0.0),
        world_max=(0.5, 0.5, 0.8),
    )


def colour_rgb(name: str) -> tuple[float, float, float]:
    from qa_truth import PALETTE

    return PALETTE[name]


@pytest.fixture
def frame() -> FrameTruth:
    """Two red chairs (one clear on the left, one clear on the right), a blue table ahead, a wall."""
    return FrameTruth(
        seed=0,
        time_s=0.0,
        pose=np.eye(4),
        objects=[
            _obj(7, "chair", 1.5, -25.0),
            _obj(8, "table", 2.0, 0.0, "blue"),
            _obj(9, "chair", 3.0, 25.0),
            _obj(3, "wall", 4.0, 0.0, "white", area=0.3),
        ],
    )


def q(intent: str, subject: str | None, truth: dict, tags: list[str] | None = None) -> Question:
    return Question("t", 0, 0.0, 0, intent, "?", subject, truth, tags or [])


def test_counts_exact_and_a_wrong_count_is_made_up(frame: FrameTruth) -> None:
    ask = q("count", "chair", {"count": 2})
    assert judge(ask, "There are 2 chairs in view.", frame, {}).correct
    assert judge(ask, "I can see two chairs.", frame, {}).correct
    wrong = judge(ask, "There are 3 chairs.", frame, {})
    assert not wrong.correct and wrong.made_up == ["says 3 chair, truth 2"]
    denial = judge(ask, "There are no chairs.", frame, {})  # wrong, but a denial invents nothing
    assert not denial.correct and denial.made_up == []


def test_a_class_not_in_view_is_made_up(frame: FrameTruth) -> None:
    yes_car = judge(q("exists", "car", {"unknown": "car"}, ["unknown"]), "Yes, there is a car.", frame, {})
    assert not yes_car.correct and yes_car.made_up == ["names a car, not in view"]
    lamp = judge(q("exists", "lamp", {"answer": False}), "Yes, there is a lamp on the left.", frame, {})
    assert not lamp.correct and lamp.made_up == ["names a lamp, not in view"]
    # naming what is there is fine, and so is denying what is not
    refusal = "I can't recognise cars. I can see a table, two chairs and a wall."
    ok = judge(q("exists", "car", {"unknown": "car"}, ["unknown"]), refusal, frame, {})
    assert ok.correct and ok.made_up == []
    assert judge(q("exists", "lamp", {"answer": False}), "No, there is no lamp in view.", frame, {}).correct
    # an unknown word mapped onto a known class is wrong (not made up: the table is there)
    mapped = judge(q("distance", "cable", {"unknown": "cable"}, ["unknown"]), "The table is 2 m away.", frame, {})
    assert not mapped.correct and mapped.made_up == []


def test_memory_answers_may_name_what_was_seen_before(frame: FrameTruth) -> None:
    ask = q("last_seen", "lamp", {"seen": True, "ago_s": [4.0, 5.0], "metres": [2.0]}, ["memory"])
    assert judge(ask, "I last saw the lamp 5 seconds ago, 2.2 m away.", frame, {"lamp": 1}).correct
    assert not judge(ask, "I last saw the lamp 20 seconds ago.", frame, {"lamp": 1}).correct
    never = judge(ask, "I last saw the lamp 5 seconds ago.", frame, {})
    assert never.made_up == ["names a lamp, never seen"]
    # in the present tense, a remembered thing is claimed to be in view
    now = judge(q("exists", "lamp", {"answer": False}), "There is a lamp.", frame, {"lamp": 1})
    assert now.made_up == ["names a lamp, not in view"]


def test_colours_distances_and_directions(frame: FrameTruth) -> None:
    colour = q("colour", "table", {"primary": "blue", "accepted": sorted(frame.objects[1].colour.accepted)})
    assert judge(colour, "The table is blue.", frame, {}).correct
    green = judge(colour, "The table is green.", frame, {})
    table_colours = "/".join(sorted(frame.class_colours("table")))
    assert not green.correct and green.made_up == [f"calls the table green, it is {table_colours}"]
    distance = q("distance", "table", {"metres": [2.0, 2.1]})
    assert judge(distance, "The table is 2.4 metres away.", frame, {}).correct
    assert not judge(distance, "The table is 3 metres away.", frame, {}).correct
    assert judge(distance, "It is 210 cm away.", frame, {}).correct
    assert not judge(distance, "The chair is 2 metres away.", frame, {}).correct  # about another thing
    where = q("where", "table", {"directions": ["ahead"], "metres": [2.0, 2.1]})
    assert judge(where, "The table is straight ahead, 2 m away.", frame, {}).correct
    assert not judge(where, "The table is on your left.", frame, {}).correct


def test_a_colour_seen_on_the_object_earlier_is_not_made_up(frame: FrameTruth) -> None:
    # The table showed a white part (its top, say) in an earlier frame; now only its blue legs are in view. Called
    # white, it is wrong now (blue is what is seen) but not made up; called green, it is made up.
    before = FrameTruth(seed=0, time_s=-1.0, pose=np.eye(4), objects=[_obj(8, "table", 2.5, 0.0, "white")])
    now = with_earlier_colours([before, frame])
    assert now.objects == frame.objects and "white" not in frame.class_colours("table")
    colour = q("colour", "table", {"primary": "blue", "accepted": sorted(frame.objects[1].colour.accepted)})
    assert judge(colour, "The table is white.", frame, {}).made_up  # what this frame alone shows
    white = judge(colour, "The table is white.", now, {})
    assert not white.correct and not white.made_up
    assert judge(colour, "The table is green.", now, {}).made_up
    # a colour of another instance of the class, seen earlier and out of view now, is not this one's
    other = FrameTruth(seed=0, time_s=-1.0, pose=np.eye(4), objects=[_obj(99, "table", 2.5, 0.0, "green")])
    assert judge(colour, "The table is green.", with_earlier_colours([other, frame]), {}).made_up


def test_the_palette_names_plain_colours() -> None:
    assert colour_name((0.8, 0.15, 0.12)) == "red"
    assert colour_name((0.12, 0.3, 0.75)) == "blue"
    assert colour_name((0.93, 0.92, 0.88)) == "white"
    assert "red" not in compatible_colours((0.12, 0.3, 0.75), shadow=True)


def test_calling_a_colour_by_its_neighbour_is_not_made_up_either_way() -> None:
    # a dark red-brown floor the palette names brown, called red (and a red one called brown): imprecise, not false
    for albedo, said in (((0.5, 0.32, 0.18), "red"), ((0.8, 0.12, 0.10), "brown")):
        truth = _colour_truth(np.zeros(100, int) + list(PALETTE).index(colour_name(albedo)), np.tile(albedo, (100, 1)))
        assert said in truth.present and said not in truth.accepted
    assert "blue" not in _colour_truth(np.zeros(100, int), np.tile((0.8, 0.12, 0.10), (100, 1))).present


def test_a_pale_paint_may_be_called_what_a_person_calls_it() -> None:
    """The sim's pale pink paint (0.94, 0.8, 0.74), and jittered: PALETTE's nearest entry is beige or white, a
    person says pink or beige (sim_colours' hand-written table): pink is right, not made up. A colour near no entry
    of the table gets nothing from it."""
    for albedo, nearest in (((0.94, 0.8, 0.74), "beige"), ((0.94, 0.76, 0.77), "white")):
        truth = _colour_truth(np.full(100, list(PALETTE).index(colour_name(albedo))), np.tile(albedo, (100, 1)))
        assert truth.primary == nearest and "pink" in truth.accepted and "pink" in truth.present
    assert names_of((0.5, 0.5, 0.95), strict=True) == ()  # a saturated blue is no base colour of the table
    assert "pink" in names_of((0.94 * 0.9 + 0.04, 0.8 * 0.9 - 0.04, 0.74 * 0.9), strict=True)  # jittered
    white = _colour_truth(np.full(100, list(PALETTE).index("white")), np.tile((0.93, 0.92, 0.88), (100, 1)))
    assert "pink" not in white.present  # an off-white paint is not pink
    black = _colour_truth(np.full(100, list(PALETTE).index("black")), np.tile((0.15, 0.15, 0.17), (100, 1)))
    assert "white" not in black.present  # a person's names count, not their neighbours' (black -> grey -> white)


def test_truth_of_a_rendered_room_matches_its_masks_and_gives_every_intent() -> None:
    pytest.importorskip("open3d")
    from qa_questions import PATH_FRAMES
    from qa_truth import GroundTruth

    from ar_perception.sim import SimSource

    src = SimSource(3000, (160, 120), "room", "orbit")  # a tuning-set room
    truth = GroundTruth(src)
    frames = [src.frame_at(float(k), k) for k in range(PATH_FRAMES)]
    truths = [truth.frame(f) for f in frames]  # raises where its own ray cast disagrees with the instance mask
    f, ft = frames[10], truths[10]
    for o in ft.objects:
        sel = f.instances == o.instance
        assert o.area == pytest.approx(sel.mean())
        assert o.distance_m == pytest.approx(float(np.median(f.depth[sel])), rel=1e-3)
    walls = ft.of_class("wall")
    assert walls and all(w.colour.primary is not None for w in walls)
    moments = pick_moments(truths, 3)
    maker = QuestionMaker()
    rng = np.random.default_rng(0)
    asked = [x for i in moments for x in maker.moment(truths, i, rng, last=i == moments[-1])]
    intents = {x.intent for x in asked}
    assert {"exists", "count", "nearest", "list", "describe", "relation"} <= intents
    assert any("unknown" in x.tags for x in asked) and any("memory" in x.tags for x in asked)
    for x in asked:  # the truth's own words are read as right: the scorer and the truth agree
        if x.intent == "exists" and "unknown" not in x.tags:
            says = "Yes, I can see it." if x.truth["answer"] else "No, I can't see one."
            assert judge(x, says, truths[x.frame], {}).correct
        if x.intent == "count" and "unknown" not in x.tags:
            n, things = x.truth["count"], PLURALS[x.subject] if x.subject else "objects"
            assert judge(x, f"There are {n} {things}.", truths[x.frame], {}).correct, x
            assert not judge(x, f"There are {n + 1} {things}.", truths[x.frame], {}).correct, x


def test_an_answer_that_does_not_say_is_not_right(frame: FrameTruth) -> None:
    behind = q("relation", "table", {"relation": "behind", "answer": True, "other": "chair"})
    assert not judge(behind, "The table is 3.2 metres away from the chair.", frame, {}).correct
    assert judge(behind, "The table is farther away than the chair.", frame, {}).correct
    assert not judge(q("exists", "wall", {"answer": True}), "I can see a chair.", frame, {}).correct
    refusal = judge(q("count", "chair", {"count": 2}), "I did not catch which object you mean.", frame, {})
    assert not refusal.correct and refusal.made_up == []
    seen = q("last_seen", "lamp", {"seen": True, "ago_s": [4.0, 5.0], "metres": [2.0]}, ["memory"])
    assert not judge(seen, "The lamp was last seen in the sky.", frame, {"lamp": 1}).correct
    # an incidental "no" in a claim about something else is not "I don't know that word"
    window = q("colour", "window", {"unknown": "window"}, ["unknown"])
    assert not judge(window, "The table is blue, with no other colours.", frame, {}).correct
    assert judge(window, "I can see a table, but I can't recognise windows.", frame, {}).correct


def test_relations_and_memory_counts_are_read_strictly(frame: FrameTruth) -> None:
    nearer = q("relation", "table", {"relation": "in_front_of", "answer": False, "other": "chair"})
    assert not judge(nearer, "Behind you, I remember a chair and a ball.", frame, {}).correct  # not about the table
    assert judge(nearer, "No, the table is not nearer than the chair.", frame, {}).correct
    lamps = q("count", "lamp", {"count": 0})
    said = "There are no lamps in view; I have seen three in all."
    assert judge(lamps, said, frame, {"lamp": 3}).correct
    too_many = judge(lamps, said, frame, {"lamp": 2})
    assert not too_many.correct and too_many.made_up == ["says 3 lamp seen, 2 were in view so far"]


def test_a_count_of_one_part_of_the_view_is_held_to_that_part(frame: FrameTruth) -> None:
    describe = q("describe", None, {"min": 1, "some_of": ["chair", "table"]})
    # one chair on the left, one on the right: true of each part, though not of the whole view
    parts = "I can see two chairs and a table. On the left there is a chair; on the right there is a chair."
    assert judge(describe, parts, frame, {}).made_up == []
    wrong_part = judge(describe, "I can see two chairs. On the left there are two chairs.", frame, {})
    assert wrong_part.made_up == ["says 2 chair left, truth 1"]
    # relative to a thing: no more than are in view
    relative = q("relation", "table", {"relation": "left_of", "strict": ["chair"], "lenient": ["chair"]})
    assert judge(relative, "To the left of the table, I can see one chair.", frame, {}).made_up == []
    too_many = judge(relative, "To the left of the table, I can see three chairs.", frame, {})
    assert too_many.made_up == ["says 3 chair in that part, truth 0-2"]
    # "in front of you" is the viewer's part ahead, not a thing (there, no chair: the table only)
    ahead = judge(describe, "In front of you, I can see one chair and a table.", frame, {})
    assert ahead.made_up == ["says 1 chair ahead, truth 0"]


def test_a_lower_bound_below_the_truth_is_wrong_but_not_made_up(frame: FrameTruth) -> None:
    ask = q("count", "chair", {"count": 2})
    low = judge(ask, "There is at least one chair in view.", frame, {})
    assert not low.correct and low.made_up == []
    assert judge(ask, "There are at least two chairs in view.", frame, {}).correct
    high = judge(ask, "There are at least three chairs in view.", frame, {})
    assert not high.correct and high.made_up == ["says at least 3 chair, truth 2"]


def test_a_direction_after_the_count_says_where_one_thing_is(frame: FrameTruth) -> None:
    nearest = q("nearest", "chair", {"cls": "chair", "directions": ["left"], "metres": [1.5]}, ["instance"])
    said = judge(nearest, "Of the two chairs, the nearest is 1.5 metres away on the left.", frame, {})
    assert said.correct and said.made_up == []
    wrong = judge(nearest, "Of the three chairs, the nearest is 1.5 metres away on the left.", frame, {})
    assert wrong.made_up == ["says 3 chair, truth 2"]
