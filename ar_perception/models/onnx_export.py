"""ONNX export of the EUPE encoders, with the int8 variant checked against fp32 (EUPE: arXiv 2603.22387).

`export_encoder` writes class token, patch tokens, storage tokens (and optionally normalised
intermediate maps) for one input size with a dynamic batch axis; `int8=True` adds dynamic int8
quantisation of the matrix multiplications and measures feature cosine similarity to fp32, running
both files with `models/onnx.py`'s `OnnxEncoder`.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ar_perception.errors import ModelError
from ar_perception.models.onnx import OnnxEncoder, require_vision

__all__ = ["ExportReport", "export_encoder"]

OPSET = 17


@dataclass(frozen=True)
class ExportReport:
    path: Path
    input_size: tuple[int, int]  # (H, W)
    outputs: tuple[str, ...]
    int8: bool
    cosine_cls: float | None = None  # int8 vs fp32, on a fixed smooth test image
    cosine_patches: float | None = None  # mean over patch tokens


def _as_hw(resolution: int | Sequence[int]) -> tuple[int, int]:
    if isinstance(resolution, int):
        return resolution, resolution
    H, W = resolution
    return int(H), int(W)


def export_encoder(
    model,
    path: str | Path,
    resolution: int | Sequence[int],
    int8: bool = False,
    intermediate: Sequence[int] = (),
    opset: int = OPSET,
) -> ExportReport:
    """Export an EUPE model for input (B, 3, H, W); resolution is H = W or (H, W), multiples of the stride.

    Outputs: `cls` (B, D), `patch_tokens` (B, h*w, D), `storage_tokens` (B, S, D), and either
    `prenorm` (B, N, D) or, for each index in `intermediate`, `inter_{i}` (B, C_i, h_i, w_i)
    normalised as in get_intermediate_layers(norm=True). The model name, grid and stride are stored
    in the file's metadata. Exported with the TorchScript-based exporter (dynamo=False): the dynamo
    exporter works too but takes about 6x longer for the same graph.
    """
    import torch

    require_vision("onnx")
    import onnx

    H, W = _as_hw(resolution)
    stride = model.cfg.stride
    if H % stride or W % stride:
        raise ModelError(f"export size {H}x{W} is not a multiple of {stride} for {model.cfg.name}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    wrapper = _export_wrapper_class()(model, tuple(intermediate)).eval()
    names = wrapper.output_names()
    image = torch.randn(1, 3, H, W)
    target = path if not int8 else path.with_name(path.stem + ".fp32.onnx")
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation warning
        torch.onnx.export(
            wrapper,
            (image,),
            str(target),
            dynamo=False,
            input_names=["image"],
            output_names=list(names),
            dynamic_axes={n: {0: "batch"} for n in ("image", *names)},
            opset_version=opset,
            do_constant_folding=True,
        )
    grid = _grid(model, H, W)
    meta = {
        "arp.model": model.cfg.name,
        "arp.input_size": json.dumps([H, W]),
        "arp.grid": json.dumps(list(grid)),
        "arp.stride": str(stride),
        "arp.dim": str(model.embed_dim),
        "arp.n_storage": str(model.n_storage_tokens),
        "arp.intermediate": json.dumps(list(intermediate)),
    }
    _set_metadata(onnx, target, meta)
    if not int8:
        return ExportReport(path, (H, W), names, False)

    require_vision("onnxruntime")
    from ar_perception.models.onnx_int8 import quantise

    try:
        quantise(target, path, "image", (H, W), "dynamic")  # what the encoder's `precision: int8` runs
    except Exception as e:  # onnx's and onnxruntime's own errors
        target.unlink(missing_ok=True)
        raise ModelError(f"{path}: cannot quantise the export to int8: {type(e).__name__}: {e}") from None
    _set_metadata(onnx, path, {**meta, "arp.int8": "1"})
    x = _smooth_test_image(H, W)
    ref, q = OnnxEncoder(target)(x), OnnxEncoder(path)(x)
    target.unlink()
    return ExportReport(
        path,
        (H, W),
        names,
        True,
        cosine_cls=float(_cosine(ref["x_norm_clstoken"], q["x_norm_clstoken"]).mean()),
        cosine_patches=float(_cosine(ref["x_norm_patchtokens"], q["x_norm_patchtokens"]).mean()),
    )


def _grid(model, H: int, W: int) -> tuple[int, int]:
    s = model.cfg.stride
    return H // s, W // s


def _set_metadata(onnx, path: Path, meta: dict[str, str]) -> None:
    m = onnx.load(str(path))
    del m.metadata_props[:]
    for k, v in meta.items():
        m.metadata_props.add(key=k, value=v)
    onnx.save(m, str(path))


def _cosine(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a, b = a.astype(np.float64), b.astype(np.float64)
    return (a * b).sum(-1) / (np.linalg.norm(a, axis=-1) * np.linalg.norm(b, axis=-1) + 1e-12)


def _smooth_test_image(H: int, W: int) -> np.ndarray:
    """A deterministic, image-like (smooth, structured) normalised input of shape (1, 3, H, W)."""
    yy, xx = np.mgrid[0:H, 0:W].astype(np.float32)
    chans = [
        np.sin(xx / 23.0) * np.cos(yy / 31.0),
        np.cos((xx + yy) / 41.0),
        ((xx // 32 + yy // 32) % 2) - 0.5,
    ]
    return np.stack(chans)[None].astype(np.float32) * 1.5


def _export_wrapper_class():
    import torch  # imported here so that the onnxruntime path never loads torch

    class ExportWrapper(torch.nn.Module):
        """Returns a flat tuple of tensors, which is what the exporter needs."""

        def __init__(self, model, intermediate: tuple[int, ...]):
            super().__init__()
            self.model = model
            self.intermediate = intermediate

        def output_names(self) -> tuple[str, ...]:
            if not self.intermediate:
                return ("cls", "patch_tokens", "storage_tokens", "prenorm")
            return ("cls", "patch_tokens", "storage_tokens") + tuple(f"inter_{i}" for i in self.intermediate)

        def forward(self, image):
            if not self.intermediate:
                out = self.model.forward_features(image)
                return out["x_norm_clstoken"], out["x_norm_patchtokens"], out["x_storage_tokens"], out["x_prenorm"]
            # One pass: the last layer, normalised, is exactly what forward_features returns.
            idx = [*self.intermediate, self.model.n_layers - 1]
            res = self.model.get_intermediate_layers(
                image, idx, reshape=True, return_class_token=True, return_extra_tokens=True, norm=True
            )
            last_map, cls, storage = res[-1]
            patches = last_map.flatten(2).transpose(1, 2)  # (B, D, h, w) -> (B, h*w, D)
            return (cls, patches, storage) + tuple(r[0] for r in res[:-1])

    return ExportWrapper
