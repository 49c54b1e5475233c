"""The rule-based question parser: a question -> a typed Query, fast and with no model (the LLM parser's fallback).

A question is normalised (lower case, no punctuation, contractions spelled out, "color" -> "colour"), then tried
against a table of forms per intent, in order; the first form that matches the whole question wins. A form's
slots ({X} the subject, {Y} the other, {Z} the third) hold noun phrases. A noun phrase names a class when its
head (last word, after determiners, numbers and adjectives are dropped) is a class name, a synonym, or a plural
of either. A head that names no known class goes to `unknown` as said (singular): it is never mapped onto a
class that looks or sounds like it ("car" stays "car", never "chair"). Words outside the slots are not nouns
asked about and are ignored.

Conventions the answer follows:
- `relation` with `other` None is relative to the asker: "what is on my left?" is left_of with no `other`.
- `nearer_than` / `farther_than` compare distances from the asker: "is the ball farther away than the table?".
- `distance` with `other` set asks how far the subject is from that object ("how far is the chair from the table?").
- A query with `unknown` words asks about things perception cannot recognise: say so before anything else.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache

from ar_perception.qa.query import COLOURS, MAX_NUMBER, Intent, Query, Relation

__all__ = [
    "SYNONYMS",
    "COLOUR_WORDS",
    "NUMBER_WORDS",
    "Form",
    "FORMS",
    "singular",
    "find_classes",
    "normalise",
    "class_words",
    "mentioned_classes",
    "question_nouns",
    "parse_question",
]

# Words a speaker uses for each class (the class name itself always counts). Other plurals are derived (`singular`).
# Meaning only: a word that merely looks or sounds like a class name is not a synonym.
SYNONYMS: dict[str, tuple[str, ...]] = {
    "person": ("person", "people", "man", "men", "woman", "women", "someone", "somebody", "human", "figure"),
    "table": ("table", "desk"),
    "chair": ("chair", "seat", "stool"),
    "lamp": ("lamp", "light"),
    "shelf": ("shelf", "shelves", "bookshelf", "bookcase", "shelving"),
    "plant": ("plant", "flower", "tree", "pot plant", "houseplant"),
    "box": ("box", "crate", "carton", "package", "parcel"),
    "ball": ("ball",),
    "wall": ("wall",),
    "floor": ("floor", "ground"),
    "ceiling": ("ceiling",),
}

# colour words a question or an answer may use (the measured palette lives in qa/colour.py)
# ("gray" is spelled "grey" once a question or answer is normalised)
COLOUR_WORDS = frozenset(COLOURS)

NUMBER_WORDS: dict[str, int] = {
    w: i
    for i, w in enumerate(
        """zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen
        seventeen eighteen nineteen twenty""".split()
    )
} | {"thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70, "eighty": 80, "ninety": 90, "hundred": 100}

_IRREGULAR = {
    "people": "person",
    "persons": "person",
    "men": "man",
    "women": "woman",
    "children": "child",
    "feet": "foot",
    "teeth": "tooth",
    "mice": "mouse",
    "geese": "goose",
    "shelves": "shelf",
    "bookshelves": "bookshelf",
    "knives": "knife",
    "leaves": "leaf",
    "halves": "half",
    "wolves": "wolf",
    "scarves": "scarf",
    "lives": "life",
    "wives": "wife",
}
_NOT_PLURAL = ("ss", "us", "is", "ous")  # glass, bus, tennis, various: an "s" that is no plural ending


def singular(word: str) -> str:
    """The singular of an English noun, by rule: people -> person, shelves -> shelf, boxes -> box, cars -> car."""
    if word in _IRREGULAR:
        return _IRREGULAR[word]
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 4 and word.endswith(("sses", "shes", "ches", "xes", "zes")):
        return word[:-2]
    if len(word) > 3 and word.endswith("s") and not word.endswith(_NOT_PLURAL):
        return word[:-1]
    return word


# -- normalising a question -----------------------------------------------------------------------------------
_CONTRACTIONS = {
    "what's": "what is",
    "whats": "what is",
    "where's": "where is",
    "wheres": "where is",
    "how's": "how is",
    "there's": "there is",
    "theres": "there is",
    "that's": "that is",
    "it's": "it is",
    "who's": "who is",
    "which's": "which is",
    "isn't": "is not",
    "aren't": "are not",
    "wasn't": "was not",
    "don't": "do not",
    "doesn't": "does not",
    "didn't": "did not",
    "can't": "can not",
    "cannot": "can not",
    "haven't": "have not",
    "i'm": "i am",
    "i'd": "i would",
    "you're": "you are",
    "color": "colour",
    "colors": "colours",
    "colored": "coloured",
    "gray": "grey",
    "meters": "metres",
    "meter": "metre",
}
# said before or after the question itself; they change nothing it asks
_POLITE_START = re.compile(
    r"^(?:(?:please|hey|hi|hello|ok|okay|so|and|now|well|um|uh|excuse me|sorry|quick question|"
    r"(?:can|could|would|will) you (?:please )?tell me|(?:please )?tell me|do you know|"
    r"i (?:want|would like) to know|let me know|i wonder|i am wondering)\b ?)+"
)
_POLITE_END = re.compile(r"(?: (?:please|right now|now|for me|currently|at the moment|at all|exactly|then))+$")


def normalise(text: str) -> str:
    """Lower case, contractions spelled out, no punctuation, single spaces, politeness trimmed."""
    t = text.lower().replace("\u2019", "'").replace("-", " ")
    t = re.sub(r"[^a-z0-9' ]+", " ", t)
    words = [_CONTRACTIONS.get(w, w) for w in t.split()]
    t = " ".join(w.replace("'s", "").replace("'", "") for w in words)  # the lamp's colour -> the lamp colour
    t = _POLITE_START.sub("", t).strip()
    return _POLITE_END.sub("", t).strip()


# -- classes and noun phrases ----------------------------------------------------------------------------------
@cache
def _vocab(classes: tuple[str, ...]) -> dict[tuple[str, ...], str]:
    """(singular word, ...) of every name and synonym of `classes` -> its class."""
    out: dict[tuple[str, ...], str] = {}
    for c in classes:
        for word in (c, *SYNONYMS.get(c, ())):
            out[tuple(singular(w) for w in word.split())] = c
    return out


def class_words(classes: list[str]) -> dict[str, str]:
    """Every name and synonym of `classes` (singular) -> its class: what a question may call each class."""
    return {" ".join(k): c for k, c in _vocab(tuple(classes)).items()}


def find_classes(words: list[str], classes: list[str]) -> list[tuple[int, int, str]]:
    """(start, end, class) of every class name or synonym in `words` (singularised), longest first, no overlaps."""
    vocab = _vocab(tuple(classes))
    longest = max((len(k) for k in vocab), default=0)
    sing = [singular(w) for w in words]
    found: list[tuple[int, int, str]] = []
    i = 0
    while i < len(sing):
        for n in range(min(longest, len(sing) - i), 0, -1):
            cls = vocab.get(tuple(sing[i : i + n]))
            if cls is not None:
                found.append((i, i + n, cls))
                i += n
                break
        else:
            i += 1
    return found


def mentioned_classes(text: str, classes: list[str]) -> list[str]:
    """Classes named anywhere in `text` (by name, synonym or plural), in order of first mention."""
    return list(dict.fromkeys(c for _, _, c in find_classes(normalise(text).split(), classes)))


_DETERMINERS = set(
    """the a an any some my your our his her their its this that these those all every each another other more
    no both either several many much few single same certain which what of""".split()
)
_ADJECTIVES = set(
    """nearest closest farthest furthest near far big bigger biggest small smaller smallest large larger largest
    little tiny huge giant tall taller tallest short shorter shortest wide narrow high low long first second third
    last only whole entire left right middle""".split()
)
_MODIFIERS = _DETERMINERS | _ADJECTIVES | COLOUR_WORDS | {"colour", "coloured"} | set(NUMBER_WORDS)
# a noun phrase ends before these: "the chair in the corner", "the lamp that is on", "the box you see"
_ENDS_PHRASE = set(
    """in on at near by with from of to into onto behind under over above below beside next inside outside for
    that which who whom where when than relative compared and or but is are was were do does did can could you i
    we they it away here there now located anywhere around nearby visible seen""".split()
)
_GENERIC = set("""anything something everything nothing object thing item stuff one it them this that""".split())
_ASKER = {"me", "i", "us", "we", "you", "myself", "yourself", "ourselves", "here", "there", "room", "scene"}


# words of the question forms themselves: never a thing asked about
_FORM_WORDS = set(
    """what where how who whose why when which is are was were be been there do does did can could would will
    should have has had see seen saw spot find notice detect look looking tell show describe list count many
    much far close distance metre metres foot feet tall big wide deep size height width depth colour colours
    last time left right front back side way direction top between am not ever still please""".split()
)


@dataclass(frozen=True)
class _Noun:
    cls: str | None = None  # a known class
    unknown: tuple[str, ...] = ()  # the words of a thing perception does not know, as said (singular)
    asker: bool = False  # "me", "you", "here": the asker's place, no object
    colours: tuple[str, ...] = ()  # colour words qualifying a known class ("the RED chair")
    number: int | None = None  # a number qualifying a known class ("TWO chairs")
    unsure: bool = False  # words this parser cannot fold into one query ("the chair AND THE TABLE", "closer THAN")


# comparisons between two things ("is the box farther away than the lamp?"): no intent answers them
COMPARING = {"than", "versus", "vs"}


def _noun(phrase: str | None, classes: list[str]) -> _Noun:
    """What a slot's noun phrase names: a known class, an unknown thing, the asker, or anything (generic)."""
    if not phrase:
        return _Noun()
    words = phrase.split()
    if words[0] in _ASKER:
        return _Noun(asker=True)
    if COMPARING & set(words):
        return _Noun(unsure=True)
    # "chairs and cars": the first names the subject; an unknown thing after "and"/"or" is still reported. A
    # second known class, or anything else after "and"/"or", is a second question this query cannot hold.
    parts: list[list[str]] = [[]]
    for w in words:
        if w in ("and", "or"):
            parts.append([])
        else:
            parts[-1].append(w)
    found = [_one_noun(part, classes) for part in parts]
    named = [n for n in found if n.cls or n.unknown or n.asker]
    if not named:
        return _Noun(unsure=any(n.colours for n in found))  # "is there anything red?": no intent reads colour alone
    first = named[0]
    unknown = [w for n in named[1:] for w in n.unknown]
    unsure = first.unsure or any(n.cls or n.asker or n.colours or n.number is not None for n in named[1:])
    colours = tuple(dict.fromkeys(c for n in found for c in n.colours)) if first.cls else ()
    if len(colours) > 1:  # "red and blue chairs", "a red or green chair"
        unsure = True
    return _Noun(
        first.cls, tuple(dict.fromkeys([*first.unknown, *unknown])), first.asker, colours, first.number, unsure
    )


