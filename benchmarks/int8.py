"""The int8 encoders (`precision: int8` and `int8-static`, models/onnx_int8.py) against fp32 onnxruntime.

Usage: python benchmarks/int8.py [--json] [--rooms 20] [--frames 5]

Speed: one frame, batch 1, 2 threads, the fp32, int8 (dynamic) and int8-static sessions (and, for the stand-in, the
fp32 file as packaged, without the folding of models/onnx_fold.py) alternating in blocks (load that changes during
the run falls on all), p50 of each and the ratio fp32 / int8 (target >= 1.7x at equal quality). int8 speed depends
on the CPU's int8 instructions (AVX-512 VNNI or AVX-VNNI, else AVX2's slower sequence): the output names them.
For the offline stand-in (dinov2-vit-s14 at 224x224, fp32 with its shape-only tensors folded, as the encoder node
runs it) and an EUPE ViT-S/16 export at 224 (random weights: speed only; EUPE weights cannot be fetched here).

Quality, stand-in: the shipped segmentation and depth heads (trained on fp32 features) evaluated with `arp eval`'s
code (`commands.vision.evaluate`) on fresh simulated rooms (seed 7900, never used in training, in calibration or
for tuning: the fresh-seed protocol of README "Segmentation, depth and point clouds"; seed 7777, reported before,
was looked at while choosing how to quantise, so it is no longer fresh), once with fp32 features and
once with each int8 precision's features: mIoU and AbsRel and their change (int8 may be the default only where
mIoU drops <= 0.01 and AbsRel rises <= 0.01). Token cosine int8 vs fp32 on the same frames (mean and minimum over
patch tokens). The int8-static copy is calibrated on rooms of the tuning seeds (3000 family).
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import sys
import tempfile
from collections.abc import Callable
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

FRESH_SEED = 7900  # 7777 was looked at while choosing the quantisation (2026-12-04)
TARGET_SPEEDUP = 1.7
QUALITY_MARGIN = 0.01


def _cosine(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a, b = a.reshape(-1, a.shape[-1]), b.reshape(-1, b.shape[-1])
    return (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1) + 1e-12)


PRECISIONS = ("int8", "int8-static")  # dynamic, static (models/onnx_int8.py)


def speed_and_cosine(spec: dict[str, Any], frames: list[np.ndarray]) -> dict[str, Any]:
    """fp32 vs each int8 precision of one encoder spec: paired p50 of the model call, token cosine on `frames` (RGB).
    No cosine for random weights: at initialisation EUPE's blocks barely change the tokens (LayerScale), so int8's
    error in them does not show (measured: cosine 1.0000)."""
    import torch

    encoders = {}
    for precision in ("fp32", *PRECISIONS):
        torch.manual_seed(0)  # random-weight EUPE: the same weights in each
        encoders[precision] = build_encoder({**spec, "precision": precision})
    fp32 = encoders["fp32"]
    size = fp32.input_size_for(*frames[0].shape[:2])
    x = preprocess(frames[0], size=size)
    runners = [e.runner if hasattr(e, "runner") else e._session(size) for e in encoders.values()]  # type: ignore[attr-defined]
    fns: list[Callable[[], Any]] = [functools.partial(r, x) for r in runners]
    if spec["model"] == STANDIN.name:  # the file as packaged: position embeddings interpolated on every frame
        unfolded = standin_encoder(spec.get("threads"), fold=False)
        fns.append(lambda: unfolded(x))
    n = 33  # timed calls of each, in alternating blocks of 4 (the first call of a block untimed)
    p50s = paired_p50_ms(fns, min_runs=n, max_runs=n, budget_s=0.0)
    random = spec.get("weights", "auto") is None
    ref = None if random else [fp32(f)["patches"] for f in frames]
    rows = {}
    for precision, p50 in zip(PRECISIONS, p50s[1 : 1 + len(PRECISIONS)], strict=True):
        cos = (
            None
            if ref is None
            else np.concatenate(
                [_cosine(r, encoders[precision](f)["patches"]) for r, f in zip(ref, frames, strict=True)]
            )
        )
        rows[precision] = {
            "p50_ms": round(p50, 1),
            "speedup": round(p50s[0] / p50, 2),
            "token_cosine_mean": None if cos is None else round(float(cos.mean()), 4),
            "token_cosine_min": None if cos is None else round(float(cos.min()), 4),
        }
    return {
        "encoder": fp32.name,
        "input": list(size),
        "fp32_unfolded_p50_ms": round(p50s[-1], 1) if len(p50s) > 1 + len(PRECISIONS) else None,
        "fp32_p50_ms": round(p50s[0], 1),
        "int8": rows,
    }


def quality(rooms: int, frames: int) -> dict[str, Any]:
    """The shipped heads on fresh rooms, with fp32 and with each int8 precision's stand-in features (arp eval's
    code)."""
    from ar_perception.commands.vision import evaluate

    out: dict[str, Any] = {"data": f"fresh seed {FRESH_SEED}, {rooms} rooms x {frames} frames, 320x240"}
    with tempfile.TemporaryDirectory(prefix="arp-int8-") as tmp:
        data = write_dataset(Path(tmp) / "fresh", rooms, frames, seed=FRESH_SEED, progress=False)
        for precision in ("fp32", *PRECISIONS):
            enc = f"dinov2-vit-s14,precision={precision}"
            cache = Path(tmp) / f"features-{precision}"
            seg = evaluate("seg", data, encoder=enc, split="all", cache_dir=cache, progress=False)
            depth = evaluate("depth", data, encoder=enc, split="all", cache_dir=cache, progress=False)
            out[precision] = {"miou": round(seg["miou"], 4), "absrel": round(depth["absrel"], 4)}
    for precision in PRECISIONS:
        q = out[precision]
        q["miou_drop"] = round(out["fp32"]["miou"] - q["miou"], 4)
        q["absrel_rise"] = round(q["absrel"] - out["fp32"]["absrel"], 4)
        q["within_margin"] = q["miou_drop"] <= QUALITY_MARGIN and q["absrel_rise"] <= QUALITY_MARGIN
    return out


def cpu_int8() -> str:
    """The CPU's int8 dot-product instructions, as /proc/cpuinfo names them (what int8 speed depends on)."""
    try:
        flags = next(ln for ln in Path("/proc/cpuinfo").read_text().splitlines() if ln.startswith("flags")).split()
    except (OSError, StopIteration):
        return "unknown"
    have = [f for f in ("avx2", "avx512_vnni", "avx_vnni", "amx_int8") if f in flags]
    return ", ".join(have) + ("" if {"avx512_vnni", "avx_vnni"} & set(have) else " (no VNNI)")


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
        "cpu_int8": cpu_int8(),
        "load": f"{load0:.1f} -> {os.getloadavg()[0]:.1f}",
        "speed": rows,
        "quality": q,
    }


