"""onnxruntime sessions and the runners of ONNX encoders (EUPE: arXiv 2603.22387).

- `OnnxEncoder` runs a file written by `models/onnx_export.py` and returns the keys of
  `forward_features` as numpy arrays.
- `GenericOnnxEncoder` runs any ONNX encoder given the name of its token tensor (CLS + prefix tokens
  + row-major patch tokens); `with_token_output` writes the copy of a file that outputs that tensor
  when it is internal to the graph. The offline stand-in built on it is in `models/standin.py`.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import os
import tempfile
from pathlib import Path
from typing import Any, NotRequired, TypedDict

import numpy as np

from ar_perception.errors import MissingExtraError, ModelError
from ar_perception.models.derived import derived_path, drop_stale
from ar_perception.models.files import check_onnx_file, onnx_load_error
from ar_perception.models.onnx_fold import folded_copy, prune_dead_nodes
from ar_perception.models.onnx_int8 import Precision, int8_copy, int8_mode
from ar_perception.models.weights import cache_root

__all__ = [
    "OnnxEncoder",
    "OnnxFeatures",
    "GenericOnnxEncoder",
    "with_token_output",
    "onnx_cache_dir",
    "require_vision",
]


def onnx_cache_dir() -> Path:
    return cache_root() / "onnx"


def require_vision(module: str) -> None:
    """Raise MissingExtraError (the `vision` extra) unless `module` is installed."""
    if importlib.util.find_spec(module) is None:
        raise MissingExtraError(module, "vision")


def _session(path: str | Path, threads: int | None, spin: bool = False):
    """A CPU session with `threads` intra-op threads (default: all cores).

    Idle worker threads do not spin by default: an arp graph runs several node processes on few cores,
    and measured on 2 busy cores, spinning made ViT-S/256 1.4x slower (171 vs 122 ms)."""
    require_vision("onnxruntime")
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = threads or os.cpu_count() or 1
    so.inter_op_num_threads = 1
    so.add_session_config_entry("session.intra_op.allow_spinning", "1" if spin else "0")
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    so.log_severity_level = 3
    check_onnx_file(path)  # an empty file would otherwise read as "no graph in the protobuf"
    try:
        return ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
    except Exception as e:  # onnxruntime raises its own exception types for unreadable graphs
        raise onnx_load_error(path, e) from None


# ---------------------------------------------------------------------------------------------
# Runners
# ---------------------------------------------------------------------------------------------


class OnnxFeatures(TypedDict):
    """What the ONNX runners return: the keys of the torch model's `forward_features`, as numpy arrays."""

    x_norm_clstoken: np.ndarray  # (B, D)
    x_storage_tokens: np.ndarray  # (B, n_storage, D)
    x_norm_patchtokens: np.ndarray  # (B, h*w, D)
    x_prenorm: np.ndarray | None  # not exported
    masks: None
    intermediate: NotRequired[list[np.ndarray]]  # when exported with intermediate layers


class OnnxEncoder:
    """Runs a file written by `export_encoder`; returns forward_features' keys as numpy arrays."""

    def __init__(self, path: str | Path, threads: int | None = None, spin: bool = False):
        self.path = Path(path)
        self.session = _session(self.path, threads, spin)
        meta = self.session.get_modelmeta().custom_metadata_map
        if "arp.model" not in meta:
            raise ModelError(f"{self.path}: not an ar-perception encoder export (no arp.* metadata)")
        self.model_name = meta["arp.model"]
        self.input_size = _meta_ints(self.path, meta, "arp.input_size", 2)
        self.grid = _meta_ints(self.path, meta, "arp.grid", 2)
        self.stride = _meta_ints(self.path, meta, "arp.stride", None)
        self.dim = _meta_ints(self.path, meta, "arp.dim", None)
        self.intermediate = _meta_ints(self.path, meta, "arp.intermediate", -1, default="[]")
        self.int8 = meta.get("arp.int8") == "1"
        self.output_names = [o.name for o in self.session.get_outputs()]
        inputs = {i.name: i.shape for i in self.session.get_inputs()}
        if list(inputs) != ["image"] or len(inputs["image"]) != 4:
            raise ModelError(
                f"{self.path}: an encoder export has one input 'image' [B, 3, H, W], this file has "
                + ", ".join(f"{n} {list(sh)}" for n, sh in inputs.items())
            )
        want = ["cls", "patch_tokens", "storage_tokens", *(f"inter_{i}" for i in self.intermediate)]
        missing = [n for n in want if n not in self.output_names]
        if missing:
            raise ModelError(
                f"{self.path}: the encoder export lacks output(s) {', '.join(missing)} "
                f"(it has: {', '.join(self.output_names)})"
            )

    def __call__(self, x: np.ndarray) -> OnnxFeatures:
        """x: (B, 3, H, W) float32 at the exported input size."""
        if tuple(x.shape[2:]) != self.input_size:
            H, W = self.input_size
            raise ModelError(f"{self.path}: exported for input {H}x{W}, got {x.shape[2]}x{x.shape[3]}")
        outs = dict(
            zip(
                self.output_names,
                self.session.run(None, {"image": np.ascontiguousarray(x, np.float32)}),
                strict=True,
            )
        )
        result: OnnxFeatures = {
            "x_norm_clstoken": outs["cls"],
            "x_storage_tokens": outs["storage_tokens"],
            "x_norm_patchtokens": outs["patch_tokens"],
            "x_prenorm": outs.get("prenorm"),
            "masks": None,
        }
        if self.intermediate:
            result["intermediate"] = [outs[f"inter_{i}"] for i in self.intermediate]
        return result


