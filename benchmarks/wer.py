"""Word error rate of the `speech` node on real human speech: Debian's pocketsphinx-testdata LibriVox clips
(16 kHz read speech with transcripts), fed as the `wav` node sends them. Target: at most 10% with the
offline default (Whisper tiny.en, packaged).

    .venv/bin/python benchmarks/wer.py [--model tiny.en] [--beam 1] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from ar_perception.audio import read_wav  # noqa: E402
from ar_perception.nodes.speech import Speech  # noqa: E402
from ar_perception.runtime.harness import NodeHarness  # noqa: E402
from ar_perception.voice import normalize_words, transcribe, word_error_rate  # noqa: E402

DATA = Path("/usr/share/pocketsphinx/test/data/librivox")


def clips() -> list[tuple[Path, str]]:
    if not (DATA / "transcription").exists():
        sys.exit(f"{DATA} is missing: sudo apt-get install pocketsphinx-testdata")
    out = []
    for line in (DATA / "transcription").read_text().splitlines():
        text, _, cid = line.rpartition("(")
        out.append((DATA / f"{cid.strip(' )')}.wav", text.replace("<s>", "").replace("</s>", "").strip()))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="tiny.en")
    ap.add_argument("--beam", type=int, default=1)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    speech = NodeHarness(Speech, {"model": args.model, "beam_size": args.beam}, node_id="speech")
    rows: list[dict[str, Any]] = []
    for path, ref in clips():
        t0 = time.perf_counter()
        hyp = " ".join(m.meta["text"] for m in transcribe(path, speech))
        took = time.perf_counter() - t0
        errors, words = word_error_rate(ref, hyp)
        audio_s = len(read_wav(path)[0]) / 16000
        rows.append(
            {
                "clip": path.stem,
                "words": words,
                "errors": errors,
                "wer": round(errors / words, 4),
                "audio_s": round(audio_s, 2),
                "seconds": round(took, 2),
                "reference": ref,
                "hypothesis": " ".join(normalize_words(hyp)),
            }
        )
    total_e, total_w = sum(r["errors"] for r in rows), sum(r["words"] for r in rows)
    summary = {
        "model": args.model,
        "beam_size": args.beam,
        "clips": len(rows),
        "words": total_w,
        "errors": total_e,
        "wer": round(total_e / total_w, 4),
        "realtime_factor": round(sum(r["seconds"] for r in rows) / sum(r["audio_s"] for r in rows), 3),
        "machine": f"{os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}",
    }
    if args.json:
        print(json.dumps({"summary": summary, "rows": rows}))
        return
    print(
        f"WER of the speech node ({args.model}, beam {args.beam}) on {len(rows)} LibriVox clips "
        f"(pocketsphinx-testdata), {summary['machine']}"
    )
    print(f"{'clip':<44}{'words':>6}{'errors':>7}{'WER':>8}{'audio s':>9}{'time s':>8}")
    for r in rows:
        print(
            f"{r['clip']:<44}{r['words']:>6}{r['errors']:>7}{100 * r['wer']:>7.1f}%{r['audio_s']:>9.2f}"
            f"{r['seconds']:>8.2f}"
        )
        if r["errors"]:
            print(f"    ref: {r['reference']}\n    hyp: {r['hypothesis']}")
    print(
        f"{'all':<44}{total_w:>6}{total_e:>7}{100 * summary['wer']:>7.1f}%   "
        f"real-time factor {summary['realtime_factor']:.2f} (target WER <= 10%)"
    )


if __name__ == "__main__":
    main()
