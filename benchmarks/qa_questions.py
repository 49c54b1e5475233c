"""Questions about simulated frames, each with its expected answer from qa_truth (the simulator's ground truth).

A room is watched along a camera path (its orbit, one frame a second); questions are asked at a few moments of
it. Each question is one of several paraphrases of an intent of ar_perception/qa/query.py, chosen at random, and
is only asked where its truth is unambiguous (an object clearly visible or not at all, one instance when the
question says "the X", a colour most of the object has, a relation clear by a margin). Memory questions
(last_seen, behind) are asked about what the camera saw earlier on the path.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from qa_truth import OBJECT_CLASSES, STRUCTURE_CLASSES, FrameTruth, TruthObject

__all__ = [
    "PATH_FRAMES",
    "PATH_STEP_S",
    "UNKNOWN_WORDS",
    "PLURALS",
    "Question",
    "pick_moments",
    "QuestionMaker",
]

PATH_STEP_S = 1.0  # one frame a second along the path
PATH_FRAMES = 24  # the orbit's period: the camera goes once round the room
MIN_HISTORY = 6  # moments are at least this many frames into the path (memory has something to hold)
MOMENT_GAP = 5  # frames between moments

PLURALS = {
    "table": "tables",
    "chair": "chairs",
    "box": "boxes",
    "ball": "balls",
    "shelf": "shelves",
    "lamp": "lamps",
    "plant": "plants",
    "person": "people",
    "wall": "walls",
    "floor": "floors",
    "ceiling": "ceilings",
}
# Things no simulated room has and perception has no class for: they must be reported as unknown.
UNKNOWN_WORDS = {
    "car": "cars",
    "dog": "dogs",
    "sofa": "sofas",
    "cable": "cables",
    "window": "windows",
    "cat": "cats",
    "bottle": "bottles",
    "door": "doors",
    "bicycle": "bicycles",
    "television": "televisions",
}

TEMPLATES: dict[str, list[str]] = {
    "exists": [
        "is there {a} {x}",
        "do you see {a} {x}",
        "can you see {a} {x}",
        "is there any {x} here",
        "are there any {xs}",
        "is {a} {x} in view",
    ],
    "exists_structure": ["is there a {x}", "can you see the {x}", "do you see a {x}", "is the {x} visible"],
    "count_all": ["how many objects are there", "how many things can you see", "how many objects do you see"],
    "count": [
        "how many {xs} are there",
        "how many {xs} do you see",
        "how many {xs} can you see",
        "count the {xs}",
        "what is the number of {xs} in view",
    ],
    "distance": [
        "how far is the {x}",
        "how far away is the {x}",
        "what is the distance to the {x}",
        "how far am I from the {x}",
        "how many metres away is the {x}",
    ],
    "where": [
        "where is the {x}",
        "where's the {x}",
        "which side is the {x} on",
        "in which direction is the {x}",
        "where can I find the {x}",
    ],
    "nearest": [
        "what is nearest",
        "what is the closest thing to me",
        "which object is closest",
        "what's nearest to me",
        "what is the nearest object",
    ],
    "nearest_of": [
        "which {x} is nearest",
        "which {x} is closest to me",
        "where is the nearest {x}",
        "which of the {xs} is closest",
    ],
    "colour": [
        "what colour is the {x}",
        "what color is the {x}",
        "what's the colour of the {x}",
        "which colour does the {x} have",
        "tell me the color of the {x}",
    ],
    "height": ["how tall is the {x}", "what is the height of the {x}", "how high is the {x}"],
    "width": ["how wide is the {x}", "what is the width of the {x}"],
    "size": ["how big is the {x}", "what size is the {x}", "how large is the {x}"],
    "left_of": [
        "what is left of the {x}",
        "what is to the left of the {x}",
        "what do you see to the left of the {x}",
        "what is on the left side of the {x}",
    ],
    "right_of": [
        "what is right of the {x}",
        "what is to the right of the {x}",
        "what do you see to the right of the {x}",
        "what is on the right side of the {x}",
    ],
    "in_front_of": ["is the {x} in front of the {y}", "is the {x} nearer than the {y}"],
    "behind_of": ["is the {x} behind the {y}", "is the {x} farther away than the {y}"],
    "on": ["is the {x} on the {y}", "is the {x} standing on the {y}", "is the {x} lying on the {y}"],
    "next_to": ["is the {x} next to the {y}", "is the {x} beside the {y}", "is the {x} close to the {y}"],
    "between": ["is the {x} between the {y} and the {z}", "is the {x} in between the {y} and the {z}"],
    "list": [
        "what do you see",
        "what can you see",
        "what is in view",
        "list what you see",
        "what objects are there",
        "what is around me",
    ],
    "describe": [
        "describe the room",
        "describe what you see",
        "what does the room look like",
        "give me a description of the scene",
        "tell me about the room",
    ],
    "last_seen": [
        "where did you last see the {x}",
        "when did you last see the {x}",
        "where was the {x} last",
        "where did you see the {x}",
    ],
    "behind": ["what is behind me", "what's behind me", "is there anything behind me", "what is behind my back"],
}

# Margins that make a relation clear: closer by this much (metres, and share of the distance), apart by degrees.
_DEPTH_MARGIN_M, _DEPTH_MARGIN_SHARE = 0.3, 0.1
_BEARING_MARGIN_DEG = 4.0
_NEXT_TO_M, _NOT_NEXT_TO_M = 0.4, 1.2  # gap between footprints
_ON_GAP_M = 0.05
_NEAREST_RATIO = 1.15  # the nearest must be this much nearer than the next other one
_IMPERATIVES = {"count", "list", "describe", "give", "tell"}
_BEHIND_DEG, _BESIDE_DEG = 110.0, 70.0  # angle from the view direction: behind for sure / maybe beside


@dataclass
class Question:
    qid: str
    seed: int
    time_s: float
    frame: int  # index of the path frame it is asked at
    intent: str  # an intent of ar_perception/qa/query.py
    text: str
    subject: str | None  # the class, or the unknown word, asked about
    truth: dict[str, Any]  # the expected answer (what depends on the intent: qa_score.py reads it)
    tags: list[str] = field(default_factory=list)  # absent, unknown, structure, memory, count=N, relation=R

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def pick_moments(truths: list[FrameTruth], n: int) -> list[int]:
    """Frames to ask at: the one with the largest unambiguous count first (counts up to 6 are rare), then frames
    with the most clear objects, MOMENT_GAP apart; in path order."""

    def top_count(ft: FrameTruth) -> int:
        return max([lo for c in OBJECT_CLASSES for lo, hi in [ft.count_range(c)] if lo == hi] or [0])

    candidates = list(range(MIN_HISTORY, len(truths)))
    chosen = [max(candidates, key=lambda i: (top_count(truths[i]), -i))]
    while len(chosen) < n:
        free = [i for i in candidates if all(abs(i - j) >= MOMENT_GAP for j in chosen)]
        if not free:
            break
        chosen.append(max(free, key=lambda i: (len(truths[i].clear_classes()), -i)))
    return sorted(chosen)


def _article(word: str) -> str:
    return "an" if word[0] in "aeiou" else "a"


def _gap_m(a: TruthObject, b: TruthObject) -> float | None:
    """Horizontal gap between two objects' world footprints (0 when they overlap)."""
    if a.world_min is None or a.world_max is None or b.world_min is None or b.world_max is None:
        return None
    dx = max(b.world_min[0] - a.world_max[0], a.world_min[0] - b.world_max[0], 0.0)
    dy = max(b.world_min[1] - a.world_max[1], a.world_min[1] - b.world_max[1], 0.0)
    return math.hypot(dx, dy)