def render(r: dict[str, Any]) -> str:
    lines = [
        f"int8 vs fp32 encoder (onnxruntime, 2 threads) on {r['machine']}; torch fp32 matmul peak "
        f"{r['matmul_peak_gflops']} GFLOP/s; int8 instructions: {r.get('cpu_int8', '?')}; 1-min load {r['load']}",
        "",
        "encoder          input     precision    fp32 p50 ms  int8 p50 ms  speedup  token cosine mean / min",
    ]
    for s in r["speed"]:
        for precision, row in s["int8"].items():
            cos = (
                "- (random weights)"
                if row["token_cosine_mean"] is None
                else (f"{row['token_cosine_mean']} / {row['token_cosine_min']}")
            )
            lines.append(
                f"{s['encoder']:<15}  {s['input'][0]}x{s['input'][1]:<5}  {precision:<11}  {s['fp32_p50_ms']:>11}  "
                f"{row['p50_ms']:>11}  {row['speedup']:>6}x  {cos}"
            )
    for s in r["speed"]:
        if s["fp32_unfolded_p50_ms"] is not None:
            lines.append(
                f"{s['encoder']}, fp32 as packaged (shape-only tensors not folded): {s['fp32_unfolded_p50_ms']} ms; "
                f"folded {s['fp32_p50_ms']} ms ({s['fp32_unfolded_p50_ms'] / s['fp32_p50_ms']:.2f}x)"
            )
    q = r["quality"]
    lines += [
        "",
        f"shipped heads with stand-in features, {q['data']}:",
        f"  fp32: mIoU {q['fp32']['miou']}, AbsRel {q['fp32']['absrel']}",
    ]
    for precision in PRECISIONS:
        p = q[precision]
        lines.append(
            f"  {precision}: mIoU {p['miou']}, AbsRel {p['absrel']}  (mIoU change {-p['miou_drop']:+.4f}, "
            f"AbsRel change {p['absrel_rise']:+.4f}; within {QUALITY_MARGIN}: {'yes' if p['within_margin'] else 'NO'})"
        )
    for precision in PRECISIONS:
        speedup = r["speed"][0]["int8"][precision]["speedup"]
        met = speedup >= TARGET_SPEEDUP and q[precision]["within_margin"]
        lines.append(
            f"target >= {TARGET_SPEEDUP}x at equal quality, {precision}: {'met' if met else 'NOT met'} "
            f"(stand-in {speedup}x)"
        )
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
