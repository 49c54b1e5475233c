"""Train the default segmentation and depth heads for the offline default encoder, on simulated rooms.

Usage: python scripts/train_default_heads.py [--work DIR] [--out DIR] [--quick]

Runs, through the real `arp` command line:
  1. arp sim-dataset: the training rooms (the last tenth of them held out as the "val" split);
  2. arp train-head seg / depth on them, with the offline stand-in encoder (dinov2-vit-s14);
  3. arp sim-dataset again with another seed: fresh rooms that training never saw, and
     arp eval seg / depth on them (at 320x240, every pixel with a label or a depth);
then writes ar_perception/assets/heads/{seg,depth}_default.safetensors, heads.json (every command, seed,
data size, metric and timing) and README.md. The work folder keeps the datasets and the feature cache,
so an interrupted run resumes where it stopped.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
ASSETS = REPO / "ar_perception" / "assets" / "heads"
ENCODER = "dinov2-vit-s14"
# fp32 features: the heads were trained and measured on them (the stand-in's default, auto, is int8 since; README
# "The encoder: EUPE" measures the heads on int8 features)
ENCODER_SPEC = f"{ENCODER},precision=fp32"
SIZE = "320x240"
BAR = {"miou": 0.5, "absrel": 0.2}


def arp(args: list[str], env: dict[str, str], capture: bool = False) -> tuple[str, str, float]:
    """Run `arp ARGS` (as python -m ar_perception.cli); returns (the command as typed, its stdout, seconds)."""
    shown = "arp " + " ".join(shlex.quote(a) for a in args)
    print(f"$ {shown}", flush=True)
    t0 = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "ar_perception.cli", *args],
        env=env,
        cwd=REPO,
        check=False,
        stdout=subprocess.PIPE if capture else None,
        text=True,
    )
    if done.returncode != 0:
        raise SystemExit(f"failed ({done.returncode}): {shown}")
    return shown, done.stdout or "", round(time.perf_counter() - t0, 1)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--work", type=Path, default=Path("/tmp/arp-default-heads"), help="datasets + feature cache")
    ap.add_argument("--out", type=Path, default=ASSETS, help="where the heads, heads.json and README.md go")
    ap.add_argument("--scenes", type=int, default=150)
    ap.add_argument("--frames", type=int, default=6)
    ap.add_argument("--seed", type=int, default=2024, help="training dataset seed")
    ap.add_argument("--fresh-scenes", type=int, default=20)
    ap.add_argument("--fresh-frames", type=int, default=5)
    ap.add_argument("--fresh-seed", type=int, default=7777, help="seed of the rooms the heads never saw")
    ap.add_argument("--seg-epochs", type=int, default=40)
    ap.add_argument("--depth-epochs", type=int, default=30)
    ap.add_argument("--quick", action="store_true", help="a tiny run to check the script (heads not for shipping)")
    ap.add_argument("--readme-only", action="store_true", help="rewrite README.md from heads.json, train nothing")
    a = ap.parse_args()
    if a.readme_only:
        (a.out / "README.md").write_text(readme(json.loads((a.out / "heads.json").read_text())))
        return
    if a.quick:
        a.scenes, a.frames, a.fresh_scenes, a.fresh_frames, a.seg_epochs, a.depth_epochs = 4, 2, 2, 2, 2, 2
    env = {**os.environ, "ARP_CACHE": str(a.work / "cache"), "HF_HUB_OFFLINE": "1"}
    train_dir, fresh_dir = a.work / f"sim-train-{a.seed}-{a.scenes}x{a.frames}", a.work / f"sim-fresh-{a.fresh_seed}"
    a.out.mkdir(parents=True, exist_ok=True)
    record: dict[str, Any] = {"encoder": ENCODER, "size": SIZE, "steps": []}
    t_start = time.perf_counter()

    def step(args: list[str], capture: bool = False) -> str:
        cmd, out, secs = arp(args, env, capture)
        record["steps"].append({"command": cmd, "seconds": secs})
        return out

    for folder, scenes, frames, seed, val in (
        (train_dir, a.scenes, a.frames, a.seed, "0.1"),
        (fresh_dir, a.fresh_scenes, a.fresh_frames, a.fresh_seed, "0"),
    ):
        if not (folder / "meta.json").is_file():  # written last: a folder without it is incomplete
            step(
                [
                    "sim-dataset",
                    "--scenes",
                    str(scenes),
                    "--frames",
                    str(frames),
                    "--seed",
                    str(seed),
                    "--size",
                    SIZE,
                    "--val-fraction",
                    val,
                    "--overwrite",
                    "-o",
                    str(folder),
                ]
            )
    heads = {}
    for task, epochs in (("seg", a.seg_epochs), ("depth", a.depth_epochs)):
        path = a.out / f"{task}_default.safetensors"
        report = json.loads(
            step(
                [
                    "train-head",
                    task,
                    "--data",
                    str(train_dir),
                    "--encoder",
                    ENCODER_SPEC,
                    "--epochs",
                    str(epochs),
                    "--seed",
                    "0",
                    "-o",
                    str(path),
                    "--json",
                ],
                capture=True,
            )
        )
        evaluate = ["eval", task, "--data", str(fresh_dir), "--head", str(path), "--encoder", ENCODER_SPEC, "--json"]
        fresh = json.loads(step(evaluate, capture=True))
        heads[task] = {
            "file": path.name,
            "bytes": path.stat().st_size,
            "train_report": report,
            "fresh_rooms_metrics": fresh,
        }
    record["heads"] = heads
    splits = json.loads((train_dir / "meta.json").read_text())["splits"]
    record["data"] = {
        "train": {
            "seed": a.seed,
            "rooms": a.scenes,
            "frames_per_room": a.frames,
            "split": {k: len(v) for k, v in splits.items()},
        },
        "fresh": {"seed": a.fresh_seed, "rooms": a.fresh_scenes, "frames_per_room": a.fresh_frames},
    }
    record["machine"] = f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    record["total_seconds"] = round(time.perf_counter() - t_start, 1)
    record["quick"] = a.quick
    (a.out / "heads.json").write_text(json.dumps(record, indent=1, default=str) + "\n")
    (a.out / "README.md").write_text(readme(record))
    s, d = heads["seg"]["fresh_rooms_metrics"], heads["depth"]["fresh_rooms_metrics"]
    print(
        f"fresh rooms: mIoU {s['miou']:.3f} (bar {BAR['miou']}), pixel acc {s['pixel_acc']:.3f}; "
        f"depth AbsRel {d['absrel']:.3f} (bar {BAR['absrel']}), RMSE {d['rmse']:.3f} m, delta1 {d['delta1']:.3f}"
    )


def _row(task: str, label: str, m: dict[str, Any]) -> str:
    keys = ("miou", "pixel_acc") if task == "seg" else ("rmse", "absrel", "delta1")
    cells = {k: f"{m[k]:.3f}" if k in m else "-" for k in keys}
    ordered = [cells.get(k, "") for k in ("miou", "pixel_acc", "rmse", "absrel", "delta1")]
    return f"| {task} | {label} | " + " | ".join(ordered) + " |"


def readme(r: dict[str, Any]) -> str:
    seg, depth = r["heads"]["seg"], r["heads"]["depth"]
    sv, dv = seg["train_report"].get("val_metrics", {}), depth["train_report"].get("val_metrics", {})
    sf, df = seg["fresh_rooms_metrics"], depth["fresh_rooms_metrics"]
    tr, fr = r["data"]["train"], r["data"]["fresh"]
    per_class = "\n".join(f"| {k} | {v:.3f} |" for k, v in sf.get("per_class_iou", {}).items())
    cmds = "\n".join(s["command"] for s in r["steps"])
    quick = "\n**QUICK RUN: from `--quick`; these heads are not for shipping.**\n" if r.get("quick") else ""
    return f"""# Default heads for the offline default encoder

