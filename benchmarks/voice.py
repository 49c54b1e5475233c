"""Voice loop latency through the real runtime: from the end of a spoken question to the first answer token and
to the full answer, p50 over spoken questions per round, medians over rounds. Target (issue 14): first token
within 1.0 s with the offline defaults.

Each round is one graph, one process per node: a `wav` source plays espeak-ng questions in real time (4 s of
silence after each, as a user waits for the answer) -> `speech` (silero VAD + Whisper tiny.en) -> `vqa` (its
defaults: the rule parser, SmolLM2-135M under a grammar for questions the rules cannot read; answers from the scene
model), with `scene` facts from a simulated room's ground truth. "End of the question" is when the voice stopped
(the speech node stamps it on the transcript); the clock runs through voice-activity endpointing (the node's
`min_silence_ms` of silence closes an utterance), transcription, transport, parsing and answering. The p90 column
is the median over rounds of each round's p90.

    .venv/bin/python benchmarks/voice.py [--rounds 3] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from ar_perception.audio import read_wav, resample, write_wav  # noqa: E402
from ar_perception.graph.load import parse_graph  # noqa: E402
from ar_perception.nodes.speech import Speech  # noqa: E402
from ar_perception.runtime.launch import run_graph  # noqa: E402

QUESTIONS = [
    "what is nearest",
    "is there a table",
    "how far is the chair",
    "is there a person",
    "what is closest",
    "is there a plant",
    "how far is the table",
    "what is left of the chair",
    "is there a ball",
    "how far is the person",
    "how many chairs are there",
    "where is the shelf",
]
GAP_S = 4.0


def questions_wav(folder: Path) -> Path:
    parts = [np.zeros(24000, np.float32)]
    for i, q in enumerate(QUESTIONS):
        p = folder / f"q{i}.wav"
        subprocess.run(["espeak-ng", "-v", "en-us", "-s", "150", "-w", str(p), q], check=True)
        x, rate = read_wav(p)
        parts += [resample(x[:, 0], rate, 16000), np.zeros(int(GAP_S * 16000), np.float32)]
    path = folder / "questions.wav"
    write_wav(path, np.concatenate(parts), 16000)
    return path


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(np.array(values), q)) if values else float("nan")


def one_round(folder: Path, wav: Path, seconds: float) -> dict[str, Any]:
    """Play the questions through one fresh graph; the latencies and answers it gave."""
    answers, texts = folder / "answers.jsonl", folder / "texts.jsonl"
    for f in (answers, texts):
        f.unlink(missing_ok=True)
    graph = parse_graph(
        f"""
nodes:
  - {{id: cam, node: sim, params: {{seed: 3, fps: 5, frames: {int(seconds * 5) + 10}}}}}
  - {{id: scene, node: scene, inputs: {{mask: cam/labels_gt, depth: cam/depth_gt, camera: cam/camera}}}}
  - {{id: mic, node: wav, params: {{path: "{wav}", realtime: true, start_delay_s: 1.0}}}}
  - {{id: stt, node: speech, inputs: {{audio: {{source: mic/audio, queue: reliable}}}}}}
  - id: vqa
    node: vqa
    inputs: {{question: {{source: stt/text, queue: reliable}}, scene: scene/facts}}
  - {{id: heard, node: sink, params: {{log: "{texts}"}}, inputs: {{in: {{source: stt/text, queue: reliable}}}}}}
  - {{id: said, node: sink, params: {{log: "{answers}"}}, inputs: {{in: {{source: vqa/answer, queue: reliable}}}}}}