def _meta_ints(path: Path, meta: dict[str, str], key: str, length: int | None, default: str | None = None):
    """An int (length None), or a tuple of `length` ints (-1: any length), from JSON export metadata."""
    text = meta.get(key, default)
    try:
        value: Any = json.loads(text) if text is not None else None
    except ValueError:
        value = None
    ok = (
        isinstance(value, int)
        if length is None
        else isinstance(value, list) and all(isinstance(v, int) for v in value) and length in (-1, len(value))
    )
    if not ok:
        want = "an integer" if length is None else "a list of integers" if length == -1 else f"{length} integers"
        got = "missing" if text is None else repr(text)
        raise ModelError(f"{path}: export metadata {key} is {got}, expected {want}")
    return value if length is None else tuple(value)


class GenericOnnxEncoder:
    """Any ONNX ViT-like encoder whose token tensor is [B, n_prefix + h*w, D] (CLS first, patches row-major).

    If `token_output` is an internal tensor rather than a graph output, a copy of the file with that
    tensor as its only output is written once under the cache folder (see `with_token_output`). At a fixed
    input size, what the graph computes from the input's shape alone (interpolated position embeddings) is
    folded into constants once, in a cached copy (`models/onnx_fold.py`; `fold=False` runs the file as it is).
    `precision="int8"` (or `"int8-static"`) runs an int8 copy of that (`models/onnx_int8.py`), made once and cached.
    """

    def __init__(
        self,
        path: str | Path,
        token_output: str,
        n_prefix: int = 1,
        patch_size: int = 14,
        input_name: str | None = None,
        input_size: tuple[int, int] | None = None,
        threads: int | None = None,
        name: str | None = None,
        spin: bool = False,
        fold: bool = True,
        precision: Precision = "fp32",
    ):
        self.source = Path(path)
        if not self.source.is_file():
            raise ModelError(f"{self.source}: ONNX file not found")
        self.path = with_token_output(self.source, token_output)
        ready = False
        if input_name is not None and input_size is not None:  # known up front: one session, of the file that runs
            self.path, ready = _prepared(self.path, input_name, input_size, fold, precision), True
        self.session = _session(self.path, threads, spin)
        self.token_output = token_output
        self.n_prefix = n_prefix
        self.patch_size = patch_size
        self.name = name or self.source.stem
        inputs = self.session.get_inputs()
        names = [i.name for i in inputs]
        if input_name is None:
            if len(inputs) != 1:
                raise ModelError(f"{self.source}: several inputs ({', '.join(names)}); give input_name")
            input_name = names[0]
        elif input_name not in names:
            raise ModelError(f"{self.source}: no input '{input_name}' (it has: {', '.join(names)})")
        self.input_name = input_name
        shape = next(i.shape for i in inputs if i.name == input_name)  # ints, or names/None for dynamic axes
        if len(shape) != 4 or (isinstance(shape[1], int) and shape[1] != 3):
            raise ModelError(
                f"{self.source}: input '{input_name}' has shape {list(shape)}, expected an image batch [B, 3, H, W]"
            )
        if input_size is None and all(isinstance(s, int) for s in shape[2:]):
            input_size = (shape[2], shape[3])
        # None: any multiple of patch_size
        self.input_size = (int(input_size[0]), int(input_size[1])) if input_size else None
        self.precision = precision
        if precision != "fp32" and self.input_size is None:
            raise ModelError(f"{self.source}: precision {precision} needs a fixed input size (give input_size)")
        if not ready and self.input_size is not None:  # learnt from the file: prepared now, a second session
            final = _prepared(self.path, input_name, self.input_size, fold, precision)
            if final != self.path:
                self.path, self.session = final, _session(final, threads, spin)

    def __call__(self, x: np.ndarray) -> OnnxFeatures:
        """x: (B, 3, H, W) float32, normalised as the model expects."""
        if self.input_size and tuple(x.shape[2:]) != self.input_size:
            raise ModelError(f"{self.source}: needs input {self.input_size}, got {tuple(x.shape[2:])}")
        (tokens,) = self.session.run([self.token_output], {self.input_name: np.ascontiguousarray(x, np.float32)})
        h, w = x.shape[2] // self.patch_size, x.shape[3] // self.patch_size
        if tokens.ndim != 3 or tokens.shape[1] != self.n_prefix + h * w:
            raise ModelError(
                f"{self.source}: token tensor '{self.token_output}' has shape {tokens.shape}, expected "
                f"[B, {self.n_prefix} + {h}*{w}, D] for input {tuple(x.shape[2:])} and patch {self.patch_size}"
            )
        return {
            "x_norm_clstoken": tokens[:, 0],  # (B, D)
            "x_storage_tokens": tokens[:, 1 : self.n_prefix],  # (B, n_prefix - 1, D)
            "x_norm_patchtokens": tokens[:, self.n_prefix :],  # (B, h*w, D)
            "x_prenorm": None,
            "masks": None,
        }


