"""Answers from hand-made scene models: every intent and every refusal, each case forced (no, one and several
instances, ties, a missing colour, camera and world frames); and, over many random models and queries, no
class, number or colour in an answer that the model does not hold."""

import math
import random
import re
from typing import Literal

import pytest

from ar_perception.qa import answer as answer_module
from ar_perception.qa.answer import NO_POSE, answer
from ar_perception.qa.model import SceneModel, SceneObject
from ar_perception.qa.query import INTENTS, RELATIONS, Query

STRUCTURE = ("floor", "wall", "ceiling")
CLASSES = ["background", "floor", "wall", "ceiling", "table", "chair", "box", "ball", "shelf", "lamp", "plant"]
CLASSES += ["person", "apple", "umbrella"]


def obj(
    cls: str,
    d: float = 2.0,
    b: float = 0.0,
    colour: str | None = "red",
    *,
    c: tuple[float, float, float] | None = None,
    e: tuple[float, float, float] = (0.5, 0.8, 0.4),
    seen: float = 10.0,
) -> SceneObject:
    """An object `d` metres away at bearing `b` degrees (camera frame, y = 0); or at centroid `c`, whose
    bearing and depth it then has."""
    if c is None:
        c = (d * math.sin(math.radians(b)), 0.0, d * math.cos(math.radians(b)))
    else:
        d, b = c[2], math.degrees(math.atan2(c[0], c[2]))
    return SceneObject(
        name=cls,
        cls=cls,
        instance=1,
        structure=cls in STRUCTURE,
        area_px=100,
        area=0.01,
        centroid_m=c,
        extent_m=e,
        distance_m=d,
        bearing_deg=b,
        elevation_deg=0.0,
        direction="ahead" if abs(b) <= 10 else "left" if b < 0 else "right",
        colour=colour,
        first_seen_s=0.0,
        last_seen_s=seen,
    )


def scene(
    *objects: SceneObject,
    frame: Literal["camera", "world"] = "camera",
    hidden: tuple[int, ...] = (),
    time_s: float = 10.0,
) -> SceneModel:
    """A model of `objects` named as the builder names them ("chair", or "chair 2" for the 2nd nearest);
    in the world frame, the objects at positions `hidden` (in the order given) are remembered, not in view."""
    order = sorted(range(len(objects)), key=lambda i: objects[i].distance_m)
    counts = {o.cls: sum(p.cls == o.cls for p in objects) for o in objects}
    seen_so_far: dict[str, int] = {}
    named: dict[int, SceneObject] = {}
    for i in order:
        o = objects[i]
        seen_so_far[o.cls] = seen_so_far.get(o.cls, 0) + 1
        k = seen_so_far[o.cls]
        name = o.cls if counts[o.cls] == 1 else f"{o.cls} {k}"
        named[i] = SceneObject(**{**o.as_dict(), "name": name, "instance": k})
    in_view = [named[i].name for i in order if i not in hidden]
    return SceneModel([named[i] for i in order], list(CLASSES), frame, time_s, in_view)


def ask(model: SceneModel, intent: str, subject: str | None = None, **kw) -> str:
    return answer(Query(intent=intent, subject=subject, **kw), model).text


ROOM = scene(obj("table", 1.5, 0), obj("chair", 2.0, -30), obj("chair", 3.0, 30), obj("lamp", 4.0, -15))


def test_the_public_names_are_pinned():
    assert answer_module.__all__ == ["Answer", "answer"]


# --- unknown words -------------------------------------------------------------------------------------------


def test_an_unknown_word_is_refused_and_what_is_visible_is_said():
    got = answer(Query(intent="exists", unknown=["car"]), ROOM)
    assert got.text == "I can't recognise cars. I can see a table, two chairs and a lamp."
    assert not got.grounded
    assert set(got.objects) == {"table", "chair 1", "chair 2", "lamp"}


def test_an_unknown_word_is_never_mapped_onto_a_known_class():
    # "cable" looks like "table", "wall" like "ball": the answer says the word is unknown, and counts nothing
    model = scene(obj("table", 1.5, 0), obj("ball", 2.0, 20))
    assert ask(model, "count", unknown=["cables"]) == "I can't recognise cables. I can see a table and a ball."


def test_unknown_words_as_said_are_pluralised_once():
    got = ask(ROOM, "exists", unknown=["car", "bikes", "Car", "man with a hat"])
    assert got == "I can't recognise cars, bikes or a man with a hat. I can see a table, two chairs and a lamp."


def test_an_unknown_word_with_nothing_in_view():
    assert ask(scene(), "list", unknown=["car"]) == "I can't recognise cars. I can't see anything I recognise."


def test_an_unknown_word_and_a_known_subject_answers_the_known_part_after_the_refusal():
    got = answer(Query(intent="exists", subject="chair", unknown=["car"]), ROOM)
    assert got.text == "I can't recognise cars. Yes, there are two chairs; the nearest is 2 metres away on the left."
    assert not got.grounded and "There are two chairs in view." in got.facts


def test_a_relation_to_an_unknown_thing_says_where_the_known_subject_is():
    got = ask(ROOM, "relation", "lamp", relation="on", unknown=["sofa"])
    assert got == "I can't recognise sofas. The lamp is on the left, 4 metres away."


def test_a_class_perception_cannot_name_is_unknown_not_absent():
    # a parser slip (a class outside the vocabulary) or a class that is no surface: never "I don't see a sofa"
    assert ask(ROOM, "exists", "sofa").startswith("I can't recognise sofas. I can see")
    assert ask(ROOM, "exists", "background").startswith("I can't recognise backgrounds.")
    assert ask(ROOM, "relation", "lamp", relation="on", other="sofa").startswith("I can't recognise sofas. The lamp")


# --- exists, count -------------------------------------------------------------------------------------------


def test_exists():
    assert ask(ROOM, "exists", "table") == "Yes, there is a table, 1.5 metres away, ahead."
    assert ask(ROOM, "exists", "chair") == "Yes, there are two chairs; the nearest is 2 metres away on the left."
    assert ask(ROOM, "exists", "ball") == "No, I don't see a ball."
    assert (
        ask(scene(obj("apple", 0.6, 20)), "exists", "apple")
        == "Yes, there is an apple, 60 centimetres away on the right."
    )
    assert ask(scene(obj("wall", 3.2, 2)), "exists", "wall") == "Yes, there is a wall, 3.2 metres away, ahead."


