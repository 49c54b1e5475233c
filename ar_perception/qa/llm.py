"""The LLM as a question parser under a grammar, and the check an LLM-phrased answer must pass.

`LlmParser` asks a llama-cpp-python model for a Query as JSON, sampled under a grammar made from
`query_schema(classes)`: the model can only write known intents, classes and attributes, and `unknown` may only
hold words of the question itself. What the grammar cannot force is checked after:
- every class the LLM names must be named in the question (the grammar keeps "car" out of the class fields,
  not "chair" in);
- every thing the rule parser found unknown must stay unknown;
- "unsupported", or no class at all where the question names one, is no parse when the rule parser has one.
On any failure the rule parser's Query is used (`parse_question`), and a debug log says why. Fields an intent
does not use are cleared first (a small model fills them all).

`check_phrasing` lists what an LLM-phrased answer states beyond the facts: a class, number or colour word that
is not among the allowed ones. Any problem: the caller uses the deterministic sentence.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import ValidationError

from ar_perception.qa.parse import (
    COLOUR_WORDS,
    COMPARING,
    NUMBER_WORDS,
    class_words,
    find_classes,
    mentioned_classes,
    normalise,
    parse_question,
    question_nouns,
)
from ar_perception.qa.query import INTENTS, Query, query_schema
from ar_perception.qa.words import plural

__all__ = ["LlmParser", "Parsed", "llm_schema", "check_phrasing"]

log = logging.getLogger(__name__)

SYSTEM = (
    "Turn the user's question about what a camera sees into JSON. "
    f"intent is one of: {', '.join(INTENTS)}. "
    "subject, other and third may only be these class names: {classes}. "
    "A thing the question names that is not one of those classes goes into unknown, as the user said it. "
    "Leave out fields that do not apply."
)
_UNKNOWN_EXAMPLES = ("car", "guitar", "bicycle", "dog", "laptop")  # one not among the classes shows `unknown`


def _examples(classes: list[str]) -> list[tuple[str, Query]]:
    """Few-shot questions for these classes, with the rule parser's Query for each (so examples never disagree
    with the parser they stand in for). Structure classes are kept for the "how far is the wall" example."""
    objects = [c for c in classes if c not in ("wall", "floor", "ceiling")] or list(classes)
    a, b, c = (objects * 3)[:3] if len(objects) < 3 else objects[:3]
    words = class_words(classes)
    unk = next((w for w in _UNKNOWN_EXAMPLES if w not in words), "unicorn")
    questions = [
        f"Is there a {a}?",
        f"How many {plural(b)} are there?",
        f"How far away is the {c}?",
        f"Where is the {a}?",
        "What is closest to me?",
        f"What colour is the {b}?",
        f"How tall is the {c}?",
        f"What is to the left of the {a}?",
        f"Is the {b} on the {c}?",
        "What do you see?",
        "Describe the room.",
        "What time is it?",
        f"Where did you last see the {a}?",
        f"Do you see any {plural(unk)}?",
        "What is behind me?",
    ]
    if "wall" in classes:
        questions.insert(3, "How far is the wall?")
    return [(q, parse_question(q, classes)) for q in questions]


def _compact(q: Query) -> str:
    return json.dumps(q.model_dump(exclude_defaults=True), separators=(",", ":"))


def llm_schema(classes: list[str], words: list[str]) -> dict[str, Any]:
    """`query_schema(classes)` narrowed for sampling: only `intent` is required (fewer tokens to generate) and
    `unknown` may hold at most two of `words` (the question's own nouns; none: no `unknown` at all)."""
    schema = query_schema(classes)
    schema["required"] = ["intent"]
    if words:
        schema["properties"]["unknown"] = {"type": "array", "items": {"type": "string", "enum": words}, "maxItems": 2}
    else:
        del schema["properties"]["unknown"]
    return schema


# fields each intent uses; the others are cleared (a small model fills fields that do not apply)
_USES = {
    "relation": ("subject", "relation", "other", "third"),
    "distance": ("subject", "other"),
    "size": ("subject", "attribute"),
}


def _tidy(q: Query) -> Query:
    uses = _USES.get(q.intent, ("subject",))
    data = q.model_dump()
    for f in ("subject", "relation", "other", "third", "attribute"):
        if f not in uses:
            data[f] = None
    if q.intent == "size" and data["attribute"] is None:
        data["attribute"] = "size"
    if q.intent == "relation" and data["relation"] != "between":
        data["third"] = None
    return Query.model_validate(data)


def _problem(q: Query, text: str, classes: list[str], rules: Query, words: list[str]) -> str | None:
    """Why the LLM's Query cannot be used for `text` (None: it can)."""
    said = mentioned_classes(text, classes)
    if COMPARING & set(normalise(text).split()) and q.relation not in ("nearer_than", "farther_than"):
        return "the question compares two things, and only nearer / farther than is answered"
    for c in q.classes():
        if c not in said:
            return f"it names the class '{c}', which the question does not mention"
    if q.intent == "unsupported" and rules.intent != "unsupported":
        return "it found no intent, and the rule parser did"
    if said and not q.classes() and not q.unknown:
        return f"it drops '{said[0]}', which the question names"
    for w in q.unknown:
        if w not in words:
            return f"its unknown word '{w}' is not a noun of the question"
    if q.intent == "relation" and q.relation is None:
        return "intent 'relation' without a relation"
    if q.relation == "between" and (q.other is None or q.third is None):
        return "relation 'between' needs two objects (other and third)"
    said_words = normalise(text).split()
    if q.colour is not None and q.colour not in said_words and not (q.colour == "grey" and "gray" in said_words):
        return f"it asks for the colour '{q.colour}', which the question does not say"
    numbers = {NUMBER_WORDS[w] if w in NUMBER_WORDS else int(w) for w in said_words if w in NUMBER_WORDS or w.isdigit()}
    if q.number is not None and q.number not in numbers:
        return f"it asks for the number {q.number}, which the question does not say"
    heads = {w.split()[-1] for w in q.unknown}
    for w in rules.unknown:
        if w.split()[-1] not in heads:
            return f"it drops '{w}', which names no known class"
    return None


@dataclass(frozen=True)
class Parsed:
    query: Query
    source: Literal["llm", "rules"]
    reason: str | None = None  # why the rules were used instead of the LLM
    llm_s: float = 0.0  # time spent in the LLM
    llm_query: Query | None = None  # what the LLM said, used or not (None: nothing valid, or not asked)


class LlmParser:
    """Questions -> Query with a llama-cpp-python `Llama` (loaded by the caller) under a grammar.

    `prefer="rules"` asks the LLM only about questions the rule parser finds unsupported: the LLM's time is
    spent only where the rules have no answer."""

    def __init__(self, llm: Any, *, prefer: Literal["llm", "rules"] = "llm", max_tokens: int = 64) -> None:
        self.llm = llm
        self.prefer = prefer
        self.max_tokens = max_tokens
        self._prefix: dict[tuple[str, ...], list[dict[str, str]]] = {}

    def messages(self, text: str, classes: list[str]) -> list[dict[str, str]]:
        """The chat: system, few-shot pairs (the same for the same classes: llama.cpp reuses their KV cache),
        then the question. Questions are normalised (lower case, no punctuation, as `parse_question` reads
        them): a small model answers "Describe the room." and "describe the room" differently."""
        key = tuple(classes)
        if key not in self._prefix:
            shots: list[dict[str, str]] = [{"role": "system", "content": SYSTEM.format(classes=", ".join(classes))}]
            for question, query in _examples(classes):
                shots += [
                    {"role": "user", "content": normalise(question)},
                    {"role": "assistant", "content": _compact(query)},
                ]
            self._prefix[key] = shots
        return [*self._prefix[key], {"role": "user", "content": normalise(text)}]

    def parse(self, text: str, classes: list[str]) -> Query:
        return self.parse_with_source(text, classes).query

    def parse_with_source(self, text: str, classes: list[str]) -> Parsed:
        rules = parse_question(text, classes)
        if self.prefer == "rules" and rules.intent != "unsupported":
            return Parsed(rules, "rules", "the rule parser understood it")
        words = list(dict.fromkeys([*question_nouns(text, classes), *rules.unknown]))
        t0 = time.perf_counter()
        try:
            raw = self._complete(text, classes, words)
        except Exception as e:  # a model that fails to sample must not cost the answer
            return self._fallback(text, rules, f"the LLM failed: {type(e).__name__}: {e}", time.perf_counter() - t0)
        took = time.perf_counter() - t0
        try:
            q = _tidy(Query.model_validate(json.loads(raw)))
        except (json.JSONDecodeError, ValidationError) as e:
            return self._fallback(text, rules, f"its output {raw!r} is no valid Query: {e}", took)
        problem = _problem(q, text, classes, rules, words)
        if problem:
            return self._fallback(text, rules, f"{problem} (LLM gave {_compact(q)})", took, q)
        return Parsed(q, "llm", None, took, q)

    def _complete(self, text: str, classes: list[str], words: list[str]) -> str:
        out = self.llm.create_chat_completion(
            messages=self.messages(text, classes),
            grammar=self.grammar(classes, words),
            temperature=0.0,
            max_tokens=self.max_tokens,
        )
        return str(out["choices"][0]["message"]["content"])

    @staticmethod
    def grammar(classes: list[str], words: list[str]) -> Any:
        """The llama.cpp grammar of `llm_schema(classes, words)`."""
        from llama_cpp import LlamaGrammar  # the caller has a Llama: llama_cpp is installed

        return LlamaGrammar.from_json_schema(json.dumps(llm_schema(classes, words)), verbose=False)

    @staticmethod
    def _fallback(text: str, rules: Query, reason: str, took: float, llm_query: Query | None = None) -> Parsed:
        log.debug("LLM parse of %r not used: %s; the rule parser's query is used", text, reason)
        return Parsed(rules, "rules", reason, took, llm_query)


# -- checking an LLM-phrased answer ----------------------------------------------------------------------------
_NUMBER = re.compile(r"^\d+(?:\.\d+)?$")
_TENS = {w: n for w, n in NUMBER_WORDS.items() if n >= 20 and n % 10 == 0 and n < 100}


def _numbers(words: list[str]) -> list[tuple[str, float, int]]:
    """(as written, value, decimals) of every number in `words`: digits, and number words ("twenty one")."""
    out: list[tuple[str, float, int]] = []
    i = 0
    while i < len(words):
        w = words[i]
        if _NUMBER.match(w):
            out.append((w, float(w), len(w.split(".")[1]) if "." in w else 0))
        elif w in NUMBER_WORDS:
            value, said = NUMBER_WORDS[w], w
            nxt = words[i + 1] if i + 1 < len(words) else ""
            if w in _TENS and nxt in NUMBER_WORDS and 0 < NUMBER_WORDS[nxt] < 10:
                value, said = value + NUMBER_WORDS[nxt], f"{w} {nxt}"
                i += 1
            out.append((said, float(value), 0))
        i += 1
    return out


def _grey(text: str) -> str:
    return re.sub(r"\bgray\b", "grey", text)


def check_phrasing(
    text: str,
    allowed_classes: Iterable[str],
    allowed_numbers: Iterable[float],
    allowed_colours: Iterable[str],
    vocabulary_classes: Iterable[str],
    palette: Iterable[str],
) -> list[str]:
    """What `text` (an LLM-phrased answer) states beyond the facts; empty: it may be used.

    - every class of `vocabulary_classes` it names (by name, synonym or plural) must be in `allowed_classes`;
    - every number it writes (digits or words) must be an allowed number: "1.5" matches 1.52 (rounded to what is
      written), "2" only an allowed 2;
    - every colour word (of `palette` or common English colours) must be in `allowed_colours`.
    Colour names are matched first, longest first, so "light blue" is a colour, not a lamp.
    """
    allowed_c = set(allowed_classes)
    numbers = [float(n) for n in allowed_numbers]
    colours_ok = {_grey(c.lower()) for c in allowed_colours}
    colour_names = sorted(
        {_grey(c.lower()) for c in palette} | COLOUR_WORDS | colours_ok, key=lambda c: -len(c.split())
    )
    problems: list[str] = []

    words = re.sub(r"[^a-z0-9. ]+", " ", _grey(text.lower()).replace("-", " ")).split()
    words = [w.strip(".") for w in words if w.strip(".")]
    kept: list[str] = []
    i = 0
    while i < len(words):  # colours first: a colour's words are not read again as classes
        for name in colour_names:
            n = len(name.split())
            if words[i : i + n] == name.split():
                if name not in colours_ok:
                    problems.append(f"it names the colour '{name}', which is not in the facts")
                kept.append("")
                i += n
                break
        else:
            kept.append(words[i])
            i += 1
    for _, _, cls in find_classes([w for w in kept if not _NUMBER.match(w)], list(vocabulary_classes)):
        if cls not in allowed_c:
            problems.append(f"it names '{cls}', which is not in the facts")
    for said, value, decimals in _numbers(kept):
        ok = any(round(a, decimals) == value if decimals else a == value for a in numbers)
        if not ok:
            problems.append(f"it writes the number {said}, which is not in the facts")
    return list(dict.fromkeys(problems))
