"""Question grounding: a question and a scene node's facts -> the question's intent (is there, how far, nearest,
how many, left/right of, where, open) and the one fact that answers it, with the words the answer starts with.
Class names are matched with their synonyms and plural forms, or, when none is named, by how they sound."""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field
from typing import Any

from ar_perception.nodes.scene import direction_phrase, plural

__all__ = ["SYNONYMS", "Grounding", "ground"]


# words a speaker uses for the scene classes; plural forms are handled separately
SYNONYMS = {
    "person": ("person", "people", "man", "men", "woman", "women", "someone", "somebody", "human", "figure"),
    "table": ("table", "desk"),
    "chair": ("chair", "seat", "stool"),
    "lamp": ("lamp", "light"),
    "shelf": ("shelf", "shelves", "bookshelf", "bookcase", "shelving"),
    "plant": ("plant", "flower", "tree", "pot plant", "houseplant"),
    "box": ("box", "crate", "carton", "package", "parcel"),
    "ball": ("ball",),
}


@dataclass
class Grounding:
    """The facts a prompt carries, and the words the answer starts with (None: the model starts it)."""

    intent: str
    facts: list[str]
    prefix: str | None = None
    target: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def _class_words(classes: list[str]) -> list[tuple[str, str]]:
    pairs = []
    for c in classes:
        for w in SYNONYMS.get(c, (c,)):
            pairs.append((w, c))
    return sorted(pairs, key=lambda p: -len(p[0]))


# words of the question forms themselves, never taken for a misheard class name
_FORM_WORDS = set(
    """a an the is are was there their here what which where who how far near nearest close closer
closest away distance many much any do does can could you see me my i of from to on in at left right front behind
next this that it its and or object objects thing things please tell show find look""".split()
)


def _forms(word: str) -> tuple[str, ...]:
    return (word, word + "s", word + "es", word[:-1] + "ves" if word.endswith("f") else word + "s")


def _mentions(question: str, classes: list[str]) -> list[str]:
    """Classes named in the question, in the order they appear. A word that is no class name but sounds
    like one (speech recognisers hear "shell" for shelf, "care" for chair) counts when nothing is named."""
    q = " " + re.sub(r"[^a-z ]", " ", question.lower()) + " "
    found: list[tuple[int, str]] = []
    for word, cls in _class_words(classes):
        for form in _forms(word):
            m = re.search(rf"\b{re.escape(form)}\b", q)
            if m and cls not in [c for _, c in found]:
                found.append((m.start(), cls))
                break
    if found:
        return [c for _, c in sorted(found)]
    best: tuple[float, int, str] | None = None
    for m in re.finditer(r"[a-z]{3,}", q):
        if m.group() in _FORM_WORDS:
            continue
        for cls in classes:  # class names only: a synonym is matched exactly or not at all
            score = max(difflib.SequenceMatcher(None, m.group(), f).ratio() for f in _forms(cls))
            if score >= 0.65 and (best is None or score > best[0]):
                best = (score, m.start(), cls)
    return [best[2]] if best else []