""",
        "voice-benchmark.yaml",
    )
    result = run_graph(graph, seconds + 120)
    heard = [json.loads(x) for x in texts.read_text().splitlines()] if texts.exists() else []
    said = [json.loads(x) for x in answers.read_text().splitlines()] if answers.exists() else []
    final = [a["meta"] for a in said if a["meta"]["done"]]
    transcribed = [(h["recv_ns"] - h["capture_ns"]) / 1e9 for h in heard]
    first = [a["first_token_s"] for a in final if a["first_token_s"] is not None]
    full = [a["latency_s"] for a in final]
    rates = [a["tokens_per_s"] for a in final if a["tokens_per_s"] and a.get("phrasing") == "llm"]  # LLM decoding
    return {
        "transcripts": len(heard),
        "answers": final,
        "transcript_p50_s": round(pct(transcribed, 50), 3),
        "transcript_p90_s": round(pct(transcribed, 90), 3),
        "first_token_p50_s": round(pct(first, 50), 3),
        "first_token_p90_s": round(pct(first, 90), 3),
        "full_answer_p50_s": round(pct(full, 50), 3),
        "full_answer_p90_s": round(pct(full, 90), 3),
        "tokens_per_s_p50": round(pct(rates, 50), 1) if rates else None,
        "run": result.reason,
        "load_1min": round(os.getloadavg()[0], 1),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=3, help="graphs run one after another; medians are reported")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    if args.rounds < 1:
        sys.exit(f"--rounds takes 1 or more, got {args.rounds}")
    if shutil.which("espeak-ng") is None:
        sys.exit("espeak-ng is not installed: sudo apt-get install espeak-ng")
    from encoder import matmul_peak_gflops
    from transport import machine

    load0 = os.getloadavg()[0]
    peak = round(matmul_peak_gflops(os.cpu_count() or 1))
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        wav = questions_wav(folder)
        seconds = len(read_wav(wav)[0]) / 16000
        rounds = []
        for k in range(args.rounds):
            rounds.append(one_round(folder, wav, seconds))
            print(
                f"round {k + 1}/{args.rounds}: first answer token p50 {rounds[-1]['first_token_p50_s']:.2f} s",
                file=sys.stderr,
            )

    def median(key: str) -> float:
        return round(float(np.median([r[key] for r in rounds])), 3)

    summary = {
        "questions_spoken": len(QUESTIONS),
        "rounds": args.rounds,
        "first_token_p50_s_per_round": [r["first_token_p50_s"] for r in rounds],
        **{k: median(k) for k in rounds[0] if k.endswith("_s")},
        "endpointing_s": Speech.Params().min_silence_ms / 1000,
        "speculate_after_s": Speech.Params().speculate_after_ms / 1000,
        "machine": f"{machine()}, fp32 matmul peak {peak} GFLOP/s",
        "load_1min": f"{load0:.1f} before, {', '.join(str(r['load_1min']) for r in rounds)} after each round",
    }
    last = rounds[-1]
    if args.json:
        print(json.dumps({"summary": summary, "rounds": rounds}))
        return
    print(f"voice loop through the runtime, {len(QUESTIONS)} spoken questions (espeak-ng), {args.rounds} rounds")
    print(f"machine: {summary['machine']}; load (1 min average, this benchmark included): {summary['load_1min']}")
    print(
        "offline defaults: whisper tiny.en; vqa: rule parser (SmolLM2-135M under a grammar for what the rules cannot "
        "read), answers from the scene model; seconds from the end of the spoken question; medians over rounds"
    )
    print(f"{'':<28}{'p50':>8}{'p90':>8}")
    print(
        f"{'transcript ready':<28}{summary['transcript_p50_s']:>8.2f}{summary['transcript_p90_s']:>8.2f}"
        f"   (includes {summary['endpointing_s']:.1f} s of silence that ends an utterance; transcription starts "
        f"speculatively after {summary['speculate_after_s']:.1f} s)"
    )
    print(
        f"{'first answer token':<28}{summary['first_token_p50_s']:>8.2f}{summary['first_token_p90_s']:>8.2f}"
        f"   (target p50 <= 1.0 s; per round: {', '.join(f'{v:.2f}' for v in summary['first_token_p50_s_per_round'])})"
    )
    print(f"{'full answer':<28}{summary['full_answer_p50_s']:>8.2f}{summary['full_answer_p90_s']:>8.2f}")
    print(
        f"last round: LLM decode speed p50 {last['tokens_per_s_p50'] or '- (no answer was phrased by the LLM)'} "
        f"tokens/s; {last['transcripts']} transcripts, {len(last['answers'])} answers; run: {last['run']}"
    )
    for a in last["answers"]:
        print(f"  {a['first_token_s']:5.2f} s {a['latency_s']:5.2f} s  {a['question']!r} -> {a['text']!r}")


if __name__ == "__main__":
    main()
