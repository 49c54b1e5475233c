"""RGB-D folders read as timed colour + depth pairs: the TUM RGB-D layout, and a plain one.

TUM RGB-D (https://cvg.cit.tum.de/data/datasets/rgbd-dataset/file_formats):
- `rgb.txt` and `depth.txt` list "timestamp filename" per line (seconds; `#` starts a comment).
- Depth images are 16-bit PNG; metres = value / `depth_scale` (5000 for TUM); 0 = no depth.
- Intrinsics are not in the folder. The freiburg1/2/3 sequences have published ones (`FREIBURG`), picked by
  the folder's name ("rgbd_dataset_freiburg1_xyz"); any other folder needs them given.

Plain: `rgb/` (or `color/`, `image/`) and `depth/` folders whose files share stems (`000012.png` and
`000012.png`, or `.npy` depth in metres), and an intrinsics file in the folder (`intrinsics.yaml|yml|json` or
`camera.yaml|json`). A stem that is a timestamp (with a decimal point, or a whole number of s, ms, us or ns
since 1970) is the frame's time; a frame number in the name ("000012", "frame12") is timed at `fps`, so colour
and depth of the same number pair even where a frame is missing from one folder.

Intrinsics files hold `fx, fy, cx, cy` (+ `width, height`), or a 3x3 `K` / `camera_matrix` (a flat list of 9,
or OpenCV's {rows, cols, data}).

Pairing: every colour frame with the depth frame nearest in time, at most `max_dt_s` apart (TUM's own
associate.py uses 0.02 s); frames left without a partner are counted in `unpaired_rgb` / `unpaired_depth`.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import yaml

from ar_perception.errors import ArpError
from ar_perception.images import cv2_module, to_rgb

__all__ = ["FREIBURG", "TUM_DEPTH_SCALE", "RgbdPair", "RgbdFolder", "open_rgbd_folder", "read_intrinsics"]

TUM_DEPTH_SCALE = 5000.0
# The published intrinsics of the TUM RGB-D sequences (640x480), by the camera in the folder's name.
FREIBURG: dict[str, dict[str, float]] = {
    "freiburg1": {"fx": 517.3, "fy": 516.5, "cx": 318.6, "cy": 255.3, "width": 640, "height": 480},
    "freiburg2": {"fx": 520.9, "fy": 521.0, "cx": 325.1, "cy": 249.7, "width": 640, "height": 480},
    "freiburg3": {"fx": 535.4, "fy": 539.2, "cx": 320.1, "cy": 247.6, "width": 640, "height": 480},
}
_RGB_DIRS = ("rgb", "color", "colour", "image", "images")
_INTRINSICS_FILES = ("intrinsics.yaml", "intrinsics.yml", "intrinsics.json", "camera.yaml", "camera.json")
_IMAGE_EXT = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff"}


@dataclass(frozen=True)
class RgbdPair:
    time_s: float  # the colour frame's time
    rgb: Path
    depth: Path
    dt_s: float  # depth time - colour time


@dataclass
class RgbdFolder:
    root: Path
    layout: Literal["tum", "plain"]
    pairs: list[RgbdPair]
    intrinsics: dict[str, float]  # fx, fy, cx, cy, width, height
    depth_scale: float  # PNG depth: metres = value / depth_scale
    max_dt_s: float
    unpaired_rgb: int = 0
    unpaired_depth: int = 0
    notes: list[str] = field(default_factory=list)  # how the intrinsics were found, etc.

    def load(self, pair: RgbdPair) -> tuple[np.ndarray, np.ndarray]:
        """The pair's colour (H, W, 3) uint8 RGB and depth (H, W) float32 metres (0 = none)."""
        rgb = _read_image(pair.rgb)
        depth = _read_depth(pair.depth, self.depth_scale)
        if rgb.shape[:2] != depth.shape:
            raise ArpError(
                f"{pair.depth}: depth is {depth.shape[1]}x{depth.shape[0]} but its colour frame {pair.rgb.name} is "
                f"{rgb.shape[1]}x{rgb.shape[0]}; register depth to colour first (a RealSense: align_to color)"
            )
        return rgb, depth


def _read_image(path: Path) -> np.ndarray:
    cv2 = cv2_module()
    frame = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if frame is None:
        raise ArpError(f"{path}: not a readable image (missing, empty or an unknown format)")
    try:
        return to_rgb(frame, "bgr" if frame.ndim == 3 else "rgb")
    except ValueError as e:
        raise ArpError(f"{path}: {e}") from None


def _read_depth(path: Path, scale: float) -> np.ndarray:
    if path.suffix == ".npy":
        try:
            d = np.load(path, allow_pickle=False)
        except (OSError, ValueError) as e:
            raise ArpError(f"{path}: not a readable .npy depth map ({e})") from None
        if d.ndim != 2 or d.dtype.kind != "f":
            raise ArpError(f"{path}: a .npy depth map must be (H, W) float metres, got {d.dtype} {d.shape}")
        return np.where(np.isfinite(d) & (d > 0), d, 0).astype(np.float32)
    cv2 = cv2_module()
    d = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if d is None:
        raise ArpError(f"{path}: not a readable depth image")
    if d.ndim != 2 or d.dtype != np.uint16:
        raise ArpError(
            f"{path}: depth must be a 16-bit single-channel PNG (metres x {scale:g}), got {d.dtype} {d.shape}"
        )
    return (d.astype(np.float32) / np.float32(scale)).astype(np.float32)


