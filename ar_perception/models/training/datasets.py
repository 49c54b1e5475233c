"""Dataset folders the heads train and evaluate on: the simulator's folders, ADE20K-style and NYU-style.

Every reader gives, per sample, the RGB frame (H, W, 3) uint8 and the target of one task at the frame's
own resolution: class ids (H, W) int32 for "seg" (`IGNORE` = 255 marks pixels without a label), or
depth (H, W) float32 in metres for "depth" (0 = no measurement). A folder has a training split and a
held-out split, called "train" and "val" here whatever the folder calls them.

1. arp-sim: written by `arp sim-dataset` (layout in ar_perception/sim/dataset.py): `meta.json` names
   the classes and the scene folders of each split ("val" scenes are rooms never seen in training).
   Both tasks. Class 0 ("background": no surface hit) is not a label: it is ignored.

2. ADE20K-style (segmentation)::

       DIR/images/training/*.jpg|png        DIR/annotations/training/*.png       (same file stems)
       DIR/images/validation/*.jpg|png      DIR/annotations/validation/*.png
       DIR/classes.txt                      optional: one class name per line, line i = class id i

   Annotations are 8- or 16-bit single-channel PNGs of class ids. As in ADE20K, id 0 means "no label"
   and is ignored (so classes.txt's first line names it, e.g. "unlabeled"); id 255 is ignored too.
   Split folders may also be called train/val; without split folders (images/*.jpg,
   annotations/*.png) about one file in five, chosen by a hash of its stem, is held out. Without
   classes.txt the classes are "unlabeled", "class_1" ... up to the largest id found.

3. NYU-style (depth)::

       DIR/train/rgb/*.jpg|png              DIR/train/depth/*.npy|png            (same file stems)
       DIR/test/rgb/...                     DIR/test/depth/...                   (or val/)

   Depth is either a float .npy in metres or a 16-bit PNG in millimetres; 0 (and NaN) = no depth.
   Without split folders (DIR/rgb, DIR/depth) the held-out fifth is chosen by a hash of the stem.
"""

from __future__ import annotations

import hashlib
import json
import os
import zlib
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Literal, Protocol

import numpy as np

from ar_perception.errors import ArpError
from ar_perception.images import cv2_module

__all__ = [
    "IGNORE",
    "FORMATS",
    "HeadDataset",
    "SimFolder",
    "AdeFolder",
    "NyuFolder",
    "open_dataset",
    "detect_format",
]

IGNORE = 255  # class id of pixels that carry no label, in every reader's output
FORMATS = ("sim", "ade20k", "nyu")
Split = Literal["train", "val"] | None
_IMAGE_EXT = (".jpg", ".jpeg", ".png")


def _read_rgb(path: Path) -> np.ndarray:
    cv2 = cv2_module()
    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if bgr is None:
        raise ArpError(f"{path}: missing or unreadable image")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def _read_gray(path: Path) -> np.ndarray:
    cv2 = cv2_module()
    a = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if a is None:
        raise ArpError(f"{path}: missing or unreadable image")
    if a.ndim == 3:
        raise ArpError(f"{path}: expected a single-channel PNG, got {a.shape[2]} channels")
    return a


class HeadDataset(Protocol):
    """What training and evaluation need from a dataset folder."""

    format: str
    root: Path
    split: Split
    tasks: tuple[str, ...]
    classes: list[str]  # seg: class names by id (empty for depth-only folders)
    ignore_index: int | None  # seg: a class id that is not a label (besides IGNORE)

    def __len__(self) -> int: ...

    def name(self, i: int) -> str: ...

    def image(self, i: int) -> np.ndarray: ...

    def target(self, i: int, task: str) -> np.ndarray: ...

    def fingerprint(self) -> str: ...


def _held_out(stem: str) -> bool:
    return zlib.crc32(stem.encode()) % 5 == 0


def _fingerprint(*parts: Any, files: Sequence[Path] = ()) -> str:
    h = hashlib.sha1(json.dumps(parts, default=str).encode())
    for f in files:
        st = f.stat()
        h.update(f"{f}:{st.st_size}:{st.st_mtime_ns}\n".encode())
    return h.hexdigest()


def _check_task(ds: HeadDataset, task: str) -> None:
    if task not in ds.tasks:
        raise ArpError(f"{ds.root}: a {ds.format} folder has no {task} targets (it has: {', '.join(ds.tasks)})")