`seg_default.safetensors` and `depth_default.safetensors` are the linear heads (BatchNorm + 1x1 conv on the
final-norm patch tokens, EUPE/DINOv2 protocol; see ar_perception/models/heads.py) that the `segment` and
`depth` nodes load when no `head` is given. They read the features of `{r["encoder"]}`, the offline stand-in
encoder (a DINOv2 ViT-S/14, fixed 224x224 input, so a 16x16 patch grid). A head for a real EUPE encoder is
trained the same way with `--encoder eupe-vit-s` (or another name).
{quick}
Made by `python scripts/train_default_heads.py` ({r["total_seconds"]:.0f} s on {r["machine"]}), which ran:

```
{cmds}
```

- Training data: {tr["rooms"]} simulated rooms x {tr["frames_per_room"]} frames at {r["size"]}, dataset seed
  {tr["seed"]} (room i has seed `sim.dataset.scene_seed({tr["seed"]}, i)`); splits {tr["split"]} rooms
  (val = rooms never seen in training). Trajectories orbit, walk, handheld in turn. Seed 0 for training.
- Fresh rooms: {fr["rooms"]} rooms x {fr["frames_per_room"]} frames, dataset seed {fr["seed"]}, never used in
  training.
- Metrics at 320x240, on every labelled pixel (class 0 "background" = no surface, is not a label) or every
  pixel with depth in [0.001, 10] m; depth per image, then averaged (ar_perception/models/training/metrics.py).

| head | split | mIoU | pixel acc | RMSE (m) | AbsRel | delta<1.25 |
|---|---|---|---|---|---|---|
{_row("seg", f"held-out rooms (val, {sv.get('images', 0)} frames)", sv)}
{_row("seg", f"fresh seed {fr['seed']} ({sf['images']} frames)", sf)}
{_row("depth", f"held-out rooms (val, {dv.get('images', 0)} frames)", dv)}
{_row("depth", f"fresh seed {fr['seed']} ({df['images']} frames)", df)}

Quality bar (issue 4): mIoU >= {BAR["miou"]} and AbsRel <= {BAR["absrel"]} on fresh rooms at 320x240.

Per-class IoU on the fresh rooms (classes absent from both ground truth and prediction are not scored):

| class | IoU |
|---|---|
{per_class}

Everything above, with the loss curve ends and the exact configuration, is in `heads.json`; each head's
own metadata holds its training report too (`arp eval seg --data DIR` reproduces a metric).
"""


if __name__ == "__main__":
    main()