def test_exists_with_tied_nearest_says_every_side():
    model = scene(obj("chair", 2.1, -30), obj("chair", 2.12, 30), obj("chair", 5.0, 0))
    assert ask(model, "exists", "chair") == (
        "Yes, there are three chairs; the nearest are 2.1 metres away on the left and on the right."
    )


def test_exists_anything():
    assert ask(ROOM, "exists") == "Yes, I can see a table, two chairs and a lamp."
    assert ask(scene(), "exists") == "No, I can't see anything I recognise."


@pytest.mark.parametrize(
    ("objects", "cls", "said"),
    [
        ((), "chair", "There are no chairs."),
        ((obj("chair", 2),), "chair", "There is one chair."),
        ((obj("chair", 2), obj("chair", 3), obj("chair", 4)), "chair", "There are three chairs."),
        (tuple(obj("box", 1 + i / 10) for i in range(12)), "box", "There are 12 boxes."),
        ((obj("person", 2), obj("person", 3)), "person", "There are two people."),
        ((obj("shelf", 2), obj("shelf", 3)), "shelf", "There are two shelves."),
        ((obj("wall", 2), obj("wall", 3)), "wall", "There are two walls."),
    ],
)
def test_count(objects, cls, said):
    assert ask(scene(*objects), "count", cls) == said


def test_count_everything_leaves_structure_out():
    model = scene(obj("floor", 1.0), obj("table", 1.5), obj("chair", 2), obj("chair", 3))
    assert ask(model, "count") == "I can see three objects: a table and two chairs."
    assert ask(scene(obj("wall", 2)), "count") == "I don't see any objects."


# --- distance, where, nearest --------------------------------------------------------------------------------


def test_distance_and_units():
    assert ask(scene(obj("wall", 3.2, 2)), "distance", "wall") == "The wall is 3.2 metres away, ahead."
    assert ask(scene(obj("chair", 0.8, 40)), "distance", "chair") == "The chair is 80 centimetres away on the right."
    assert ask(scene(obj("lamp", 1.0, -40)), "distance", "lamp") == "The lamp is 1 metre away on the left."
    assert ask(ROOM, "distance", "chair") == "There are two chairs; the nearest is 2 metres away on the left."
    assert ask(ROOM, "distance", "ball") == "I don't see a ball."


def test_where():
    assert ask(scene(obj("chair", 2.1, -30)), "where", "chair") == "The chair is on the left, 2.1 metres away."
    assert ask(scene(obj("wall", 3.2, 2)), "where", "wall") == "The wall is ahead, 3.2 metres away."
    assert ask(ROOM, "where", "chair") == "There are two chairs; the nearest is 2 metres away on the left."


def test_nearest_of_all_objects_leaves_structure_out():
    model = scene(obj("floor", 0.5), obj("table", 1.5), obj("chair", 2.0, -30))
    assert ask(model, "nearest") == "The nearest object is the table, 1.5 metres away, ahead."
    model = scene(obj("chair", 1.2, -30), obj("chair", 3.0, 30), obj("lamp", 4.0))
    assert ask(model, "nearest") == "The nearest object is a chair, 1.2 metres away on the left."


def test_nearest_with_a_tie_names_each():
    model = scene(obj("chair", 2.0, -30), obj("lamp", 2.03, 30), obj("table", 4.0))
    got = answer(Query(intent="nearest"), model)
    assert got.text == "The nearest objects, 2 metres away, are a chair on the left and a lamp on the right."
    assert got.objects == ["chair", "lamp"]


def test_nearest_of_a_class():
    model = scene(obj("chair", 1.5, -30), obj("chair", 3.0, 30), obj("chair", 4.0))
    assert ask(model, "nearest", "chair") == "Of the three chairs, the nearest is 1.5 metres away on the left."
    assert ask(scene(obj("chair", 2.0, 30)), "nearest", "chair") == "There is one chair, 2 metres away on the right."
    assert ask(scene(), "nearest") == "I don't see any objects."


# --- colour, size --------------------------------------------------------------------------------------------


def test_colour():
    assert ask(scene(obj("chair", 2, colour="red")), "colour", "chair") == "The chair is red."
    assert ask(scene(obj("chair", 2, colour=None)), "colour", "chair") == "I can't tell the colour of the chair."
    assert ask(scene(obj("chair", 2), obj("chair", 3)), "colour", "chair") == "Both chairs are red."
    model = scene(obj("chair", 2), obj("chair", 3), obj("chair", 4))
    assert ask(model, "colour", "chair") == "All three chairs are red."
    assert ask(scene(obj("wall", 3, colour="white")), "colour", "wall") == "The wall is white."


def test_colour_of_several_that_differ():
    model = scene(obj("chair", 2, -30, "red"), obj("chair", 3, 30, "blue"))
    assert ask(model, "colour", "chair") == (
        "There are two chairs; the nearest, 2 metres away on the left, is red; the other is blue."
    )
    model = scene(obj("chair", 2, -30, None), obj("chair", 3, 30, "blue"), obj("chair", 4, 0, "green"))
    assert ask(model, "colour", "chair") == (
        "There are three chairs; I can't tell the colour of the nearest, 2 metres away on the left; "
        "the others are blue and green."
    )
    # one other without a colour: nothing is said of the others rather than something untrue of one of them
    model = scene(obj("chair", 2, -30, "red"), obj("chair", 3, 30, None), obj("chair", 4, 0, "green"))
    assert ask(model, "colour", "chair") == "There are three chairs; the nearest, 2 metres away on the left, is red."


def test_size():
    table = obj("table", 2.0, 0, e=(1.2, 0.8, 0.6))
    assert ask(scene(table), "size", "table") == (
        "As far as I can see, the table is 1.2 metres wide, 80 centimetres tall and 60 centimetres deep."
    )
    assert (
        ask(scene(table), "size", "table", attribute="height")
        == "As far as I can see, the table is 80 centimetres tall."
    )
    assert ask(scene(table), "size", "table", attribute="width") == "As far as I can see, the table is 1.2 metres wide."
    model = scene(table, obj("table", 4.0, 30, e=(2.0, 0.7, 1.0)))
    assert ask(model, "size", "table", attribute="depth") == (
        "There are two tables; as far as I can see, the nearest, 2 metres away, ahead, is 60 centimetres deep."
    )
    assert ask(model, "size", "lamp") == "I don't see a lamp."
    unmeasured = scene(obj("table", 2.0, 0, e=(1.2, math.nan, 0.6)))
    assert ask(unmeasured, "size", "table", attribute="height") == "I can't tell the size of the table."
    assert (
        ask(unmeasured, "size", "table") == "As far as I can see, the table is 1.2 metres wide and 60 centimetres deep."
    )


