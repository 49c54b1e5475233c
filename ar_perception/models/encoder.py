"""One frame in, features out: the encoder object that the encoder node drives.

`build_encoder(spec)` returns a `FeatureEncoder`: `.name`, `.describe()` and
`__call__(rgb uint8 (H, W, 3)) -> {"cls": (D,), "patches": (h, w, D), "storage": (S, D)}`
(+ "intermediate": list of (h_i, w_i, C_i) when requested), for the EUPE models on torch or
onnxruntime, for any ONNX encoder, and for the offline DINOv2 ViT-S/14 stand-in. Frames are sized by
the short-side rule of `preprocess.py`. `EncoderSpec` is also the encoder node's `Params`.
"""

from __future__ import annotations

import difflib
import os
import sys
import tempfile
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ar_perception.errors import ModelError
from ar_perception.models.onnx_int8 import Precision, int8_mode
from ar_perception.models.preprocess import preprocess, target_size
from ar_perception.models.registry import get_config, list_models
from ar_perception.models.standin import STANDIN

__all__ = ["EncoderSpec", "FeatureEncoder", "build_encoder", "STANDIN_NAME", "GENERIC_NAME", "encoder_names"]

STANDIN_NAME = STANDIN.name
GENERIC_NAME = "onnx"
_EXPORT_FORMAT = 1  # part of cached export file names: bump when the exported graph changes


def encoder_names() -> list[str]:
    return [*list_models(), STANDIN_NAME, GENERIC_NAME]


