"""Linear heads on frozen patch tokens: semantic segmentation and binned monocular depth.

This follows the evaluation protocol of the EUPE paper (arXiv 2603.22387), which is DINOv2's (Oquab et
al. 2023, sections 7.3-7.4): the encoder stays frozen, and each task reads its final-norm patch tokens
through nothing more than a BatchNorm and a 1x1 convolution.

- Segmentation: BatchNorm2d(D) + Conv2d(D, K, 1) gives K class logits per patch; the logits are
  upsampled bilinearly to the image and the class of a pixel is their argmax.
- Depth: BatchNorm2d(D) + Conv2d(D, 256, 1) gives logits over 256 depth bins whose centres are spread
  linearly from 0.001 to 10 m (AdaBins-style linear bins, Bhat et al. 2021); the depth of a patch is
  the softmax-weighted mean of the bin centres, and the depth map is upsampled bilinearly to the image.

Optionally (`HeadInfo.cls_token`, DINOv2's "lin. 1" depth variant) the class token is concatenated to
every patch token; the shipped heads do not use it (on the simulated rooms it overfitted).

At inference a head is one matrix product: BatchNorm in eval mode is an affine map per channel, so it
folds into the convolution (W' = W * g / sqrt(v + eps), b' = b + W @ (beta - m * g / sqrt(v + eps))).
This file needs numpy (and OpenCV to upsample); torch is only needed to train (models/training/).

A head file is safetensors: the tensors are named like the torch module's state dict (`bn.weight`,
`bn.bias`, `bn.running_mean`, `bn.running_var`, `conv.weight` (K, D, 1, 1), `conv.bias`), and the
metadata holds `format` = "arp-head", `version`, `task` and `info` (JSON of `HeadInfo`: encoder,
feature dimension, encoder input size, classes or bins, and how the head was trained).
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from ar_perception.errors import MissingExtraError, ModelError

__all__ = [
    "HEAD_FORMAT",
    "HEAD_VERSION",
    "DEPTH_BINS",
    "DEPTH_MIN",
    "DEPTH_MAX",
    "BN_EPS",
    "HeadInfo",
    "LinearHead",
    "depth_bin_centres",
    "upsample_bilinear",
    "load_head",
    "load_default_head",
    "default_head_path",
]

HEAD_FORMAT = "arp-head"
HEAD_VERSION = 1
DEPTH_BINS = 256
DEPTH_MIN = 0.001  # metres
DEPTH_MAX = 10.0  # metres
BN_EPS = 1e-5  # torch.nn.BatchNorm2d's default
ASSETS = Path(__file__).resolve().parents[1] / "assets" / "heads"

Task = Literal["seg", "depth"]


def depth_bin_centres(n: int = DEPTH_BINS, dmin: float = DEPTH_MIN, dmax: float = DEPTH_MAX) -> np.ndarray:
    """The centres of `n` depth bins spread linearly from `dmin` to `dmax` metres: (n,) float32."""
    return np.linspace(dmin, dmax, n, dtype=np.float64).astype(np.float32)


def default_head_path(task: Task) -> Path:
    """The head shipped for the offline default encoder (see assets/heads/README.md)."""
    return ASSETS / f"{task}_default.safetensors"


@dataclass
class HeadInfo:
    """What a head file says about itself (stored as JSON in the safetensors metadata)."""

    task: Task
    encoder: str  # Encoder name the features came from, e.g. "dinov2-vit-s14"
    dim: int  # D, the patch-token width
    input_size: list[int] | None = None  # [H, W] the encoder saw (None: any)
    features: str = "full"  # how frames became patch grids (training.features.VIEWS)
    cls_token: bool = False  # the class token is concatenated to every patch token (conv input 2D)
    classes: list[str] = field(default_factory=list)  # seg: name of every class id
    ignore_index: int | None = None  # seg: class id that was never trained on ("no label")
    bins: dict[str, float] | None = None  # depth: {"n": 256, "min": 0.001, "max": 10.0}
    training: dict[str, Any] = field(default_factory=dict)  # command, data, seeds, epochs, metrics

    @property
    def in_channels(self) -> int:
        return 2 * self.dim if self.cls_token else self.dim

    @property
    def out_channels(self) -> int:
        return len(self.classes) if self.task == "seg" else self.depth_bins[0]

    @property
    def depth_bins(self) -> tuple[int, float, float]:
        """A depth head's bins: (count, min metres, max metres)."""
        if self.bins is None:
            raise ModelError(f"a {self.task} head has no depth bins")
        return int(self.bins["n"]), self.bins["min"], self.bins["max"]

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> HeadInfo:
        return cls(**json.loads(text))