@pytest.mark.parametrize("intent", ["distance", "where", "colour", "size", "last_seen"])
def test_an_intent_about_one_thing_without_a_subject_is_unsupported(intent):
    got = answer(Query(intent=intent), ROOM)
    assert got.text == "I can't answer that from what I see. I can see a table, two chairs and a lamp."
    assert not got.grounded


# --- relations -----------------------------------------------------------------------------------------------

# camera frame, y down, a level camera 1.5 m above the floor; the table's centroid is near its top (most of
# its pixels), its box reaches down to the floor
TABLE = obj("table", c=(0.0, 0.8, 2.0), e=(1.2, 0.75, 0.6))
BALL_ON_TABLE = obj("ball", c=(0.1, 0.65, 2.0), e=(0.2, 0.2, 0.2))
BALL_ON_FLOOR = obj("ball", c=(1.5, 1.4, 2.0), e=(0.2, 0.2, 0.2))
BOX_BY_TABLE = obj("box", c=(1.0, 1.25, 2.0), e=(0.4, 0.5, 0.4))
LAMP_FAR_LEFT = obj("lamp", c=(-2.5, 0.7, 2.2), e=(0.3, 1.6, 0.3))
CHAIR_IN_FRONT = obj("chair", c=(0.1, 1.0, 1.2), e=(0.5, 0.9, 0.5))
PLANT_BEHIND = obj("plant", c=(-0.2, 1.0, 3.5), e=(0.4, 1.0, 0.4))


def test_on():
    assert ask(scene(TABLE, BALL_ON_TABLE), "relation", "ball", relation="on", other="table") == (
        "Yes, the ball is on the table."
    )
    assert ask(scene(TABLE, BALL_ON_FLOOR), "relation", "ball", relation="on", other="table") == (
        "No, the ball is not on the table."
    )
    model = scene(TABLE, BALL_ON_TABLE, BOX_BY_TABLE, LAMP_FAR_LEFT)
    assert ask(model, "relation", relation="on", other="table") == "On the table, I can see a ball."


def test_on_in_the_world_frame_is_along_z():
    # the same table and ball in a z-up world frame (extent stays width, height, depth as seen)
    table = obj("table", c=(0.0, 2.0, 0.7), e=(1.2, 0.75, 0.6))
    ball = obj("ball", c=(0.1, 2.0, 0.85), e=(0.2, 0.2, 0.2))
    beside = obj("ball", c=(1.5, 2.0, 0.1), e=(0.2, 0.2, 0.2))
    assert ask(scene(table, ball, frame="world"), "relation", "ball", relation="on", other="table").startswith("Yes")
    assert ask(scene(table, beside, frame="world"), "relation", "ball", relation="on", other="table").startswith("No")


def test_on_the_floor_by_the_lowest_point_seen_and_unknown_when_that_is_out_of_view():
    # camera frame, y down, the floor 1.5 m below a level camera; a floor lamp's centroid is in its shade, high up
    floor = obj("floor", c=(0.0, 1.5, 2.5), e=(4.0, 0.02, 3.0))
    lamp = obj("lamp", c=(1.0, -0.1, 2.5), e=(0.5, 1.6, 0.5))
    assert ask(scene(floor, lamp), "relation", "lamp", relation="on", other="floor") == (
        "No, the lamp is not on the floor."  # half its height below the centroid: 0.7 m above the floor
    )
    standing = SceneObject(**{**lamp.as_dict(), "span_up_m": (1.55, 0.3)})  # its pole down to the floor
    assert ask(scene(floor, standing), "relation", "lamp", relation="on", other="floor") == (
        "Yes, the lamp is on the floor."
    )
    cut = SceneObject(**{**lamp.as_dict(), "bottom_hidden": True})  # its lower part below the image's edge
    assert ask(scene(floor, cut), "relation", "lamp", relation="on", other="floor") == (
        "I can't tell whether the lamp is on the floor: its bottom is out of view."
    )
    two = scene(floor, cut, obj("lamp", c=(-1.0, -0.1, 3.0), e=(0.5, 1.6, 0.5)))
    assert ask(two, "relation", "lamp", relation="on", other="floor") == (
        "I can't tell whether a lamp is on the floor: the bottom of one of the lamps is out of view."
    )
    cut_standing = SceneObject(**{**standing.as_dict(), "bottom_hidden": True})  # seen down to the floor all the same
    assert ask(scene(floor, cut_standing), "relation", "lamp", relation="on", other="floor").startswith("Yes, ")
    # over nothing of the other class: not on it, wherever its bottom is
    assert ask(scene(TABLE, cut), "relation", "lamp", relation="on", other="table") == (
        "No, the lamp is not on the table."
    )
    over = SceneObject(**{**cut.as_dict(), "centroid_m": (0.0, 0.2, 2.0)})  # above the table, its bottom unseen
    assert ask(scene(TABLE, over), "relation", "lamp", relation="on", other="table").startswith("I can't tell")
    # a ball whose bottom is hidden by the table in front of it looks as if it sat on the table: it may stand
    # behind it, lower down
    hidden_ball = SceneObject(**{**BALL_ON_TABLE.as_dict(), "bottom_hidden": True})
    assert ask(scene(TABLE, hidden_ball), "relation", "ball", relation="on", other="table") == (
        "I can't tell whether the ball is on the table: its bottom is out of view."
    )
    assert ask(scene(TABLE, hidden_ball), "relation", relation="on", other="table") == (
        "I don't see anything on the table."
    )


def test_next_to():
    model = scene(TABLE, BOX_BY_TABLE, LAMP_FAR_LEFT)
    assert ask(model, "relation", "box", relation="next_to", other="table") == "Yes, the box is next to the table."
    assert ask(model, "relation", "lamp", relation="next_to", other="table") == "No, the lamp is not next to the table."
    assert ask(model, "relation", relation="next_to", other="table") == "Next to the table, I can see a box."