def _colours_in(words: list[str]) -> list[str]:
    return [w for w in words if w in COLOUR_WORDS]


def _number_in(words: list[str]) -> int | None:
    """The number qualifying a noun: "two chairs", "2 chairs" (None: none, or more than one)."""
    said = [NUMBER_WORDS[w] if w in NUMBER_WORDS else int(w) for w in words if w in NUMBER_WORDS or w.isdigit()]
    return said[0] if len(said) == 1 and said[0] <= MAX_NUMBER else None


def _one_noun(words: list[str], classes: list[str]) -> _Noun:
    said = words  # with its modifiers: "red", "two"
    while words and words[0] in _MODIFIERS:
        words = words[1:]
    for i, w in enumerate(words):
        if w in _ENDS_PHRASE:
            said = said[: len(said) - len(words) + i]
            words = words[:i]
            break
    colours = tuple(_colours_in(said))
    words = [w for w in words if w not in _MODIFIERS and not w.isdigit()]
    if not words:
        return _Noun(colours=colours)
    if words[-1] in _ASKER:
        return _Noun(asker=True)
    if singular(words[-1]) in _GENERIC or words[-1] in _GENERIC:
        return _Noun(colours=colours)
    for _, end, cls in find_classes(words, classes):
        if end == len(words):  # the head names the class ("office chair"); a class as modifier does not ("chair leg")
            return _Noun(cls, colours=colours, number=_number_in(said))
    return _Noun(unknown=(" ".join([*words[:-1], singular(words[-1])]),))


