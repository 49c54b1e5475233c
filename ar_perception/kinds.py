"""Typed payload kinds: what each kind's arrays and metadata hold, documented once.

Every message carries a kind name. A kind fixes the names, dtypes and ranks of its arrays and the metadata
keys it must carry; `check` says what is wrong with a message of that kind, and `compatible` decides whether
an output of one kind may feed an input of another at graph validation time.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["ArraySpec", "Kind", "KINDS", "ANY", "check", "compatible", "kind_names"]

ANY = "Any"


@dataclass(frozen=True)
class ArraySpec:
    dtypes: tuple[str, ...]
    ndim: int
    last_dim: int | None = None
    required: bool = True
    nonempty: bool = False  # every axis must have at least one element (images, grids)


@dataclass(frozen=True)
class Kind:
    name: str
    doc: str
    arrays: dict[str, ArraySpec] = field(default_factory=dict)
    meta: tuple[str, ...] = ()


_F32 = ("float32",)
AUDIO_PEAK_LIMIT = 2.0  # |sample| above this is not [-1, 1] audio with some overshoot, but unscaled PCM
KINDS: dict[str, Kind] = {
    k.name: k
    for k in (
        Kind("Any", "Anything; accepted by and compatible with every kind."),
        Kind("Tick", "A timer tick (no arrays); `meta.tick` counts from 0."),
        Kind(
            "Image",
            "`data`: RGB uint8 (H, W, 3), H and W at least 1. Sources convert what devices and "
            "files give (gray, RGBA, BGR, 16-bit) to this.",
            {"data": ArraySpec(("uint8",), 3, 3, nonempty=True)},
        ),
        Kind(
            "Depth",
            "`data`: float32 (H, W) metres along the optical axis; 0, negative, NaN and inf = no depth.",
            {"data": ArraySpec(_F32, 2, nonempty=True)},
        ),
        Kind(
            "Mask",
            "`data`: class ids (H, W) uint8/int32; `meta.classes`: class names by id.",
            {"data": ArraySpec(("uint8", "int32", "int64", "uint16"), 2, nonempty=True)},
            ("classes",),
        ),
        Kind(
            "Features",
            "`cls`: (D,) float32 global token; `patches`: (h, w, D) float32 final-norm patch "
            "grid; optional `layer{i}` intermediate grids. `meta.encoder`, `meta.image_size` [W, H].",
            {"cls": ArraySpec(_F32, 1), "patches": ArraySpec(_F32, 3, nonempty=True)},
        ),
        Kind(
            "PointCloud",
            "`points`: (N, 3) float32 metres in `meta.frame`; optional `colors` (N, 3) uint8.",
            {"points": ArraySpec(_F32, 2, 3), "colors": ArraySpec(("uint8",), 2, 3, required=False)},
        ),
        Kind(
            "Audio",
            "`data`: mono float32 (N,) in [-1, 1], finite, N may be 0; `meta.sample_rate`: whole Hz. "
            "Overshoot up to +-2 (resampling) passes and consumers clip it; beyond is unscaled PCM, refused.",
            {"data": ArraySpec(_F32, 1)},
            ("sample_rate",),
        ),
        Kind(
            "Text", "`meta.text`: a string; optional `meta.start`, `meta.end` (s), `meta.confidence`.", meta=("text",)
        ),
        Kind(
            "Answer",
            "`meta.text`: the answer so far; `meta.done`, `meta.tokens_per_s`, `meta.latency_s`.",
            meta=("text",),
        ),
        Kind(
            "CameraInfo",
            "`meta`: fx, fy, cx, cy (pixels), width, height; optional `pose` (4, 4) float camera-to-world.",
            {"pose": ArraySpec(("float32", "float64"), 2, 4, required=False)},
            ("fx", "fy", "cx", "cy", "width", "height"),
        ),
    )
}


def kind_names() -> list[str]:
    return sorted(KINDS)


def compatible(out_kind: str, in_kind: str) -> bool:
    """Whether an output of `out_kind` may feed an input declared as `in_kind`."""
    return ANY in (out_kind, in_kind) or out_kind == in_kind


def check(kind_name: str, arrays: dict[str, np.ndarray], meta: dict[str, Any]) -> str | None:
    """What is wrong with a payload of this kind, or None when it is well formed."""
    kind = KINDS.get(kind_name)
    if kind is None:
        return f"unknown kind {kind_name!r} (expected one of {', '.join(kind_names())})"
    for name, spec in kind.arrays.items():
        a = arrays.get(name)
        if a is None:
            if spec.required:
                return f"{kind_name} needs array {name!r} (got arrays: {', '.join(arrays) or 'none'})"
            continue
        if str(a.dtype) not in spec.dtypes:
            return f"{kind_name}.{name} must be {'/'.join(spec.dtypes)} (got {a.dtype})"
        if a.ndim != spec.ndim or (spec.last_dim is not None and a.shape[-1] != spec.last_dim):
            want = f"{spec.ndim}-D" + (f" with last axis {spec.last_dim}" if spec.last_dim else "")
            return f"{kind_name}.{name} must be {want} (got shape {tuple(a.shape)})"
        if spec.nonempty and a.size == 0:
            return f"{kind_name}.{name} is empty (got shape {tuple(a.shape)})"
    missing = [k for k in kind.meta if k not in meta]
    if missing:
        return f"{kind_name} needs metadata {', '.join(missing)} (got: {', '.join(meta) or 'none'})"
    values = _VALUE_CHECKS.get(kind_name)
    return values(arrays, meta) if values is not None else None


def _number(v: Any) -> float | None:
    return float(v) if isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool) else None


def _whole(v: Any) -> bool:
    x = _number(v)
    return x is not None and math.isfinite(x) and x == int(x) and x >= 1


def _audio_values(arrays: dict[str, np.ndarray], meta: dict[str, Any]) -> str | None:
    if not _whole(meta["sample_rate"]):
        return f"Audio meta.sample_rate must be a positive whole number of Hz (got {meta['sample_rate']!r})"
    x = arrays["data"]
    if x.size == 0:
        return None
    peak = float(np.abs(x).max())
    if not math.isfinite(peak):
        bad = int(np.count_nonzero(~np.isfinite(x)))
        return f"Audio.data must be finite (got {bad} NaN/inf samples of {x.size})"
    if peak > AUDIO_PEAK_LIMIT:
        return f"Audio.data must be in [-1, 1] (got a peak of {peak:g}; integer PCM must be scaled, e.g. int16 / 32768)"
    return None


def _camera_values(arrays: dict[str, np.ndarray], meta: dict[str, Any]) -> str | None:
    for key in ("fx", "fy", "cx", "cy"):
        x = _number(meta[key])
        if x is None or not math.isfinite(x) or (key in ("fx", "fy") and x <= 0):
            want = "a positive number of pixels" if key in ("fx", "fy") else "a finite number of pixels"
            return f"CameraInfo meta.{key} must be {want} (got {meta[key]!r})"
    for key in ("width", "height"):
        if not _whole(meta[key]):
            return f"CameraInfo meta.{key} must be a positive whole number of pixels (got {meta[key]!r})"
    return None


_VALUE_CHECKS = {"Audio": _audio_values, "CameraInfo": _camera_values}