def test_left_and_right_of_by_bearing_with_a_margin():
    model = scene(
        obj("table", 2.0, 0), obj("chair", 2.5, -30), obj("lamp", 3.0, -20), obj("ball", 2.2, 3), obj("box", 2.4, 25)
    )
    assert ask(model, "relation", relation="left_of", other="table") == (
        "To the left of the table, I can see a chair and a lamp."
    )  # the ball, 3 degrees off, is neither left nor right
    assert ask(model, "relation", relation="right_of", other="table") == "To the right of the table, I can see a box."
    assert ask(model, "relation", "ball", relation="right_of", other="table") == (
        "No, the ball is not to the right of the table."
    )


def test_in_front_of_and_behind_by_distance_on_the_same_line_of_sight():
    model = scene(TABLE, CHAIR_IN_FRONT, PLANT_BEHIND, LAMP_FAR_LEFT)
    assert ask(model, "relation", relation="in_front_of", other="table") == "In front of the table, I can see a chair."
    assert ask(model, "relation", relation="behind", other="table") == "Behind the table, I can see a plant."
    # far off to the side and about as far away: not behind
    assert ask(model, "relation", "lamp", relation="behind", other="table") == "No, the lamp is not behind the table."
    # far off to the side and farther away: farther, and said to be not in line
    assert ask(model, "relation", "plant", relation="behind", other="lamp") == (
        "Yes, the plant is farther away than the lamp, though not in line with it."
    )
    assert ask(model, "relation", "chair", relation="in_front_of", other="lamp") == (
        "Yes, the chair is nearer than the lamp, though not in line with it."
    )
    assert ask(model, "relation", "lamp", relation="in_front_of", other="plant").startswith("Yes, the lamp is nearer")
    assert ask(model, "relation", "lamp", relation="behind", other="plant") == "No, the lamp is not behind the plant."
    # by distance only against one thing: not against two of a class (nearer than one, farther than the other),
    # nor a wall (a thing in view is not behind the wall)
    two_tables = scene(obj("table", 2.0, 30), obj("table", 4.0, -30), obj("ball", 3.0, 0))
    assert ask(two_tables, "relation", "ball", relation="behind", other="table") == (
        "No, the ball is not behind a table."
    )
    walled = scene(obj("wall", 2.0, 40), obj("chair", 3.0, -10))
    assert ask(walled, "relation", "chair", relation="behind", other="wall").startswith("No, ")


def test_nearer_and_farther_than_by_distance_from_the_camera_with_a_margin():
    model = scene(obj("ball", 2.3, -40), obj("table", 1.9, 30), obj("lamp", 2.35, 0))
    said = ask(model, "relation", "ball", relation="farther_than", other="table")
    assert said == "Yes, the ball is farther away than the table."
    said = ask(model, "relation", "ball", relation="nearer_than", other="table")
    assert said == "No, the ball is not nearer than the table."
    # 5 cm apart is about as far: neither nearer nor farther
    assert ask(model, "relation", "lamp", relation="farther_than", other="ball").startswith("No, ")
    assert ask(model, "relation", "lamp", relation="nearer_than", other="ball").startswith("No, ")
    assert ask(model, "relation", relation="nearer_than", other="ball") == "Nearer than the ball, I can see a table."


def test_walls_are_counted_only_when_a_count_is_asked():
    model = scene(obj("wall", 2.5, 40), obj("wall", 3.0, -30), obj("chair", 2.0, 0))
    assert ask(model, "exists", "wall") == "Yes, there are walls; the nearest is 2.5 metres away on the right."
    assert ask(model, "colour", "wall") == "The walls are red."
    assert ask(model, "count", "wall") == "There are two walls."


def test_an_object_too_big_to_be_one_is_counted_as_at_least_as_many():
    stack = SceneObject(**{**obj("box", 2.0, 20).as_dict(), "at_least": 2})  # two boxes the mask cannot part
    model = scene(stack, obj("box", 3.0, -20), obj("chair", 2.5, 0))
    assert ask(model, "count", "box") == "There are at least three boxes."
    assert ask(model, "count") == "I can see at least four objects: at least three boxes and a chair."
    assert ask(model, "exists", "box").startswith("Yes, there are at least three boxes; the nearest is 2 metres")
    alone = scene(stack)
    assert ask(alone, "count", "box") == "There are at least two boxes."
    assert ask(alone, "where", "box").startswith("There are at least two boxes;")  # never "the box"
    assert ask(alone, "list") == "I can see at least two boxes."
    assert ask(alone, "colour", "box") == "All the boxes I can see (at least two) are red."
    # a number asked of a lower bound: "no" only when the bound already exceeds it, else no yes or no
    assert ask(alone, "exists", "box", number=1) == "No, I see at least two boxes."
    assert ask(alone, "exists", "box", number=2) == "I can't tell: I see at least two boxes."
    assert ask(model, "exists", "box", number=2) == "No, I see at least three boxes."
    assert ask(model, "exists", "box", number=3) == "I can't tell: I see at least three boxes."
    assert ask(model, "nearest", "box").startswith("Of the boxes (at least three), the nearest is")
    said = ask(alone, "size", "box")
    assert said.startswith("I can't tell how big each box is: the nearest boxes (at least two) stand together, ")
    assert " The nearest boxes (at least two) stand together, " in ask(alone, "describe", "box")