def question_nouns(text: str, classes: list[str]) -> list[str]:
    """Words of `text` that could name an unknown thing: singularised, no class word, no function or modifier
    word. The LLM parser's grammar lets `unknown` hold only these."""
    words = normalise(text).split()
    taken = {i for s, e, _ in find_classes(words, classes) for i in range(s, e)}
    out = []
    for i, w in enumerate(words):
        if i in taken or w in _MODIFIERS or w in _ENDS_PHRASE or w in _GENERIC or w in _ASKER or w in _FORM_WORDS:
            continue
        if w.isdigit() or len(w) < 2:
            continue
        out.append(singular(w))
    return list(dict.fromkeys(out))


# -- the forms -------------------------------------------------------------------------------------------------
# Macros keep the patterns readable; each expands to a regular expression over the normalised question.
_MACROS = {
    "{X}": r"(?P<X>[a-z0-9 ]+?)",
    "{Y}": r"(?P<Y>[a-z0-9 ]+?)",
    "{Z}": r"(?P<Z>[a-z0-9 ]+?)",
    "<be>": r"(?:is|are|was|were)",
    "<is>": r"(?:is|are)",
    "<see>": r"(?:see|spot|find|notice|detect|observe)",
    "<what>": r"(?:what|which (?:object|thing|item)s?|what (?:object|thing|item)s?|anything|something)",
    "<me>": r"(?:me|us|you|my back|our back)",
    "<around>": (
        r"(?: (?:here|there|around|around here|around me|nearby|anywhere|in view|visible|in sight|present|"
        r"in (?:the|this) (?:room|scene|picture|image|view|frame)|in front of (?:me|you|us)))?"
    ),
    "<nearest>": r"(?:nearest|closest)",
    "<left>": r"(?:to the left of|to the left side of|on the left of|on the left side of|left of|at the left of)",
    "<right>": (
        r"(?:to the right of|to the right side of|on the right of|on the right side of|right of|at the right of)"
    ),
    "<my_left>": r"(?:on|to|at) (?:my|your|the|our) left(?: hand)?(?: side)?|left of (?:me|us)|to the left",
    "<my_right>": r"(?:on|to|at) (?:my|your|the|our) right(?: hand)?(?: side)?|right of (?:me|us)|to the right",
    "<front>": r"(?:in front of|ahead of|before)",
    "<my_front>": r"(?:(?:in front of|ahead of|before) (?:me|us)|ahead|straight ahead)",
    "<colour>": "(?:" + "|".join(sorted(COLOUR_WORDS)) + ")",
    "<behind>": r"(?:behind|in back of|at the back of|back of)",
    "<on>": r"(?:(?:sitting|lying|standing|resting|placed|put|kept) )?(?:on top of|on|upon|atop)",
    "<next>": r"(?:next to|beside|besides|by|near|close to|nearest to|closest to|adjacent to|alongside|near to)",
}


