"""Reading a system's answer against a question's expected answer (qa_questions.py): correct or not, and what in it
is made up.

The reader is tolerant about wording and strict about facts. It splits the answer into clauses (sentences, and
"but"/"however" parts); a clause with a negation ("no", "not", "can't"...) states nothing is there; a clause that
talks about the past ("saw", "ago", "earlier"...) is about memory; a clause about what the system can recognise
is about its vocabulary, not the room. In the other clauses every class word is a claim that the thing is in view,
"<number> <class>" a claim of how many ("at least <number> <class>": that there are no fewer), and a colour word a
claim about the nearest class word. A clause about one part of the view ("on the left there are two chairs")
counts that part; one about a part relative to a thing ("to the left of the lamp, two balls") is held to no more
than are in view.

- correct: yes/no as the truth; counts exact ("at least four" when four is the exact count); distances within
  25% (of the median z-depth or range); sizes within 25% of a true extent; directions (left/ahead/right) as the
  bearing says, both near a boundary; the colour a name of the object's colour under the sim's light range;
  class names as the truth; and nothing made up.
- made up (hallucination): a class not in view (not seen at all, for memory), a positive count outside the true
  range (a bound "at least N" above its top: a bound below the truth is not correct, and not made up), or a
  colour not on any visible object of that class (on its part in view, or on parts of it the path showed before:
  a lamp whose shade is above the image now still has the shade's colour; such an answer is not correct either).
  A denial ("no chairs") is never counted as made up: it is wrong where the truth differs, not an invention.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from qa_questions import PLURALS, UNKNOWN_WORDS, Question
from qa_truth import COLOUR_WORDS, STRUCTURE_CLASSES, FrameTruth

__all__ = ["Clause", "Verdict", "read", "judge", "made_up", "expected"]

DISTANCE_TOLERANCE = 0.25
MEMORY_TOLERANCE = 0.3  # times and distances recalled from memory: 30% (and 1.5 s)
TIME_SLACK_S = 1.5

# Words that name things an answer may claim: each class (and its plural and common synonyms), and things no
# simulated room holds (which any claim of is made up).
CLASS_FORMS: dict[str, str] = {
    **{c: c for c in PLURALS},
    **{p: c for c, p in PLURALS.items()},
    "persons": "person",
    "man": "person",
    "men": "person",
    "woman": "person",
    "women": "person",
    "bookshelf": "shelf",
    "bookshelves": "shelf",
    "bookcase": "shelf",
    "bookcases": "shelf",
    **{w: w for w in UNKNOWN_WORDS},
    **{p: w for w, p in UNKNOWN_WORDS.items()},
    **{
        w: w
        for w in (
            "sofa",
            "couch",
            "tv",
            "bed",
            "cup",
            "laptop",
            "computer",
            "phone",
            "bike",
            "mirror",
            "clock",
            "painting",
            "fridge",
            "stove",
            "sink",
            "toilet",
            "piano",
            "guitar",
            "house",
            "building",
            "dwelling",
            "tree",
            "animal",
        )
    },
}
NUMBER_WORDS = {
    "zero": 0,
    "one": 1,
    "two": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "six": 6,
    "seven": 7,
    "eight": 8,
    "nine": 9,
    "ten": 10,
    "eleven": 11,
    "twelve": 12,
}
_FILLERS = set(COLOUR_WORDS) | {
    "big",
    "small",
    "large",
    "little",
    "other",
    "more",
    "visible",
    "different",
    "separate",
    "distinct",
    "tall",
    "short",
    "wooden",
    "cardboard",
    "potted",
    "dark",
    "light",
    "bright",
    "pale",
}
_COLOUR_FILLERS = set(COLOUR_WORDS) | {"dark", "light", "bright", "pale", "and", "or", "coloured", "colored", "painted"}
_NEGATIONS = {
    "no",
    "not",
    "none",
    "nothing",
    "never",
    "nobody",
    "nowhere",
    "cannot",
    "unknown",
    "unable",
    "without",
    "neither",
    "nor",
}
_YES = {"yes", "yeah", "yep", "sure", "correct", "indeed"}
_NO = {"no", "nope"}
_UNSURE = re.compile(
    r"\b(not sure|can't tell|cannot tell|can't say|cannot say|don't know|do not know|unclear|no idea|"
    r"did not catch|didn't catch|not catch|could not tell|couldn't tell|unable to tell)\b"
)
_PRESENCE = {"in", "view", "visible", "here", "there", "present", "seen", "see", "around", "anywhere", "detected"}
_MEMORY = {"saw", "seen", "ago", "earlier", "last", "before", "previously", "remember", "was", "were", "lost"}
_CAPABILITY = {"recognise", "recognize", "recognised", "recognized", "know", "knows", "detect", "identify", "classes"}
_METRES = {
    "m": 1.0,
    "metre": 1.0,
    "metres": 1.0,
    "meter": 1.0,
    "meters": 1.0,
    "cm": 0.01,
    "centimetre": 0.01,
    "centimetres": 0.01,
    "centimeter": 0.01,
    "centimeters": 0.01,
    "mm": 0.001,
}
_SECONDS = {"s": 1.0, "sec": 1.0, "secs": 1.0, "second": 1.0, "seconds": 1.0, "minute": 60.0, "minutes": 60.0}
_DIRECTIONS = {
    "left": "left",
    "right": "right",
    "ahead": "ahead",
    "front": "ahead",
    "centre": "ahead",
    "center": "ahead",
    "middle": "ahead",
    "straight": "ahead",
}
_CLOSER = {"front", "nearer", "closer"}
_RELATION_WORDS = {
    "on": {"on", "onto", "top"},
    "next_to": {"next", "beside", "close", "near", "by"},
    "between": {"between"},
}
_FARTHER = {"behind", "farther", "further"}
_RELATIVE = {"between", "next", "beside", "behind", "near", "top", "under", "below", "above"}  # "left of": in code
_ANY_THING = {"object", "objects", "thing", "things", "item", "items"}  # "5 objects": a count of everything
_RECENT = re.compile(r"\b(just now|a moment ago|a second ago|a few seconds ago|seconds ago|earlier)\b")
_TOKEN = re.compile(r"\d+(?:\.\d+)?|[a-z]+(?:'[a-z]+)?")
_SENTENCE = re.compile(r"[!?;:\n]+|\.(?!\d)")
_CONTRAST = re.compile(r"\b(?:but|however|though|although|except|whereas)\b")
_LEADING_YES_NO = re.compile(r"^\s*(yes|no|yeah|nope|yep)\s*,")


@dataclass
class Clause:
    text: str
    tokens: list[str]
    negated: bool = False
    memory: bool = False  # about the past
    capability: bool = False  # about what the system can recognise, not about the room
    unsure: bool = False
    classes: list[tuple[str, int, bool]] = field(default_factory=list)  # (class or foreign word, token, denied)
    counts: list[tuple[str, int, bool]] = field(default_factory=list)  # (class, number, denied): "<number> <class>"
    at_least: list[tuple[str, int]] = field(default_factory=list)  # (class, number): "at least <number> <class>"
    colours: list[tuple[str, frozenset[str], str | None]] = field(default_factory=list)  # (word, names, class)
    metres: list[float] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)
    directions: list[str] = field(default_factory=list)
    # the part of the view its counts are about: None the whole view, "left"/"ahead"/"right" of the viewer ("on
    # the left there are two chairs"), "*" somewhere relative to a thing ("to the left of the lamp, two balls")
    part: str | None = None

    @property
    def states(self) -> bool:
        """Whether its words may claim anything about the room (not about what the system can recognise)."""
        return not (self.capability or self.unsure)

    def claims(self) -> list[str]:
        """The classes it says are there (or were seen)."""
        return [c for c, _, denied in self.classes if not denied] if self.states else []


def _number(tok: str) -> float | None:
    if tok in NUMBER_WORDS:
        return float(NUMBER_WORDS[tok])
    try:
        return float(tok)
    except ValueError:
        return None


def _denied(toks: list[str], k: int) -> bool:
    """Whether the class word at `k` is denied: a negation before it in the clause ("no chair", "I can't see a
    chair"), or a negated predicate after it ("the chair is not in view", "the chair isn't here")."""
    if any(t in _NEGATIONS or t.endswith("n't") for t in toks[:k]):
        return True
    for j in range(k + 1, len(toks)):
        if toks[j] in ("not", "never", "nowhere") or toks[j].endswith("n't"):
            if set(toks[j + 1 : j + 3]) & _PRESENCE:
                return True
    return False


def _clause(text: str) -> Clause:
    found = list(_TOKEN.finditer(text))
    toks = [m.group() for m in found]
    c = Clause(text.strip(), toks)
    c.negated = any(t in _NEGATIONS or t.endswith("n't") for t in toks)
    c.memory = any(t in _MEMORY for t in toks)
    c.capability = any(t in _CAPABILITY for t in toks)
    c.unsure = bool(_UNSURE.search(text))
    for k, t in enumerate(toks):
        cls = CLASS_FORMS.get(t)
        if cls is None:
            continue
        # a class word right before another is a modifier ("floor lamp", "table lamp"), not a thing
        nxt = CLASS_FORMS.get(toks[k + 1]) if k + 1 < len(toks) else None
        if nxt not in (None, cls) and not text[found[k].end() : found[k + 1].start()].strip():
            continue
        c.classes.append((cls, k, _denied(toks, k)))
    for k, t in enumerate(toks):
        v = _number(t)
        unit = toks[k + 1] if k + 1 < len(toks) else ""
        if v is not None and unit in _METRES:
            c.metres.append(v * _METRES[unit])
            continue
        if v is not None and unit in _SECONDS:
            c.seconds.append(v * _SECONDS[unit])
            continue
        if (v is None and t != "no") or "." in t:
            continue
        j = k + 1  # "<number> [big/red/...] <class>", "no <class>"
        while j < len(toks) and j - k <= 3 and toks[j] in _FILLERS:
            j += 1
        if j < len(toks) and (toks[j] in CLASS_FORMS or toks[j] in _ANY_THING):
            cls = CLASS_FORMS.get(toks[j], "*")
            if v and toks[max(0, k - 2) : k] == ["at", "least"]:  # a lower bound: true when the truth is no less
                c.at_least.append((cls, int(v)))
                continue
            c.counts.append((cls, 0 if v is None else int(v), _denied(toks, j) and v is not None))
            if not v:  # "no chairs", "0 chairs", "zero chairs": a denial
                c.negated = True
                c.classes = [(name, k2, denied or k2 == j) for name, k2, denied in c.classes]
    mentions = {k: (cls, denied) for cls, k, denied in c.classes}
    for k, t in enumerate(toks):
        if t in COLOUR_WORDS:
            # "a red chair": the thing it comes before; "the chair is red": the clause's first thing before it
            j = k + 1
            while j < len(toks) and toks[j] in _COLOUR_FILLERS:
                j += 1
            before = [m for m in sorted(mentions) if m < k]
            at = j if j in mentions else before[0] if before else min(mentions, key=lambda m: abs(m - k), default=None)
            if at is None:
                c.colours.append((t, COLOUR_WORDS[t], None))
            elif not mentions[at][1]:
                c.colours.append((t, COLOUR_WORDS[t], mentions[at][0]))
        elif t in _DIRECTIONS:
            c.directions.append(_DIRECTIONS[t])
    # relative to a thing: "left of the lamp", "next to the table" (a class word follows; "in front of you",
    # "next," or "on top of that" are not)
    relative = any(
        (t in _RELATIVE or (t in _DIRECTIONS and toks[k + 1 : k + 2] == ["of"]))
        and any(CLASS_FORMS.get(x) for x in toks[k + 1 : k + 5])
        for k, t in enumerate(toks)
    )
    # a part of the view only when the clause opens with it ("on the left there are...", "ahead, ..."); a
    # direction later says where one thing is ("of the three chairs, the nearest is ... ahead")
    opens = next((k for k, t in enumerate(toks) if t in _DIRECTIONS), len(toks)) <= 3 and not any(
        CLASS_FORMS.get(t) for t in toks[:3]
    )
    c.part = "*" if relative else c.directions[0] if opens and len(set(c.directions)) == 1 else None
    return c


def read(text: str) -> list[Clause]:
    """The clauses of an answer, in order."""
    t = text.lower().replace("\u2019", "'").replace("can not", "cannot")
    out: list[Clause] = []
    for sentence in _SENTENCE.split(t):
        m = _LEADING_YES_NO.match(sentence)
        if m:
            out.append(_clause(m.group(1)))
            sentence = sentence[m.end() :]
        for part in _CONTRAST.split(sentence):
            if _TOKEN.search(part):
                out.append(_clause(part))
    return out


@dataclass
class Verdict:
    correct: bool
    made_up: list[str]  # each hallucination, in words
    why: str  # what the reader took the answer to say, when it is wrong

    def as_dict(self) -> dict[str, Any]:
        return {"correct": self.correct, "made_up": self.made_up, "why": self.why}


def made_up(q: Question, clauses: list[Clause], frame: FrameTruth, seen: Mapping[str, int]) -> list[str]:
    """What the answer states that the truth contradicts: a class not in view (or never seen, for memory), a
    positive count outside the true range (for memory: more than were seen so far), a colour no visible object of
    that class has (`FrameTruth.class_colours`: in this frame or, for the same objects, earlier on the path).
    `seen`: how many instances of each class ("*": all objects) the path has shown so far."""
    visible = frame.visible_classes()
    memory_question = q.intent in ("last_seen", "behind")
    out: list[str] = []
    for cl in clauses:
        if not cl.states:
            continue
        memory = memory_question or cl.memory
        for cls in cl.claims():
            if cls not in (seen if memory else visible):
                out.append(f"names a {cls}, {'never seen' if memory else 'not in view'}")
        counts = [(c, n) for c, n, denied in cl.counts if n > 0 and not denied]
        if memory:
            if not counts and q.intent == "count" and not cl.classes:  # "I have seen four in all"
                counts = [(q.subject or "*", n) for n in _bare_numbers(cl)[:1]]
            for cls, n in counts:
                if n > seen.get(cls, 0) and cls in seen:
                    out.append(f"says {n} {_thing(cls)} seen, {seen[cls]} were in view so far")
            continue
        # a count of one part of the view: as the truth of that part ("on the left there are two chairs"), or of
        # a part relative to a thing, which the truth does not hold: no more than in view
        where = "" if cl.part is None else f" {'in that part' if cl.part == '*' else cl.part}"
        for cls, n in counts:
            lo, hi = _range(frame, cls, cl.part)
            if (cls in visible or cls == "*") and not lo <= n <= hi:
                out.append(f"says {n} {_thing(cls)}{where}, truth {lo if lo == hi else f'{lo}-{hi}'}")
        for cls, n in cl.at_least:
            lo, hi = _range(frame, cls, cl.part)
            if (cls in visible or cls == "*") and n > hi:
                out.append(f"says at least {n} {_thing(cls)}{where}, truth {lo if lo == hi else f'{lo}-{hi}'}")
        for word, names, owner in cl.colours:
            said_of = owner or (q.subject if q.intent == "colour" else None)
            if said_of is None or said_of not in visible:
                continue
            true = frame.class_colours(said_of)
            if true and not names & true:
                out.append(f"calls the {said_of} {word}, it is {'/'.join(sorted(true))}")
    return list(dict.fromkeys(out))


def _range(frame: FrameTruth, cls: str, part: str | None) -> tuple[int, int]:
    """The true count range of `cls` in a part of the view (None: all of it; "*": relative to a thing, 0 up to all)."""
    if part == "*":
        return 0, frame.count_range(cls)[1]
    return frame.count_range(cls, part)


def _thing(cls: str) -> str:
    return "objects" if cls == "*" else cls


def _bare_numbers(cl: Clause) -> list[int]:
    """Whole numbers that count no named thing: not "2 m", not "chair 2" ("the number of chairs is 2")."""
    out = []
    for k, t in enumerate(cl.tokens):
        n = NUMBER_WORDS.get(t, int(t) if t.isdigit() else None)
        after = cl.tokens[k + 1] if k + 1 < len(cl.tokens) else ""
        before = cl.tokens[k - 1] if k else ""
        if n is not None and after not in _METRES and after not in _SECONDS and before not in CLASS_FORMS:
            out.append(n)
    return out


def _yes_no(
    clauses: list[Clause], subject: str | None, relation: str | None = None, other: str | None = None
) -> bool | None:
    """The answer to a yes/no question: "yes"/"no" first, a denial, or a statement of the thing asked (the class
    for "is there a chair?", the relation's words for "is the box on the table?"); else None (it did not say)."""
    if not clauses:
        return None
    first = clauses[0]
    if first.unsure:
        return None
    if first.tokens and first.tokens[0] in _YES:
        return True
    if first.tokens and first.tokens[0] in _NO:
        return False
    if first.negated:
        return False
    words = set(first.tokens)
    if relation is not None:  # a statement of the relation: about the subject first, naming the other
        claims = first.claims()
        if not claims or claims[0] != subject or (other is not None and other not in claims):
            return None
    if relation in ("in_front_of", "behind"):
        closer, farther = bool(words & _CLOSER), bool(words & _FARTHER)
        if closer == farther:
            return None
        return closer if relation == "in_front_of" else farther
    if relation is not None:
        return True if words & _RELATION_WORDS.get(relation, set()) else None
    return True if subject is not None and subject in first.claims() else None


def _within(value: float, truths: list[float], tol: float, slack: float = 0.0) -> bool:
    return any(abs(value - t) <= tol * t + slack for t in truths)


def _in_range(value: float, truths: list[float], tol: float = DISTANCE_TOLERANCE) -> bool:
    return (1 - tol) * min(truths) <= value <= (1 + tol) * max(truths)


def _stated(clauses: list[Clause], attr: str) -> list[Any]:
    return [v for cl in clauses if cl.states for v in getattr(cl, attr)]


def _named(clauses: list[Clause], structure: bool = True) -> list[str]:
    names = [c for cl in clauses for c in cl.claims()]
    return list(dict.fromkeys(c for c in names if structure or c not in STRUCTURE_CLASSES))


def _count_of(clauses: list[Clause], cls: str) -> int | None:
    """The count an answer gives for `cls`; "at least four" reads as four (right when the truth is four)."""
    for cl in clauses:
        for c, n, denied in cl.counts:
            if c == cls and not denied:
                return n
        for c, n in cl.at_least:
            if c == cls:
                return n
    if clauses and clauses[0].unsure:
        return None
    if clauses and clauses[0].negated:
        return 0
    for cl in clauses:
        if cls != "*" and cls in cl.claims() and re.search(r"\b(a|an|one|single)\s+(\w+\s+)?" + cls, cl.text):
            return 1  # "there is a chair": one
    for cl in clauses[:1] + [cl for cl in clauses if cls in cl.claims()]:
        bare = _bare_numbers(cl)  # "the number of chairs in view is 2"
        if bare:
            return bare[0]
    return None


def _refuses(clauses: list[Clause], word: str) -> bool:
    """Whether the answer opens by saying it does not know the word, or that there is no such thing, and never
    claims one (an incidental "no" in a claim about something else is not a refusal)."""
    if not clauses or any(c == word for c in _named(clauses)):
        return False
    first = clauses[0]
    opens_with_no = bool(first.tokens) and first.tokens[0] in _NO
    if first.unsure or first.capability or opens_with_no or (first.negated and not first.claims()):
        return True
    # "I can see a table, but no car": the word denied later, as long as the answer did not open with a
    # distance, colour or direction of something else
    denied_later = any(c == word and (denied or cl.capability) for cl in clauses for c, _, denied in cl.classes)
    return denied_later and not (first.metres or first.colours or first.directions)


def _denies(clauses: list[Clause], subject: str | None) -> bool:
    """Whether the answer opens by denying or refusing (not just with a "no" about something else: "the chair is
    blue, with no other colours")."""
    if not clauses:
        return False
    first = clauses[0]
    if first.unsure:
        return True
    return first.negated and not (subject is not None and subject in first.claims())


def _about(clauses: list[Clause], subject: str | None) -> bool:
    """Whether the answer is about `subject`: the first thing it names is it (or it names nothing: "it is red")."""
    named = _named(clauses)
    return not named or named[0] == subject


def expected(q: Question) -> str:
    """The truth of `q`, in words (for reports)."""
    t = q.truth

    def m(values: list[float]) -> str:
        return f"{min(values):.2f}-{max(values):.2f} m"

    if "unknown" in t:
        return f"'{t['unknown']}' reported as unknown"
    if "answer" in t:
        return "yes" if t["answer"] else "no"
    if q.intent == "count":
        return f"{t['count']}"
    if q.intent in ("distance", "size"):
        return m(t["metres"])
    if q.intent in ("where", "nearest") and "directions" in t:
        return f"{'/'.join(t['directions'])}, {m(t['metres'])}"
    if q.intent == "nearest":
        return str(t["cls"])
    if q.intent == "colour":
        return "/".join(t["accepted"])
    if q.intent in ("relation", "behind"):
        return f"{'/'.join(t['strict']) or 'nothing'} (may name {'/'.join(t['lenient']) or 'nothing'})"
    if q.intent == "list":
        return "all of " + "/".join(t["required"])
    if q.intent == "describe":
        return f"{t['min']} of " + "/".join(t["some_of"])
    if q.intent == "last_seen":
        return f"seen {t['ago_s'][1]:g} s ago, {m(t['metres'])}" if t["seen"] else "not seen"
    return json.dumps(t)


def _correct(q: Question, clauses: list[Clause], frame: FrameTruth) -> tuple[bool, str]:
    t = q.truth
    first_denies = _denies(clauses, q.subject)
    if "unknown" in t:
        return _refuses(clauses, t["unknown"]), "should say it does not know this word"
    if q.intent == "exists":
        yn = _yes_no(clauses, q.subject)
        return yn == t["answer"], f"read as {'unsure' if yn is None else 'yes' if yn else 'no'}"
    if q.intent == "count":
        n = _count_of(clauses, q.subject or "*")
        return n == t["count"], f"read count {n}"
    about = not first_denies and _about(clauses, q.subject)
    if q.intent == "distance":
        ms = _stated(clauses, "metres")
        ok = bool(ms) and about and _in_range(ms[0], t["metres"])
        return ok, f"read {ms[:1]} m"
    if q.intent == "where":
        dirs, ms = _stated(clauses, "directions"), _stated(clauses, "metres")
        ok = bool(dirs) and about and dirs[0] in t["directions"]
        ok = ok and all(_in_range(m, t["metres"]) for m in ms[:1])
        return ok, f"read {dirs[:1]} {ms[:1]} m"
    if q.intent == "nearest":
        if q.subject is None:
            named = _named(clauses)
            return bool(named) and named[0] == t["cls"], f"read {named[:1]}"
        dirs, ms = _stated(clauses, "directions"), _stated(clauses, "metres")
        ok = not first_denies and q.subject in _named(clauses) and bool(dirs or ms)
        ok = ok and all(d in t["directions"] for d in dirs[:1]) and all(_in_range(m, t["metres"]) for m in ms[:1])
        return ok, f"read {dirs[:1]} {ms[:1]} m"
    if q.intent == "colour":
        words = [
            (w, names) for cl in clauses if cl.states for w, names, owner in cl.colours if owner in (None, q.subject)
        ]
        ok = bool(words) and about and bool(words[0][1] & set(t["accepted"]))
        return ok, f"read colour {words[0][0] if words else None}"
    if q.intent == "size":
        ms = _stated(clauses, "metres")
        # the size asked for is stated, and any other extent given is a true one too
        ok = bool(ms) and about and any(_within(m, t["metres"], DISTANCE_TOLERANCE) for m in ms)
        ok = ok and all(_within(m, t.get("any_metres", t["metres"]), DISTANCE_TOLERANCE) for m in ms)
        return ok, f"read {ms} m"
    if q.intent == "relation":
        rel = t["relation"]
        if "answer" in t:
            yn = _yes_no(clauses, q.subject, rel, t.get("other"))
            return yn == t["answer"], f"read as {'unsure' if yn is None else 'yes' if yn else 'no'}"
        named = [c for c in _named(clauses, structure=False) if c != q.subject]
        if t["strict"]:
            ok = bool(named) and set(named) <= set(t["lenient"]) and bool(set(named) & set(t["strict"]))
        else:
            ok = not named
        return ok, f"read {named}"
    if q.intent == "list":
        listed = set(_named(clauses, structure=False))
        return set(t["required"]) <= listed, f"missing {sorted(set(t['required']) - listed)}"
    if q.intent == "describe":
        listed = set(_named(clauses, structure=False))
        return len(listed & set(t["some_of"])) >= t["min"], f"named {sorted(listed)}"
    if q.intent == "last_seen":
        if not t["seen"]:
            return first_denies and q.subject not in _named(clauses), "should say it has not seen one"
        ss, ms = _stated(clauses, "seconds"), _stated(clauses, "metres")
        lo, hi = t["ago_s"]
        ago = [lo, hi] + ([t["ago_wall_s"]] if "ago_wall_s" in t else [])
        says_when_or_where = bool(
            ss or ms or _stated(clauses, "directions") or _RECENT.search(" ".join(c.text for c in clauses))
        )
        ok = not first_denies and q.subject in _named(clauses) and says_when_or_where
        ok = ok and all(_within(s, ago, MEMORY_TOLERANCE, TIME_SLACK_S) for s in ss)
        ok = ok and all(_within(m, t["metres"], MEMORY_TOLERANCE) for m in ms)
        return ok, f"read {ss} s, {ms} m"
    if q.intent == "behind":
        named = _named(clauses, structure=False)
        if t["strict"]:
            ok = bool(set(named) & set(t["strict"])) and set(named) <= set(t["lenient"])
        else:
            ok = not named
        return ok, f"read {named}"
    raise ValueError(f"no scoring for intent {q.intent!r} (question {q.qid})")


def judge(q: Question, answer: str, frame: FrameTruth, seen: Mapping[str, int]) -> Verdict:
    """Whether `answer` is right about `q` in `frame`, and what it makes up (`seen`: instances of each class visible
    on the path so far). An answer that makes something up is not correct."""
    clauses = read(answer)
    invented = made_up(q, clauses, frame, seen)
    if q.intent == "count" and "unknown" not in q.truth:
        n, cls = _count_of(clauses, q.subject or "*"), q.subject or "*"
        lo, hi = frame.count_range(cls)
        thing = "objects" if cls == "*" else cls
        # "at least three" of five is not correct, and not false either: made_up() holds a bound to the top only
        bound = any(c == cls for cl in clauses for c, _ in cl.at_least) and not any(
            c == cls and not denied for cl in clauses for c, _, denied in cl.counts
        )
        if n and not bound and not lo <= n <= hi and f"says {n} {thing}" not in " ".join(invented):
            invented.append(f"says {n} {thing}, truth {lo if lo == hi else f'{lo}-{hi}'}")
    ok, why = _correct(q, clauses, frame)
    why = "; ".join(invented) if invented else f"{why}, expected {expected(q)}"
    return Verdict(ok and not invented, invented, "" if ok and not invented else why)