def _read_list(path: Path) -> list[tuple[float, Path]]:
    """A TUM list file: (time, file) per line, comments and blank lines skipped."""
    out = []
    for n, line in enumerate(path.read_text().splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.split()
        try:
            t = float(parts[0])
        except ValueError:
            raise ArpError(f"{path}:{n}: expected 'timestamp filename', got {line!r}") from None
        if len(parts) < 2:
            raise ArpError(f"{path}:{n}: a timestamp without a file name: {line!r}")
        out.append((t, path.parent / parts[1]))
    return out


def _matrix(k: Any) -> np.ndarray | None:
    if isinstance(k, dict) and "data" in k:
        k = k["data"]
    a = np.asarray(k, float).reshape(-1) if k is not None else None
    return a.reshape(3, 3) if a is not None and a.size == 9 else None


def read_intrinsics(source: str | Path | dict[str, Any], where: str = "intrinsics") -> dict[str, float]:
    """fx, fy, cx, cy (+ width, height when given) from a mapping or a YAML/JSON file (see the module text)."""
    if isinstance(source, dict):
        d: Any = source
    else:
        path = Path(source)
        where = str(path)
        try:
            text = path.read_text()
        except OSError as e:
            raise ArpError(f"{path}: cannot read the intrinsics file ({e.strerror or e})") from None
        try:
            d = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
        except (json.JSONDecodeError, yaml.YAMLError) as e:
            raise ArpError(f"{path}: not valid {'JSON' if path.suffix == '.json' else 'YAML'}: {e}") from None
    if not isinstance(d, dict):
        raise ArpError(f"{where}: expected a mapping with fx, fy, cx, cy (or K), got {type(d).__name__}")
    k = _matrix(d.get("K", d.get("k", d.get("camera_matrix"))))
    out: dict[str, float] = {}
    if k is not None:
        out = {"fx": k[0, 0], "fy": k[1, 1], "cx": k[0, 2], "cy": k[1, 2]}
    for key in ("fx", "fy", "cx", "cy"):
        if key in d:
            out[key] = d[key]
    missing = [key for key in ("fx", "fy", "cx", "cy") if key not in out]
    if missing:
        raise ArpError(f"{where}: missing {', '.join(missing)} (give fx, fy, cx, cy, or a 3x3 K)")
    for key in ("width", "height"):
        if key in d:
            out[key] = d[key]
        elif f"image_{key}" in d:
            out[key] = d[f"image_{key}"]
    try:
        values = {key: float(v) for key, v in out.items()}
    except (TypeError, ValueError):
        raise ArpError(f"{where}: intrinsics must be numbers, got {out}") from None
    if not all(math.isfinite(v) for v in values.values()) or values["fx"] <= 0 or values["fy"] <= 0:
        raise ArpError(f"{where}: fx and fy must be positive and every value finite, got {values}")
    return values


def _pair(
    rgb: list[tuple[float, Path]], depth: list[tuple[float, Path]], max_dt_s: float
) -> tuple[list[RgbdPair], int, int]:
    """Each colour frame with the nearest depth frame within `max_dt_s`, each depth frame used once (nearest
    pairs first, as TUM's associate.py does)."""
    if not rgb or not depth:
        return [], len(rgb), len(depth)
    depth = sorted(depth, key=lambda e: e[0])
    dt = np.array([t for t, _ in depth])
    candidates = []
    for i, (t, _) in enumerate(rgb):
        lo = int(np.searchsorted(dt, t - max_dt_s, side="left"))
        hi = int(np.searchsorted(dt, t + max_dt_s, side="right"))
        candidates += [(abs(float(dt[j]) - t), i, j) for j in range(lo, hi)]
    used_rgb: set[int] = set()
    used_depth: set[int] = set()
    pairs = []
    for _, i, j in sorted(candidates):
        if i in used_rgb or j in used_depth:
            continue
        used_rgb.add(i)
        used_depth.add(j)
        (t, r), (td, d) = rgb[i], depth[j]
        pairs.append(RgbdPair(t, r, d, td - t))
    pairs.sort(key=lambda p: p.time_s)
    return pairs, len(rgb) - len(pairs), len(depth) - len(pairs)


_DIGITS = re.compile(r"(\d+)")


def _seconds(stamp: float) -> float:
    """A timestamp in seconds, from seconds, milliseconds, microseconds or nanoseconds since 1970 (by size)."""
    for scale, above in ((1e9, 1e17), (1e6, 1e14), (1e3, 1e11)):
        if stamp > above:
            return stamp / scale
    return stamp


def _stem_times(files: list[Path], fps: float) -> list[tuple[float, Path]]:
    """Each file's time: its stem as a timestamp (a decimal point, or a whole number since 1970 in s, ms, us or
    ns); else the frame number in its name (the last run of digits: "000012", "frame12") at `fps`, so that a
    frame missing from one folder does not shift the pairs after it; else its place in the order at `fps`."""
    stems = [f.stem for f in files]
    try:
        stamps = [float(x) for x in stems]
    except ValueError:
        stamps = []
    if stamps and all("." in x or v >= 1e9 for x, v in zip(stems, stamps, strict=True)):
        return [(_seconds(v), f) for v, f in zip(stamps, files, strict=True)]
    numbers = [_DIGITS.findall(x) for x in stems]
    if all(numbers):
        return [(int(n[-1]) / fps, f) for n, f in zip(numbers, files, strict=True)]
    return [(i / fps, f) for i, f in enumerate(files)]


def _files(folder: Path, exts: set[str]) -> list[Path]:
    """The files with `exts`, in natural order ("frame9" before "frame10")."""

    def key(p: Path) -> list[tuple[int, int | str]]:
        return [(0, int(part)) if part.isdigit() else (1, part) for part in _DIGITS.split(p.stem) if part]

    return sorted((p for p in folder.iterdir() if p.suffix.lower() in exts), key=key)


def open_rgbd_folder(
    path: str | Path,
    *,
    layout: Literal["auto", "tum", "plain"] = "auto",
    depth_scale: float | None = None,
    intrinsics: str | Path | dict[str, Any] | None = None,
    max_dt_s: float = 0.02,
    fps: float = 30.0,
) -> RgbdFolder:
    """The RGB-D folder at `path`, paired and with its intrinsics; nothing is decoded until `load`.
    `depth_scale` default: 5000 for TUM, 1000 (millimetres, as RealSense and Kinect write) for plain."""
    root = Path(path).expanduser()
    if not root.is_dir():
        raise ArpError(
            f"{root}: not a folder (expected a TUM RGB-D folder with rgb.txt and depth.txt, or rgb/ + depth/)"
        )
    if layout == "auto":
        layout = "tum" if (root / "rgb.txt").is_file() and (root / "depth.txt").is_file() else "plain"
    notes: list[str] = []
    if layout == "tum":
        for name in ("rgb.txt", "depth.txt"):
            if not (root / name).is_file():
                raise ArpError(f"{root}: a TUM RGB-D folder needs {name} (see the TUM RGB-D file formats)")
        rgb, depth = _read_list(root / "rgb.txt"), _read_list(root / "depth.txt")
        scale = TUM_DEPTH_SCALE if depth_scale is None else depth_scale
    else:
        rgb_dir = next((root / d for d in _RGB_DIRS if (root / d).is_dir()), None)
        if rgb_dir is None or not (root / "depth").is_dir():
            raise ArpError(
                f"{root}: no RGB-D layout found: expected rgb.txt + depth.txt (TUM), or the folders "
                f"{'/'.join(_RGB_DIRS)} and depth/ with matching file names"
            )
        rgb = _stem_times(_files(rgb_dir, _IMAGE_EXT), fps)
        depth = _stem_times(_files(root / "depth", {".png", ".npy"}), fps)
        scale = 1000.0 if depth_scale is None else depth_scale
    if scale <= 0 or not math.isfinite(scale):
        raise ArpError(f"{root}: depth_scale must be a positive number, got {scale}")
    for t, f in rgb[:1] + depth[:1]:
        if not f.is_file():
            raise ArpError(f"{f}: listed at t={t:.6f} but missing")
    pairs, lone_rgb, lone_depth = _pair(rgb, depth, max_dt_s)
    if not pairs:
        raise ArpError(
            f"{root}: no colour frame has a depth frame within {max_dt_s * 1000:g} ms ({len(rgb)} colour, "
            f"{len(depth)} depth frames); raise max_dt_ms if the streams are further apart"
        )
    if intrinsics is not None:
        k = read_intrinsics(intrinsics)
        notes.append(f"intrinsics from {intrinsics if not isinstance(intrinsics, dict) else 'params'}")
    else:
        found = next((root / n for n in _INTRINSICS_FILES if (root / n).is_file()), None)
        camera = next((c for c in FREIBURG if c in root.name.lower()), None) if layout == "tum" else None
        if found is not None:
            k = read_intrinsics(found)
            notes.append(f"intrinsics from {found.name}")
        elif camera is not None:
            k = dict(FREIBURG[camera])
            notes.append(f"intrinsics: the published ones of TUM {camera} (from the folder's name)")
        else:
            raise ArpError(
                f"{root}: no intrinsics: put {_INTRINSICS_FILES[0]} (fx, fy, cx, cy) in the folder or give them"
                + (
                    " (a TUM folder named after its freiburg1/2/3 camera gets the published ones)"
                    if layout == "tum"
                    else ""
                )
            )
    if "width" not in k or "height" not in k:  # the size of the frames the intrinsics belong to
        h, w = _read_image(pairs[0].rgb).shape[:2]
        k = {**k, "width": float(w), "height": float(h)}
    return RgbdFolder(root, layout, pairs, k, scale, max_dt_s, lone_rgb, lone_depth, notes)