@dataclass(frozen=True)
class Form:
    """One way of asking: a pattern over the normalised question and what it asks."""

    intent: Intent
    pattern: str
    relation: Relation | None = None
    attribute: str | None = None

    @property
    def regex(self) -> re.Pattern[str]:
        return _compile(self.pattern)


@cache
def _compile(pattern: str) -> re.Pattern[str]:
    for macro, expansion in _MACROS.items():
        pattern = pattern.replace(macro, expansion)
    return re.compile(pattern)


def _forms(
    intent: Intent, *patterns: str, relation: Relation | None = None, attribute: str | None = None
) -> list[Form]:
    return [Form(intent, p, relation, attribute) for p in patterns]


def _relation_forms(relation: Relation, phrase: str) -> list[Form]:
    """'what is left of the table', 'is the chair left of the table', 'is there a box left of the table'."""
    return _forms(
        "relation",
        rf"<what> (?:<be> |lies |sits |stands |do you see |can you see |is there |are there )?{phrase} {{Y}}",
        rf"which {{X}} <be> {phrase} {{Y}}",
        rf"<be> there {{X}} {phrase} {{Y}}",
        rf"<be> {{X}} {phrase} {{Y}}",
        rf"(?:do|can) you <see> {{X}} {phrase} {{Y}}",
        relation=relation,
    )


