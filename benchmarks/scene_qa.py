"""Accuracy of the whole voice loop on simulated scenes with exact ground truth.

For frames of simulated rooms, questions of four forms are asked about what the camera sees: "is there a X"
(half of them about classes that are not in view), "what is nearest", "how far is the X" (right within 25%),
"what is left of the X". Each is spoken by espeak-ng, transcribed by the `speech` node, and answered by the
`vqa` node from the `scene` node's facts about the frame's ground-truth segmentation and depth (the stand-in
for the learned heads). The answer text is scored against ground truth computed from the simulator's
instance masks, independently of the scene node. The same questions typed (no speech) are scored too, so
that the speech recogniser's share of the errors is visible.

    .venv/bin/python benchmarks/scene_qa.py [--scenes 12] [--json] [--typed-only]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from ar_perception.nodes.speech import Speech  # noqa: E402
from ar_perception.nodes.vqa import Vqa  # noqa: E402
from ar_perception.runtime.harness import NodeHarness  # noqa: E402
from ar_perception.sim import SimSource  # noqa: E402
from ar_perception.voice import answer, scene_facts, transcribe  # noqa: E402

OBJECT_CLASSES = ("table", "chair", "box", "ball", "shelf", "lamp", "plant", "person")
FIRST_OBJECT_INSTANCE = 7  # instance ids below are the room itself (sim.scene)
MIN_AREA = 0.005  # an object must cover this share of the image to be asked about
NUMBER = re.compile(r"(\d+(?:\.\d+)?)")


@dataclass
class Question:
    form: str
    text: str
    truth: Any  # by form: exists bool, nearest a class, distance metres, left a list of classes
    seed: int
    time_s: float


def ground_truth(f) -> list[dict]:
    """Visible objects from the instance mask: class, share of the image, median depth, bearing (degrees)."""
    out = []
    fx, cx = f.intrinsics["fx"], f.intrinsics["cx"]
    for iid in np.unique(f.instances):
        if iid < FIRST_OBJECT_INSTANCE:
            continue
        sel = f.instances == iid
        cls = f.class_names[int(np.bincount(f.labels[sel]).argmax())]
        ys, xs = np.nonzero(sel)
        out.append(
            {
                "class": cls,
                "area": float(sel.mean()),
                "distance": float(np.median(f.depth[sel])),
                "bearing": float(np.degrees(np.arctan2(np.median(xs) - cx, fx))),
            }
        )
    return out


def questions_for(f, seed: int, t: float, rng: np.random.Generator) -> list[Question]:
    objs = ground_truth(f)
    big = [o for o in objs if o["area"] >= MIN_AREA]
    present = {o["class"] for o in objs}
    qs: list[Question] = []
    if big:
        c = rng.choice(sorted({o["class"] for o in big}))
        qs.append(Question("exists", f"is there a {c}", True, seed, t))
    absent = [c for c in OBJECT_CLASSES if c not in present]
    if absent:
        c = rng.choice(absent)
        qs.append(Question("exists", f"is there a {c}", False, seed, t))
    near = sorted(big, key=lambda o: o["distance"])
    if near and (
        len(near) == 1 or near[1]["class"] == near[0]["class"] or near[1]["distance"] > 1.1 * near[0]["distance"]
    ):  # only when the nearest is clear
        qs.append(Question("nearest", "what is nearest", near[0]["class"], seed, t))
    single = [o for o in big if sum(p["class"] == o["class"] for p in objs) == 1]
    if single:
        o = single[rng.integers(len(single))]
        qs.append(Question("distance", f"how far is the {o['class']}", o["distance"], seed, t))
        ref = single[rng.integers(len(single))]
        left = {p["class"] for p in big if p["bearing"] < ref["bearing"] - 3 and p["class"] != ref["class"]}
        if left:
            qs.append(Question("left", f"what is left of the {ref['class']}", sorted(left), seed, t))
    return qs


def classes_in(text: str) -> list[str]:
    t = text.lower()
    hits = [(m.start(), c) for c in OBJECT_CLASSES for m in [re.search(rf"\b{c}(e?s)?\b", t)] if m]
    return [c for _, c in sorted(hits)]


def correct(q: Question, text: str) -> bool:
    t = text.strip().lower()
    if q.form == "exists":
        says_no = t.startswith("no") or bool(re.search(r"\b(no|not|isn't|aren't)\b", t))
        return (not says_no) if q.truth else says_no
    if q.form == "nearest":
        found = classes_in(t)
        return bool(found) and found[0] == q.truth
    if q.form == "distance":
        m = NUMBER.search(t)
        return m is not None and abs(float(m.group(1)) - q.truth) <= 0.25 * q.truth
    if q.form == "left":
        found = [c for c in classes_in(t) if c != q.text.rsplit(" ", 1)[-1]]
        return bool(found) and found[0] in q.truth
    raise ValueError(q.form)


def speak(text: str, folder: Path, i: int) -> Path:
    path = folder / f"q{i}.wav"
    subprocess.run(["espeak-ng", "-v", "en-us", "-s", "150", "-w", str(path), text], check=True)
    return path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scenes", type=int, default=12, help="simulated rooms (seeds 1000, 1001, ...)")
    ap.add_argument("--frames", type=int, default=2, help="moments per room")
    ap.add_argument("--typed-only", action="store_true", help="skip speech (the facts + LLM part only)")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("-v", "--verbose", action="store_true", help="print every question and answer")
    args = ap.parse_args()
    if not args.typed_only and shutil.which("espeak-ng") is None:
        sys.exit("espeak-ng is not installed: sudo apt-get install espeak-ng")

    rng = np.random.default_rng(0)
    vqa = NodeHarness(Vqa, {}, node_id="vqa")
    speech = None if args.typed_only else NodeHarness(Speech, {}, node_id="speech")
    rows: list[dict[str, Any]] = []
    t0 = time.monotonic()
    with tempfile.TemporaryDirectory() as tmp:
        for k in range(args.scenes):
            seed = 1000 + k
            src = SimSource(seed, (320, 240), "room", "orbit")
            for j in range(args.frames):
                t = float(j * 4.0)
                f = src.frame_at(t)
                facts = scene_facts(f.labels, f.depth, f.class_names, f.intrinsics)
                for q in questions_for(f, seed, t, rng):
                    row = {"form": q.form, "question": q.text, "truth": q.truth, "seed": seed, "t": t}
                    typed = answer(vqa, q.text[0].upper() + q.text[1:] + "?", facts)
                    row["typed_answer"], row["typed_ok"] = typed["text"], correct(q, typed["text"])
                    if speech is not None:
                        heard = " ".join(
                            m.meta["text"] for m in transcribe(speak(q.text, Path(tmp), len(rows)), speech)
                        )
                        spoken = answer(vqa, heard, facts) if heard else {"text": ""}
                        row.update(heard=heard, answer=spoken["text"], ok=correct(q, spoken["text"]))
                    rows.append(row)
                    if args.verbose:
                        print(json.dumps(row), flush=True)
    took = time.monotonic() - t0

    def acc(key: str, form: str | None = None) -> tuple[int, int]:
        sel = [r for r in rows if form is None or r["form"] == form]
        return sum(bool(r.get(key)) for r in sel), len(sel)

    forms = ["exists", "nearest", "distance", "left"]
    summary: dict[str, Any] = {
        "questions": len(rows),
        "seconds": round(took, 1),
        "machine": f"{os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}",
        "typed": {},
        "spoken": {},
    }
    for key, name in (("typed_ok", "typed"), ("ok", "spoken")):
        if name == "spoken" and speech is None:
            continue
        for form in forms + [None]:
            ok, n = acc(key, form)
            summary[name][form or "all"] = {"correct": ok, "asked": n, "accuracy": round(ok / n, 3) if n else None}
    if args.json:
        print(json.dumps({"summary": summary, "rows": rows}))
        return
    print(
        f"scene QA over {args.scenes} simulated rooms x {args.frames} moments: {len(rows)} questions "
        f"({summary['machine']}, {took:.0f} s)"
    )
    print(
        "offline defaults: whisper tiny.en (packaged), SmolLM2-135M-Instruct Q4_1 (packaged); "
        + ("" if speech is None else "questions spoken by espeak-ng en-us 150 wpm; ")
        + "scene from ground-truth labels + depth"
    )
    print(f"{'form':<10}{'typed':>16}{'spoken (whole loop)':>24}")
    for form in forms + [None]:
        cells = []
        for name in ("typed", "spoken"):
            s = summary[name].get(form or "all")
            cells.append(f"{s['correct']}/{s['asked']} = {100 * s['accuracy']:.0f}%" if s and s["asked"] else "-")
        print(f"{form or 'all':<10}{cells[0]:>16}{cells[1]:>24}")
    wrong = [r for r in rows if speech is not None and not r["ok"]]
    if wrong:
        print("\nwrong answers (spoken):")
        for r in wrong:
            print(
                f"  [{r['form']}] asked '{r['question']}', heard '{r['heard']}', answered '{r['answer']}' "
                f"(truth: {r['truth'] if not isinstance(r['truth'], float) else round(r['truth'], 2)})"
            )


if __name__ == "__main__":
    main()