def upsample_bilinear(x: np.ndarray, height: int, width: int) -> np.ndarray:
    """(h, w[, C]) float32 -> (height, width[, C]), bilinear with half-pixel centres.

    Same as torch's `F.interpolate(mode="bilinear", align_corners=False)` when upsampling.
    """
    import cv2  # an optional dependency of the vision extra

    if x.shape[:2] == (height, width):
        return x
    if x.ndim == 2 or x.shape[2] <= 128:  # cv2.resize takes at most 128 channels at once
        out = cv2.resize(x, (width, height), interpolation=cv2.INTER_LINEAR)
        return out if out.ndim == x.ndim else out[..., None]
    chunks = [
        cv2.resize(np.ascontiguousarray(x[..., i : i + 128]), (width, height), interpolation=cv2.INTER_LINEAR)
        for i in range(0, x.shape[2], 128)
    ]
    return np.concatenate([c if c.ndim == 3 else c[..., None] for c in chunks], axis=2)


class LinearHead:
    """A BatchNorm + 1x1 conv head, folded to one affine map for inference (numpy).

    `logits(patches)` maps a (h, w, D) patch grid to (h, w, K). `predict(patches, (W, H))` gives the
    task's output at image size: class ids (H, W) int32 for "seg", depth (H, W) float32 metres for
    "depth". `state` holds the unfolded tensors, named as in the torch module.
    """

    def __init__(self, info: HeadInfo, state: dict[str, np.ndarray], source: str | None = None):
        self.info = info
        self.state = {k: np.asarray(v, dtype=np.float32) for k, v in state.items()}
        K, D = info.out_channels, info.in_channels
        want = {
            "bn.weight": (D,),
            "bn.bias": (D,),
            "bn.running_mean": (D,),
            "bn.running_var": (D,),
            "conv.weight": (K, D, 1, 1),
            "conv.bias": (K,),
        }
        where = f"{source}: " if source else ""
        for name, shape in want.items():
            got = self.state.get(name)
            if got is None:
                raise ModelError(
                    f"{where}{info.task} head: tensor {name!r} is missing (expected shape {shape}; "
                    f"the file has: {', '.join(sorted(self.state)) or 'no tensors'})"
                )
            if got.shape != shape:
                raise ModelError(f"{where}{info.task} head: tensor {name!r} must have shape {shape}, got {got.shape}")
            if not np.isfinite(got).all():
                raise ModelError(f"{where}{info.task} head: tensor {name!r} holds NaN or infinite values")
        # BatchNorm (eval) as scale * x + shift per channel, folded into the 1x1 conv.
        scale = self.state["bn.weight"] / np.sqrt(self.state["bn.running_var"] + BN_EPS)  # (D,)
        shift = self.state["bn.bias"] - self.state["bn.running_mean"] * scale  # (D,)
        w = self.state["conv.weight"][:, :, 0, 0]  # (K, D, 1, 1) -> (K, D)
        weight = (w * scale[None, :]).T  # (D_in, K): x @ weight
        self.bias = (self.state["conv.bias"] + w @ shift).astype(np.float32)  # (K,)
        # With the class token, [patch, cls] @ W = patch @ W[:D] + cls @ W[D:]: the second term is
        # one (K,) vector per frame, added to the bias.
        self.weight = np.ascontiguousarray(weight[: info.dim])  # (D, K)
        self.cls_weight = np.ascontiguousarray(weight[info.dim :]) if info.cls_token else None  # (D, K)
        self.centres = depth_bin_centres(*info.depth_bins) if info.task == "depth" else None

    @property
    def task(self) -> Task:
        return self.info.task

    @property
    def classes(self) -> list[str]:
        return self.info.classes

    def logits(self, patches: np.ndarray, cls: np.ndarray | None = None) -> np.ndarray:
        """(h, w, D) patch tokens (+ (D,) class token if the head uses it) -> (h, w, K) float32 logits."""
        if patches.shape[-1] != self.info.dim:
            raise ModelError(
                f"{self.task} head was trained on {self.info.dim}-d features of "
                f"{self.info.encoder}, got {patches.shape[-1]}-d patch tokens"
            )
        bias = self.bias
        if self.cls_weight is not None:
            if cls is None:
                raise ModelError(f"{self.task} head reads the class token too; pass `cls`")
            bias = bias + np.asarray(cls, dtype=np.float32).reshape(-1) @ self.cls_weight  # (D,) @ (D, K) -> (K,)
        x = np.asarray(patches, dtype=np.float32)
        lead = x.shape[:-1]
        out = x.reshape(-1, x.shape[-1]) @ self.weight  # (h*w, D) @ (D, K) -> (h*w, K)
        out += bias
        return out.reshape(*lead, -1)  # (h*w, K) -> (h, w, K)

    def depth_grid(self, patches: np.ndarray, cls: np.ndarray | None = None) -> np.ndarray:
        """Depth per patch: softmax over the bins, then the expected bin centre. (h, w) float32 metres."""
        z = self.logits(patches, cls)  # (h, w, n_bins)
        z -= z.max(axis=-1, keepdims=True)
        np.exp(z, out=z)
        return (z @ self.centres) / z.sum(axis=-1)  # (h, w, n_bins) -> (h, w)

    def predict(self, patches: np.ndarray, size: tuple[int, int], cls: np.ndarray | None = None) -> np.ndarray:
        """The task's output at image size `size` = (W, H) for one (h, w, D) patch grid."""
        width, height = int(size[0]), int(size[1])
        if self.task == "seg":
            logits = upsample_bilinear(self.logits(patches, cls), height, width)  # (h, w, K) -> (H, W, K)
            return logits.argmax(axis=-1).astype(np.int32)  # (H, W, K) -> (H, W)
        depth = upsample_bilinear(self.depth_grid(patches, cls).astype(np.float32), height, width)  # (H, W)
        return depth.astype(np.float32, copy=False)

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the head as safetensors with its metadata; returns the path."""
        safetensors_numpy = _safetensors()
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        meta = {"format": HEAD_FORMAT, "version": str(HEAD_VERSION), "task": self.task, "info": self.info.to_json()}
        tmp = path.with_name(path.name + ".tmp")
        safetensors_numpy.save_file({k: np.ascontiguousarray(v) for k, v in self.state.items()}, str(tmp), meta)
        os.chmod(tmp, 0o644)  # a file to ship and share, not a private one
        os.replace(tmp, path)
        return path

    def __repr__(self) -> str:
        what = f"{len(self.classes)} classes" if self.task == "seg" else f"{self.info.out_channels} depth bins"
        return f"LinearHead({self.task}, {self.info.encoder}, D={self.info.dim}, {what})"


def _safetensors() -> Any:
    try:
        import safetensors.numpy
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise MissingExtraError("safetensors", "vision") from exc
    return safetensors.numpy


def load_head(path: str | os.PathLike[str], task: Task | None = None) -> LinearHead:
    """Read a head file written by `LinearHead.save`; with `task`, insist on that task."""
    from safetensors import safe_open

    from ar_perception.models.files import check_safetensors_file

    _safetensors()
    path = Path(path)
    if not path.exists():
        raise ModelError(f"{path}: head file not found")
    check_safetensors_file(path, "head file")  # sizes and header, before the library reads it
    try:
        with safe_open(str(path), framework="numpy") as f:
            meta = f.metadata() or {}
            state = {k: f.get_tensor(k) for k in f.keys()}
    except Exception as e:  # safetensors raises its own error types for a damaged file
        raise ModelError(f"{path}: not a readable safetensors file ({type(e).__name__}: {e})") from None
    if meta.get("format") != HEAD_FORMAT:
        raise ModelError(
            f"{path}: not an arp head file (metadata format {meta.get('format')!r}, expected {HEAD_FORMAT!r})"
        )
    if meta.get("version") != str(HEAD_VERSION):
        raise ModelError(
            f"{path}: head format version {meta.get('version')!r} is not supported (expected {HEAD_VERSION})"
        )
    info = _head_info(path, meta.get("info"))
    if task is not None and info.task != task:
        raise ModelError(f"{path}: is a {info.task} head, expected a {task} head")
    return LinearHead(info, state, source=str(path))


def _head_info(path: Path, text: str | None) -> HeadInfo:
    """The HeadInfo in a head file's metadata, checked field by field."""
    bad = f"{path}: head metadata 'info'"
    if text is None:
        raise ModelError(f"{bad} is missing (expected the JSON of HeadInfo that LinearHead.save writes)")
    try:
        raw = json.loads(text)
    except ValueError as e:
        raise ModelError(f"{bad} is not valid JSON ({e})") from None
    if not isinstance(raw, dict):
        raise ModelError(f"{bad} is a JSON {type(raw).__name__}, expected an object")
    known = set(HeadInfo.__dataclass_fields__)
    unknown = sorted(set(raw) - known)
    if unknown:
        raise ModelError(f"{bad} has unknown key(s) {', '.join(unknown)} (known: {', '.join(sorted(known))})")
    problems = []
    if raw.get("task") not in ("seg", "depth"):
        problems.append(f"task {raw.get('task')!r} (expected 'seg' or 'depth')")
    if not isinstance(raw.get("dim"), int) or isinstance(raw.get("dim"), bool) or raw["dim"] < 1:
        problems.append(f"dim {raw.get('dim')!r} (expected a positive integer)")
    if not isinstance(raw.get("encoder"), str):
        problems.append(f"encoder {raw.get('encoder')!r} (expected a name)")
    if raw.get("task") == "seg":
        classes = raw.get("classes")
        if not isinstance(classes, list) or not classes or not all(isinstance(c, str) for c in classes):
            problems.append(f"classes {classes!r} (expected a non-empty list of names)")
    if raw.get("task") == "depth":
        bins = raw.get("bins")
        if (
            not isinstance(bins, dict)
            or not isinstance(bins.get("n"), int)
            or bins["n"] < 1
            or not all(isinstance(bins.get(k), (int, float)) for k in ("min", "max"))
        ):
            problems.append(f"bins {bins!r} (expected {{'n': count, 'min': metres, 'max': metres}})")
    if problems:
        raise ModelError(f"{bad} has an invalid " + "; invalid ".join(problems))
    return HeadInfo(**raw)


def load_default_head(task: Task) -> LinearHead:
    """The head shipped for the offline default encoder (`default_head_path`)."""
    path = default_head_path(task)
    if not path.is_file():
        raise ModelError(
            f"{path}: the default {task} head is missing from this installation "
            "(rebuild it with: python scripts/train_default_heads.py)"
        )
    return load_head(path, task)
