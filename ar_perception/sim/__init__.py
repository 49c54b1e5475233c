"""Simulated indoor scenes with exact ground truth: RGB, z-depth, class ids, instance ids, intrinsics, pose."""

from __future__ import annotations

from ar_perception.sim.camera import TRAJECTORIES, Intrinsics, look_at
from ar_perception.sim.classes import CLASS_IDS, CLASS_NAMES
from ar_perception.sim.dataset import Sample, SimDataset, read_dataset, write_dataset
from ar_perception.sim.scene import SCENE_PRESETS, SimObject, SimScene, make_scene
from ar_perception.sim.source import SimFrame, SimSource

__all__ = [
    "CLASS_NAMES",
    "CLASS_IDS",
    "SCENE_PRESETS",
    "TRAJECTORIES",
    "Intrinsics",
    "Sample",
    "SimDataset",
    "SimFrame",
    "SimObject",
    "SimScene",
    "SimSource",
    "look_at",
    "make_scene",
    "read_dataset",
    "write_dataset",
]
