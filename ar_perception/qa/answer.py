"""Answers from the scene model: deterministic, grammatical sentences that state only what perception found.

Each intent of a `Query` has one function here that reads the `SceneModel` and returns its sentence with
the facts it rests on. Nothing outside the model is written: absence is claimed only for a class perception
knows, a word it does not know is repeated back as unknown (never mapped onto a known class), and where the
model cannot answer (no camera pose, no colour measured) the answer says so.

Relations come from `relations.py`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from typing import Any

from ar_perception.qa.colour import PALETTE
from ar_perception.qa.model import NOT_SURFACES, SceneModel, SceneObject
from ar_perception.qa.query import Query
from ar_perception.qa.relations import holds, under_it
from ar_perception.qa.words import (
    Tally,
    capitalise,
    count_phrase,
    is_are,
    join,
    length,
    number_word,
    plural,
    said_plural,
    time_ago,
    with_article,
)

__all__ = ["Answer", "answer"]

BEHIND_DEG = 90.0  # |bearing| beyond this: behind the camera

NO_POSE = "I have no camera pose, so I only know what is in view now."
CANNOT = "I can't answer that from what I see."

_SIDES = {"left": "on the left", "ahead": "ahead", "right": "on the right"}
_SIDE_ORDER = ("left", "ahead", "right")
_RELATION_WORDS = {
    "left_of": "to the left of",
    "right_of": "to the right of",
    "in_front_of": "in front of",
    "behind": "behind",
    "on": "on",
    "next_to": "next to",
    "between": "between",
    "nearer_than": "nearer than",
    "farther_than": "farther away than",
}
# "in front of"/"behind" asked of two objects that are not in line: nearer/farther from here is what holds
_DEPTH_ORDER = {"in_front_of": "nearer than", "behind": "farther away than"}
_AROUND_ME = {
    "left_of": ("left", "on your left"),
    "right_of": ("right", "on your right"),
    "in_front_of": ("ahead", "ahead of you"),
}


@dataclass
class Answer:
    """What to say, and what it rests on. `grounded` is False when part of the question was refused (a word
    perception does not know, no camera pose, a question no intent fits): such a text is said as it is."""

    text: str
    facts: list[str]  # the model's facts the answer rests on, one sentence each
    objects: list[str]  # the names (SceneObject.name) of the objects it uses
    grounded: bool = True

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def answer(query: Query, model: SceneModel) -> Answer:
    """The answer to `query` from `model`: unknown words are refused first, then the known part is answered."""
    scene = _Scene(model)
    unknown = _dedupe(
        [w.strip() for w in query.unknown if w.strip()] + [c for c in query.classes() if not scene.knows(c)]
    )
    if not unknown:
        return _qualified(query, scene)
    refusal = Answer(f"I can't recognise {join([said_plural(w) for w in unknown], 'or')}.", [], [], grounded=False)
    if query.subject is None or not scene.knows(query.subject) or query.intent == "unsupported":
        return _then(refusal, _seen(scene))
    known = query.model_copy(
        update={"unknown": [], "other": _known_or_none(query.other, scene), "third": _known_or_none(query.third, scene)}
    )
    if query.intent == "relation" and (known.other is None or (known.relation == "between" and known.third is None)):
        # the thing the relation refers to is likely the unknown word ("is the lamp left of the car?"), not me
        known = Query(intent="where", subject=query.subject)
    return _then(refusal, _qualified(known, scene))


class _Scene:
    """The model with what the answers ask of it: what is in view (nearest first), what is only remembered."""

    def __init__(self, model: SceneModel) -> None:
        self.model = model
        self.world = model.frame == "world"
        self.view = sorted(model.visible(), key=_distance_key)
        in_view = {id(o) for o in self.view}
        self.memory = [o for o in model.objects if id(o) not in in_view] if self.world else []

    def knows(self, cls: str) -> bool:
        return cls in self.model.classes and cls not in NOT_SURFACES

    def seen(self, cls: str) -> list[SceneObject]:
        return [o for o in self.view if o.cls == cls]

    def things(self) -> list[SceneObject]:
        return [o for o in self.view if not o.structure]

    def remembered(self, cls: str) -> list[SceneObject]:
        return sorted((o for o in self.memory if o.cls == cls), key=lambda o: -o.last_seen_s)

    def ago(self, o: SceneObject) -> str:
        return time_ago(self.model.time_s - o.last_seen_s)


def _distance_key(o: SceneObject) -> tuple[float, str]:
    return (o.distance_m if math.isfinite(o.distance_m) else math.inf, o.name)


def _known_or_none(cls: str | None, scene: _Scene) -> str | None:
    return cls if cls is not None and scene.knows(cls) else None


def _dedupe(items: Iterable[str]) -> list[str]:
    """The items in order, each once (ignoring case)."""
    kept: dict[str, str] = {}
    for item in items:
        kept.setdefault(item.lower(), item)
    return list(kept.values())


def _then(first: Answer, second: Answer) -> Answer:
    return Answer(
        f"{first.text} {second.text}",
        _dedupe(first.facts + second.facts),
        _dedupe(first.objects + second.objects),
        first.grounded and second.grounded,
    )


# --- phrases -------------------------------------------------------------------------------------------------


def _has_distance(o: SceneObject) -> bool:
    return math.isfinite(o.distance_m) and o.distance_m >= 0


def _side(o: SceneObject) -> str:
    """Where it is from the camera now: "on the left", "ahead", "on the right", "behind you"."""
    return "behind you" if abs(o.bearing_deg) > BEHIND_DEG else _SIDES[o.direction]


def _away(o: SceneObject, side: str) -> str:
    """ "2.1 metres away on the left", "3.2 metres away, ahead"."""
    if not _has_distance(o):
        return side
    return f"{length(o.distance_m)} away{' ' if side.startswith('on ') else ', '}{side}"


def _place(o: SceneObject) -> str:
    """Where an object in view is: "2.1 metres away on the left"."""
    return _away(o, _side(o))


def _ref(cls: str, n: int) -> str:
    """How to name one of the `n` objects of `cls` in view: "the chair" when it is the only one, else "a chair"."""
    return f"the {cls}" if _surely_one(n) else with_article(cls)


def _fact(o: SceneObject, ref: str, scene: _Scene) -> str:
    """Where an object is, as a sentence; a remembered one is where it was, seen from the camera now."""
    if any(o is v for v in scene.view):
        return f"{capitalise(ref)} is {_place(o)}."
    return f"{capitalise(ref)} was last seen {scene.ago(o)}; it should be {_place(o)}."


def _how_many(cls: str, objs: list[SceneObject]) -> str:
    """ "three chairs", "at least two boxes"; "walls" for room structure, counted only when a count is asked."""
    return plural(cls) if objs and objs[0].structure and len(objs) > 1 else _numbered(cls, _n(objs))


def _numbered(cls: str, n: int) -> str:
    """ "no chairs", "one chair", "three chairs" (a count said as one, unlike count_phrase's "a chair")."""
    return f"no {plural(cls)}" if n == 0 else f"{number_word(n)} {cls if n == 1 else plural(cls)}"


def _groups(objects: list[SceneObject], counted: bool = True) -> list[str]:
    """Objects by class, in the order of their nearest: "a table", "two chairs" (or "chairs" when not counted)."""
    return [count_phrase(c, n) if counted or n == 1 else plural(c) for c, n in _class_counts(objects).items()]


def _nearest_clause(objs: list[SceneObject]) -> str:
    """ "the nearest is 2.1 metres away on the left"; objects at a distance said the same way are all nearest."""
    first = objs[0]
    tied = [
        o
        for o in objs
        if _has_distance(o) and _has_distance(first) and length(o.distance_m) == length(first.distance_m)
    ]
    if len(tied) <= 1:
        return f"the nearest is {_place(first)}"
    sides = [_SIDES[d] for d in _SIDE_ORDER if any(o.direction == d for o in tied)]
    return f"the nearest are {_away(first, join(sides))}"


def _several(cls: str, objs: list[SceneObject], scene: _Scene, lead: str = "There are") -> Answer:
    """ "There are three chairs; the nearest is 2.1 metres away on the left." (walls, floors and ceilings are not
    counted unless asked: "The nearest wall is 3.3 metres away, ahead."; where one surface ends and the next
    begins is not sure)"""
    if objs[0].structure and lead == "There are":
        text = f"The nearest {cls} is {_place(objs[0])}."
    else:
        if _n(objs) == 1 and lead.endswith(" are"):  # one that may be several: "there is at least one box"
            lead = lead[: -len("are")] + "is"
        text = f"{lead} {_how_many(cls, objs)}; {_nearest_clause(objs)}."
    facts = [f"There {is_are(_n(objs))} {_how_many(cls, objs)} in view."]
    facts += [_fact(o, with_article(cls), scene) for o in objs]
    return Answer(text, facts, [o.name for o in objs])


def _absent(cls: str, scene: _Scene, lead: str = "") -> Answer:
    """ "I don't see a lamp." (a known class); with memory, when it was last seen."""
    facts = [f"There is no {cls} in view."]
    remembered = scene.remembered(cls)
    if remembered:
        last = remembered[0]
        text = f"I don't see {with_article(cls)} now, but I saw one {scene.ago(last)}."
        return Answer(text, [*facts, _fact(last, with_article(cls), scene)], [last.name])
    return Answer(f"{lead}I don't see {with_article(cls)}.", facts, [])


def _seen(scene: _Scene) -> Answer:
    """ "I can see a table, two chairs and a lamp." (structure only when there is nothing else)."""
    things = scene.things()
    if things:
        groups = _groups(things)
        facts = [f"There {is_are(n)} {_numbered(c, n)} in view." for c, n in _class_counts(things).items()]
        return Answer(f"I can see {join(groups)}.", facts, [o.name for o in things])
    structure = [o for o in scene.view if o.structure]
    if structure:
        parts = [f"the {c}" if n == 1 else f"the {plural(c)}" for c, n in _class_counts(structure).items()]
        text = f"I can't see any objects, only {join(parts)}."
        return Answer(text, [text], [o.name for o in structure])
    return Answer("I can't see anything I recognise.", ["Nothing I recognise is in view."], [])


def _n(objects: Iterable[SceneObject]) -> Tally:
    """How many objects `objects` are: at least one each, more for one too big to be one of its class; a lower
    bound ("at least two") when one may be several (too big, or `more`: a pile or a row cut by the image's edge)."""
    objects = list(objects)
    return Tally(sum(o.at_least for o in objects), any(o.at_least > 1 or o.more for o in objects))


def _only_one(cls: str, objs: list[SceneObject], lead: str) -> Answer:
    """ "I see only one chair." where two of a class are asked about and one is in view; where that one may be
    several (a pile), no "only": "I can't tell: I see at least one box." """
    n = _n(objs)
    if n.at_least:
        text = f"I can't tell: I see {_numbered(cls, n)}."  # no yes or no lead: neither is known
        return Answer(text, [f"There {is_are(n)} {_numbered(cls, n)} in view."], [objs[0].name])
    return Answer(f"{lead}I see only one {cls}.", [f"There is one {cls} in view."], [objs[0].name])


def _surely_one(n: int) -> bool:
    """Whether a count (a `Tally` or an int) is one and no lower bound ("the box"; not "at least one box")."""
    return n == 1 and not getattr(n, "at_least", False)


def _one(objects: Iterable[SceneObject]) -> bool:
    """Whether `objects` are surely one object ("the chair"; not when it may be several: "the nearest box")."""
    return _surely_one(_n(objects))


def _class_counts(objects: list[SceneObject]) -> dict[str, Tally]:
    """How many of each class, in the order of their nearest."""
    by_class: dict[str, list[SceneObject]] = {}
    for o in objects:
        by_class.setdefault(o.cls, []).append(o)
    return {c: _n(objs) for c, objs in by_class.items()}


_ADJECTIVES = {"width": "wide", "height": "tall", "depth": "deep"}


def _measures(o: SceneObject, wanted: Iterable[str] = tuple(_ADJECTIVES)) -> str:
    """ "1.2 metres wide, 80 centimetres tall and 60 centimetres deep": the visible part as seen from the camera
    (`extent_m` is width, height, depth); a size that was not measured is left out."""
    sizes = dict(zip(_ADJECTIVES, o.extent_m, strict=True))
    return join([f"{length(sizes[a])} {_ADJECTIVES[a]}" for a in wanted if math.isfinite(sizes[a]) and sizes[a] >= 0])


# --- colour and number qualifiers ---------------------------------------------------------------------------


def _qualified(query: Query, scene: _Scene) -> Answer:
    """The answer to a query whose subject may be qualified by a colour ("is there a red chair?") or a number
    ("are there two chairs?"). exists, count, where and colour answer for the qualified objects; the other
    intents answer only when the qualifier picks out every object of the class in view (else their answer would
    be about objects the question did not ask about)."""
    if query.colour is None and query.number is None:
        return _INTENTS[query.intent](query, scene)
    plain = query.model_copy(update={"colour": None, "number": None})
    cls, colour = query.subject, query.colour
    if cls is None or query.intent == "unsupported":
        return _unsupported(plain, scene)
    if colour is not None and colour not in PALETTE:  # a colour the palette never names: no yes or no to it
        refusal = Answer(f"I can't tell {colour} from other colours.", [], [], grounded=False)
        return _then(refusal, _qualified(query.model_copy(update={"colour": None}), scene))
    if query.intent in ("exists", "count", "where") or (query.intent == "colour" and query.number is None):
        return _INTENTS[query.intent](query, scene)
    objs = scene.seen(cls)
    if not objs or all(
        (colour is None or o.colour == colour) and query.number in (None, len(objs)) for o in objs
    ):  # nothing to pick out, or the qualifier picks out all of them: the plain answer is about the same objects
        return _INTENTS[query.intent](plain, scene)
    return _then(Answer(CANNOT, [], [], grounded=False), _colours_seen(cls, objs, colour is not None))


def _colour_groups(cls: str, objs: list[SceneObject]) -> list[str]:
    """ "two blue chairs", "a red chair", "a chair whose colour I can't tell" (in the order of the nearest)."""
    by_colour: dict[str | None, list[SceneObject]] = {}
    for o in objs:
        by_colour.setdefault(o.colour, []).append(o)
    return [
        count_phrase(f"{c} {cls}", _n(group)) if c else f"{count_phrase(cls, _n(group))} whose colour I can't tell"
        for c, group in by_colour.items()
    ]


def _colours_seen(cls: str, objs: list[SceneObject], by_colour: bool) -> Answer:
    """ "I see two blue chairs and a red chair." (by colour) or "I see three chairs." """
    said = join(_colour_groups(cls, objs)) if by_colour else _numbered(cls, _n(objs))
    facts = [_colour_fact(o, with_article(cls)) for o in objs]
    return Answer(f"I see {said}.", facts, [o.name for o in objs])


def _no_match(cls: str, colour: str, objs: list[SceneObject], lead: str) -> Answer:
    """None of `objs` (in view, of `cls`) is `colour`: "No, I see a chair, but it is blue."; where a colour is
    unknown, no yes or no: "I see a chair, but I can't tell its colour." """
    facts = [_colour_fact(o, _ref(cls, _n(objs))) for o in objs]
    names = [o.name for o in objs]
    unsure = any(o.colour is None for o in objs)
    if _one(objs):
        o = objs[0]
        if o.colour is None:
            return Answer(f"I see {with_article(cls)}, but I can't tell its colour.", facts, names)
        return Answer(f"{lead}I see {with_article(cls)}, but it is {o.colour}.", facts, names)
    if unsure:
        return Answer(f"I can't tell: I see {join(_colour_groups(cls, objs))}.", facts, names)
    return Answer(f"{lead}I see {join(_colour_groups(cls, objs))}.", facts, names)


def _qualified_objects(query: Query, scene: _Scene) -> tuple[str, list[SceneObject], list[SceneObject]]:
    """The noun ("red chair"), the objects of the class in view, and those of them of the asked colour."""
    cls, colour = query.subject, query.colour
    assert cls is not None
    objs = scene.seen(cls)
    matching = [o for o in objs if colour is None or o.colour == colour]
    return (f"{colour} {cls}" if colour else cls), objs, matching


def _exists_qualified(query: Query, scene: _Scene) -> Answer:
    """ "Is there a red chair?", "Are there two chairs?", "Are there three red chairs?" """
    noun, objs, matching = _qualified_objects(query, scene)
    cls, colour, number = query.subject, query.colour, query.number
    assert cls is not None
    if not objs:
        return _absent(cls, scene, "No, ")
    if colour is not None and not matching:
        return _no_match(cls, colour, objs, "No, ")
    if colour is not None:
        facts = [_colour_fact(o, _ref(cls, _n(objs))) for o in objs]
    else:
        facts = [f"There {is_are(_n(objs))} {_numbered(cls, _n(objs))} in view."]
        facts += [_fact(o, _ref(cls, _n(objs)), scene) for o in objs]
    names = [o.name for o in objs]
    n = _n(matching)
    if number is not None and n.at_least and number >= n:  # "are there three?" when there are at least two
        return Answer(f"I can't tell: I see {_numbered(noun, n)}.", facts, names)
    if number is None or number == n:
        if colour is not None and number is not None and any(o.colour is None for o in objs):
            return Answer(f"I can't tell: I see {join(_colour_groups(cls, objs))}.", facts, names)
        if _one(matching):
            o = matching[0]
            lead = "Yes, there is one" if number is not None else "Yes, there is"
            said = f"{lead} {noun}" if number is not None else f"{lead} {with_article(noun)}"
            return Answer(f"{said}, {_place(o)}.", facts, names)
        return _several(noun, matching, scene, "Yes, there are")
    if colour is not None and any(o.colour is None for o in objs):
        return Answer(f"I can't tell: I see {join(_colour_groups(cls, objs))}.", facts, names)
    return Answer(f"No, I see {_numbered(noun, n)}.", facts, names)


def _count_qualified(query: Query, scene: _Scene) -> Answer:
    """ "How many red chairs are there?" """
    noun, objs, matching = _qualified_objects(query, scene)
    cls = query.subject
    assert cls is not None
    text = f"There {is_are(_n(matching))} {_numbered(noun, _n(matching))}{' in view' if scene.world else ''}"
    unsure = [o for o in objs if o.colour is None]
    if unsure:
        text += f"; I can't tell the colour of {_numbered(cls, _n(unsure))}"
    elif objs and not matching:
        text += f"; I see {join(_colour_groups(cls, objs))}"
    facts = [_colour_fact(o, _ref(cls, _n(objs))) for o in objs]
    return Answer(text + ".", facts or [text + "."], [o.name for o in objs])


def _where_qualified(query: Query, scene: _Scene) -> Answer:
    """ "Where is the red chair?" """
    noun, objs, matching = _qualified_objects(query, scene)
    cls, colour = query.subject, query.colour
    assert cls is not None
    if colour is None:
        return _where(query.model_copy(update={"number": None}), scene)
    if not objs:
        return _absent(cls, scene)
    if not matching:
        return _no_match(cls, colour, objs, f"I don't see {with_article(noun)}; ")
    if not _one(matching):
        return _several(noun, matching, scene)
    o = matching[0]
    place = f"{_side(o)}, {length(o.distance_m)} away" if _has_distance(o) else _side(o)
    return Answer(f"The {noun} is {place}.", [_fact(o, f"the {noun}", scene)], [o.name])


# --- intents -------------------------------------------------------------------------------------------------


def _unsupported(query: Query, scene: _Scene) -> Answer:
    return _then(Answer(CANNOT, [], [], grounded=False), _seen(scene))


def _exists(query: Query, scene: _Scene) -> Answer:
    if query.subject is not None and (query.colour is not None or query.number is not None):
        return _exists_qualified(query, scene)
    cls = query.subject
    if cls is None:
        seen = _seen(scene)
        return Answer(f"{'Yes' if scene.things() else 'No'}, {seen.text}", seen.facts, seen.objects)  # "I can..."
    objs = scene.seen(cls)
    if not objs:
        return _absent(cls, scene, "No, ")
    if _one(objs):
        return Answer(
            f"Yes, there is {with_article(cls)}, {_place(objs[0])}.",
            [_fact(objs[0], f"the {cls}", scene)],
            [objs[0].name],
        )
    return _several(cls, objs, scene, "Yes, there are")


def _count(query: Query, scene: _Scene) -> Answer:
    if query.subject is not None and query.colour is not None:
        return _count_qualified(query, scene)
    cls = query.subject
    if cls is None:
        things = scene.things()
        if not things:
            return Answer("I don't see any objects.", ["No objects are in view."], [])
        n = _n(things)
        text = f"I can see {number_word(n)} {'object' if n == 1 else 'objects'}: {join(_groups(things))}."
        return Answer(text, [text], [o.name for o in things])
    objs = scene.seen(cls)
    where = " in view" if scene.world else ""
    text = f"There {is_are(_n(objs))} {_numbered(cls, _n(objs))}{where}"
    remembered = scene.remembered(cls)
    total = _n(objs + remembered)
    if remembered:
        text += f"; I have seen {number_word(total)} in all"
    return Answer(text + ".", [text + "."], [o.name for o in objs])


def _locate(query: Query, scene: _Scene, side_first: bool) -> Answer:
    cls = query.subject
    if cls is None:
        return _unsupported(query, scene)
    objs = scene.seen(cls)
    if not objs:
        return _absent(cls, scene)
    if not _one(objs):
        return _several(cls, objs, scene)
    o = objs[0]
    if side_first and _has_distance(o):
        text = f"The {cls} is {_side(o)}, {length(o.distance_m)} away."
    else:
        text = f"The {cls} is {_place(o)}."
    return Answer(text, [_fact(o, f"the {cls}", scene)], [o.name])


def _distance(query: Query, scene: _Scene) -> Answer:
    if query.other is not None:
        return _distance_between(query, scene)
    return _locate(query, scene, side_first=False)


def _distance_between(query: Query, scene: _Scene) -> Answer:
    """ "How far is the chair from the table?": centre to centre (3D centroids) of the nearest of each class;
    never the distance from the camera."""
    cls, other = query.subject, query.other
    if cls is None or other is None:
        return _unsupported(query, scene)
    objs = scene.seen(cls)
    if not objs:
        return _absent(cls, scene)
    if other == cls:  # "how far is the chair from the other chair?": the two nearest
        if len(objs) < 2:
            return _only_one(cls, objs, "")
        a, b = objs[0], objs[1]
        refs = (f"the nearest {cls}", f"the next nearest {cls}") if len(objs) > 2 else (f"one {cls}", "the other")
    else:
        others = scene.seen(other)
        if not others:
            return _absent(other, scene)
        a, b = objs[0], others[0]
        refs = (_nearest_ref(cls, _n(objs)), _nearest_ref(other, _n(others)))
    apart = math.dist(a.centroid_m, b.centroid_m)
    facts = [_fact(a, refs[0], scene), _fact(b, refs[1], scene)]
    if not math.isfinite(apart):
        return Answer(f"I can't tell how far {refs[0]} is from {refs[1]}.", facts, [a.name, b.name])
    text = f"{capitalise(refs[0])} is {length(apart)} from {refs[1]}, centre to centre."
    return Answer(text, [*facts, text], [a.name, b.name])


def _nearest_ref(cls: str, n: int) -> str:
    """ "the chair" when it is the only one in view, else "the nearest chair"."""
    return f"the {cls}" if _surely_one(n) else f"the nearest {cls}"


def _where(query: Query, scene: _Scene) -> Answer:
    if query.subject is not None and query.colour is not None:
        return _where_qualified(query, scene)
    return _locate(query, scene, side_first=True)


def _nearest(query: Query, scene: _Scene) -> Answer:
    cls = query.subject
    if cls is not None:
        objs = scene.seen(cls)
        if not objs:
            return _absent(cls, scene)
        if _one(objs):
            return Answer(
                f"There is one {cls}, {_place(objs[0])}.", [_fact(objs[0], f"the {cls}", scene)], [objs[0].name]
            )
        n = _n(objs)
        said = f"the {plural(cls)} ({number_word(n)})" if n.at_least else f"the {_how_many(cls, objs)}"
        text = f"Of {said}, {_nearest_clause(objs)}."
        if n == 1:  # one that may be several: "there is at least one box; the nearest is ..."
            text = f"There is {_numbered(cls, n)}; {_nearest_clause(objs)}."
        return Answer(text, _several(cls, objs, scene).facts, [o.name for o in objs])
    things = scene.things()
    if not things:
        return Answer("I don't see any objects.", ["No objects are in view."], [])
    counts = _class_counts(things)
    first = things[0]
    tied = [
        o
        for o in things
        if _has_distance(first) and _has_distance(o) and length(o.distance_m) == length(first.distance_m)
    ]
    if len(tied) <= 1:
        ref = _ref(first.cls, counts[first.cls])
        return Answer(f"The nearest object is {ref}, {_place(first)}.", [_fact(first, ref, scene)], [first.name])
    parts = [f"{with_article(o.cls)} {_side(o)}" for o in tied]
    text = f"The nearest objects, {length(first.distance_m)} away, are {join(parts)}."
    return Answer(text, [_fact(o, with_article(o.cls), scene) for o in tied], [o.name for o in tied])


def _colour(query: Query, scene: _Scene) -> Answer:
    cls = query.subject
    if cls is None:
        return _unsupported(query, scene)
    objs = scene.seen(cls)
    if not objs:
        return _absent(cls, scene)
    facts = [_colour_fact(o, _ref(cls, _n(objs))) for o in objs]
    first, n = objs[0], _n(objs)
    # "is the chair red?": yes or no where every one of them has a measured colour, and it is the same
    yes_no = "" if query.colour is None else "Yes, " if first.colour == query.colour else "No, "
    if n == 1 and n.at_least:  # a pile that may hold more: its colour, not "the box's"
        if not first.colour:
            text = f"I see {_numbered(cls, n)}, {_place(first)}; I can't tell its colour."
            return Answer(text, facts, [first.name])
        return Answer(f"{yes_no}I see {_numbered(cls, n)}, {_place(first)}; it is {first.colour}.", facts, [first.name])
    if n == 1:
        if not first.colour:
            return Answer(f"I can't tell the colour of the {cls}.", facts, [first.name])
        return Answer(capitalise(f"{yes_no}the {cls} is {first.colour}."), facts, [first.name])
    colours = [o.colour for o in objs]
    if None not in colours and len(set(colours)) == 1:
        if first.structure:
            text = f"{yes_no}the {plural(cls)} are {first.colour}."
        elif n.at_least:  # "all at least four boxes" is no English
            text = f"{yes_no}all the {plural(cls)} I can see ({number_word(n)}) are {first.colour}."
        else:
            text = f"{yes_no}{'both' if n == 2 else f'all {number_word(n)}'} {plural(cls)} are {first.colour}."
        return Answer(capitalise(text), facts, [o.name for o in objs])
    if first.colour:
        text = f"There {is_are(n)} {_how_many(cls, objs)}; the nearest, {_place(first)}, is {first.colour}"
    else:
        text = f"There {is_are(n)} {_how_many(cls, objs)}; I can't tell the colour of the nearest, {_place(first)}"
    others = [o.colour for o in objs[1:] if o.colour]
    if len(others) == n - 1:  # said only when every other one has a colour: "the others are" must hold for all
        if n.at_least:  # a bound: "the other" would say there are no more
            text += f"; another is {others[0]}" if len(others) == 1 else f"; others are {join(others)}"
        else:
            text += f"; the other is {others[0]}" if len(others) == 1 else f"; the others are {join(others)}"
    return Answer(text + ".", facts, [o.name for o in objs])


def _colour_fact(o: SceneObject, ref: str) -> str:
    said = f"is {o.colour}" if o.colour else "has no measured colour"
    return f"{capitalise(ref)}, {_place(o)}, {said}."


def _together(o: SceneObject, measures: str) -> str:
    """Of a region too big to be one object: "the nearest boxes (at least two) stand together, ... in all."."""
    return f"the nearest {plural(o.cls)} ({number_word(Tally(o.at_least, True))}) stand together, {measures} in all."


def _size(query: Query, scene: _Scene) -> Answer:
    cls = query.subject
    if cls is None:
        return _unsupported(query, scene)
    objs = scene.seen(cls)
    if not objs:
        return _absent(cls, scene)
    first = objs[0]
    said = _measures(first, [query.attribute] if query.attribute in _ADJECTIVES else _ADJECTIVES)
    every = _measures(first)
    ref = f"the {cls}" if _one(objs) else f"the nearest {cls}"
    facts = [_fact(first, ref, scene)] + ([f"The visible part of {ref} is {every}."] if every else [])
    if not said:
        return Answer(f"I can't tell the size of {ref}.", facts, [first.name])
    if first.at_least > 1:  # several that touch, measured as one: no size of one of them
        text = f"I can't tell how big each {cls} is: {_together(first, said)}"
        return Answer(text, facts, [first.name])
    if first.more:  # a pile or a row cut by the image's edge: it may be more than one
        text = f"I can't tell how big each {cls} is: the nearest may be more than one {cls} together, {said} in all."
        return Answer(text, facts, [first.name])
    if _one(objs):
        return Answer(f"As far as I can see, the {cls} is {said}.", facts, [first.name])
    there = f"There {is_are(_n(objs))} {_how_many(cls, objs)}"
    text = f"{there}; as far as I can see, the nearest, {_place(first)}, is {said}."
    return Answer(text, facts, [first.name])


def _relation(query: Query, scene: _Scene) -> Answer:
    relation = query.relation
    if relation is None or (relation == "between" and (query.other is None or query.third is None)):
        return _unsupported(query, scene)
    if query.other is None:  # "what is on my left?", "what is behind me?"
        if relation == "behind":
            return _behind(query, scene)
        if relation in _AROUND_ME:
            return _around_me(query, scene, relation)
        return _unsupported(query, scene)
    found = _references(query, scene)
    if isinstance(found, Answer):
        return found
    refs, ref_text = found
    words = _RELATION_WORDS[relation]
    facts = [_fact(r, f"the {r.cls}" if _one(scene.seen(r.cls)) else with_article(r.cls), scene) for r in refs]
    frame = scene.model.frame
    if query.subject is None:  # list what stands in the relation to the (nearest) reference
        matches = [o for o in scene.things() if all(o is not r for r in refs) and holds(relation, o, refs, frame)]
        if not matches:
            return Answer(f"I don't see anything {words} {ref_text}.", facts, [r.name for r in refs])
        text = f"{capitalise(words)} {ref_text}, I can see {join(_groups(matches, counted=False))}."
        facts += [f"{capitalise(with_article(o.cls))} is {words} {ref_text}." for o in matches]
        return Answer(text, facts, [o.name for o in [*refs, *matches]])
    cls = query.subject
    subjects = [o for o in scene.seen(cls) if relation != "between" or all(o is not r for r in refs)]
    if not subjects:
        return _absent(cls, scene, "No, ")
    if relation == "between":
        matches = [o for o in subjects if holds(relation, o, refs, frame)]
    else:
        matches = [o for o in subjects if any(r is not o and holds(relation, o, [r], frame) for r in refs)]
    subject = _ref(cls, _n(subjects))
    one_thing = len(refs) == 1 and not refs[0].structure  # a wall is not a thing to be behind or in front of
    if not matches and relation in _DEPTH_ORDER and one_thing:  # "is the table behind the lamp?": off to one side
        if any(r is not o and holds(relation, o, [r], frame, in_line=False) for o in subjects for r in refs):
            said = f"{subject} is {_DEPTH_ORDER[relation]} {ref_text}, though not in line with it"
            facts = [_fact(o, subject, scene) for o in subjects] + facts + [capitalise(said) + "."]
            return Answer(f"Yes, {said}.", facts, [o.name for o in [*subjects, *refs]])
    cut_off = [o for o in subjects if o.bottom_hidden and any(r is not o and under_it(o, r, frame) for r in refs)]
    if not matches and relation == "on" and cut_off:  # over the other, where it stands out of view
        cut = cut_off[0]
        whose = "its bottom is" if len(subjects) == 1 else f"the bottom of one of the {plural(cls)} is"
        text = f"I can't tell whether {subject} is {words} {ref_text}: {whose} out of view."
        return Answer(text, [_fact(cut, subject, scene), *facts], [o.name for o in [cut, *refs]])
    if matches:
        said = f"{subject} is {words} {ref_text}"
    elif _one(subjects):
        said = f"the {cls} is not {words} {ref_text}"
    else:
        said = f"no {cls} is {words} {ref_text}"
    facts = [_fact(o, subject, scene) for o in subjects] + facts + [capitalise(said) + "."]
    return Answer(f"{'Yes' if matches else 'No'}, {said}.", facts, [o.name for o in [*subjects, *refs]])


def _references(query: Query, scene: _Scene) -> tuple[list[SceneObject], str] | Answer:
    """The objects a relation refers to, and how to name them; or the answer that one of them is not in view.
    A yes/no question is checked against every object of the other class; a list against the nearest one."""
    lead = "No, " if query.subject else ""
    other, third = query.other, query.third
    assert other is not None
    others = scene.seen(other)
    if not others:
        return _absent(other, scene, lead)
    if query.relation != "between":
        if query.subject is not None:
            return others, f"the {other}" if _one(others) else with_article(other)
        return others[:1], f"the {other}" if _one(others) else f"the nearest {other}"
    assert third is not None
    if third == other:
        if len(others) < 2:
            return _only_one(other, others, lead)
        said = f"the {_numbered(other, 2)}" if len(others) == 2 else f"the nearest {other} and the next nearest"
        return others[:2], said
    thirds = scene.seen(third)
    if not thirds:
        return _absent(third, scene, lead)
    near = [f"the {c}" if _one(objs) else f"the nearest {c}" for c, objs in ((other, others), (third, thirds))]
    return [others[0], thirds[0]], join(near)


def _around_me(query: Query, scene: _Scene, relation: str) -> Answer:
    """ "What is on my left?": the objects in view on that side."""
    direction, phrase = _AROUND_ME[relation]
    cls = query.subject
    if cls is None:
        matches = [o for o in scene.things() if o.direction == direction]
        facts = [_fact(o, with_article(o.cls), scene) for o in matches]
        if not matches:
            return Answer(f"I don't see anything {phrase}.", [f"No object in view is {phrase}."], [])
        return Answer(f"{capitalise(phrase)}, I can see {join(_groups(matches))}.", facts, [o.name for o in matches])
    objs = scene.seen(cls)
    if not objs:
        return _absent(cls, scene, "No, ")
    matches = [o for o in objs if o.direction == direction]
    ref = _ref(cls, _n(objs))
    if matches:
        o = matches[0]
        away = f", {length(o.distance_m)} away" if _has_distance(o) else ""
        return Answer(f"Yes, {ref} is {phrase}{away}.", [_fact(o, ref, scene)], [o.name])
    if _one(objs):
        return Answer(f"No, the {cls} is {_place(objs[0])}.", [_fact(objs[0], ref, scene)], [objs[0].name])
    return Answer(
        f"No, I don't see {with_article(cls)} {phrase}.", [_fact(o, ref, scene) for o in objs], [o.name for o in objs]
    )


def _list(query: Query, scene: _Scene) -> Answer:
    cls = query.subject
    if cls is None:
        return _seen(scene)
    objs = scene.seen(cls)
    if not objs:
        return _absent(cls, scene)
    if _one(objs):
        return Answer(
            f"I can see {with_article(cls)}, {_place(objs[0])}.", [_fact(objs[0], f"the {cls}", scene)], [objs[0].name]
        )
    return _several(cls, objs, scene, "I can see")


def _describe(query: Query, scene: _Scene) -> Answer:
    """What is there, the nearest, the layout left to right, and (with memory) what is out of view."""
    if query.subject is not None:
        return _describe_one(query.subject, scene)
    said = _seen(scene)
    things = scene.things()
    if things:
        said = _then(said, _nearest(Query(intent="nearest"), scene))
    if len(things) > 1:
        sides = []
        for d in _SIDE_ORDER:
            group = [o for o in things if o.direction == d]
            if group:
                # the verb agrees with the first thing named, as said: "there is a lamp and a chair"
                first = _class_counts(group)[group[0].cls]
                sides.append(f"{_SIDES[d]} there {is_are(first)} {join(_groups(group))}")
        said = _then(said, Answer(capitalise("; ".join(sides)) + ".", [capitalise(s) + "." for s in sides], []))
    remembered = [o for o in scene.memory if not o.structure]
    if remembered:
        text = f"Out of view, I remember {join(_groups(remembered))}."
        said = _then(said, Answer(text, [text], [o.name for o in remembered]))
    return said


def _describe_one(cls: str, scene: _Scene) -> Answer:
    objs = scene.seen(cls)
    if not objs:
        return _absent(cls, scene)
    first = objs[0]
    ref = f"the {cls}" if _one(objs) else f"the nearest {cls}"
    text = (
        f"The {cls} is {_place(first)}"
        if _one(objs)
        else f"There {is_are(_n(objs))} {_how_many(cls, objs)}; the nearest is {_place(first)}"
    )
    if first.colour:
        text += f"; it is {first.colour}"
    text += "."
    facts = [_fact(first, ref, scene), _colour_fact(first, ref)]
    every = _measures(first)
    if every:
        if first.at_least > 1:  # several that touch, measured as one (as in `_size`)
            text += f" {capitalise(_together(first, every))}"
        elif first.more:
            text += f" It may be more than one {cls} together, {every} in all."
        else:
            text += f" As far as I can see, it is {every}."
        facts.append(f"The visible part of {ref} is {every}.")
    return Answer(text, facts, [first.name])


def _last_seen(query: Query, scene: _Scene) -> Answer:
    cls = query.subject
    if cls is None:
        return _unsupported(query, scene)
    objs = scene.seen(cls)
    if objs:  # in view now: that is where it was last seen
        if not _one(objs):
            return _several(cls, objs, scene, "I can see")
        return Answer(
            f"The {cls} is in view now, {_place(objs[0])}.", [_fact(objs[0], f"the {cls}", scene)], [objs[0].name]
        )
    if not scene.world:
        return Answer(
            f"{NO_POSE} I don't see {with_article(cls)} now.", [f"There is no {cls} in view."], [], grounded=False
        )
    remembered = scene.remembered(cls)
    if not remembered:
        return Answer(f"I haven't seen {with_article(cls)}.", [f"No {cls} is in view or in memory."], [])
    last = remembered[0]
    ref = f"the {cls}" if _one(remembered) else with_article(cls)
    text = f"I last saw {ref} {scene.ago(last)}; it should be {_place(last)}."
    return Answer(text, [_fact(last, ref, scene)], [last.name])


def _behind(query: Query, scene: _Scene) -> Answer:
    """ "What is behind me?": remembered objects whose bearing from the way the camera faces now is beyond 90
    degrees."""
    if not scene.world:
        return Answer(NO_POSE, [], [], grounded=False)
    cls = query.subject
    behind = [o for o in scene.memory if abs(o.bearing_deg) > BEHIND_DEG and (o.cls == cls if cls else not o.structure)]
    facts = [_fact(o, with_article(o.cls), scene) for o in behind]
    names = [o.name for o in behind]
    if cls is None:
        if not behind:
            return Answer("I don't remember anything behind you.", ["No remembered object is behind you."], [])
        return Answer(f"Behind you, I remember {join(_groups(behind))}.", facts, names)
    if _one(behind):
        return Answer(
            f"Yes, I remember {with_article(cls)} behind you; I last saw it {scene.ago(behind[0])}.", facts, names
        )
    if behind:
        return Answer(f"Yes, I remember {_numbered(cls, _n(behind))} behind you.", facts, names)
    objs = scene.seen(cls)
    if _one(objs):
        return Answer(f"No, the {cls} is {_place(objs[0])}.", [_fact(objs[0], f"the {cls}", scene)], [objs[0].name])
    return Answer(f"No, I don't remember {with_article(cls)} behind you.", [f"No remembered {cls} is behind you."], [])


_INTENTS: dict[str, Callable[[Query, _Scene], Answer]] = {
    "exists": _exists,
    "count": _count,
    "distance": _distance,
    "where": _where,
    "nearest": _nearest,
    "colour": _colour,
    "size": _size,
    "relation": _relation,
    "list": _list,
    "describe": _describe,
    "last_seen": _last_seen,
    "behind": _behind,
    "unsupported": _unsupported,
}
