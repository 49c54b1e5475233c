"""int8 copies of ONNX encoders by onnxruntime's quantisation (the encoder's `precision: int8`).

Static quantisation, QDQ format: the weights of every MatMul per output channel (int8), its input
activations per tensor (uint8) with ranges calibrated on simulated rooms from the tuning seeds (never the
seeds benchmarks report on). Only MatMuls: quantising every op of the ViT-S/14 stand-in as well (Softmax,
Add, ...) lowered its token cosine to fp32 from 0.998 to 0.989 and made it no faster, on a 2-core EPYC
with AVX2 and no VNNI. `benchmarks/int8.py` measures speed and quality against fp32; on that machine int8 is
not the default (README "The encoder: EUPE").
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

__all__ = ["int8_copy", "calibration_frames", "CALIBRATION_SEED", "CALIBRATION_ROOMS"]

Mode = Literal["static", "dynamic"]
CALIBRATION_SEED = 3000  # the tuning family of sim seeds (benchmarks report on others)
CALIBRATION_ROOMS = 8  # rooms, two frames each
QUANTISED_OPS = ["MatMul"]


def calibration_frames(size: tuple[int, int], rooms: int = CALIBRATION_ROOMS) -> Iterator[np.ndarray]:
    """(1, 3, H, W) float32 encoder inputs (ImageNet-normalised) of simulated rooms, two frames per room."""
    from ar_perception.models.preprocess import preprocess
    from ar_perception.sim import SimSource
    from ar_perception.sim.dataset import scene_seed

    for i in range(rooms):
        source = SimSource(scene_seed(CALIBRATION_SEED, i), size=(320, 240))
        for index in (0, 7):
            yield preprocess(source.frame(index).image, size=size)  # (H, W, 3) uint8 -> (1, 3, h, w)


def int8_copy(src: Path, input_name: str, size: tuple[int, int], cache: Path, mode: Mode = "static") -> Path:
    """A cached int8 copy of `src` (named by its path, size and time, the mode, the input size, the calibration
    and the onnxruntime version: `models/derived.py`); made once, in seconds to a minute for a ViT-S."""
    import onnxruntime as ort

    calibration = f"{CALIBRATION_SEED}x{CALIBRATION_ROOMS}|{','.join(QUANTISED_OPS)}|u8s8-per-channel"
    params = f"{input_name}|{size[0]}x{size[1]}|{calibration}"
    dst = derived_path(src, f"int8-{mode}", cache, params=params, versions=f"{ort.__version__}|int8-v1")
    if dst.is_file():
        return dst
    cache.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=cache, suffix=".onnx.tmp")
    os.close(fd)
    try:
        _quantise(src, Path(tmp), input_name, size, mode)
        os.chmod(tmp, 0o644)
        os.replace(tmp, dst)  # atomic: concurrent processes never see a half-written file
        drop_stale(dst)  # copies for an older version of the source
    except Exception as e:  # onnxruntime.quantization's own errors
        Path(tmp).unlink(missing_ok=True)
        if isinstance(e, ModelError):
            raise
        raise ModelError(f"{src}: cannot quantise to int8 ({mode}): {type(e).__name__}: {e}") from None
    return dst


def _quantise(src: Path, dst: Path, input_name: str, size: tuple[int, int], mode: Mode) -> None:
    from onnxruntime.quantization import (
        CalibrationDataReader,
        QuantFormat,
        QuantType,
        quantize_dynamic,
        quantize_static,
    )

    if mode == "dynamic":
        quantize_dynamic(src, dst, weight_type=QuantType.QInt8, per_channel=True, op_types_to_quantize=QUANTISED_OPS)
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
    )