def _on(a: TruthObject, b: TruthObject | str) -> bool | None:
    """Whether `a` rests on `b` (an object, or "floor"), from the world boxes; None when unclear."""
    if a.world_min is None or a.world_max is None:
        return None
    if b == "floor":
        return True if a.world_min[2] < _ON_GAP_M else False if a.world_min[2] > 2 * _ON_GAP_M else None
    assert isinstance(b, TruthObject)
    if b.world_min is None or b.world_max is None:
        return None
    gap = _gap_m(a, b)
    resting = abs(a.world_min[2] - b.world_max[2]) < _ON_GAP_M and gap == 0.0
    if resting:
        return True
    return False if a.world_min[2] < _ON_GAP_M else None  # on the floor: not on b


def _closer(a: TruthObject, b: TruthObject) -> bool | None:
    """Whether `a` is nearer to the camera than `b` by a clear margin; None when about as near."""
    margin = max(_DEPTH_MARGIN_M, _DEPTH_MARGIN_SHARE * min(a.distance_m, b.distance_m))
    if a.distance_m < b.distance_m - margin:
        return True
    if a.distance_m > b.distance_m + margin:
        return False
    return None


class QuestionMaker:
    """Makes the questions of one run; keeps which counts were asked so that counts 0 to 6 all come up."""

    def __init__(self) -> None:
        self.counts_asked: Counter[int] = Counter()
        self.open_asked: Counter[str] = Counter()
        self.n = 0

    def _q(
        self,
        rng: np.random.Generator,
        ft: FrameTruth,
        frame: int,
        intent: str,
        template: str,
        subject: str | None,
        truth: dict[str, Any],
        tags: list[str] | None = None,
        **words: str,
    ) -> Question:
        text = rng.choice(TEMPLATES[template]).format(**words)
        self.n += 1
        return Question(
            qid=f"{ft.seed}-{frame}-{self.n}",
            seed=ft.seed,
            time_s=ft.time_s,
            frame=frame,
            intent=intent,
            text=text[0].upper() + text[1:] + ("." if text.split()[0] in _IMPERATIVES else "?"),
            subject=subject,
            truth=truth,
            tags=list(tags or []),
        )

    @staticmethod
    def _words(x: str) -> dict[str, str]:
        return {"x": x, "xs": PLURALS.get(x) or UNKNOWN_WORDS.get(x, x + "s"), "a": _article(x)}

    def moment(self, truths: list[FrameTruth], i: int, rng: np.random.Generator, last: bool) -> list[Question]:
        """The questions asked at path frame `i` (with the memory questions of the path's end when `last`)."""
        ft = truths[i]
        makers = [
            self._exists_present,
            self._exists_absent,
            self._exists_structure,
            self._count,
            self._count,
            self._count_all,
            self._distance,
            self._where,
            self._nearest,
            self._colour,
            self._size,
            self._relation,
            self._relation,
            self._open,
            self._unknown,
        ]
        out: list[Question] = []
        for make in makers:
            q = make(ft, i, rng, out)
            if q is not None:
                out.append(q)
        if i > 0:
            q = self._last_seen(truths, i, rng)
            if q is not None:
                out.append(q)
        if last:
            for make_memory in (self._never_seen, self._behind):
                q = make_memory(truths, i, rng)
                if q is not None:
                    out.append(q)
        return out

    # -- current view ------------------------------------------------------------------------------------------
    def _exists_present(
        self, ft: FrameTruth, i: int, rng: np.random.Generator, done: list[Question]
    ) -> Question | None:
        present = sorted(c for c in OBJECT_CLASSES if ft.count_range(c)[0] >= 1)
        if not present:
            return None
        c = str(rng.choice(present))
        return self._q(rng, ft, i, "exists", "exists", c, {"answer": True}, [], **self._words(c))

    def _exists_absent(self, ft: FrameTruth, i: int, rng: np.random.Generator, done: list[Question]) -> Question | None:
        absent = sorted(c for c in OBJECT_CLASSES if ft.count_range(c)[1] == 0)
        if not absent:
            return None
        c = str(rng.choice(absent))
        return self._q(rng, ft, i, "exists", "exists", c, {"answer": False}, ["absent"], **self._words(c))

    def _exists_structure(
        self, ft: FrameTruth, i: int, rng: np.random.Generator, done: list[Question]
    ) -> Question | None:
        options = [c for c in STRUCTURE_CLASSES if ft.count_range(c)[0] >= 1 or ft.count_range(c)[1] == 0]
        if not options:
            return None
        c = str(rng.choice(options))
        present = ft.count_range(c)[0] >= 1
        tags = ["structure"] + ([] if present else ["absent"])
        return self._q(rng, ft, i, "exists", "exists_structure", c, {"answer": present}, tags, **self._words(c))

    def _count_all(self, ft: FrameTruth, i: int, rng: np.random.Generator, done: list[Question]) -> Question | None:
        lo, hi = ft.count_range("*")
        if lo != hi:
            return None
        self.counts_asked[lo] += 1
        return self._q(rng, ft, i, "count", "count_all", None, {"count": lo}, [f"count={lo}", "total"])

    def _count(self, ft: FrameTruth, i: int, rng: np.random.Generator, done: list[Question]) -> Question | None:
        asked = {q.subject for q in done if q.intent == "count"}
        options = [
            (c, lo) for c in OBJECT_CLASSES if c not in asked for lo, hi in [ft.count_range(c)] if lo == hi
        ]  # an instance between clearly and barely visible makes the count ambiguous: not asked
        if not options:
            return None
        rarest = min(self.counts_asked[n] for _, n in options)
        pick = [o for o in options if self.counts_asked[o[1]] == rarest]
        c, n = pick[int(rng.integers(len(pick)))]
        self.counts_asked[n] += 1
        return self._q(rng, ft, i, "count", "count", c, {"count": n}, [f"count={n}"], **self._words(c))

    def _singles(self, ft: FrameTruth, structure: bool = False) -> list[TruthObject]:
        return [o for c in OBJECT_CLASSES + (STRUCTURE_CLASSES if structure else ()) if (o := ft.single(c))]

    def _distance(self, ft: FrameTruth, i: int, rng: np.random.Generator, done: list[Question]) -> Question | None:
        walls = ft.of_class("wall", clear=True)
        if walls and rng.random() < 0.25:
            # "the wall": any wall in view is meant; from the near edge of the nearest to the middle of the farthest
            metres = [min(w.distance_m - w.extent_cam[2] / 2 for w in walls), max(w.range_m for w in walls)]
            return self._q(
                rng, ft, i, "distance", "distance", "wall", {"metres": metres}, ["structure"], **self._words("wall")
            )
        singles = self._singles(ft)
        if not singles:
            return None
        o = singles[int(rng.integers(len(singles)))]
        truth = {"metres": [o.distance_m, o.range_m]}
        return self._q(rng, ft, i, "distance", "distance", o.cls, truth, [], **self._words(o.cls))

    def _where(self, ft: FrameTruth, i: int, rng: np.random.Generator, done: list[Question]) -> Question | None:
        singles = self._singles(ft)
        if not singles:
            return None
        o = singles[int(rng.integers(len(singles)))]
        truth = {"directions": sorted(o.directions), "metres": [o.distance_m, o.range_m]}
        return self._q(rng, ft, i, "where", "where", o.cls, truth, [], **self._words(o.cls))

    def _nearest(self, ft: FrameTruth, i: int, rng: np.random.Generator, done: list[Question]) -> Question | None:
        objs = [o for o in ft.objects if not o.structure]
        multi = [c for c in OBJECT_CLASSES if (n := ft.count_range(c))[0] == n[1] >= 2]
        if multi and rng.random() < 0.4:  # "which chair is nearest?"
            c = str(rng.choice(multi))
            same = ft.of_class(c)
            if same[1].distance_m >= _NEAREST_RATIO * same[0].distance_m:
                o = same[0]
                truth = {"cls": c, "directions": sorted(o.directions), "metres": [o.distance_m, o.range_m]}
                return self._q(rng, ft, i, "nearest", "nearest_of", c, truth, ["instance"], **self._words(c))
        if not objs or not objs[0].clear:
            return None
        first = objs[0]
        others = [o for o in objs[1:] if o.cls != first.cls]
        if others and others[0].distance_m < _NEAREST_RATIO * first.distance_m:
            return None
        truth = {"cls": first.cls, "metres": [first.distance_m, first.range_m]}
        return self._q(rng, ft, i, "nearest", "nearest", None, truth)

    def _colour(self, ft: FrameTruth, i: int, rng: np.random.Generator, done: list[Question]) -> Question | None:
        options: list[tuple[str, frozenset[str], str]] = []
        for c in OBJECT_CLASSES + ("wall", "floor"):
            if c == "person":  # a person has no one colour (skin, clothes): not asked
                continue
            objs = ft.of_class(c)
            if not objs or not all(o.clear and o.colour.clear for o in objs):
                continue
            if len({o.colour.primary for o in objs}) != 1 or (c not in STRUCTURE_CLASSES and len(objs) != 1):
                continue
            accepted = frozenset().union(*(o.colour.accepted for o in objs))
            options.append((c, accepted, str(objs[0].colour.primary)))
        if not options:
            return None
        c, accepted, primary = options[int(rng.integers(len(options)))]
        tags = ["structure"] if c in STRUCTURE_CLASSES else []
        truth = {"primary": primary, "accepted": sorted(accepted)}
        return self._q(rng, ft, i, "colour", "colour", c, truth, tags, **self._words(c))

    def _size(self, ft: FrameTruth, i: int, rng: np.random.Generator, done: list[Question]) -> Question | None:
        singles = [o for o in self._singles(ft) if not o.touches_border and o.world_min is not None]
        if not singles:
            return None
        o = singles[int(rng.integers(len(singles)))]
        lo, hi = np.asarray(o.world_min), np.asarray(o.world_max)
        height = [float(hi[2] - lo[2]), o.extent_cam[1]]
        width = [float(hi[0] - lo[0]), float(hi[1] - lo[1]), o.extent_cam[0]]
        attribute = str(rng.choice(["height", "height", "width", "size"]))
        every = height + width + [o.extent_cam[2]]
        metres = {"height": height, "width": width, "size": every}[attribute]
        truth = {"attribute": attribute, "metres": sorted(metres), "any_metres": sorted(every)}
        return self._q(rng, ft, i, "size", attribute, o.cls, truth, [f"size={attribute}"], **self._words(o.cls))

    def _relation(self, ft: FrameTruth, i: int, rng: np.random.Generator, done: list[Question]) -> Question | None:
        singles = self._singles(ft)
        asked = {q.tags[-1] for q in done if q.intent == "relation"}
        kinds = [k for k in ("left_of", "right_of", "in_front_of", "behind", "on", "next_to", "between")]
        rng.shuffle(kinds)
        kinds.sort(key=lambda k: f"relation={k}" in asked)  # a relation not yet asked at this moment first
        for kind in kinds:
            q = self._relation_of(kind, ft, i, rng, singles)
            if q is not None:
                return q
        return None

    def _relation_of(
        self, kind: str, ft: FrameTruth, i: int, rng: np.random.Generator, singles: list[TruthObject]
    ) -> Question | None:
        tags = [f"relation={kind}"]
        truth: dict[str, Any]
        objs = [o for o in ft.objects if not o.structure]
        order = [int(k) for k in rng.permutation(len(singles))]
        if kind in ("left_of", "right_of"):
            sign = -1.0 if kind == "left_of" else 1.0
            for k in order:
                ref = singles[k]
                side = [o for o in objs if o is not ref and sign * (o.bearing_deg - ref.bearing_deg) > 0]
                strict = {o.cls for o in side if o.clear and abs(o.bearing_deg - ref.bearing_deg) > _BEARING_MARGIN_DEG}
                lenient = {o.cls for o in objs if o is not ref and sign * (o.bearing_deg - ref.bearing_deg) > -2.0}
                if strict or not lenient:
                    truth = {"relation": kind, "strict": sorted(strict), "lenient": sorted(lenient)}
                    words = self._words(ref.cls)
                    return self._q(rng, ft, i, "relation", kind, ref.cls, truth, tags, **words)
            return None
        pairs = [(singles[a], singles[b]) for a in order for b in order if a != b]
        if kind in ("in_front_of", "behind"):
            for a, b in pairs:
                closer = _closer(a, b)
                if closer is not None:
                    answer = closer if kind == "in_front_of" else not closer
                    truth = {"relation": kind, "answer": answer, "other": b.cls}
                    template = "in_front_of" if kind == "in_front_of" else "behind_of"
                    return self._q(rng, ft, i, "relation", template, a.cls, truth, tags, x=a.cls, y=b.cls)
            return None
        if kind == "on":
            floor = ft.count_range("floor")[0] >= 1
            candidates: list[tuple[TruthObject, TruthObject | str]] = [
                (a, b) for a, b in pairs if b.cls in ("table", "box", "shelf")
            ]
            if floor:
                candidates += [(a, "floor") for a in singles]
            for k in rng.permutation(len(candidates)):
                a, on = candidates[int(k)]
                rests = _on(a, on)
                if rests is not None:
                    other = on if isinstance(on, str) else on.cls
                    truth = {"relation": "on", "answer": rests, "other": other}
                    return self._q(rng, ft, i, "relation", "on", a.cls, truth, tags, x=a.cls, y=other)
            return None
        if kind == "next_to":
            for a, b in pairs:
                gap = _gap_m(a, b)
                if gap is not None and (gap < _NEXT_TO_M or gap > _NOT_NEXT_TO_M):
                    truth = {"relation": "next_to", "answer": bool(gap < _NEXT_TO_M), "other": b.cls}
                    return self._q(rng, ft, i, "relation", "next_to", a.cls, truth, tags, x=a.cls, y=b.cls)
            return None
        if kind == "between" and len(singles) >= 3:
            for k in order:
                a = singles[k]
                rest = [o for o in singles if o is not a]
                for j in range(len(rest) - 1):
                    b, c = rest[j], rest[j + 1]
                    lo, hi = sorted((b.bearing_deg, c.bearing_deg))
                    m = _BEARING_MARGIN_DEG
                    inside = lo + m < a.bearing_deg < hi - m
                    outside = a.bearing_deg < lo - m or a.bearing_deg > hi + m
                    if inside or outside:
                        truth = {"relation": "between", "answer": inside, "other": b.cls, "third": c.cls}
                        return self._q(rng, ft, i, "relation", "between", a.cls, truth, tags, x=a.cls, y=b.cls, z=c.cls)
        return None

    def _open(self, ft: FrameTruth, i: int, rng: np.random.Generator, done: list[Question]) -> Question | None:
        intent = "list" if self.open_asked["list"] <= self.open_asked["describe"] else "describe"
        self.open_asked[intent] += 1
        clear = sorted(ft.clear_classes())
        truth = {"required": clear} if intent == "list" else {"some_of": clear, "min": math.ceil(len(clear) / 2)}
        return self._q(rng, ft, i, intent, intent, None, truth)

    def _unknown(self, ft: FrameTruth, i: int, rng: np.random.Generator, done: list[Question]) -> Question | None:
        word = str(rng.choice(sorted(UNKNOWN_WORDS)))
        intent = str(rng.choice(["exists", "exists", "count", "distance", "where", "colour"]))
        return self._q(rng, ft, i, intent, intent, word, {"unknown": word}, ["unknown"], **self._words(word))

    # -- memory ----------------------------------------------------------------------------------------------------
    def _last_seen(self, truths: list[FrameTruth], i: int, rng: np.random.Generator) -> Question | None:
        ft = truths[i]
        gone = [
            c
            for c in OBJECT_CLASSES
            if ft.count_range(c)[1] == 0 and any(t.of_class(c, clear=True) for t in truths[:i])
        ]
        if not gone:
            return None
        c = str(rng.choice(sorted(gone)))
        clear_at = max(j for j in range(i) if truths[j].of_class(c, clear=True))
        faint_at = max(j for j in range(i) if truths[j].of_class(c))
        eye = ft.pose[:3, 3]
        metres = [o.distance_m for o in truths[clear_at].of_class(c)] + [
            float(np.linalg.norm(centre - eye))
            for t in truths[:i]
            for o in t.of_class(c)
            if (centre := o.world_centre) is not None
        ]
        truth = {
            "seen": True,
            "ago_s": [ft.time_s - truths[faint_at].time_s, ft.time_s - truths[clear_at].time_s],
            "seen_time_s": [truths[clear_at].time_s, truths[faint_at].time_s],
            "metres": sorted(set(round(m, 3) for m in metres)),
        }
        return self._q(rng, ft, i, "last_seen", "last_seen", c, truth, ["memory"], **self._words(c))

    def _never_seen(self, truths: list[FrameTruth], i: int, rng: np.random.Generator) -> Question | None:
        ft = truths[i]
        never = [c for c in OBJECT_CLASSES if not any(t.of_class(c) for t in truths[: i + 1])]
        if never and rng.random() < 0.5:
            c = str(rng.choice(never))
            return self._q(
                rng, ft, i, "last_seen", "last_seen", c, {"seen": False}, ["memory", "absent"], **self._words(c)
            )
        word = str(rng.choice(sorted(UNKNOWN_WORDS)))
        truth = {"seen": False, "unknown": word}
        return self._q(rng, ft, i, "last_seen", "last_seen", word, truth, ["memory", "unknown"], **self._words(word))

    def _behind(self, truths: list[FrameTruth], i: int, rng: np.random.Generator) -> Question | None:
        ft = truths[i]
        eye, forward = ft.pose[:3, 3], ft.pose[:3, 2]
        strict: set[str] = set()
        lenient: set[str] = set()
        for t in truths[:i]:
            for o in t.objects:
                centre = o.world_centre
                if centre is None or not o.clear:
                    continue
                to = centre[:2] - eye[:2]
                cos = float(np.dot(to, forward[:2]) / (np.linalg.norm(to) * np.linalg.norm(forward[:2]) + 1e-9))
                angle = math.degrees(math.acos(max(-1.0, min(1.0, cos))))
                if angle > _BEHIND_DEG:
                    strict.add(o.cls)
                if angle > _BESIDE_DEG:
                    lenient.add(o.cls)
        if not strict and lenient:
            return None  # only things beside the camera: whether they are "behind" is a matter of opinion
        truth = {"strict": sorted(strict), "lenient": sorted(lenient)}
        return self._q(rng, ft, i, "behind", "behind", None, truth, ["memory"])
