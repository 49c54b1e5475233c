"""Writing and reading a folder of simulated frames with exact ground truth.

Layout of a dataset folder (format "arp-sim", version 1)::

    DIR/
      meta.json                  written last: a folder without it is incomplete
                                 {"format": "arp-sim", "version": 1,
                                  "classes": ["background", "floor", ...],   class id = index
                                  "size": [W, H], "seed": S, "preset": "room",
                                  "scenes": N, "frames_per_scene": M,
                                  "depth": {"unit": "millimetre", "scale": 0.001, "invalid": 0},
                                  "splits": {"train": ["scene_0000", ...], "val": [...]}}
      scene_0000/
        scene.json               the scene: its seed, trajectory, room size (m), light, and every
                                 object with class, instance id, base position, yaw and world AABB
        cameras.json             {"intrinsics": {"fx", "fy", "cx", "cy", "width", "height"},
                                  "frames": [{"index": 0, "time": 0.0, "pose": 4x4 list}, ...]}
        frame_0000_rgb.png       8-bit RGB
        frame_0000_depth.png     16-bit grey: z-depth along the optical axis in millimetres, 0 = none
        frame_0000_class.png     8-bit grey: class ids (indices into meta.json "classes")
        frame_0000_instance.png  16-bit grey: instance ids (0 none, 1 floor, 2 ceiling, 3-6 walls,
                                 7.. objects as listed in scene.json)
        ...

Frames follow the OpenCV pinhole convention (x right, y down, z forward; pixel centres at integer
coordinates). A pose is camera-to-world, world z up with the floor at z = 0, in metres. Scene i of a
dataset with seed S is SimSource(seed=scene.json "seed", scene=preset, trajectory=...) with its
frames spread evenly over one loop of the trajectory; the last scenes (about `val_fraction` of them)
form the "val" split, so validation views come from rooms never seen in training.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ar_perception.errors import ArpError
from ar_perception.images import cv2_module
from ar_perception.sim.camera import TRAJECTORIES
from ar_perception.sim.classes import CLASS_NAMES
from ar_perception.sim.scene import SCENE_PRESETS
from ar_perception.sim.source import SimSource

__all__ = [
    "DATASET_FORMAT",
    "DATASET_VERSION",
    "Sample",
    "SimDataset",
    "read_dataset",
    "scene_seed",
    "write_dataset",
]

DATASET_FORMAT = "arp-sim"
DATASET_VERSION = 1


def scene_seed(seed: int, index: int) -> int:
    """The SimSource seed of scene `index` in a dataset written with `seed`."""
    return int(np.random.SeedSequence([int(seed), int(index), 0xDA7A]).generate_state(1)[0])


def write_dataset(
    out_dir: str | os.PathLike[str],
    scenes: int,
    frames: int,
    seed: int = 0,
    size: tuple[int, int] = (320, 240),
    progress: bool = True,
    preset: str = "room",
    trajectories: Sequence[str] = TRAJECTORIES,
    val_fraction: float = 0.2,
    overwrite: bool = False,
) -> Path:
    """Render `scenes` x `frames` frames into `out_dir` (layout in this module's docstring).

    Scene i uses trajectory ``trajectories[i % len(trajectories)]``. Refuses a folder that already
    holds files unless `overwrite` is true, in which case its scene folders and meta.json are replaced.
    Returns the folder.
    """
    if scenes < 1 or frames < 1:
        raise ArpError(f"write_dataset: scenes and frames must be >= 1, got scenes={scenes}, frames={frames}")
    if preset not in SCENE_PRESETS:
        raise ArpError(f"write_dataset: unknown preset {preset!r} (expected one of: {', '.join(SCENE_PRESETS)})")
    bad = [t for t in trajectories if t not in TRAJECTORIES]
    if bad or not trajectories:
        raise ArpError(f"write_dataset: unknown trajectories {bad} (expected some of: {', '.join(TRAJECTORIES)})")
    if not 0.0 <= val_fraction < 1.0:
        raise ArpError(f"write_dataset: val_fraction must be in [0, 1), got {val_fraction}")
    cv2 = cv2_module()
    root = Path(out_dir)
    if root.exists() and any(root.iterdir()):
        if not overwrite:
            raise ArpError(f"write_dataset: {root} is not empty (pass overwrite=True to replace a dataset there)")
        (root / "meta.json").unlink(missing_ok=True)
        for old in root.glob("scene_*"):
            shutil.rmtree(old)
    root.mkdir(parents=True, exist_ok=True)

    from tqdm.auto import tqdm  # a dependency of the vision extra, like cv2

    names = [f"scene_{i:04d}" for i in range(scenes)]
    n_val = int(round(val_fraction * scenes)) if scenes > 1 else 0
    n_val = min(max(n_val, 1 if val_fraction > 0 and scenes > 1 else 0), scenes - 1)
    with tqdm(total=scenes * frames, desc="sim-dataset", unit="frame", disable=not progress) as bar:
        for i, name in enumerate(names):
            trajectory = trajectories[i % len(trajectories)]
            source = SimSource(scene_seed(seed, i), size=size, scene=preset, trajectory=trajectory)
            folder = root / name
            folder.mkdir()
            cams = []
            for j in range(frames):
                t = j * source.trajectory.period / frames
                frame = source.frame_at(t, j)
                stem = folder / f"frame_{j:04d}"
                _imwrite(cv2, f"{stem}_rgb.png", cv2.cvtColor(frame.image, cv2.COLOR_RGB2BGR))
                depth_mm = np.clip(np.rint(frame.depth * 1000.0), 0, 65535).astype(np.uint16)
                _imwrite(cv2, f"{stem}_depth.png", depth_mm)
                _imwrite(cv2, f"{stem}_class.png", frame.labels)
                _imwrite(cv2, f"{stem}_instance.png", frame.instances)
                cams.append({"index": j, "time": t, "pose": frame.pose.tolist()})
                bar.update(1)
            scene_info = {"name": name, "trajectory": trajectory, **source.scene.as_dict()}
            _write_json(folder / "scene.json", scene_info)
            _write_json(folder / "cameras.json", {"intrinsics": source.intrinsics.as_dict(), "frames": cams})
    meta = {
        "format": DATASET_FORMAT,
        "version": DATASET_VERSION,
        "classes": list(CLASS_NAMES),
        "size": [int(size[0]), int(size[1])],
        "seed": int(seed),
        "preset": preset,
        "trajectories": list(trajectories),
        "scenes": scenes,
        "frames_per_scene": frames,
        "depth": {"unit": "millimetre", "scale": 0.001, "invalid": 0},
        "splits": {"train": names[: scenes - n_val], "val": names[scenes - n_val :]},
    }
    _write_json(root / "meta.json", meta)
    return root


def _imwrite(cv2: Any, path: str, array: np.ndarray) -> None:
    if not cv2.imwrite(path, array):
        raise ArpError(f"write_dataset: could not write {path}")


def _write_json(path: Path, obj: object) -> None:
    path.write_text(json.dumps(obj, indent=1) + "\n")


@dataclass(frozen=True)
class Sample:
    """One frame read back from a dataset folder (arrays as described in the layout)."""

    scene: str
    index: int
    image: np.ndarray  # (H, W, 3) uint8 RGB
    depth: np.ndarray  # (H, W) float32 metres, 0 = none
    labels: np.ndarray  # (H, W) uint8 class ids
    instances: np.ndarray  # (H, W) uint16
    intrinsics: dict[str, float | int]
    pose: np.ndarray  # (4, 4) float64 camera-to-world


class SimDataset(Sequence[Sample]):
    """A dataset folder written by `write_dataset`, as a sequence of Samples (optionally one split)."""

    def __init__(self, root: str | os.PathLike[str], split: str | None = None):
        self.root = Path(root)
        meta_path = self.root / "meta.json"
        if not meta_path.is_file():
            raise ArpError(
                f"{self.root}: not an arp-sim dataset folder (no meta.json; an interrupted write leaves none)"
            )
        try:
            self.meta: dict[str, Any] = json.loads(meta_path.read_text())
        except json.JSONDecodeError as exc:
            raise ArpError(f"{meta_path}: not valid JSON ({exc})") from exc
        if self.meta.get("format") != DATASET_FORMAT or self.meta.get("version") != DATASET_VERSION:
            raise ArpError(
                f"{meta_path}: expected format {DATASET_FORMAT!r} version {DATASET_VERSION}, "
                f"got {self.meta.get('format')!r} version {self.meta.get('version')!r}"
            )
        splits: dict[str, list[str]] = self.meta["splits"]
        if split is None:
            scenes = [s for names in splits.values() for s in names]
        elif split in splits:
            scenes = splits[split]
        else:
            raise ArpError(f"{meta_path}: no split {split!r} (it has: {', '.join(splits)})")
        self.split = split
        self.class_names: tuple[str, ...] = tuple(self.meta["classes"])
        self._scale = float(self.meta["depth"]["scale"])
        self._cameras: dict[str, dict[str, Any]] = {}
        self._items: list[tuple[str, int]] = []
        for scene in sorted(scenes):
            cams = json.loads((self.root / scene / "cameras.json").read_text())
            self._cameras[scene] = cams
            self._items.extend((scene, f["index"]) for f in cams["frames"])

    def __len__(self) -> int:
        return len(self._items)

    def __getitem__(self, i: int) -> Sample:  # type: ignore[override]  # an index, no slices
        scene, index = self._items[i]
        cv2 = cv2_module()
        stem = self.root / scene / f"frame_{index:04d}"
        rgb = _imread(cv2, f"{stem}_rgb.png", cv2.IMREAD_COLOR)
        cams = self._cameras[scene]
        return Sample(
            scene=scene,
            index=index,
            image=cv2.cvtColor(rgb, cv2.COLOR_BGR2RGB),
            depth=_imread(cv2, f"{stem}_depth.png", cv2.IMREAD_UNCHANGED).astype(np.float32) * self._scale,
            labels=_imread(cv2, f"{stem}_class.png", cv2.IMREAD_UNCHANGED),
            instances=_imread(cv2, f"{stem}_instance.png", cv2.IMREAD_UNCHANGED),
            intrinsics=dict(cams["intrinsics"]),
            pose=np.asarray(cams["frames"][index]["pose"], dtype=np.float64),
        )

    def __iter__(self) -> Iterator[Sample]:
        for i in range(len(self)):
            yield self[i]

    def scene_info(self, scene: str) -> dict[str, Any]:
        """The scene.json of one scene folder."""
        return json.loads((self.root / scene / "scene.json").read_text())


def read_dataset(root: str | os.PathLike[str], split: str | None = None) -> Iterator[Sample]:
    """Yield every Sample of a dataset folder (or of one split), scene by scene, frame by frame."""
    yield from SimDataset(root, split)


def _imread(cv2: Any, path: str, flags: int) -> np.ndarray:
    image = cv2.imread(path, flags)
    if image is None:
        raise ArpError(f"{path}: missing or unreadable image")
    return image