def test_a_pile_cut_by_the_image_edge_is_counted_as_at_least_what_is_seen():
    pile = SceneObject(**{**obj("box", 2.0, 20).as_dict(), "more": True})  # its top out of the image
    alone = scene(pile)
    assert ask(alone, "count", "box") == "There is at least one box."
    assert ask(alone, "exists", "box").startswith("Yes, there is at least one box; the nearest is 2 metres")
    assert ask(alone, "where", "box").startswith("There is at least one box;")  # never "the box"
    assert ask(alone, "list") == "I can see at least one box."
    assert ask(alone, "exists", "box", number=2) == "I can't tell: I see at least one box."
    model = scene(pile, obj("box", 3.0, -20), obj("chair", 2.5, 0))
    assert ask(model, "count", "box") == "There are at least two boxes."
    assert ask(model, "count") == "I can see at least three objects: at least two boxes and a chair."
    assert ask(scene(obj("box", 2.0, 20)), "count", "box") == "There is one box."  # all in view: no bound
    # of a bound, "the other" would say there are no more
    two = ask(scene(pile, obj("box", 3.0, -20, "blue")), "colour", "box")
    assert two == "There are at least two boxes; the nearest, 2 metres away on the right, is red; another is blue."
    exact = ask(scene(obj("box", 2.0, 20), obj("box", 3.0, -20, "blue")), "colour", "box")
    assert exact.endswith("; the other is blue.")
    # every other intent keeps the bound, and never calls it "the box" or "only one"
    assert ask(alone, "colour", "box") == "I see at least one box, 2 metres away on the right; it is red."
    assert ask(alone, "colour", "box", colour="blue").startswith("No, I see at least one box,")
    size = ask(alone, "size", "box")  # a pile that may hold more has no size of one box
    assert size.startswith("I can't tell how big each box is: the nearest may be more than one box together, ")
    described = ask(alone, "describe", "box")
    assert described.startswith("There is at least one box; the nearest is 2 metres away")
    assert " It may be more than one box together, " in described and "As far as I can see" not in described
    assert ask(alone, "last_seen", "box") == "I can see at least one box; the nearest is 2 metres away on the right."
    assert ask(alone, "nearest", "box") == "There is at least one box; the nearest is 2 metres away on the right."
    assert ask(alone, "distance", "box", other="box") == "I can't tell: I see at least one box."
    between = ask(alone, "relation", "box", relation="between", other="box", third="box")
    assert between == "I can't tell: I see at least one box."


def test_between_by_bearing():
    model = scene(obj("chair", 2, -30), obj("lamp", 3, 30), obj("table", 2.5, 0), obj("box", 2, -40))
    assert ask(model, "relation", relation="between", other="chair", third="lamp") == (
        "Between the chair and the lamp, I can see a table."
    )
    assert ask(model, "relation", "box", relation="between", other="chair", third="lamp") == (
        "No, the box is not between the chair and the lamp."
    )
    two = scene(obj("chair", 2, -30), obj("chair", 3, 30), obj("table", 2.5, 0))
    assert ask(two, "relation", relation="between", other="chair", third="chair") == (
        "Between the two chairs, I can see a table."
    )
    one = scene(obj("chair", 2, -30), obj("table", 2.5, 0))
    assert (
        ask(one, "relation", "table", relation="between", other="chair", third="chair") == "No, I see only one chair."
    )
    assert ask(one, "relation", relation="between", other="chair") == (
        "I can't answer that from what I see. I can see a chair and a table."
    )


def test_a_relation_to_what_is_not_in_view():
    assert ask(ROOM, "relation", "lamp", relation="on", other="ball") == "No, I don't see a ball."
    assert ask(ROOM, "relation", relation="on", other="ball") == "I don't see a ball."
    assert ask(ROOM, "relation", "ball", relation="on", other="table") == "No, I don't see a ball."
    assert ask(ROOM, "relation", relation="on", other="lamp") == "I don't see anything on the lamp."


def test_a_relation_with_several_references():
    # a yes/no question is checked against every table; a list against the nearest one, and says so
    model = scene(obj("table", 2.0, -30), obj("table", 3.0, 30), obj("ball", 3.5, 45))
    assert (
        ask(model, "relation", "ball", relation="right_of", other="table")
        == "Yes, the ball is to the right of a table."
    )
    assert ask(model, "relation", relation="right_of", other="table") == (
        "To the right of the nearest table, I can see a table and a ball."
    )


def test_what_is_on_my_left():
    model = scene(obj("box", 2, -30), obj("ball", 3, -40), obj("ball", 3.5, -20), obj("lamp", 2, 30))
    assert ask(model, "relation", relation="left_of") == "On your left, I can see a box and two balls."
    assert ask(model, "relation", relation="right_of") == "On your right, I can see a lamp."
    assert ask(model, "relation", relation="in_front_of") == "I don't see anything ahead of you."
    assert ask(model, "relation", "lamp", relation="left_of") == "No, the lamp is 2 metres away on the right."
    assert ask(model, "relation", "ball", relation="left_of") == "Yes, a ball is on your left, 3 metres away."


# --- list, describe, unsupported -----------------------------------------------------------------------------


def test_list_leaves_structure_out_unless_asked():
    model = scene(obj("floor", 1.0), obj("wall", 3.0), *ROOM.objects)
    assert ask(model, "list") == "I can see a table, two chairs and a lamp."
    assert ask(model, "list", "wall") == "I can see a wall, 3 metres away, ahead."
    assert ask(scene(obj("floor", 1.0), obj("wall", 3.0), obj("wall", 3.5)), "list") == (
        "I can't see any objects, only the floor and the walls."
    )
    assert ask(scene(), "list") == "I can't see anything I recognise."
    assert ask(ROOM, "list", "chair") == "I can see two chairs; the nearest is 2 metres away on the left."


def test_describe_is_composed_from_the_facts():
    got = answer(Query(intent="describe"), ROOM)
    assert got.text == (
        "I can see a table, two chairs and a lamp. The nearest object is the table, 1.5 metres away, ahead. "
        "On the left there is a chair and a lamp; ahead there is a table; on the right there is a chair."
    )
    assert got.grounded and set(got.objects) == {"table", "chair 1", "chair 2", "lamp"}
    assert ask(scene(obj("chair", 2, -30)), "describe") == (
        "I can see a chair. The nearest object is the chair, 2 metres away on the left."
    )
    assert ask(scene(), "describe") == "I can't see anything I recognise."


def test_describe_one_thing():
    model = scene(obj("table", 2.0, 0, "brown", e=(1.2, 0.8, 0.6)))
    assert ask(model, "describe", "table") == (
        "The table is 2 metres away, ahead; it is brown. "
        "As far as I can see, it is 1.2 metres wide, 80 centimetres tall and 60 centimetres deep."
    )


def test_unsupported():
    got = answer(Query(intent="unsupported"), ROOM)
    assert got.text == "I can't answer that from what I see. I can see a table, two chairs and a lamp."
    assert not got.grounded
    assert ask(scene(), "unsupported") == "I can't answer that from what I see. I can't see anything I recognise."


# --- memory: last seen, behind, and the world frame ----------------------------------------------------------


def test_without_a_pose_only_the_view_is_known():
    got = answer(Query(intent="last_seen", subject="lamp"), scene(obj("chair", 2)))
    assert got.text == f"{NO_POSE} I don't see a lamp now."
    assert not got.grounded
    got = answer(Query(intent="behind"), scene(obj("chair", 2)))
    assert got.text == NO_POSE and not got.grounded
    assert ask(scene(obj("chair", 2)), "relation", relation="behind") == NO_POSE
    # in view now: that is where it was last seen, pose or not
    assert (
        ask(scene(obj("lamp", 2.1, -30)), "last_seen", "lamp")
        == "The lamp is in view now, 2.1 metres away on the left."
    )


