"""`arp transcribe` and `arp ask`."""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from enum import StrEnum
from pathlib import Path
from typing import Any

import typer
from rich.console import Console

from ar_perception.commands import fail
from ar_perception.errors import ArpError

__all__ = ["register"]

err_console = Console(stderr=True)


class Parser(StrEnum):  # the vqa node's `parser`
    auto = "auto"
    llm = "llm"
    rules = "rules"


class Phrasing(StrEnum):  # the vqa node's `phrasing`
    deterministic = "deterministic"
    llm = "llm"


def _speech(model: str) -> Any:
    from ar_perception.nodes.speech import Speech
    from ar_perception.runtime.harness import NodeHarness

    return NodeHarness(Speech, {"model": model}, node_id="speech")


class _Printer:
    """Prints an answer as it streams: only the new characters of each update."""

    def __init__(self) -> None:
        self.shown = ""

    def __call__(self, meta: Mapping[str, Any]) -> None:
        text = str(meta.get("text", ""))
        new = text[len(self.shown) :] if text.startswith(self.shown) else "\n" + text
        sys.stdout.write(new)
        sys.stdout.flush()
        self.shown = text
        if meta.get("done"):
            sys.stdout.write("\n")
            sys.stdout.flush()
            self.shown = ""


def transcribe(
    file: Path = typer.Argument(..., help="WAV file (any rate, mono or stereo)"),
    as_json: bool = typer.Option(False, "--json", help="one JSON list of {text, start, end, confidence}"),
    model: str = typer.Option("tiny.en", help="whisper model: a CTranslate2 folder or a faster-whisper name"),
) -> None:
    """Print the transcript of a WAV file: one line per utterance, with its time span."""
    from ar_perception.voice import transcribe as run

    try:
        texts = run(file, _speech(model))
    except ArpError as e:
        fail(e)
    rows = [{k: t.meta[k] for k in ("text", "start", "end", "confidence")} for t in texts]
    if as_json:
        print(json.dumps(rows))
        return
    for r in rows:
        print(f"[{r['start']:7.2f} -> {r['end']:7.2f}] {r['text']}")


def ask(
    question: str | None = typer.Argument(
        None, help="the question; or --wav; or, with --recording, the questions spoken in the recording"
    ),
    wav: Path | None = typer.Option(None, "--wav", help="the question as speech in a WAV file"),
    recording: Path | None = typer.Option(None, help="answer offline about the scene in this recording"),
    at: float | None = typer.Option(
        None,
        "--at",
        help="seconds into the recording (or sim) to look at; default: when each question was spoken, or the start",
    ),
    sim: int | None = typer.Option(None, "--sim", help="answer offline about a simulated scene with this seed"),
    model: str = typer.Option("smollm2-135m", help="LLM: .gguf path, 'smollm2-135m', or org/repo:file.gguf"),
    parser: Parser = typer.Option(
        Parser.auto, help="offline: how the question is parsed: auto (rules; the LLM where they have no form)"
    ),
    phrasing: Phrasing = typer.Option(
        Phrasing.deterministic, help="offline: llm = the LLM rephrases the answer, checked against its facts"
    ),
    whisper: str = typer.Option("tiny.en", help="whisper model for --wav and recordings"),
    endpoint: str | None = typer.Option(None, help="the running graph's `ask` endpoint"),
    answers: str | None = typer.Option(None, help="the running graph's `ask_reply` endpoint"),
    timeout: float = typer.Option(60.0, help="seconds to wait for a running graph's answer"),
    as_json: bool = typer.Option(False, "--json", help="print one JSON object per answer"),
) -> None:
    """Ask about the scene: into a running graph, or offline about a recording or a simulated scene."""
    from ar_perception.voice import (
        answer,
        ask_running_graph,
        recording_questions,
        recording_scene,
        sim_scene,
    )
    from ar_perception.voice import (
        transcribe as run_speech,
    )

    if question is not None and wav is not None:
        fail(ArpError("give the question as text or as --wav, not both"))
    if recording is not None and sim is not None:
        fail(ArpError("give --recording or --sim, not both"))
    offline = recording is not None or sim is not None
    if question is None and wav is None and recording is None:
        fail(
            ArpError(
                "no question: give it as text, as --wav FILE, or give --recording to answer the questions spoken in it"
            )
        )

    def report(meta: Mapping[str, Any], at_s: float | None = None) -> None:
        if as_json:
            keep = (
                "question",
                "text",
                "intent",
                "query",
                "parser",
                "facts",
                "objects",
                "grounded",
                "phrasing",
                "first_token_s",
                "latency_s",
                "tokens_per_s",
                "tokens",
                "interrupted",
            )
            print(json.dumps({**{k: meta.get(k) for k in keep}, **({"at_s": at_s} if at_s is not None else {})}))

    try:
        questions: list[tuple[Any, float | None]] = []
        speech = _speech(whisper) if wav is not None or (recording is not None and question is None) else None
        if wav is not None:
            texts = run_speech(wav, speech)
            if not texts:
                raise ArpError(f"{wav}: no speech found")
            questions = [(" ".join(str(t.meta["text"]) for t in texts), at)]
        elif question is not None:
            questions = [(question, at)]
        else:
            assert recording is not None and speech is not None  # no text, no --wav: checked above
            questions = [(m, at if at is not None else t) for m, t in recording_questions(recording, speech)]
            if not questions:
                raise ArpError(f"{recording}: no speech in the audio track")
        if not offline:
            from ar_perception.nodes.ask import ANSWER_ENDPOINT, ASK_ENDPOINT

            q = str(questions[0][0])
            if not as_json:
                err_console.print(f"question: {q}", markup=False, highlight=False)
            meta = ask_running_graph(
                q, endpoint or ASK_ENDPOINT, answers or ANSWER_ENDPOINT, timeout, None if as_json else _Printer()
            )
            report(meta)
            return
        from ar_perception.nodes.vqa import Vqa
        from ar_perception.runtime.harness import NodeHarness

        # not warmed: one question, most of them parsed by rules, should not wait for the LLM's prompt
        vqa = NodeHarness(
            Vqa, {"model": model, "parser": parser.value, "phrasing": phrasing.value, "warm": False}, node_id="vqa"
        )
        for q, at_s in questions:
            when = at_s if at_s is not None else 0.0
            if recording is not None:
                scene = recording_scene(recording, when)
            else:
                assert sim is not None  # offline: --recording or --sim
                scene = sim_scene(sim, when)[0]
            text = str(q.meta["text"]) if hasattr(q, "meta") else str(q)
            if not as_json:
                err_console.print(f"question at {when:.2f} s: {text}", markup=False, highlight=False)
            meta = answer(vqa, text, scene, None if as_json else _Printer())
            report(meta, when)
    except ArpError as e:
        fail(e)


def register(app: typer.Typer) -> None:
    app.command()(transcribe)
    app.command()(ask)
