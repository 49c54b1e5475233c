"""The question parsers measured: the rule parser, the packaged LLM under the grammar, and the LLM parser as used
(LLM checked, rules as fallback; and rules first, LLM only where the rules have no form).

Questions are drawn from paraphrase templates written here, apart from the parsers' own patterns, with the
expected Query built alongside (no parser is used to label them). Each template slot is filled with a class, or
(for a share of questions) with a word that names no known class, which must come back in `unknown`. A third of
the draws use a vocabulary without "wall", so "wall" is then an unknown word.

Two sets: "common", everyday wordings (the rule parser was written for such wordings, by the same hand: its
score there shows it covers them, not how it generalises); "unusual", wordings kept out of the rule parser's
forms, where an LLM parser could add something.

Reported: accuracy per intent (the whole Query must match), how often the LLM's own Query agrees with the rules,
how often the LLM names a class outside the vocabulary or one the question does not name, the fallback reasons,
and the time of one parse.

    .venv/bin/python benchmarks/qa_parsers.py [--seed 7] [--n 335] [--sets common,unusual] [--no-llm] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import time
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from ar_perception.qa.llm import LlmParser  # noqa: E402
from ar_perception.qa.parse import mentioned_classes, parse_question  # noqa: E402
from ar_perception.qa.query import INTENTS, Query  # noqa: E402

CLASSES = ["floor", "wall", "ceiling", "table", "chair", "box", "ball", "shelf", "lamp", "plant", "person"]
OBJECTS = ["table", "chair", "box", "ball", "shelf", "lamp", "plant", "person"]
PLURAL = {"table": "tables", "chair": "chairs", "box": "boxes", "ball": "balls", "shelf": "shelves",
          "lamp": "lamps", "plant": "plants", "person": "people", "wall": "walls", "floor": "floors",
          "ceiling": "ceilings"}  # fmt: skip
# words for things no vocabulary here has; some look or sound like a class (car/chair, cable/table, hall/wall)
UNKNOWN = {"car": "cars", "cable": "cables", "sofa": "sofas", "dog": "dogs", "bottle": "bottles",
           "window": "windows", "laptop": "laptops", "cup": "cups", "hall": "halls", "bowl": "bowls",
           "door": "doors", "bag": "bags"}  # fmt: skip


@dataclass(frozen=True)
class Template:
    text: str  # {a} {b} {c}: a class or unknown word, singular; {as}: plural
    intent: str
    fields: tuple[tuple[str, str], ...] = ()  # (Query field, slot letter or literal value)


def t(text: str, intent: str, **fields: str) -> Template:
    return Template(text, intent, tuple(fields.items()))


TEMPLATES = [
    t("Is there a {a}?", "exists", subject="a"),
    t("are there any {as} here", "exists", subject="a"),
    t("Do you see a {a}?", "exists", subject="a"),
    t("Can you spot any {as}?", "exists", subject="a"),
    t("is there a {a} in this room", "exists", subject="a"),
    t("Any {as} around?", "exists", subject="a"),
    t("How many {as} are there?", "count", subject="a"),
    t("how many {as} can you see", "count", subject="a"),
    t("Count the {as}.", "count", subject="a"),
    t("What's the number of {as} in view?", "count", subject="a"),
    t("Tell me how many {as} there are.", "count", subject="a"),
    t("How far is the {a}?", "distance", subject="a"),
    t("how far away is the {a}", "distance", subject="a"),
    t("What's the distance to the {a}?", "distance", subject="a"),
    t("How close is the {a}?", "distance", subject="a"),
    t("How many metres away is the {a}?", "distance", subject="a"),
    t("Where is the {a}?", "where", subject="a"),
    t("where's the {a}", "where", subject="a"),
    t("Where can I find the {a}?", "where", subject="a"),
    t("Which direction is the {a}?", "where", subject="a"),
    t("Where are the {as}?", "where", subject="a"),
    t("What is nearest?", "nearest"),
    t("what's closest to me", "nearest"),
    t("Which {a} is closest?", "nearest", subject="a"),
    t("Which object is nearest to me?", "nearest"),
    t("What's the nearest {a}?", "nearest", subject="a"),
    t("What colour is the {a}?", "colour", subject="a"),
    t("what color is the {a}", "colour", subject="a"),
    t("What is the colour of the {a}?", "colour", subject="a"),
    t("Which colour are the {as}?", "colour", subject="a"),
    t("Is the {a} red?", "colour", subject="a"),
    t("How big is the {a}?", "size", subject="a", attribute="=size"),
    t("how tall is the {a}", "size", subject="a", attribute="=height"),
    t("How wide is the {a}?", "size", subject="a", attribute="=width"),
    t("What size is the {a}?", "size", subject="a", attribute="=size"),
    t("What is the height of the {a}?", "size", subject="a", attribute="=height"),
    t("What is to the left of the {a}?", "relation", relation="=left_of", other="a"),
    t("what's right of the {a}", "relation", relation="=right_of", other="a"),
    t("What is on the {a}?", "relation", relation="=on", other="a"),
    t("Is the {a} on the {b}?", "relation", subject="a", relation="=on", other="b"),
    t("What is next to the {a}?", "relation", relation="=next_to", other="a"),
    t("What's behind the {a}?", "relation", relation="=behind", other="a"),
    t("What is in front of the {a}?", "relation", relation="=in_front_of", other="a"),
    t("What is between the {a} and the {b}?", "relation", relation="=between", other="a", third="b"),
    t("Is the {a} left of the {b}?", "relation", subject="a", relation="=left_of", other="b"),
    t("What's on my left?", "relation", relation="=left_of"),
    t("what is on my right", "relation", relation="=right_of"),
    t("What do you see?", "list"),
    t("What can you see?", "list"),
    t("what is in the room", "list"),
    t("What objects are there?", "list"),
    t("List the objects.", "list"),
    t("Describe the room.", "describe"),
    t("describe the scene", "describe"),
    t("What does the room look like?", "describe"),
    t("Give me a description of the room.", "describe"),
    t("Where did you last see the {a}?", "last_seen", subject="a"),
    t("where was the {a}", "last_seen", subject="a"),
    t("When did you last see the {a}?", "last_seen", subject="a"),
    t("Have you seen the {a}?", "last_seen", subject="a"),
    t("What is behind me?", "behind"),
    t("what's behind me", "behind"),
    t("Is there anything behind me?", "behind"),
    t("Is there a {a} behind me?", "behind", subject="a"),
    t("What time is it?", "unsupported"),
    t("Tell me a joke.", "unsupported"),
    t("How are you today?", "unsupported"),
]


# Wordings kept out of the rule parser's forms (written after it, and not fed back into it): where an LLM
# parser could do better than the rules.
UNUSUAL = [
    t("I wonder whether there's a {a} somewhere", "exists", subject="a"),
    t("got any {as}?", "exists", subject="a"),
    t("Is a {a} anywhere to be seen?", "exists", subject="a"),
    t("How many {as} in total?", "count", subject="a"),
    t("what's the {a} count", "count", subject="a"),
    t("The {a}, how far?", "distance", subject="a"),
    t("How many steps to the {a}?", "distance", subject="a"),
    t("which way to the {a}?", "where", subject="a"),
    t("Point me to the {a}.", "where", subject="a"),
    t("which thing is the least far away?", "nearest"),
    t("what hue is the {a}?", "colour", subject="a"),
    t("what shade is the {a}", "colour", subject="a"),
    t("what's the {a}'s height?", "size", subject="a", attribute="=height"),
    t("how much space does the {a} take up?", "size", subject="a", attribute="=size"),
    t("what sits atop the {a}?", "relation", relation="=on", other="a"),
    t("anything to the left of the {a}?", "relation", relation="=left_of", other="a"),
    t("what lies past the {a}?", "relation", relation="=behind", other="a"),
    t("what's going on around here?", "list"),
    t("paint me a picture of the room", "describe"),
    t("the {a}, where did you see it last?", "last_seen", subject="a"),
    t("what's back there behind me?", "behind"),
    t("what's the capital of France?", "unsupported"),
]
SETS = {"common": TEMPLATES, "unusual": UNUSUAL}


@dataclass(frozen=True)
class Item:
    text: str
    classes: tuple[str, ...]
    expected: Query
    template: str


def draw(rng: random.Random, n: int, templates: list[Template]) -> list[Item]:
    """`n` questions: every template in turn, slots filled at random (structure classes too, where they make
    sense); a quarter of the questions have an unknown word in one slot, and a third use a vocabulary without
    "wall" (where "wall" is then unknown)."""
    items = []
    for i in range(n):
        tpl = templates[i % len(templates)]
        classes = CLASSES if rng.random() > 1 / 3 else [c for c in CLASSES if c != "wall"]
        letters = sorted({v for _, v in tpl.fields if not v.startswith("=")})
        structure = len(letters) == 1 and tpl.intent in ("distance", "colour", "where")  # "how far is the wall?"
        chosen = rng.sample(OBJECTS + (["wall", "floor", "ceiling"] if structure else []), len(letters))
        said: dict[str, tuple[str, str]] = {}
        unknown: list[str] = []
        unknown_slot = rng.choice(letters) if letters and rng.random() < 0.25 else None
        for letter, cls in zip(letters, chosen, strict=True):
            word = rng.choice(list(UNKNOWN)) if letter == unknown_slot else cls
            said[letter] = (word, UNKNOWN.get(word) or PLURAL[word])
            if word not in classes:  # an unknown word, or "wall" where the vocabulary has none
                unknown.append(word)
        text = tpl.text
        for letter, (one, many) in said.items():
            text = text.replace("{" + letter + "s}", many).replace("{" + letter + "}", one)
        data: dict[str, Any] = {"intent": tpl.intent, "unknown": unknown}
        for field, value in tpl.fields:
            if value.startswith("="):
                data[field] = value[1:]
            elif said[value][0] in classes:
                data[field] = said[value][0]
        items.append(Item(text, tuple(classes), Query(**data), tpl.text))
    return items


def load_llm() -> Any:
    from llama_cpp import Llama

    from ar_perception.nodes.vqa import PACKAGED_LLM, resolve_gguf

    path, _ = resolve_gguf(PACKAGED_LLM)
    threads = max(1, (os.cpu_count() or 2) - 1)  # as the vqa node: all cores but one
    return Llama(model_path=path, n_ctx=2048, n_threads=threads, n_threads_batch=threads, seed=0, verbose=False)


def pct(k: int, n: int) -> str:
    return f"{100 * k / n:5.1f}%" if n else "    -"


def measure(items: list[Item], llm: Any | None) -> dict[str, Any]:
    """Accuracy per intent of each parser on `items`, and what the LLM did."""
    load0 = os.getloadavg()[0]  # other processes share the machine: the LLM's times depend on it
    t0 = time.perf_counter()
    rules = [parse_question(it.text, list(it.classes)) for it in items]
    rules_us = (time.perf_counter() - t0) / len(items) * 1e6
    by_intent: dict[str, Counter[str]] = defaultdict(Counter)
    for it, r in zip(items, rules, strict=True):
        by_intent[it.expected.intent]["n"] += 1
        by_intent[it.expected.intent]["rules"] += r == it.expected
    result: dict[str, Any] = {"questions": len(items), "rule_parse_us": round(rules_us, 1)}
    result["rule_misses"] = [
        (it.text, r.model_dump(exclude_defaults=True)) for it, r in zip(items, rules, strict=True) if r != it.expected
    ]
    if llm is not None:
        as_used, rules_first = LlmParser(llm, prefer="llm"), LlmParser(llm, prefer="rules")
        times, reasons, outside, unmentioned, valid, agree = [], Counter[str](), 0, 0, 0, 0
        # one vocabulary after the other, as a node with a fixed vocabulary asks: llama.cpp keeps the KV cache of
        # one prompt prefix, and the prefix (system line, few-shot examples) depends on the vocabulary
        order = sorted(range(len(items)), key=lambda i: items[i].classes)
        for it, r in ((items[i], rules[i]) for i in order):
            classes = list(it.classes)
            p = as_used.parse_with_source(it.text, classes)
            times.append(p.llm_s)
            raw = p.llm_query
            stats = by_intent[it.expected.intent]
            stats["llm_raw"] += raw == it.expected
            stats["llm_used"] += p.query == it.expected
            stats["llm_source"] += p.source == "llm"
            if raw is not None:
                valid += 1
                agree += raw == r
                outside += any(c not in classes for c in raw.classes())
                unmentioned += any(c not in mentioned_classes(it.text, classes) for c in raw.classes())
            if p.reason:
                reasons[p.reason.split(" (LLM gave")[0].split(":")[0].split("'")[0].strip()] += 1
            q = rules_first.parse_with_source(it.text, classes)
            stats["rules_first"] += q.query == it.expected
        times.sort()
        result |= {
            "llm_valid_json": valid,
            "llm_agrees_with_rules": agree,
            "llm_class_outside_vocabulary": outside,
            "llm_class_not_in_question": unmentioned,
            "llm_parse_s_p50": round(statistics.median(times), 3),
            "llm_parse_s_p90": round(times[int(0.9 * (len(times) - 1))], 3),
            "fallback_reasons": dict(reasons.most_common()),
        }
    result["per_intent"] = {i: dict(by_intent[i]) for i in INTENTS if i in by_intent}
    result["load"] = (round(load0, 2), round(os.getloadavg()[0], 2))
    return result


def report(name: str, seed: int, result: dict[str, Any], with_llm: bool) -> None:
    n = result["questions"]
    print(
        f"\n{name}: {n} questions (seed {seed}); rule parse {result['rule_parse_us']:.0f} us per question; "
        f"load average {result['load'][0]:.1f} -> {result['load'][1]:.1f} ({os.cpu_count()} cores)"
    )
    cols = ["rules"] + (["llm_raw", "llm_used", "rules_first"] if with_llm else [])
    print(f"{'intent':12s} {'n':>4s} " + " ".join(f"{c:>11s}" for c in cols))
    totals = Counter[str]()
    for intent, s in result["per_intent"].items():
        totals.update(s)
        print(f"{intent:12s} {s['n']:4d} " + " ".join(f"{pct(s.get(c, 0), s['n']):>11s}" for c in cols))
    print(f"{'all':12s} {n:4d} " + " ".join(f"{pct(totals[c], n):>11s}" for c in cols))
    if with_llm:
        print(
            f"LLM: valid JSON {result['llm_valid_json']}/{n}, "
            f"agrees with the rules {result['llm_agrees_with_rules']}/{n}, "
            f"its query used {totals['llm_source']}/{n}; class outside the vocabulary "
            f"{result['llm_class_outside_vocabulary']}, class the question does not name "
            f"{result['llm_class_not_in_question']}; parse p50 {result['llm_parse_s_p50']} s, "
            f"p90 {result['llm_parse_s_p90']} s"
        )
        print("fallback reasons: " + "; ".join(f"{k} x{v}" for k, v in result["fallback_reasons"].items()))
    print(f"rule parser misses ({len(result['rule_misses'])}):")
    for text, got in result["rule_misses"]:
        print(f"  {text!r} -> {got}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seed", type=int, default=7, help="question draw; a seed never used while writing the parsers")
    ap.add_argument("--n", type=int, default=335, help="common questions (every template about 5 times)")
    ap.add_argument("--sets", default="common,unusual", help="common: everyday wordings; unusual: outside the forms")
    ap.add_argument("--no-llm", action="store_true", help="the rule parser only")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    llm = None
    if not args.no_llm:
        llm = load_llm()
        warm = LlmParser(llm)
        warm.parse("Is there a chair?", CLASSES)  # the few-shot prefix into the cache, as a node's setup does
        warm.parse("Is there a chair?", [c for c in CLASSES if c != "wall"])
    results = {}
    for name in args.sets.split(","):
        templates = SETS[name]
        # the common draw is Random(seed) as in the first report; the others their own stream
        rng = random.Random(args.seed if name == "common" else args.seed + 1000)
        n = args.n if name == "common" else 5 * len(templates)
        results[name] = measure(draw(rng, n, templates), llm)
        if not args.json:
            report(name, args.seed, results[name], llm is not None)
    if args.json:
        print(json.dumps({"seed": args.seed, **results}, indent=1))


if __name__ == "__main__":
    main()
