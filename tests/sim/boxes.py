"""A cardboard box in a simulated frame, and the check that points lie on it: shared by the geometry and
point-cloud tests, which make the same check of ar_perception.geometry and of the pointcloud node."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ar_perception.sim import SimFrame, SimSource

CM = 0.01


def visible_box(trajectory: str = "handheld", seeds: range = range(30, 60)) -> tuple[SimSource, SimFrame, int]:
    """A frame where a cardboard box (not stacked) shows its top face over many pixels."""
    for seed in seeds:
        src = SimSource(seed, size=(320, 240), trajectory=trajectory)
        boxes = [o for o in src.scene.objects if o.class_name == "box" and o.position[2] == 0.0]
        for i in range(0, 300, 25):
            f = src.frame(i)
            for box in boxes:
                if (f.instances == box.instance_id).sum() > 800:
                    return src, f, box.instance_id
    raise AssertionError("no frame shows a box")  # pragma: no cover - the scene generator changed


def assert_on_box_with_flat_top(pts: np.ndarray, part: Any) -> None:
    """Every point on the box's surface, and its top face seen, flat, at the placed height."""
    rel = pts.astype(np.float64) - np.asarray(part.center)  # into the box's own frame: centred, turned by its yaw
    c, s = math.cos(part.yaw), math.sin(part.yaw)
    local = np.stack([c * rel[:, 0] + s * rel[:, 1], -s * rel[:, 0] + c * rel[:, 1], rel[:, 2]], axis=1)
    half = np.asarray(part.size) / 2
    assert (np.abs(local) <= half + CM).all()
    top = local[np.abs(local[:, 2] - half[2]) < CM]
    assert len(top) > 50
    assert top[:, 2].max() - top[:, 2].min() < CM