def memory() -> SceneModel:
    return scene(
        obj("chair", 2.0, -30, seen=100.0),
        obj("lamp", 3.1, 170, seen=88.0),  # behind the camera
        obj("chair", 4.0, -120, seen=40.0),  # behind, on the left
        obj("ball", 2.5, 60, seen=95.0),  # out of view to the right
        frame="world",
        hidden=(1, 2, 3),
        time_s=100.0,
    )


def test_last_seen():
    model = memory()
    assert (
        ask(model, "last_seen", "lamp")
        == "I last saw the lamp 12 seconds ago; it should be 3.1 metres away, behind you."
    )
    assert (
        ask(model, "last_seen", "ball")
        == "I last saw the ball 5 seconds ago; it should be 2.5 metres away on the right."
    )
    assert ask(model, "last_seen", "chair") == "The chair is in view now, 2 metres away on the left."
    assert ask(model, "last_seen", "plant") == "I haven't seen a plant."


def test_behind_me():
    model = memory()
    got = answer(Query(intent="behind"), model)
    assert got.text == "Behind you, I remember a lamp and a chair."
    assert got.grounded and set(got.objects) == {"lamp", "chair 2"}
    assert ask(model, "relation", relation="behind") == got.text
    assert ask(model, "behind", "lamp") == "Yes, I remember a lamp behind you; I last saw it 12 seconds ago."
    assert ask(model, "behind", "ball") == "No, I don't remember a ball behind you."
    assert ask(model, "behind", "chair") == "Yes, I remember a chair behind you; I last saw it 1 minute ago."
    nothing = scene(obj("chair", 2.0), frame="world")
    assert ask(nothing, "behind") == "I don't remember anything behind you."
    assert ask(nothing, "behind", "chair") == "No, the chair is 2 metres away, ahead."


def test_the_world_frame_answers_from_the_view_and_says_what_memory_holds():
    model = memory()
    assert ask(model, "count", "chair") == "There is one chair in view; I have seen two in all."
    assert ask(model, "count", "lamp") == "There are no lamps in view; I have seen one in all."
    assert ask(model, "exists", "lamp") == "I don't see a lamp now, but I saw one 12 seconds ago."
    assert ask(model, "list") == "I can see a chair."
    assert ask(model, "describe") == (
        "I can see a chair. The nearest object is the chair, 2 metres away on the left. "
        "Out of view, I remember a ball, a lamp and a chair."
    )


# --- the answer's record -------------------------------------------------------------------------------------


def test_facts_are_sentences_from_the_model():
    got = answer(Query(intent="colour", subject="chair"), scene(obj("chair", 2, -30, "red"), obj("chair", 3, 30, None)))
    assert got.facts == [
        "A chair, 2 metres away on the left, is red.",
        "A chair, 3 metres away on the right, has no measured colour.",
    ]
    assert got.objects == ["chair 1", "chair 2"]
    assert got.as_dict() == {"text": got.text, "facts": got.facts, "objects": got.objects, "grounded": True}


def test_the_same_question_gets_the_same_answer():
    for intent in INTENTS:
        q = Query(intent=intent, subject="chair", relation="left_of", other="table")
        assert answer(q, ROOM) == answer(q, ROOM)


# --- property: nothing said that the model does not hold -----------------------------------------------------
# The checker below is written from the model alone, independently of answer.py and words.py: its own plural
# table, palette and number words. It finds every class name, colour and number in a text and asks whether
# the model holds it.

PLURALS = {
    "floor": "floors", "wall": "walls", "ceiling": "ceilings", "table": "tables", "chair": "chairs",
    "box": "boxes", "ball": "balls", "shelf": "shelves", "lamp": "lamps", "plant": "plants",
    "person": "people", "apple": "apples", "umbrella": "umbrellas", "background": "backgrounds",
}  # fmt: skip
PALETTE = ("black", "grey", "white", "red", "orange", "yellow", "green", "blue", "purple", "pink", "brown", "beige")
NUMBER_WORDS = {w: i for i, w in enumerate("zero one two three four five six seven eight nine ten".split())}
NUMBER_WORDS["both"] = 2
UNKNOWN = ("car", "bikes", "dog", "unicorn", "hour glass", "spoon", "man with a hat")
FORMS = {form: cls for cls, p in PLURALS.items() for form in (cls, p)}
LENGTH = re.compile(r"(less than )?(\d+(?:\.\d+)?) (metres?|centimetres?)(?: (away|wide|tall|deep|from))?")
TIME = re.compile(r"(\d+) (seconds?|minutes?|hours?) ago")
COUNT = re.compile(r"\b(\d+|" + "|".join(NUMBER_WORDS) + r") (?:(" + "|".join(PALETTE) + r") )?(\w+(?: all)?)")


def allowed_counts(model: SceneModel) -> dict[str, set[int]]:
    """Every count the model holds, by the class it counts ("objects": all non-structure)."""
    names = set(model.in_view) if model.frame == "world" else {o.name for o in model.objects}
    groups: dict[str, list[list[SceneObject]]] = {}
    for cls in {o.cls for o in model.objects} | set(CLASSES):
        of = [o for o in model.objects if o.cls == cls]
        view = [o for o in of if o.name in names]
        out = [o for o in of if o.name not in names]
        groups[cls] = [of, view, out, [o for o in out if abs(o.bearing_deg) > 90]]
        groups[cls] += [[o for o in view if o.direction == d] for d in ("left", "ahead", "right")]
        groups[cls] += [[o for o in view if o.colour == c] for c in (*PALETTE, None)]
    things = [o for o in model.objects if not o.structure]
    groups["objects"] = [things, [o for o in things if o.name in names]]
    return {k: {sum(o.at_least for o in g) for g in gs} for k, gs in groups.items()}  # "at least" counts too