class EncoderSpec(BaseModel):
    """Which encoder to build and how. The descriptions are the encoder node's parameter reference."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    model: str = Field(
        "eupe-vit-s",
        description="eupe-vit-t|s|b, eupe-convnext-tiny|small|base, "
        "dinov2-vit-s14 (offline stand-in) or onnx (generic)",
    )
    # null: random init, for tests and benchmarks
    weights: str | None = Field("auto", description="auto (cache, then hub), a checkpoint path, or null")
    backend: Literal["torch", "onnxruntime"] = "onnxruntime"
    resolution: int = Field(256, ge=32, le=2048, description="short side in pixels, snapped to the patch")
    # their maps come normalised as the spec says (ARCH_SPEC 2.6, 3.3)
    intermediate: list[int] = Field([], description="extra blocks (ViT) or stages (ConvNeXt) to output")
    # describe() then says which model runs instead, and why
    fallback: bool = Field(True, description="weights auto and absent: run the offline stand-in")
    threads: int | None = Field(None, ge=1)  # None: all cores
    precision: Literal["auto", "fp32", "int8", "int8-static"] = Field(
        "auto",
        description="onnxruntime: int8 runs a copy with int8 MatMul weights, inputs quantised per call; int8-static "
        "with input ranges calibrated on simulated rooms; made once and cached. auto: int8 for the offline stand-in "
        "(heads' quality unchanged, benchmarks/int8.py), fp32 for the rest (not measured)",
    )
    onnx_path: str | None = Field(None, description="model=onnx: the ONNX file")
    token_output: str | None = Field(None, description="model=onnx: name of the token tensor")
    n_prefix: int = Field(1, ge=0, description="model=onnx: tokens before the patch tokens")
    patch_size: int = Field(14, ge=1, description="model=onnx: patch size in pixels")
    input_name: str | None = Field(None, description="model=onnx: the image input (default: the first)")
    input_size: tuple[int, int] | None = Field(None, description="model=onnx: fixed input H, W")


class FeatureEncoder(Protocol):
    """What `build_encoder` returns, whichever model and backend run behind it."""

    name: str
    dim: int
    patch_size: int

    def describe(self) -> str: ...

    def input_size_for(self, height: int, width: int) -> tuple[int, int]: ...

    def __call__(self, rgb: np.ndarray) -> dict[str, Any]: ...


def build_encoder(spec: EncoderSpec | Mapping[str, Any] | None = None, **overrides: Any) -> FeatureEncoder:
    """Build the encoder that `spec` names; loads weights now (call it in a node's setup())."""
    spec = _as_spec(spec, overrides)
    threads = spec.threads or os.cpu_count() or 1
    if spec.precision not in ("auto", "fp32") and spec.backend != "onnxruntime":
        raise ModelError(
            f"precision {spec.precision} runs under onnxruntime, not {spec.backend}; give backend: onnxruntime"
        )
    if spec.model == STANDIN_NAME:
        return _standin(spec, threads, reason=None)
    if spec.model == GENERIC_NAME:
        return _generic(_resolved(spec, standin=False), threads)
    if spec.model not in encoder_names():
        near = difflib.get_close_matches(spec.model, encoder_names(), n=1)
        raise ModelError(
            f"unknown encoder model '{spec.model}' (known: {', '.join(encoder_names())})"
            + (f"; did you mean '{near[0]}'?" if near else "")
        )
    cfg = get_config(spec.model)

    from ar_perception.models.weights import resolve_weights

    path: Path | None = None
    if spec.weights is not None:
        try:
            path = resolve_weights(spec.model, spec.weights)
        except ModelError as e:
            if str(spec.weights) != "auto" or not spec.fallback:
                raise
            return _standin(spec, threads, reason=str(e).splitlines()[0])

    if "torch" not in sys.modules:
        # OpenMP threads that spin while idle stall badly when other node processes share the cores
        # (ViT-S/256 on 2 busy cores: 770 ms spinning vs 231 ms passive); read once, at torch import.
        os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    from ar_perception.models.eupe import build_model, load_checkpoint

    model = build_model(cfg)
    if path is not None:
        load_checkpoint(model, path)
    weights_desc = str(path) if path is not None else "random init (no weights)"
    spec = _resolved(spec, standin=False)
    if spec.backend == "torch":
        return TorchEncoder(model, spec, weights_desc, threads)
    return OnnxRuntimeEncoder(model, spec, weights_desc, threads, weights_path=path)


def _resolved(spec: EncoderSpec, standin: bool) -> EncoderSpec:
    """`spec` with precision auto made what it means: int8 for the offline stand-in (benchmarks/int8.py measured the
    shipped heads' quality on its int8 features unchanged within 0.01 mIoU and AbsRel), fp32 for any other model
    (its int8 quality is not measured here)."""
    if spec.precision != "auto":
        return spec
    return spec.model_copy(update={"precision": "int8" if standin else "fp32"})


def _runs(spec: EncoderSpec) -> Precision:
    """The precision a runner is built with (`_resolved` made auto concrete before)."""
    precision = spec.precision
    if precision == "auto":
        raise ModelError("encoder precision auto was not resolved before the runner was built")
    return precision


def _as_spec(spec: EncoderSpec | Mapping[str, Any] | None, overrides: Mapping[str, Any]) -> EncoderSpec:
    if isinstance(spec, EncoderSpec) and not overrides:
        return spec
    given = dict(spec.model_dump() if isinstance(spec, EncoderSpec) else spec or {})
    given.update(overrides)
    known = set(EncoderSpec.model_fields)
    unknown = sorted(set(given) - known)
    if unknown:
        raise ModelError(f"unknown encoder parameter(s): {', '.join(unknown)} (known: {', '.join(sorted(known))})")
    try:
        return EncoderSpec.model_validate(given)
    except ValidationError as err:
        raise ModelError("; ".join(_spec_problem(e) for e in err.errors())) from None


def _spec_problem(e: Any) -> str:
    name = ".".join(str(p) for p in e["loc"])
    expected = (e.get("ctx") or {}).get("expected")
    if e["type"] == "literal_error" and expected:
        return f"encoder {name} must be {expected}, got {e['input']!r}"
    return f"encoder parameter {name}: {e['msg']} (got {e['input']!r})"


def _to_frame_dict(out: Mapping[str, Any], h: int, w: int) -> dict[str, Any]:
    """Batch-1 model outputs -> the per-frame dict (numpy, channels last)."""
    patches = np.asarray(out["x_norm_patchtokens"])[0]
    result = {
        "cls": np.asarray(out["x_norm_clstoken"])[0],  # (D,)
        "patches": patches.reshape(h, w, -1),  # (h*w, D) -> (h, w, D), row-major
        "storage": np.asarray(out["x_storage_tokens"])[0],  # (S, D)
    }
    if out.get("intermediate") is not None:
        result["intermediate"] = [np.asarray(m)[0].transpose(1, 2, 0) for m in out["intermediate"]]  # (C,h,w)->(h,w,C)
    return result


@dataclass
class _Base:
    spec: EncoderSpec
    name: str
    dim: int
    patch_size: int
    weights_desc: str
    threads: int
    note: str = ""
    last_input_size: tuple[int, int] | None = field(default=None, init=False)

    def input_size_for(self, height: int, width: int) -> tuple[int, int]:
        return target_size(height, width, self.spec.resolution, self.patch_size)

    def describe(self) -> str:
        precision = f" {self.spec.precision}" if self.spec.precision != "fp32" else ""
        text = (
            f"{self.name} ({self._what()}), weights: {self.weights_desc}, backend: {self._backend()}{precision}, "
            f"resolution {self.spec.resolution} (short side, multiple of {self.patch_size}), {self.threads} threads"
        )
        return text + (f"; {self.note}" if self.note else "")

    def _what(self) -> str:
        return ""

    def _backend(self) -> str:
        return self.spec.backend


class TorchEncoder(_Base):
    def __init__(self, model, spec: EncoderSpec, weights_desc: str, threads: int):
        import torch

        torch.set_num_threads(threads)
        super().__init__(spec, spec.model, model.embed_dim, model.cfg.stride, weights_desc, threads)
        self.model = model.eval()
        self.family = model.cfg.family

    def _what(self) -> str:
        return _eupe_what(self.model)

    def __call__(self, rgb: np.ndarray) -> dict[str, Any]:
        import torch

        x = preprocess(rgb, self.spec.resolution, self.patch_size)
        self.last_input_size = x.shape[2:]
        with torch.inference_mode():
            image = torch.from_numpy(x)
            if not self.spec.intermediate:
                out = self.model.forward_features(image)
                out = {k: v.numpy() for k, v in out.items() if v is not None}
            else:  # one pass: the last layer, normalised, is what forward_features returns
                idx = [*self.spec.intermediate, self.model.n_layers - 1]
                res = self.model.get_intermediate_layers(
                    image, idx, reshape=True, return_class_token=True, return_extra_tokens=True, norm=True
                )
                last_map, cls, storage = res[-1]
                out = {
                    "x_norm_clstoken": cls.numpy(),
                    "x_storage_tokens": storage.numpy(),
                    "x_norm_patchtokens": last_map.flatten(2).transpose(1, 2).numpy(),  # (B,D,h,w)->(B,h*w,D)
                    "intermediate": [r[0].numpy() for r in res[:-1]],
                }
        H, W = x.shape[2:]
        return _to_frame_dict(out, H // self.patch_size, W // self.patch_size)


MAX_SESSIONS = 4  # onnxruntime sessions kept, one per input size; each holds the model's weights


class OnnxRuntimeEncoder(_Base):
    """Exports the model once per input size (cached on disk for real weights) and runs onnxruntime."""

    def __init__(self, model, spec: EncoderSpec, weights_desc: str, threads: int, weights_path: Path | None):
        super().__init__(spec, spec.model, model.embed_dim, model.cfg.stride, weights_desc, threads)
        self.model = model.eval()
        self.family = model.cfg.family
        self._sessions: OrderedDict[tuple[int, int], Any] = OrderedDict()  # most recently used last
        if weights_path is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="arp-onnx-")
            self._dir, self._tag = Path(self._tmp.name), "random"
        else:
            from ar_perception.models.onnx import onnx_cache_dir

            st = weights_path.stat()
            self._dir = onnx_cache_dir()
            self._tag = f"{weights_path.stem}-{st.st_size}-{st.st_mtime_ns % 10**9}-v{_EXPORT_FORMAT}"

    def _what(self) -> str:
        return _eupe_what(self.model)

    def warmup(self, height: int, width: int) -> None:
        """Export and load the session for frames of this size now, not on the first frame."""
        self._session(self.input_size_for(height, width))

    def _session(self, size: tuple[int, int]):
        if size in self._sessions:
            self._sessions.move_to_end(size)
        else:
            from ar_perception.models.onnx import OnnxEncoder
            from ar_perception.models.onnx_export import export_encoder

            inter = "".join(f"-i{i}" for i in self.spec.intermediate)
            path = self._dir / f"{self.spec.model}-{self._tag}-{size[0]}x{size[1]}{inter}.onnx"
            if not path.is_file():
                tmp = path.with_name(path.stem + f".{os.getpid()}.tmp.onnx")
                export_encoder(self.model, tmp, size, intermediate=self.spec.intermediate)
                os.replace(tmp, path)
            mode = int8_mode(_runs(self.spec))
            if mode is not None:
                from ar_perception.models.onnx_int8 import int8_copy

                path = int8_copy(path, "image", size, self._dir, mode)
            self._sessions[size] = OnnxEncoder(path, threads=self.threads)
            while len(self._sessions) > MAX_SESSIONS:  # frames of ever new sizes must not pile up sessions
                self._sessions.popitem(last=False)
        return self._sessions[size]

    def __call__(self, rgb: np.ndarray) -> dict[str, Any]:
        size = self.input_size_for(*rgb.shape[:2])
        x = preprocess(rgb, size=size)
        self.last_input_size = size
        out = self._session(size)(x)
        return _to_frame_dict(out, size[0] // self.patch_size, size[1] // self.patch_size)


class GenericEncoder(_Base):
    """Any ONNX encoder through GenericOnnxEncoder (ImageNet normalisation), incl. the stand-in."""

    def __init__(self, runner, spec: EncoderSpec, name: str, what: str, threads: int, note: str = ""):
        super().__init__(spec, name, 0, runner.patch_size, str(runner.source), threads, note)
        self.runner = runner
        self.what = what

    def _what(self) -> str:
        return self.what

    def _backend(self) -> str:
        return "onnxruntime"

    def input_size_for(self, height: int, width: int) -> tuple[int, int]:
        if self.runner.input_size:
            return self.runner.input_size
        return super().input_size_for(height, width)

    def describe(self) -> str:
        text = super().describe()
        if self.runner.input_size:
            H, W = self.runner.input_size
            text = text.replace(
                f"resolution {self.spec.resolution} (short side, multiple of {self.patch_size})",
                f"fixed input {H}x{W} (frames are resized to it)",
            )
        return text

    def __call__(self, rgb: np.ndarray) -> dict[str, Any]:
        size = self.input_size_for(*rgb.shape[:2])
        x = preprocess(rgb, size=size)
        self.last_input_size = size
        out = self.runner(x)
        result = _to_frame_dict(out, size[0] // self.patch_size, size[1] // self.patch_size)
        self.dim = result["cls"].shape[0]
        return result


def _eupe_what(model) -> str:
    cfg = model.cfg
    millions = sum(p.numel() for p in model.parameters()) / 1e6
    if cfg.family == "vit":
        return f"EUPE ViT/{cfg.patch_size}, D={cfg.embed_dim}, {millions:.1f}M params"
    return f"EUPE ConvNeXt, C={cfg.dims[-1]}, {millions:.1f}M params"


def _standin(spec: EncoderSpec, threads: int, reason: str | None) -> GenericEncoder:
    from ar_perception.models.standin import standin_encoder

    if spec.intermediate:
        raise ModelError(
            f"the offline stand-in {STANDIN_NAME} has no intermediate layers (intermediate={list(spec.intermediate)})"
        )
    note = ""
    if reason is not None:
        note = f"OFFLINE STAND-IN used instead of {spec.model}, because {reason}"
    spec = _resolved(spec, standin=True)
    enc = GenericEncoder(standin_encoder(threads, _runs(spec)), spec, STANDIN.name, STANDIN.description, threads, note)
    enc.dim = STANDIN.dim
    return enc


def _generic(spec: EncoderSpec, threads: int) -> GenericEncoder:
    from ar_perception.models.onnx import GenericOnnxEncoder

    if not spec.onnx_path or not spec.token_output:
        raise ModelError("model 'onnx' needs onnx_path (the file) and token_output (the token tensor's name)")
    if spec.intermediate:
        raise ModelError("the generic ONNX backend has no intermediate layers")
    runner = GenericOnnxEncoder(
        spec.onnx_path,
        spec.token_output,
        n_prefix=spec.n_prefix,
        patch_size=spec.patch_size,
        input_name=spec.input_name,
        input_size=spec.input_size,
        threads=threads,
        precision=_runs(spec),
    )
    enc = GenericEncoder(runner, spec, runner.name, "generic ONNX encoder", threads)
    if runner.input_size:  # learn D (and warm the session up) with one blank frame
        enc.dim = int(runner(np.zeros((1, 3, *runner.input_size), np.float32))["x_norm_clstoken"].shape[-1])
    return enc