def _list(names: list[str]) -> str:
    names = [f"the {n}" for n in names]
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def ground(question: str, scene: dict[str, Any] | None) -> Grounding:
    """Pick the fact that answers `question` from a scene node's Text metadata (`objects`, `classes`, `text`)."""
    if not scene:
        return Grounding("none", ["Nothing has been seen yet: no scene facts have arrived."])
    objects: list[dict[str, Any]] = list(scene.get("objects") or [])
    classes = list(dict.fromkeys(list(scene.get("classes") or []) + [o["class"] for o in objects]))
    all_facts = [line for line in str(scene.get("text", "")).splitlines() if line.strip()]
    q = question.lower()
    named = _mentions(q, classes)
    target = named[0] if named else None
    of = [o for o in objects if o["class"] == target]  # nearest first, as the scene node sorts them
    absent = f"There is no {target} in view."

    side = re.search(r"\b(left|right)\b", q)
    if side and target and re.search(r"\b(of|from|to|on)\b", q):
        s = side.group(1)
        if not of:
            return Grounding("relation", [absent], "There is no", target)
        ref = of[0]
        others = [
            o
            for o in objects
            if o is not ref and o["class"] != target and ((o["bearing_deg"] < ref["bearing_deg"]) == (s == "left"))
        ]
        others.sort(key=lambda o: abs(o["bearing_deg"] - ref["bearing_deg"]))
        names = list(dict.fromkeys(o["class"] for o in others))
        noun = f"the {target}" if len(of) == 1 else f"the nearest {target}"
        if not names:
            return Grounding("relation", [f"Nothing is {s} of {noun}."], "Nothing", target, {"side": s})
        verb = "is" if len(names) == 1 else "are"
        return Grounding(
            "relation",
            [f"{s.capitalize()} of {noun} {verb} {_list(names)}."],
            f"{s.capitalize()} of {noun}",
            target,
            {"side": s, "answer": names},
        )
    if re.search(r"\b(nearest|closest|near|close)\b", q) and not (target and re.search(r"\bhow (far|close|near)\b", q)):
        pool = of if target else objects
        if not pool:
            return Grounding("nearest", [absent if target else "No objects are in view."], None, target)
        o = pool[0]
        what = f"The nearest {target}" if target else "The nearest object"
        fact = (
            f"{what} is {o['distance_m']:.1f} metres away, {direction_phrase(o['direction'])}."
            if target
            else f"{what} is the {o['class']}, {o['distance_m']:.1f} metres away, {direction_phrase(o['direction'])}."
        )
        return Grounding("nearest", [fact], f"{what} is", target, {"answer": o["class"]})
    if target and re.search(r"\bhow (far|close|near)\b|\bdistance\b|\baway\b", q):
        if not of:
            return Grounding("distance", [absent], "There is no", target)
        o = of[0]
        noun = f"The {target}" if len(of) == 1 else f"The nearest {target}"
        return Grounding(
            "distance",
            [f"{noun} is {o['distance_m']:.1f} metres away, {direction_phrase(o['direction'])}."],
            f"{noun} is",
            target,
            {"answer": o["distance_m"]},
        )
    if target and re.search(r"\bhow many\b", q):
        n = len(of)
        fact = absent if n == 0 else f"There {'is' if n == 1 else 'are'} {n} {plural(target, n)} in view."
        return Grounding("count", [fact], "There", target, {"answer": n})
    if target and re.search(r"^\W*(is|are)(n't| not)? there\b|\b(do|can) you see\b|\bany\b", q):
        if not of:
            return Grounding("exists", [f"No, there is no {target} in view."], "No,", target, {"answer": False})
        o = of[0]
        fact = (
            f"Yes, there is a {target}, {o['distance_m']:.1f} metres away, {direction_phrase(o['direction'])}."
            if len(of) == 1
            else f"Yes, there are {len(of)} {plural(target, len(of))}; the nearest is {o['distance_m']:.1f} metres "
            f"away, {direction_phrase(o['direction'])}."
        )
        return Grounding("exists", [fact], "Yes,", target, {"answer": True})
    if target and re.search(r"\bwhere\b", q):
        if not of:
            return Grounding("where", [absent], "There is no", target)
        o = of[0]
        return Grounding(
            "where",
            [f"The {target} is {direction_phrase(o['direction'])}, {o['distance_m']:.1f} metres away."],
            f"The {target} is",
            target,
        )
    asks_about_one = re.search(
        r"\bhow (far|close|near|many)\b|^\W*(is|are)(n't| not)? there\b|\bwhere\b|"
        r"\b(left|right) (of|from|to|on)\b",
        q,
    )
    if asks_about_one and not target:  # the object's name was not caught: say so rather than guess
        seen = sorted({o["class"] for o in objects})
        fact = (
            "I did not catch which object you mean; I can see " + ", ".join(f"a {c}" for c in seen) + "."
            if seen
            else "I did not catch which object you mean, and no objects are in view."
        )
        return Grounding("unknown", [fact], "I did not catch", None)
    if target:  # a question about one thing the forms above do not cover: that thing's facts only
        lines = [line for line in all_facts if line.lower().startswith(target)] or [absent]
        return Grounding("open", lines + ["Nothing else is known about it."], None, target)
    return Grounding("open", all_facts or ["No objects are in view."], None, target)
