"""int8 copies of ONNX encoders by onnxruntime's quantisation (the encoder's `precision: int8` / `int8-static`).

Both quantise only the MatMuls that multiply by a weight, the weights per output channel (int8):
- `dynamic` (`precision: int8`): each MatMul's input is quantised (uint8, per tensor) on every call from its own
  range. Nothing to calibrate.
- `static` (`precision: int8-static`), QDQ format: the input ranges are calibrated once on simulated rooms from
  the tuning seeds (never the seeds benchmarks report on).
The MatMuls of two activations (attention's query x key and weights x value) stay fp32: quantised statically
they made onnxruntime run the softmax between them in uint8 (QLinearSoftmax, 4x the fp32 softmax's time) and
cost most of the token cosine lost: `benchmarks/int8.py` on a 2-core Zen 4 (ViT-S/14 stand-in), static with them
(the code before this choice, one run) 1.64x fp32 at token cosine min 0.83, without them 1.93x at 0.97.
`benchmarks/int8.py` measures speed and quality of both against fp32 (README "The encoder: EUPE").
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Literal

import numpy as np

from ar_perception.errors import ModelError
from ar_perception.models.derived import derived_path, drop_stale

__all__ = [
    "int8_copy",
    "int8_mode",
    "quantise",
    "calibration_frames",
    "CALIBRATION_SEED",
    "CALIBRATION_ROOMS",
    "INT8_VERSION",
    "Precision",
]

Mode = Literal["static", "dynamic"]
Precision = Literal["fp32", "int8", "int8-static"]  # the encoder's `precision`
CALIBRATION_SEED = 3000  # the tuning family of sim seeds (benchmarks report on others)
CALIBRATION_ROOMS = 8  # rooms, two frames each
QUANTISED_OPS = ["MatMul"]
INT8_VERSION = "int8-v2"  # what the copies hold: v2 = weight MatMuls only (v1 also quantised attention's)


def int8_mode(precision: Precision) -> Mode | None:
    """How `precision` quantises: None for fp32."""
    return {"int8": "dynamic", "int8-static": "static"}.get(precision)  # type: ignore[return-value]


def calibration_frames(size: tuple[int, int], rooms: int = CALIBRATION_ROOMS) -> Iterator[np.ndarray]:
    """(1, 3, H, W) float32 encoder inputs (ImageNet-normalised) of simulated rooms, two frames per room."""
    from ar_perception.models.preprocess import preprocess
    from ar_perception.sim import SimSource
    from ar_perception.sim.dataset import scene_seed

    for i in range(rooms):
        source = SimSource(scene_seed(CALIBRATION_SEED, i), size=(320, 240))
        for index in (0, 7):
            yield preprocess(source.frame(index).image, size=size)  # (H, W, 3) uint8 -> (1, 3, h, w)


def int8_copy(src: Path, input_name: str, size: tuple[int, int], cache: Path, mode: Mode = "dynamic") -> Path:
    """A cached int8 copy of `src` (named by its path, size and time, the mode, the input size, the calibration
    and the onnxruntime version: `models/derived.py`); made once, in seconds to a minute for a ViT-S."""
    import onnxruntime as ort

    calibration = f"{CALIBRATION_SEED}x{CALIBRATION_ROOMS}|{','.join(QUANTISED_OPS)}|u8s8-per-channel"
    params = f"{input_name}|{size[0]}x{size[1]}|{calibration}"  # as before: a new version replaces the old copy
    dst = derived_path(src, f"int8-{mode}", cache, params=params, versions=f"{ort.__version__}|{INT8_VERSION}")
    if dst.is_file():
        return dst
    cache.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=cache, suffix=".onnx.tmp")
    os.close(fd)
    try:
        quantise(src, Path(tmp), input_name, size, mode)
        os.chmod(tmp, 0o644)
        os.replace(tmp, dst)  # atomic: concurrent processes never see a half-written file
        drop_stale(dst)  # copies for an older version of the source
    except Exception as e:  # onnxruntime.quantization's own errors
        Path(tmp).unlink(missing_ok=True)
        if isinstance(e, ModelError):
            raise
        raise ModelError(f"{src}: cannot quantise to int8 ({mode}): {type(e).__name__}: {e}") from None
    return dst


def quantise(src: Path, dst: Path, input_name: str, size: tuple[int, int], mode: Mode) -> None:
    """Write the int8 copy of `src` (`mode` as above) to `dst`; `int8_copy` caches it, `arp export --int8` keeps it."""
    from onnxruntime.quantization import (
        CalibrationDataReader,
        QuantFormat,
        QuantType,
        quantize_dynamic,
        quantize_static,
    )

    with tempfile.TemporaryDirectory(prefix="arp-int8-") as tmp:  # the system's: a named copy, only where needed
        src, keep_fp32 = _named(src, Path(tmp))
        if mode == "dynamic":  # (its default, MatMulConstBOnly, leaves those MatMuls fp32 as well)
            quantize_dynamic(
                src,
                dst,
                weight_type=QuantType.QInt8,
                per_channel=True,
                op_types_to_quantize=QUANTISED_OPS,
                nodes_to_exclude=keep_fp32,
            )
            return

        class Frames(CalibrationDataReader):
            def __init__(self) -> None:
                self.frames = calibration_frames(size)

            def get_next(self) -> dict[str, np.ndarray] | None:
                x = next(self.frames, None)
                return None if x is None else {input_name: x}

        quantize_static(
            src,
            dst,
            Frames(),
            quant_format=QuantFormat.QDQ,
            per_channel=True,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
            op_types_to_quantize=QUANTISED_OPS,
            nodes_to_exclude=keep_fp32,
        )


def _named(src: Path, tmp: Path) -> tuple[Path, list[str]]:
    """`src` (or, where some nodes have no name, a copy in `tmp` with every node named: onnxruntime excludes nodes
    by name) and the names of its MatMuls of two activations (attention's query x key, weights x value), which stay
    fp32. A weight is any tensor computed from constants alone (an initializer, through a Transpose, ...)."""
    import onnx

    model = onnx.load(str(src))
    graph = model.graph
    constant = {i.name for i in graph.initializer}
    for n in graph.node:  # topological order: what is computed from constants alone is constant
        if n.op_type == "Constant" or (n.input and all(i in constant for i in n.input if i)):
            constant.update(n.output)
    unnamed = [n for n in graph.node if not n.name]
    taken = {n.name for n in graph.node}
    k = 0
    for n in unnamed:
        while f"arp_{k}" in taken:
            k += 1
        n.name = f"arp_{k}"
        taken.add(n.name)
    keep = [n.name for n in graph.node if n.op_type in QUANTISED_OPS and not constant.intersection(n.input)]
    if not unnamed:
        return src, keep
    named = tmp / src.name
    onnx.save(model, str(named))
    return named, keep
