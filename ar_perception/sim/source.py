"""SimSource: a seeded scene, a camera trajectory and a renderer, giving ground-truth frames by index."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ar_perception.errors import ArpError
from ar_perception.sim.camera import TRAJECTORIES, Intrinsics, Trajectory, make_trajectory
from ar_perception.sim.classes import CLASS_NAMES
from ar_perception.sim.render import Renderer
from ar_perception.sim.scene import SimScene, make_scene

__all__ = ["SimFrame", "SimSource"]


@dataclass(frozen=True)
class SimFrame:
    """One rendered frame with exact ground truth.

    image: (H, W, 3) uint8 RGB. depth: (H, W) float32 z-depth in metres along the optical axis,
    0 where no surface was hit. labels: (H, W) uint8 ids into `class_names`. instances: (H, W)
    uint16, 0 = none. intrinsics: fx, fy, cx, cy, width, height (pixels). pose: (4, 4) float64
    camera-to-world, OpenCV camera axes, world z up with the floor at z = 0.
    """

    index: int
    time: float
    image: np.ndarray
    depth: np.ndarray
    labels: np.ndarray
    instances: np.ndarray
    intrinsics: dict[str, float | int]
    pose: np.ndarray
    class_names: tuple[str, ...] = CLASS_NAMES

    @property
    def K(self) -> np.ndarray:
        k = self.intrinsics
        return np.array([[k["fx"], 0.0, k["cx"]], [0.0, k["fy"], k["cy"]], [0.0, 0.0, 1.0]])


class SimSource:
    """Deterministic simulated camera: the same arguments always give the same frames.

    `scene` names a preset of sim.scene.SCENE_PRESETS (which objects, how many); `seed` picks the
    room, layout, colours and light, and the trajectory's parameters. The scene does not depend on
    `trajectory`, so the three trajectories of one seed look at the same room. Frame i is taken at
    time i / fps seconds.
    """

    def __init__(
        self,
        seed: int = 0,
        size: tuple[int, int] = (320, 240),
        scene: str = "room",
        trajectory: str = "orbit",
        fps: float = 10.0,
        hfov_deg: float = 65.0,
        shadows: bool = True,
    ):
        if trajectory not in TRAJECTORIES:
            raise ArpError(f"unknown sim trajectory {trajectory!r} (expected one of: {', '.join(TRAJECTORIES)})")
        width, height = (int(v) for v in size)
        if width < 8 or height < 8:
            raise ArpError(f"sim size must be at least 8x8 pixels, got {width}x{height}")
        if fps <= 0:
            raise ArpError(f"sim fps must be > 0, got {fps}")
        self.seed, self.fps = int(seed), float(fps)
        self.scene: SimScene = make_scene(self.seed, scene)
        traj_rng = np.random.default_rng(np.random.SeedSequence([self.seed, 0x7247]))
        targets = [(np.asarray(o.aabb_min) + np.asarray(o.aabb_max)) / 2 for o in self.scene.objects]
        self.trajectory: Trajectory = make_trajectory(trajectory, self.scene.ring, traj_rng, np.array(targets))
        self.intrinsics = Intrinsics.from_fov(width, height, hfov_deg)
        self._renderer = Renderer(self.scene, self.intrinsics, shadows=shadows)

    @property
    def class_names(self) -> tuple[str, ...]:
        return CLASS_NAMES

    @property
    def size(self) -> tuple[int, int]:
        return self.intrinsics.width, self.intrinsics.height

    def pose(self, t: float) -> np.ndarray:
        """Camera-to-world pose at time t seconds."""
        return self.trajectory.pose(t)

    def frame(self, index: int) -> SimFrame:
        """Frame `index` of the stream, at time index / fps."""
        return self.frame_at(index / self.fps, index)

    def frame_at(self, t: float, index: int = 0) -> SimFrame:
        """The frame seen at time t seconds (`index` is only recorded in the result)."""
        pose = self.trajectory.pose(t)
        out = self._renderer.render(pose)
        return SimFrame(
            index=int(index),
            time=float(t),
            image=out.image,
            depth=out.depth,
            labels=out.labels,
            instances=out.instances,
            intrinsics=self.intrinsics.as_dict(),
            pose=pose,
        )