# First match wins: the specific forms come before the general ones they overlap ("what is behind me" before
# "what is behind the X", "where did you last see" before "where is", a relation before "is there a X").
FORMS: list[Form] = [
    *_forms(
        "behind",
        r"<what> (?:<be> |lies |was |do you see |can you see |is there )?<behind> <me>",
        r"<what> <be> (?:at|on) (?:my|our) back",
        r"<be> there {X} <behind> <me>",
        r"(?:do|can|did) you <see> {X} <behind> <me>",
        r"<be> {X} <behind> <me>",
    ),
    *_forms(
        "last_seen",
        r"where (?:did|have) you (?:last )?(?:see|seen|saw|spot|spotted|notice|noticed) {X}"
        r"(?: (?:last|last time|before|earlier|previously))?",
        r"when (?:did|have) you (?:last )?(?:see|seen|spot|notice) {X}(?: (?:last|last time|before|earlier))?",
        r"where <be> {X} (?:last )?seen(?: last)?",
        r"when <be> {X} (?:last )?seen(?: last)?",
        r"where was {X}(?: (?:before|earlier|last|last time|previously))?",
        r"where were {X}(?: (?:before|earlier|last|last time|previously))?",
        r"where did i (?:leave|put|last see) {X}",
        r"(?:have|did) you (?:ever )?(?:seen|see|spotted|noticed) {X} (?:before|earlier|anywhere|previously)",
        r"have you (?:ever )?(?:seen|spotted|noticed) {X}",
        r"(?:the )?last time you saw {X}",
    ),
    *_forms(
        "describe",
        r"describe(?: (?:the|this|my|your))? (?:room|scene|surroundings|environment|space|area|view|place|"
        r"picture|image|everything|it|what you see|what you can see|where i am)",
        r"describe(?: (?:the|this|my|your))? (?:room|scene|surroundings) (?:around )?(?:me|you|us)",
        r"(?:what|how) does (?:the|this) (?:room|scene|place) look(?: like)?",
        r"what <be> (?:the|this) (?:room|scene|place) like",
        r"(?:give me |can i have )?(?:a )?(?:description|summary|overview) of "
        r"(?:the |this |my )?(?:room|scene|surroundings|view)",
        r"(?:give me|can i have) (?:a )?(?:description|summary|overview)",
        r"(?:summarise|summarize) (?:the |this )?(?:room|scene|view|surroundings)",
        r"(?:tell me )?about (?:the |this |my )?(?:room|scene|surroundings)",
        r"what kind of (?:room|place) is (?:this|it)",
        r"describe {X}",
        r"(?:tell me )?about {X}",
    ),
    *_forms(
        "list",
        r"what (?:else )?(?:do|can|could) you <see>"
        r"(?: (?:now|right now|here|around|around me|in the room|in view|at all))?",
        r"what (?:else )?you (?:can )?see",
        r"what (?:else )?<is> (?:there|here|around|around me|around you|around us|nearby|in view|in sight|visible|"
        r"in (?:the|this) (?:room|scene|picture|image|view|frame)|in front of (?:you|the camera))",
        r"what (?:objects|things|items|stuff)(?: <is>| do you| can you| else)?"
        r"(?: (?:there|here|around|visible|see|in view|in sight|in (?:the|this) (?:room|scene)))*",
        r"(?:list|name|enumerate)(?: (?:the|all|all the|every))? (?:objects|things|items|everything)"
        r"(?: (?:you see|you can see|in view|in the room|visible|here))?",
        r"(?:what|which) <is> the (?:objects|things|items)(?: (?:you see|in view|in the room|here))?",
        r"what <is> you looking at",
        r"what am i looking at",
        r"what (?:is|are) visible",
    ),
    *_forms(
        "colour",
        r"what colour(?:s)? <be> {X}",
        r"what colour {X} <be>",
        r"which colour(?:s)? <be> {X}",
        r"what <be> the colour(?:s)? of {X}",
        r"what <be> {X} colour",
        r"(?:what|which) colour does {X} have",
        r"(?:the )?colour of {X}",
        r"what colour(?: do you think)? <be> {X}",
        r"<be> {X} (?:coloured )?(?P<C><colour>)(?: in colour| coloured)?",
        r"<be> {X} <colour> or <colour>",
    ),
    *_forms("size", r"how tall <be> {X}", r"how high <be> {X}", r"how tall {X} <be>", attribute="height"),
    *_forms("size", r"what <be> the height of {X}", r"what height <be> {X}", attribute="height"),
    *_forms("size", r"how wide <be> {X}", r"how wide {X} <be>", r"what <be> the width of {X}", attribute="width"),
    *_forms("size", r"how deep <be> {X}", r"how deep {X} <be>", r"what <be> the depth of {X}", attribute="depth"),
    *_forms(
        "size",
        r"how (?:big|large|small|long) <be> {X}",
        r"how (?:big|large|small|long) {X} <be>",
        r"what size <be> {X}",
        r"what <be> the (?:size|dimensions|measurements) of {X}",
        r"what <be> {X} size",
        r"(?:the )?(?:size|dimensions) of {X}",
        r"what <be> {X} dimensions",
        attribute="size",
    ),
    *_forms(
        "distance",
        r"how (?:far|close|near) (?:away )?<be> {X} from {Y}",
        r"what <be> the distance (?:between|from) {X} (?:and|to) {Y}",
        r"how (?:many )?(?:metres|feet|steps) <be> {X} from {Y}",
    ),
    *_forms(
        "distance",
        r"how far (?:away )?<be> it (?:to|from here to|from me to) {X}",
        r"how (?:far|far away) (?:am i|are we) from {X}",
        r"how (?:close|near) (?:am i|are we) to {X}",
        r"how far (?:away )?<be> {X}(?: (?:away|off))?(?: from (?:me|us|here|you))?",
        r"how far (?:away )?{X} <be>(?: (?:away|from me|from here))?",
        r"how (?:close|near) <be> {X}(?: to (?:me|us|you))?",
        r"how (?:close|near) {X} <be>",
        r"how (?:many )?(?:metres|feet|steps) (?:away )?<be> {X}(?: away)?(?: from (?:me|here))?",
        r"what <be> the distance (?:to|of|from me to|from here to|between me and|between us and|to reach) {X}",
        r"what <be> {X} distance(?: from me)?",
        r"(?:the )?distance (?:to|of|from me to) {X}",
        r"<be> {X} (?:far|far away|close|close by|near|nearby)(?: from me| to me)?",
        r"how far (?:do|would) i (?:have to|need to) (?:walk|go|move)(?: to (?:get to|reach))? {X}",
        r"how far (?:do|would) i (?:have to|need to) (?:walk|go|move) to {X}",
    ),
    *_forms(
        "count",
        r"how many {X}(?: (?:<is> there|there <is>|(?:do|can|could) you (?:see|count|find|spot|detect)|"
        r"you (?:can )?see|<is>|<is> (?:here|there|visible|in view|in sight|around|"
        r"in (?:the|this) (?:room|scene|picture|image|view))|(?:do|can) you count))?"
        r"(?: (?:here|there|in view|visible|around|in the room|in front of (?:you|me|us)))?",
        r"count (?:the |all the |all )?{X}",
        r"what <be> the number of {X}(?: (?:in view|here|there|in the room|you see))?",
        r"(?:the )?number of {X}",
        r"how many (?:are there|do you see|can you see)",
    ),
    *_forms(
        "relation",
        r"(?:what|which) <is> the <nearest> (?:object|thing|item|one) to (?!(?:me|us|you|here)$){Y}",
        relation="next_to",
    ),
    *_forms(
        "nearest",
        r"where <is> the <nearest> {X}",
        r"which (?:of the )?{X} <is> (?:the )?<nearest>(?: one)?(?: to (?:me|us|you|here))?",
        r"what <is> (?:the )?<nearest>(?: (?:thing|object|item|one))?(?: to (?:me|us|you|here))?",
        r"what (?:object|thing|item) <is> (?:the )?<nearest>(?: to (?:me|us|you|here))?",
        r"which (?:object|thing|item|one) <is> (?:the )?<nearest>(?: to (?:me|us|you|here))?",
        r"which <is> (?:the )?<nearest>",
        r"what <is> (?:near|close to|nearest to|closest to|next to) (?:me|us|you)",
        r"(?:what|which) <is> the <nearest> {X}(?: to (?:me|us|you|here))?",
        r"(?:the )?<nearest> {X}",
    ),
    *_forms(
        "relation",
        r"<what> (?:<be> |lies |do you see |can you see |is there |are there )?(?:<my_left>)",
        r"<be> there {X} (?:<my_left>)",
        r"<be> {X} (?:<my_left>)",
        relation="left_of",
    ),
    *_forms(
        "relation",
        r"<what> (?:<be> |lies |do you see |can you see |is there |are there )?(?:<my_right>)",
        r"<be> there {X} (?:<my_right>)",
        r"<be> {X} (?:<my_right>)",
        relation="right_of",
    ),
    *_forms(
        "relation",
        r"<what> (?:<be> |lies |do you see |can you see |is there |are there )?<my_front>",
        r"<be> there {X} <my_front>",
        r"<be> {X} <my_front>",
        relation="in_front_of",
    ),
    *_forms(
        "relation",
        r"<what> (?:<be> |lies |do you see |can you see |is there |are there )?between {Y} and {Z}",
        r"<be> there {X} between {Y} and {Z}",
        r"<be> {X} between {Y} and {Z}",
        relation="between",
    ),
    *_forms(
        "relation",
        r"<be> (?:there )?{X} (?:nearer|closer)(?: to (?:me|us|you))? than {Y}(?: <be>)?",
        relation="nearer_than",
    ),
    *_forms(
        "relation",
        r"<be> (?:there )?{X} (?:farther|further)(?: away)?(?: from (?:me|us|you))? than {Y}(?: <be>)?",
        r"<be> (?:there )?{X} more distant than {Y}(?: <be>)?",
        relation="farther_than",
    ),
    *_relation_forms("left_of", "<left>"),
    *_relation_forms("right_of", "<right>"),
    *_relation_forms("in_front_of", "<front>"),
    *_relation_forms("behind", "<behind>"),
    *_relation_forms("next_to", "<next>"),
    *_relation_forms("on", "<on>"),
    *_forms(
        "where",
        r"where (?:exactly )?<be> {X}(?: (?:located|placed|standing|sitting|now|right now))?"
        r"(?: (?:relative to|from) (?:me|us|you))?",
        r"where {X} <be>(?: located)?",
        r"where (?:can|could|do|would|should) (?:i|we) find {X}",
        r"where do you see {X}",
        r"(?:in )?which (?:direction|way|side) <be> {X}(?: (?:on|in|at))?",
        r"what direction <be> {X}(?: in)?",
        r"(?:can you )?(?:find|locate|show me) {X}",
        r"(?:i am|we are) looking for {X}",
    ),
    *_forms(
        "exists",
        r"<be>(?: not)? there {X}<around>",
        r"<be> {X} (?:here|there|in view|visible|in sight|around|present|nearby|in the room|in front of (?:me|you|us))",
        r"(?:do|can|could) you (?:not )?<see> {X}<around>",
        r"you (?:can )?<see> {X}<around>",
        r"(?:do|have) (?:you|we|i) (?:have|got) {X}<around>",
        r"any {X}<around>",
        r"is there anything like {X}<around>",
    ),
]