def check_truth(text: str, model: SceneModel, query: Query) -> list[str]:
    """What in `text` the model does not hold: classes, colours, lengths, times and counts."""
    problems = []
    low = text.lower()
    refusal = re.match(r"i can't recognise ([^.]*)\.", low)
    if refusal:  # the refused words, as said, plural or with an article, and nothing else
        words = {w.lower() for w in query.unknown}
        for piece in re.split(r", | or ", refusal.group(1)):
            bare = re.sub(r"^(a|an) ", "", piece)
            if not any(bare in (w, w + "s", w + "es", w[:-1] + "ves") for w in words | set(query.classes())):
                problems.append(f"refused {piece!r}, which was not asked about")
        low = low[refusal.end() :]
    held = {o.cls for o in model.objects} | set(query.classes())
    for word in re.findall(r"[a-z]+", low):
        if word in FORMS and FORMS[word] not in held:
            problems.append(f"class {FORMS[word]!r} is not in the model")
        if word in PALETTE and word not in {o.colour for o in model.objects} | {query.colour}:
            problems.append(f"colour {word!r} is not in the model")
    for less, value, unit, what in LENGTH.findall(low):
        metres = float(value) / (100 if unit.startswith("centi") else 1)
        if what == "from":  # "the chair is 1.2 metres from the table": centre to centre
            quantities = [math.dist(a.centroid_m, b.centroid_m) for a in model.objects for b in model.objects]
        elif what == "away":
            quantities = [o.distance_m for o in model.objects]
        elif what:
            quantities = [o.extent_m[("wide", "tall", "deep").index(what)] for o in model.objects]
        else:
            quantities = [q for o in model.objects for q in (o.distance_m, *o.extent_m)]
        ok = any(q < metres for q in quantities) if less else any(abs(q - metres) <= 0.05 + 1e-9 for q in quantities)
        if not ok:
            problems.append(f"length {less}{value} {unit} {what} is not in the model")
    for value, unit in TIME.findall(low):
        scale = {"s": 1, "m": 60, "h": 3600}[unit[0]]
        if not any(abs((model.time_s - o.last_seen_s) / scale - int(value)) <= 0.5 for o in model.objects):
            problems.append(f"time {value} {unit} ago is not in the model")
    rest = TIME.sub("", LENGTH.sub("", low))
    counts = allowed_counts(model)
    for number, _colour, following in COUNT.findall(rest):
        n = int(number) if number.isdigit() else NUMBER_WORDS[number]
        noun = "objects" if following in ("object", "objects") else FORMS.get(following)
        if following == "in all":  # "I have seen three in all": a class's total
            ok = any(n in c for c in counts.values())
        elif noun is None:
            ok = not number.isdigit() and number == "one"  # "I saw one 12 seconds ago": a pronoun, not a count
        else:
            ok = n in counts[noun]
        if not ok:
            problems.append(f"count {number} {following} is not in the model")
    if re.search(r"\d", COUNT.sub("", rest)):
        problems.append("a number that is neither a length, a time nor a count")
    for cls in {o.cls for o in model.objects if o.more or o.at_least > 1}:  # a lower bound is never exact
        if re.search(rf"\bonly one {cls}\b", low):
            problems.append(f"'only one {cls}' where the model holds at least that many")
    return problems


def check_grammar(text: str) -> list[str]:
    bad = [
        (r"(?<![\d.])1 (metres|centimetres|seconds|minutes|hours)\b", "a plural unit after 1"),
        (r"(?<![\d.])(?!1 )\d+(\.\d+)? (metre|centimetre|second|minute|hour)\b", "a singular unit after a number"),
        (r"\ba (apple|umbrella|hour)", "'a' before a vowel sound"),
        (r"\ban (?!apple|umbrella|hour|orange)", "'an' before a consonant sound"),
        (r"\b[Tt]here is (at least )?(two|three|four|five|six|seven|eight|nine|ten|\d+)\b", "'is' with a plural"),
        (r"\b[Tt]here are (at least )?(a|an|one)\b", "'are' with a singular"),
        (r"  |\s[,.;]|\.\.|None|nan|inf|_|\[", "a slip"),
    ]
    problems = [what for pattern, what in bad if re.search(pattern, text)]
    if not text or not text[0].isupper() or not text.endswith("."):
        problems.append("not a sentence")
    return problems


def random_model(rng: random.Random) -> SceneModel:
    objects: list[SceneObject] = []
    for _ in range(rng.randint(0, 8)):
        cls = rng.choice([c for c in CLASSES if c != "background"])
        d = rng.choice([rng.uniform(0.03, 9.0), rng.uniform(0.5, 3.0)])
        if objects and rng.random() < 0.2:
            d = objects[-1].distance_m + rng.uniform(-0.02, 0.02)  # a tie, as said
        b = rng.uniform(-45, 45)
        colour = rng.choice([*PALETTE, None])
        extent = (rng.uniform(0.005, 2.5), rng.uniform(0.005, 2.5), rng.uniform(0.005, 2.5))
        o = obj(cls, d, b, colour, e=extent, seen=rng.uniform(0, 100))
        c = (rng.uniform(-3, 3), rng.uniform(-1, 2), rng.uniform(0.5, 6))
        several = rng.choice([2, 3]) if cls not in STRUCTURE and rng.random() < 0.15 else 1  # too big for one
        cut = cls == "box" and rng.random() < 0.3  # a pile cut by the image's edge: may be more
        objects.append(SceneObject(**{**o.as_dict(), "centroid_m": c, "at_least": several, "more": cut}))
    frame: Literal["camera", "world"] = rng.choice(["camera", "world"])
    hidden: tuple[int, ...] = ()
    if frame == "world":
        hidden = tuple(i for i in range(len(objects)) if rng.random() < 0.4 and not objects[i].structure)
        for i in hidden:  # remembered: anywhere around the camera
            b = rng.uniform(-180, 180)
            objects[i] = SceneObject(
                **{
                    **objects[i].as_dict(),
                    "bearing_deg": b,
                    "direction": "ahead" if abs(b) <= 10 else "left" if b < 0 else "right",
                }
            )
    model = scene(*objects, frame=frame, hidden=hidden, time_s=100.0)
    for o in model.objects:  # in view: seen now
        if o.name in model.in_view:
            model.objects[model.objects.index(o)] = SceneObject(**{**o.as_dict(), "last_seen_s": 100.0})
    return model