class SimFolder:
    """A folder written by `arp sim-dataset` (both tasks)."""

    format = "sim"
    tasks: tuple[str, ...] = ("seg", "depth")

    def __init__(self, root: str | os.PathLike[str], split: Split = None):
        from ar_perception.sim.dataset import SimDataset

        self.root, self.split = Path(root), split
        self._ds = SimDataset(self.root, split)
        self.meta: dict[str, Any] = self._ds.meta
        self.classes = list(self._ds.class_names)
        self.ignore_index: int | None = 0  # "background": no surface was hit
        self._scale = float(self._ds.meta["depth"]["scale"])
        splits: dict[str, list[str]] = self._ds.meta["splits"]
        scenes = sorted(s for k, names in splits.items() if split in (None, k) for s in names)
        self._items = [
            (scene, int(f["index"]))
            for scene in scenes
            for f in json.loads((self.root / scene / "cameras.json").read_text())["frames"]
        ]

    def __len__(self) -> int:
        return len(self._items)

    def name(self, i: int) -> str:
        scene, index = self._items[i]
        return f"{scene}/frame_{index:04d}"

    def _stem(self, i: int) -> Path:
        return self.root / self.name(i)

    def image(self, i: int) -> np.ndarray:
        return _read_rgb(Path(f"{self._stem(i)}_rgb.png"))

    def target(self, i: int, task: str) -> np.ndarray:
        _check_task(self, task)
        if task == "seg":
            return _read_gray(Path(f"{self._stem(i)}_class.png")).astype(np.int32)
        return _read_gray(Path(f"{self._stem(i)}_depth.png")).astype(np.float32) * np.float32(self._scale)

    def fingerprint(self) -> str:
        return _fingerprint("sim", self.split, (self.root / "meta.json").read_text(), files=[self.root / "meta.json"])


def _split_dirs(base: Path, split: Split, names: dict[str, tuple[str, ...]]) -> list[Path] | None:
    """The split's folder(s) under `base`, or None when `base` has no split folders."""
    found = {s: [base / n for n in ns if (base / n).is_dir()] for s, ns in names.items()}
    if not any(found.values()):
        return None
    if split is None:
        return [d for ds in found.values() for d in ds]
    if not found[split]:
        raise ArpError(f"{base}: no {split} split folder (expected one of: {', '.join(names[split])})")
    return found[split]


def _pairs(images: list[Path], targets: list[Path], exts: tuple[str, ...], what: str) -> list[tuple[Path, Path]]:
    by_stem: dict[str, Path] = {}
    for d in targets:
        for p in d.iterdir():
            if p.suffix.lower() in exts:
                by_stem[str(p.relative_to(d).with_suffix(""))] = p
    pairs, missing = [], []
    for d in images:
        for p in sorted(d.iterdir()):
            if p.suffix.lower() not in _IMAGE_EXT:
                continue
            t = by_stem.get(p.stem)
            if t is None:
                missing.append(p.name)
            else:
                pairs.append((p, t))
    if missing:
        raise ArpError(f"{images[0].parent}: {len(missing)} image(s) without {what} (first: {missing[0]})")
    return pairs


class _PairedFolder:
    """A folder of (image, target) file pairs: what the ADE20K- and NYU-style readers share."""

    root: Path
    _pairs: list[tuple[Path, Path]]

    def __len__(self) -> int:
        return len(self._pairs)

    def name(self, i: int) -> str:
        return str(self._pairs[i][0].relative_to(self.root))

    def image(self, i: int) -> np.ndarray:
        return _read_rgb(self._pairs[i][0])


class AdeFolder(_PairedFolder):
    """ADE20K-style segmentation folder (layout in the module docstring)."""

    format = "ade20k"
    tasks: tuple[str, ...] = ("seg",)
    SPLITS: dict[str, tuple[str, ...]] = {"train": ("training", "train"), "val": ("validation", "val")}

    def __init__(self, root: str | os.PathLike[str], split: Split = None):
        self.root, self.split = Path(root), split
        img_dirs = _split_dirs(self.root / "images", split, self.SPLITS)
        if img_dirs is None:
            pairs = _pairs([self.root / "images"], [self.root / "annotations"], (".png",), "annotation")
            if split is not None:
                pairs = [p for p in pairs if _held_out(p[0].stem) == (split == "val")]
        else:
            pairs = []
            for d in img_dirs:
                ann = self.root / "annotations" / d.name
                if not ann.is_dir():
                    raise ArpError(f"{self.root}: images/{d.name} has no annotations/{d.name} folder")
                pairs += _pairs([d], [ann], (".png",), "annotation")
        if not pairs:
            raise ArpError(f"{self.root}: no image/annotation pairs found ({split or 'all'} split)")
        self._pairs = pairs
        self.ignore_index: int | None = 0
        names = self.root / "classes.txt"
        if names.is_file():
            self.classes = [ln.strip() for ln in names.read_text().splitlines() if ln.strip()]
        else:  # scan every annotation (both splits, so that the class count does not depend on the split)
            top = max(
                int(_read_gray(t).max()) for _, t in (self._pairs if split is None else AdeFolder(root, None)._pairs)
            )
            top = top if top != IGNORE else 254
            self.classes = ["unlabeled", *(f"class_{i}" for i in range(1, top + 1))]

    def target(self, i: int, task: str) -> np.ndarray:
        _check_task(self, task)
        labels = _read_gray(self._pairs[i][1]).astype(np.int32)
        labels[labels >= len(self.classes)] = IGNORE
        return labels

    def fingerprint(self) -> str:
        files = [p for pair in self._pairs for p in pair]
        return _fingerprint("ade20k", self.split, self.classes, files=files)


