"""Frozen encoder features of a dataset, computed once and cached on disk (resumable).

A frame becomes a patch grid (h, w, D) by one encoder pass ("full" view) or by averaging the grids of
the frame and of its mirror image, flipped back ("flip" view: two passes, a little less noise at
object borders). The grids of a dataset split are stored under
``$ARP_CACHE/features/<encoder>-<key>/``, where the key hashes the encoder (name, weights, input
size rule), the view and the dataset's fingerprint (its files, sizes and times):

    info.json        what the folder holds (encoder, D, view, dataset, sample count)
    index.npy        (N, 3) int64: offset of each sample's first token, grid h, grid w
    tokens.npy       (sum h*w, D) float16, row-major patch tokens of every sample
    cls.npy          (N, D) float16 class tokens
    done.npy         (N,) bool: which samples are written (an interrupted run resumes where it stopped)
    target-<task>-<f>.npy (+ .done.npy)  training targets at f x the grid resolution (nearest-sampled):
                     uint8 class ids (255 = no label) or float32 depth in metres (0 = none)

float16 halves the disk and memory cost; the heads are trained in float32.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from ar_perception.errors import ArpError, ModelError
from ar_perception.models.onnx_int8 import INT8_VERSION
from ar_perception.models.standin import STANDIN
from ar_perception.models.training.datasets import IGNORE, HeadDataset

__all__ = ["VIEWS", "DEFAULT_ENCODER", "parse_encoder_spec", "encode_frame", "FeatureCache", "feature_cache"]

VIEWS = ("full", "flip")
DEFAULT_ENCODER = STANDIN.name  # the offline stand-in, as in the demo graph without EUPE weights
TARGET_FACTOR = 4  # training targets at 4x the patch grid (a 16x16 grid -> 64x64 targets)


def parse_encoder_spec(text: str | Mapping[str, Any] | None) -> dict[str, Any]:
    """An encoder spec from the command line: a model name, "NAME,key=value,...", or a JSON object."""
    if text is None:
        return {"model": DEFAULT_ENCODER}
    if isinstance(text, Mapping):
        return dict(text)
    text = text.strip()
    if text.startswith("{"):
        try:
            parsed = json.loads(text)
        except json.JSONDecodeError as e:
            raise ModelError(f"encoder spec {text!r} is not valid JSON: {e}") from None
        if not isinstance(parsed, dict) or "model" not in parsed:
            raise ModelError(f"encoder spec {text!r} must be a JSON object with a 'model' key")
        return parsed
    name, *pairs = [p.strip() for p in text.split(",")]
    spec: dict[str, Any] = {"model": name}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep:
            raise ModelError(f"encoder spec {text!r}: expected key=value after the model name, got {pair!r}")
        spec[key.strip()] = _parse_value(value.strip())
    return spec


def _parse_value(value: str) -> Any:
    for cast in (int, float):
        try:
            return cast(value)
        except ValueError:
            pass
    return {"none": None, "null": None, "true": True, "false": False}.get(value.lower(), value)


def encode_frame(encoder: Any, rgb: np.ndarray, view: str = "full") -> tuple[np.ndarray, np.ndarray]:
    """The (h, w, D) float32 patch grid and (D,) class token of one RGB frame, for `view`."""
    if view not in VIEWS:
        raise ModelError(f"unknown feature view {view!r} (expected one of: {', '.join(VIEWS)})")
    out = encoder(rgb)
    grid = np.asarray(out["patches"], dtype=np.float32)  # (h, w, D)
    cls = np.asarray(out["cls"], dtype=np.float32)  # (D,)
    if view == "flip":
        mirrored = encoder(np.ascontiguousarray(rgb[:, ::-1]))
        grid = 0.5 * (grid + np.asarray(mirrored["patches"], dtype=np.float32)[:, ::-1])  # flip the grid back
        cls = 0.5 * (cls + np.asarray(mirrored["cls"], dtype=np.float32))
    return grid, cls


def _encoder_key(encoder: Any, spec: Mapping[str, Any]) -> dict[str, Any]:
    s = encoder.spec.model_dump() if hasattr(encoder, "spec") else dict(spec)
    s.pop("threads", None)
    s.pop("fallback", None)
    key = {"name": encoder.name, "weights": getattr(encoder, "weights_desc", ""), "spec": s}
    if s.get("precision") not in (None, "fp32"):  # what the int8 copies hold changes with the code
        key["int8"] = INT8_VERSION
    return key


class FeatureCache:
    """The cached patch grids (and training targets) of one dataset split for one encoder and view."""

    def __init__(self, root: Path, ds: HeadDataset, encoder: Any, view: str):
        self.root, self.ds, self.encoder, self.view = root, ds, encoder, view
        self.root.mkdir(parents=True, exist_ok=True)
        self.index = self._index()

    @property
    def n(self) -> int:
        return len(self.index)

    def _index(self) -> np.ndarray:
        path = self.root / "index.npy"
        if path.is_file():
            return np.load(path)
        rows, offset = [], 0
        for i in range(len(self.ds)):
            H, W = self.ds.image(i).shape[:2]
            ih, iw = self.encoder.input_size_for(H, W)
            h, w = ih // self.encoder.patch_size, iw // self.encoder.patch_size
            rows.append((offset, h, w))
            offset += h * w
        index = np.asarray(rows, dtype=np.int64).reshape(-1, 3)
        np.save(self.root / "index.tmp.npy", index)
        os.replace(self.root / "index.tmp.npy", path)
        return index

    @property
    def dim(self) -> int:
        return int(json.loads((self.root / "info.json").read_text())["dim"])

    def complete(self) -> bool:
        done = self.root / "done.npy"
        return done.is_file() and bool(np.load(done, mmap_mode="r").all())

    def fill(self, progress: bool = True) -> None:
        """Encode every sample not yet stored (resumes an interrupted run)."""
        from tqdm.auto import tqdm

        if self.complete():
            return
        tokens_path, done_path = self.root / "tokens.npy", self.root / "done.npy"
        first = None
        if not tokens_path.is_file():  # learn D from the first sample, then lay out the files
            first = encode_frame(self.encoder, self.ds.image(0), self.view)
            total = int(self.index[-1, 0] + self.index[-1, 1] * self.index[-1, 2])
            dim = first[0].shape[-1]
            np.lib.format.open_memmap(self.root / "cls.npy", "w+", np.float16, (self.n, dim)).flush()
            np.lib.format.open_memmap(tokens_path.with_suffix(".tmp.npy"), "w+", np.float16, (total, dim)).flush()
            os.replace(tokens_path.with_suffix(".tmp.npy"), tokens_path)
            np.save(done_path, np.zeros(self.n, dtype=bool))
            info = {
                "encoder": self.encoder.name,
                "dim": dim,
                "view": self.view,
                "dataset": str(self.ds.root),
                "format": self.ds.format,
                "split": self.ds.split,
                "samples": self.n,
                "fingerprint": self.ds.fingerprint(),
            }
            (self.root / "info.json").write_text(json.dumps(info, indent=1) + "\n")
        tokens = np.load(tokens_path, mmap_mode="r+")
        cls_tokens = np.load(self.root / "cls.npy", mmap_mode="r+")
        done = np.load(done_path, mmap_mode="r+")
        todo = [i for i in range(self.n) if not done[i]]
        desc = f"features {self.ds.format}/{self.ds.split or 'all'}"
        for k, i in enumerate(tqdm(todo, desc=desc, unit="frame", disable=not progress)):
            grid, cls = (
                first if (i == 0 and first is not None) else encode_frame(self.encoder, self.ds.image(i), self.view)
            )
            off, h, w = self.index[i]
            if grid.shape[:2] != (h, w):
                raise ModelError(f"{self.ds.name(i)}: encoder gave a {grid.shape[:2]} grid, expected {(h, w)}")
            tokens[off : off + h * w] = grid.reshape(h * w, -1)  # (h, w, D) -> (h*w, D)
            cls_tokens[i] = cls
            done[i] = True
            if k % 32 == 31:  # tokens first: a sample marked done is always on disk
                tokens.flush()
                cls_tokens.flush()
                done.flush()
        tokens.flush()
        cls_tokens.flush()
        done.flush()

    def tokens(self) -> np.ndarray:
        """(sum h*w, D) float16, memory-mapped."""
        if not self.complete():
            raise ArpError(f"{self.root}: feature cache is incomplete; call fill() first")
        return np.load(self.root / "tokens.npy", mmap_mode="r")

    def cls(self) -> np.ndarray:
        """(N, D) float16 class tokens, memory-mapped."""
        self.tokens()
        return np.load(self.root / "cls.npy", mmap_mode="r")

    def grid(self, i: int) -> np.ndarray:
        """Sample i's (h, w, D) patch grid as float32."""
        off, h, w = self.index[i]
        return np.asarray(self.tokens()[off : off + h * w], dtype=np.float32).reshape(h, w, -1)

    def targets(self, task: str, factor: int = TARGET_FACTOR, progress: bool = True) -> tuple[np.ndarray, np.ndarray]:
        """Training targets of every sample at `factor` x its grid: (flat values, (N, 2) offsets/shape rows).

        Returns (values, index) where sample i's target is values[index[i,0] : ...].reshape(h*factor, w*factor).
        """
        import cv2
        from tqdm.auto import tqdm

        path = self.root / f"target-{task}-{factor}.npy"
        done_path = self.root / f"target-{task}-{factor}.done.npy"
        sizes = self.index[:, 1] * self.index[:, 2] * factor * factor
        offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)
        if not path.is_file():
            dtype = np.uint8 if task == "seg" else np.float32
            np.lib.format.open_memmap(path.with_suffix(".tmp.npy"), "w+", dtype, (int(sizes.sum()),)).flush()
            os.replace(path.with_suffix(".tmp.npy"), path)
            np.save(done_path, np.zeros(self.n, dtype=bool))
        values = np.load(path, mmap_mode="r+")
        done = np.load(done_path, mmap_mode="r+")
        todo = [i for i in range(self.n) if not done[i]]
        for i in tqdm(todo, desc=f"targets {task}", unit="frame", disable=not progress or not todo):
            _, h, w = self.index[i]
            t = self.ds.target(i, task)
            if task == "seg":  # class ids as uint8, 255 = no label (cv2 resizes uint8, not int32)
                t = np.where((t < 0) | (t >= IGNORE), IGNORE, t).astype(np.uint8)
            small = cv2.resize(t, (int(w) * factor, int(h) * factor), interpolation=cv2.INTER_NEAREST)
            values[offsets[i] : offsets[i] + sizes[i]] = small.reshape(-1)
            done[i] = True
        values.flush()
        done.flush()
        shapes = np.stack([offsets, self.index[:, 1] * factor, self.index[:, 2] * factor], 1)  # (N, 3)
        return np.load(path, mmap_mode="r"), shapes


def feature_cache(
    ds: HeadDataset,
    encoder: Any,
    spec: Mapping[str, Any],
    view: str = "full",
    cache_dir: str | os.PathLike[str] | None = None,
) -> FeatureCache:
    """The cache folder of (dataset split, encoder, view); created empty when new."""
    if cache_dir is None:
        from ar_perception.models.weights import cache_root

        cache_dir = cache_root() / "features"
    key = json.dumps(
        {"encoder": _encoder_key(encoder, spec), "view": view, "data": ds.fingerprint()}, sort_keys=True, default=str
    )
    digest = hashlib.sha1(key.encode()).hexdigest()[:16]
    return FeatureCache(Path(cache_dir) / f"{encoder.name}-{digest}", ds, encoder, view)