def random_query(rng: random.Random, model: SceneModel) -> Query:
    present = [o.cls for o in model.objects]
    pick = lambda: rng.choice([None, *CLASSES, *present, *present, *present])  # noqa: E731
    return Query(
        intent=rng.choice(INTENTS),
        subject=pick(),
        relation=rng.choice([None, *RELATIONS]),
        other=pick(),
        third=pick(),
        attribute=rng.choice([None, "size", "height", "width", "depth"]),
        unknown=rng.sample(UNKNOWN, rng.choice([0, 0, 0, 0, 0, 0, 1, 2])),
        colour=rng.choice([None, None, None, *PALETTE, "teal"]),
        number=rng.choice([None, None, None, 0, 1, 2, 3, 7]),
    )


def test_the_checker_catches_what_it_is_for():
    model = scene(obj("chair", 2.1, -30, "red"), obj("table", 3.0, 0, "brown", e=(1.2, 0.8, 0.6)))
    q = Query(intent="exists", subject="chair", unknown=["car"])
    assert check_truth("I can't recognise cars. Yes, there is a chair, 2.1 metres away on the left.", model, q) == []
    assert check_truth("There are two chairs.", model, q)  # a count not in the model
    assert check_truth("The chair is blue.", model, q)  # a colour not in the model
    assert check_truth("The chair is 2.5 metres away.", model, q)  # a length not in the model
    assert check_truth("As far as I can see, the table is 90 centimetres tall.", model, q)
    assert check_truth("I can see a lamp.", model, q)  # a class not in the model
    assert check_truth("I can't recognise cars or tables.", model, q)  # a known class refused
    assert check_truth("The chair 2 is red.", model, q)  # an instance name in the text
    assert check_truth("I can see a chair 2.", model, q)
    assert check_truth("I last saw it 3 seconds ago.", model, q)
    assert check_grammar("There is two chairs.") and check_grammar("It is 1 metres away.") and check_grammar("a apple.")
    assert check_grammar("It is 1.1 metres away.") == [] and check_grammar("It is 2 metre away.")
    assert check_grammar("There are at least one box.") and check_grammar("There is at least two boxes.")
    pile = scene(SceneObject(**{**obj("box", 2.0, 20).as_dict(), "more": True}))
    assert check_truth("I see only one box.", pile, Query(intent="distance", subject="box", other="box"))


def test_no_answer_states_what_the_model_does_not_hold():
    rng = random.Random(14)
    checked = 0
    for _ in range(2000):
        model = random_model(rng)
        query = random_query(rng, model)
        got = answer(query, model)
        problems = check_truth(got.text, model, query) + check_grammar(got.text)
        for fact in got.facts:
            problems += check_truth(fact, model, query) + check_grammar(fact)
        assert set(got.objects) <= {o.name for o in model.objects}
        assert not problems, f"{query!r}\n{model.as_dict()}\n{got.text!r}\n{got.facts}\n{problems}"
        checked += 1
    assert checked == 2000


# --- distance between two objects, colour and number qualifiers (issue 14 review) ---------------------------------


def test_distance_from_another_object_is_between_the_two_never_from_the_camera():
    model = scene(obj("table", c=(0.0, 0.0, 1.5)), obj("chair", c=(-1.2, 0.0, 3.1)))  # 2.0 m apart, 3.3 m away
    got = answer(Query(intent="distance", subject="chair", other="table"), model)
    assert got.text == "The chair is 2 metres from the table, centre to centre."
    assert "away" not in got.text and set(got.objects) == {"chair", "table"}
    many = scene(obj("table", c=(0.0, 0.0, 1.5)), obj("chair", c=(0.0, 0.0, 2.5)), obj("chair", c=(0.0, 0.0, 5.0)))
    assert (
        ask(many, "distance", "chair", other="table")
        == "The nearest chair is 1 metre from the table, centre to centre."
    )
    assert ask(many, "distance", "chair", other="chair") == "One chair is 2.5 metres from the other, centre to centre."
    assert ask(scene(obj("chair")), "distance", "chair", other="table") == "I don't see a table."


def test_a_colour_filters_exists_count_and_where():
    one = scene(obj("chair", 2.0, -30, "blue"))
    assert ask(one, "exists", "chair", colour="red") == "No, I see a chair, but it is blue."
    assert ask(one, "exists", "chair", colour="blue") == "Yes, there is a blue chair, 2 metres away on the left."
    assert ask(one, "where", "chair", colour="red") == "I don't see a red chair; I see a chair, but it is blue."
    assert ask(one, "where", "chair", colour="blue") == "The blue chair is on the left, 2 metres away."
    assert ask(one, "colour", "chair", colour="red") == "No, the chair is blue."
    two = scene(obj("chair", 2.0, -30, "blue"), obj("chair", 3.0, 30, "red"))
    assert ask(two, "count", "chair", colour="red") == "There is one red chair."
    assert (
        ask(two, "count", "chair", colour="green") == "There are no green chairs; I see a blue chair and a red chair."
    )
    assert ask(two, "exists", "chair", colour="red") == "Yes, there is a red chair, 3 metres away on the right."


def test_an_unmeasured_colour_gets_no_yes_or_no():
    assert ask(scene(obj("chair", colour=None)), "exists", "chair", colour="red") == (
        "I see a chair, but I can't tell its colour."
    )
    two = scene(obj("chair", 2.0, -30, "blue"), obj("chair", 3.0, 30, None))
    assert ask(two, "exists", "chair", colour="red") == (
        "I can't tell: I see a blue chair and a chair whose colour I can't tell."
    )
    assert ask(two, "count", "chair", colour="red") == "There are no red chairs; I can't tell the colour of one chair."


def test_a_number_is_answered_with_the_true_count():
    three = scene(obj("chair", 2.0, -30), obj("chair", 3.0, 30), obj("chair", 4.0, 0))
    assert ask(three, "exists", "chair", number=2) == "No, I see three chairs."
    assert ask(three, "exists", "chair", number=3).startswith("Yes, there are three chairs;")
    assert ask(scene(), "exists", "chair", number=2) == "No, I don't see a chair."


def test_other_intents_refuse_a_qualifier_that_picks_out_only_some_objects():
    two = scene(obj("chair", 2.0, -30, "blue"), obj("chair", 3.0, 30, "red"), obj("table", 2.5, 0, "brown"))
    got = answer(Query(intent="size", subject="chair", colour="red"), two)
    assert got.text == "I can't answer that from what I see. I see a blue chair and a red chair." and not got.grounded
    # a colour the palette never names gets no yes or no
    assert ask(two, "exists", "chair", colour="teal").startswith("I can't tell teal from other colours. Yes, there are")