class NyuFolder(_PairedFolder):
    """NYU-style depth folder (layout in the module docstring)."""

    format = "nyu"
    tasks: tuple[str, ...] = ("depth",)
    SPLITS: dict[str, tuple[str, ...]] = {"train": ("train", "training"), "val": ("test", "val", "validation")}

    def __init__(self, root: str | os.PathLike[str], split: Split = None):
        self.root, self.split = Path(root), split
        dirs = _split_dirs(self.root, split, self.SPLITS)
        if dirs is None:
            pairs = _pairs([self.root / "rgb"], [self.root / "depth"], (".npy", ".png"), "depth")
            if split is not None:
                pairs = [p for p in pairs if _held_out(p[0].stem) == (split == "val")]
        else:
            pairs = [pr for d in dirs for pr in _pairs([d / "rgb"], [d / "depth"], (".npy", ".png"), "depth")]
        if not pairs:
            raise ArpError(f"{self.root}: no rgb/depth pairs found ({split or 'all'} split)")
        self._pairs = pairs
        self.classes: list[str] = []
        self.ignore_index: int | None = None

    def target(self, i: int, task: str) -> np.ndarray:
        _check_task(self, task)
        path = self._pairs[i][1]
        if path.suffix.lower() == ".npy":
            depth = np.load(path).astype(np.float32)
            if depth.ndim == 3 and depth.shape[-1] == 1:
                depth = depth[..., 0]
        else:
            raw = _read_gray(path)
            if raw.dtype != np.uint16:
                raise ArpError(f"{path}: a depth PNG must be 16-bit millimetres, got {raw.dtype}")
            depth = raw.astype(np.float32) * np.float32(0.001)
        if depth.ndim != 2:
            raise ArpError(f"{path}: depth must be (H, W), got shape {depth.shape}")
        return np.where(np.isfinite(depth), depth, np.float32(0.0)).astype(np.float32)

    def fingerprint(self) -> str:
        files = [p for pair in self._pairs for p in pair]
        return _fingerprint("nyu", self.split, files=files)


def detect_format(root: str | os.PathLike[str]) -> str:
    """ "sim", "ade20k" or "nyu", from what the folder holds."""
    root = Path(root)
    if not root.is_dir():
        raise ArpError(f"{root}: no such dataset folder")
    meta = root / "meta.json"
    if meta.is_file():
        try:
            if json.loads(meta.read_text()).get("format") == "arp-sim":
                return "sim"
        except json.JSONDecodeError:
            pass
    if (root / "annotations").is_dir() and (root / "images").is_dir():
        return "ade20k"
    if (root / "depth").is_dir() or any((root / s / "depth").is_dir() for s in ("train", "test", "val")):
        return "nyu"
    raise ArpError(
        f"{root}: not a dataset folder this reader knows (expected an arp-sim folder with meta.json, "
        "an ADE20K-style folder with images/ and annotations/, or an NYU-style folder with rgb/ "
        "and depth/)"
    )


def open_dataset(root: str | os.PathLike[str], split: Split = None, format: str = "auto") -> HeadDataset:
    """The reader for `root` (format detected unless given), on one split or (split=None) all of it."""
    fmt = detect_format(root) if format == "auto" else format
    readers: dict[str, Callable[[str | os.PathLike[str], Split], HeadDataset]] = {
        "sim": SimFolder,
        "ade20k": AdeFolder,
        "nyu": NyuFolder,
    }
    if fmt not in readers:
        raise ArpError(f"unknown dataset format {format!r} (expected auto or one of: {', '.join(FORMATS)})")
    if split not in (None, "train", "val"):
        raise ArpError(f"unknown split {split!r} (expected train, val or all)")
    return readers[fmt](root, split)