def _prepared(path: Path, input_name: str, input_size: tuple[int, int], fold: bool, precision: Precision) -> Path:
    """The file to run: `path` with its shape-only tensors folded (`fold`), then quantised (`precision` int8 or
    int8-static), for `input_size`; each a cached copy."""
    if fold:
        path = _folded(path, input_name, input_size)
    mode = int8_mode(precision)
    if mode is not None:
        path = int8_copy(path, input_name, (int(input_size[0]), int(input_size[1])), onnx_cache_dir(), mode)
    return path


def _folded(path: Path, input_name: str, input_size: tuple[int, int]) -> Path:
    """`path` with its shape-only tensors folded (a cached copy), or `path` itself where that fails."""
    try:
        return folded_copy(path, input_name, (int(input_size[0]), int(input_size[1])), onnx_cache_dir())
    except ModelError as e:  # the file still runs as it is, only slower
        logging.getLogger(__name__).warning("%s: runs unfolded: %s", path, e)
        return path


def with_token_output(src: Path, tensor: str, keep_outputs: bool = False) -> Path:
    """`src` itself if `tensor` is already a graph output, else a cached copy that outputs it.

    By default the copy has `tensor` as its only output and keeps only the nodes it needs (a head
    after the backbone is dropped); with keep_outputs the original outputs stay as well. The copy
    lives in the ONNX cache folder, named by the source file's path, size and time (`models/derived.py`).
    """
    require_vision("onnx")
    import onnx

    check_onnx_file(src)
    try:
        header = onnx.load(str(src), load_external_data=False)
    except Exception as e:  # protobuf's DecodeError for a cut or damaged file
        raise onnx_load_error(src, e) from None
    if not header.HasField("graph"):
        raise ModelError(f"{src}: not an ONNX model (the file holds no graph; expected a complete .onnx file)")
    outputs = [o.name for o in header.graph.output]
    if tensor in outputs:
        return src
    produced = {o for n in header.graph.node for o in n.output}
    if tensor not in produced:
        near = sorted(o for o in produced if tensor.split("/")[-1] in o)[:5]
        raise ModelError(
            f"{src}: no tensor named '{tensor}' in the graph" + (f" (similar: {', '.join(near)})" if near else "")
        )
    dst = derived_path(src, "tokens", onnx_cache_dir(), params=f"{tensor}|{keep_outputs}", versions="tokens-v1")
    if dst.is_file():
        return dst
    dst.parent.mkdir(parents=True, exist_ok=True)
    model = onnx.load(str(src))
    new_out = onnx.helper.make_tensor_value_info(tensor, onnx.TensorProto.FLOAT, None)
    if not keep_outputs:
        del model.graph.output[:]
    model.graph.output.append(new_out)
    prune_dead_nodes(model)
    fd, tmp = tempfile.mkstemp(dir=dst.parent, suffix=".onnx.tmp")
    os.close(fd)
    onnx.save(model, tmp)
    os.chmod(tmp, 0o644)
    os.replace(tmp, dst)  # atomic: concurrent processes never see a half-written file
    drop_stale(dst)  # the copies of an older version of the same file (and what was derived from them)
    return dst