def parse_question(text: str, classes: list[str]) -> Query:
    """`text` -> the Query it asks, naming only `classes`; unknown things in `unknown`; `unsupported` if no form
    fits. Pure and fast (regular expressions only)."""
    q = normalise(text)
    for form in FORMS:
        m = form.regex.fullmatch(q)
        if m is None:
            continue
        slots = m.groupdict()
        x, y, z = (_noun(slots.get(k), classes) for k in ("X", "Y", "Z"))
        if form.intent in ("where", "colour", "size", "distance", "last_seen", "count", "exists") and x.asker:
            continue  # "where am i", "how big are you": not about an object
        if x.unsure or y.unsure or z.unsure or y.colours or z.colours or y.number is not None or z.number is not None:
            # two things in one slot, a comparison, a colour or number of a reference: not one Query; better
            # "I can't answer that" than an answer to part of the question as if it were the whole
            return Query(intent="unsupported", unknown=list(dict.fromkeys([*x.unknown, *y.unknown, *z.unknown])))
        colour = slots.get("C") or (x.colours[0] if x.colours else None)
        if colour is not None and x.colours and x.colours[0] != colour:
            return Query(intent="unsupported")  # "is the red chair blue?"
        unknown = [*x.unknown, *y.unknown, *z.unknown]
        intent = form.intent
        if intent == "describe" and x.asker:
            x = _Noun()
        return Query(
            intent=intent,
            subject=x.cls,
            relation=form.relation,
            other=y.cls,
            third=z.cls,
            attribute=form.attribute,
            unknown=list(dict.fromkeys(unknown)),
            colour=colour if x.cls else None,
            number=x.number,
        )
    return Query(intent="unsupported")
