"""The int8 encoder (`precision: int8`, models/onnx_int8.py) against fp32 onnxruntime: speed and quality.

Usage: python benchmarks/int8.py [--json] [--rooms 20] [--frames 5]

Speed: one frame, batch 1, 2 threads, the fp32 and int8 sessions (and, for the stand-in, the fp32 file as packaged,
without the folding of models/onnx_fold.py) alternating in blocks (load that changes during
the run falls on both), p50 of each and the ratio fp32 / int8 (target >= 1.7x at equal quality). For the offline
stand-in (dinov2-vit-s14 at 224x224, fp32 with its shape-only tensors folded, as the encoder node runs it) and an
EUPE ViT-S/16 export at 224 (random weights: speed only; EUPE weights cannot be fetched here).

Quality, stand-in: the shipped segmentation and depth heads (trained on fp32 features) evaluated with `arp eval`'s
code (`commands.vision.evaluate`) on fresh simulated rooms (seed 7777, never used in training, in calibration or
for tuning: the fresh-seed protocol of README "Segmentation, depth and point clouds"), once with fp32 features and
once with int8 features: mIoU and AbsRel and their change (int8 may be the default only where mIoU drops <= 0.01
and AbsRel rises <= 0.01). Token cosine int8 vs fp32 on the same frames (mean and minimum over patch tokens).
The int8 copy is calibrated on rooms of the tuning seeds (3000 family).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from encoder import matmul_peak_gflops, paired_p50_ms  # noqa: E402  (benchmarks/encoder.py)
from transport import machine  # noqa: E402  (benchmarks/transport.py)

from ar_perception.models.encoder import build_encoder  # noqa: E402
from ar_perception.models.preprocess import preprocess  # noqa: E402
from ar_perception.models.standin import STANDIN, standin_encoder  # noqa: E402
from ar_perception.sim import SimSource  # noqa: E402
from ar_perception.sim.dataset import scene_seed, write_dataset  # noqa: E402

FRESH_SEED = 7777
TARGET_SPEEDUP = 1.7
QUALITY_MARGIN = 0.01


def _cosine(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a, b = a.reshape(-1, a.shape[-1]), b.reshape(-1, b.shape[-1])
    return (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1) + 1e-12)


def speed_and_cosine(spec: dict[str, Any], frames: list[np.ndarray]) -> dict[str, Any]:
    """fp32 vs int8 of one encoder spec: paired p50 of the model call, token cosine on `frames` (RGB). Not for
    random weights: at initialisation EUPE's blocks barely change the tokens (LayerScale), so int8's error in them
    does not show (measured: cosine 1.0000)."""
    import torch

    torch.manual_seed(0)  # random-weight EUPE: the same weights in both
    fp32 = build_encoder({**spec, "precision": "fp32"})
    torch.manual_seed(0)
    int8 = build_encoder({**spec, "precision": "int8"})
    size = fp32.input_size_for(*frames[0].shape[:2])
    x = preprocess(frames[0], size=size)
    run32 = fp32.runner if hasattr(fp32, "runner") else fp32._session(size)  # type: ignore[attr-defined]
    run8 = int8.runner if hasattr(int8, "runner") else int8._session(size)  # type: ignore[attr-defined]
    fns = [lambda: run32(x), lambda: run8(x)]
    if spec["model"] == STANDIN.name:  # the file as packaged: position embeddings interpolated on every frame
        unfolded = standin_encoder(spec.get("threads"), fold=False)
        fns.append(lambda: unfolded(x))
    n = 33  # timed calls of each, in alternating blocks of 4 (the first call of a block untimed)
    p32, p8, *before = paired_p50_ms(fns, min_runs=n, max_runs=n, budget_s=0.0)
    random = spec.get("weights", "auto") is None
    cos = np.concatenate([_cosine(fp32(f)["patches"], int8(f)["patches"]) for f in frames]) if not random else None
    return {
        "encoder": fp32.name,
        "input": list(size),
        "fp32_unfolded_p50_ms": round(before[0], 1) if before else None,
        "fp32_p50_ms": round(p32, 1),
        "int8_p50_ms": round(p8, 1),
        "speedup": round(p32 / p8, 2),
        "token_cosine_mean": None if cos is None else round(float(cos.mean()), 4),
        "token_cosine_min": None if cos is None else round(float(cos.min()), 4),
    }


def quality(rooms: int, frames: int) -> dict[str, Any]:
    """The shipped heads on fresh rooms, with fp32 and with int8 stand-in features (arp eval's code)."""
    from ar_perception.commands.vision import evaluate

    out: dict[str, Any] = {"data": f"fresh seed {FRESH_SEED}, {rooms} rooms x {frames} frames, 320x240"}
    with tempfile.TemporaryDirectory(prefix="arp-int8-") as tmp:
        data = write_dataset(Path(tmp) / "fresh", rooms, frames, seed=FRESH_SEED, progress=False)
        for precision in ("fp32", "int8"):
            enc = f"dinov2-vit-s14,precision={precision}"
            cache = Path(tmp) / f"features-{precision}"
            seg = evaluate("seg", data, encoder=enc, split="all", cache_dir=cache, progress=False)
            depth = evaluate("depth", data, encoder=enc, split="all", cache_dir=cache, progress=False)
            out[precision] = {"miou": round(seg["miou"], 4), "absrel": round(depth["absrel"], 4)}
    out["miou_drop"] = round(out["fp32"]["miou"] - out["int8"]["miou"], 4)
    out["absrel_rise"] = round(out["int8"]["absrel"] - out["fp32"]["absrel"], 4)
    out["within_margin"] = out["miou_drop"] <= QUALITY_MARGIN and out["absrel_rise"] <= QUALITY_MARGIN
    return out


def run(rooms: int, frames: int) -> dict[str, Any]:
    load0 = os.getloadavg()[0]
    peak = matmul_peak_gflops(2)
    views = [SimSource(scene_seed(FRESH_SEED, i), size=(320, 240)).frame(2).image for i in range(8)]
    rows = [
        speed_and_cosine({"model": "dinov2-vit-s14", "threads": 2}, views),
        speed_and_cosine({"model": "eupe-vit-s", "weights": None, "resolution": 224, "threads": 2}, views),
    ]
    q = quality(rooms, frames)
    return {
        "machine": machine(),
        "matmul_peak_gflops": round(peak, 1),
        "load": f"{load0:.1f} -> {os.getloadavg()[0]:.1f}",
        "speed": rows,
        "quality": q,
    }


def render(r: dict[str, Any]) -> str:
    lines = [
        f"int8 vs fp32 encoder (onnxruntime, 2 threads) on {r['machine']}; torch fp32 matmul peak "
        f"{r['matmul_peak_gflops']} GFLOP/s; 1-min load {r['load']}",
        "",
        "encoder          input     fp32 p50 ms  int8 p50 ms  speedup  token cosine mean / min",
    ]
    for s in r["speed"]:
        lines.append(
            f"{s['encoder']:<15}  {s['input'][0]}x{s['input'][1]:<5}  {s['fp32_p50_ms']:>11}  {s['int8_p50_ms']:>11}  "
            f"{s['speedup']:>6}x  "
            + (
                "- (random weights)"
                if s["token_cosine_mean"] is None
                else f"{s['token_cosine_mean']} / {s['token_cosine_min']}"
            )
        )
    for s in r["speed"]:
        if s["fp32_unfolded_p50_ms"] is not None:
            lines.append(
                f"{s['encoder']}, fp32 as packaged (shape-only tensors not folded): {s['fp32_unfolded_p50_ms']} ms; "
                f"folded {s['fp32_p50_ms']} ms ({s['fp32_unfolded_p50_ms'] / s['fp32_p50_ms']:.2f}x)"
            )
    q = r["quality"]
    best = r["speed"][0]["speedup"]
    lines += [
        "",
        f"shipped heads with stand-in features, {q['data']}:",
        f"  fp32: mIoU {q['fp32']['miou']}, AbsRel {q['fp32']['absrel']}",
        f"  int8: mIoU {q['int8']['miou']}, AbsRel {q['int8']['absrel']}  (mIoU change {-q['miou_drop']:+.4f}, "
        f"AbsRel change {q['absrel_rise']:+.4f}; within {QUALITY_MARGIN}: {'yes' if q['within_margin'] else 'NO'})",
        f"target >= {TARGET_SPEEDUP}x at equal quality: "
        f"{'met' if best >= TARGET_SPEEDUP and q['within_margin'] else 'NOT met'} (stand-in {best}x)",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    ap.add_argument("--rooms", type=int, default=20)
    ap.add_argument("--frames", type=int, default=5)
    a = ap.parse_args(argv)
    result = run(a.rooms, a.frames)
    print(json.dumps(result) if a.json else render(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
