"""A simulated RGB-D camera with exact ground truth (ar_perception.sim), as a graph source."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from ar_perception.runtime.msg import Msg
from ar_perception.runtime.node import Node, Outputs


class Sim(Node):
    """Procedural indoor scene seen from a moving camera: image, depth, labels, instances, camera."""

    outputs = {
        "image": "Image",
        "depth_gt": "Depth",
        "labels_gt": "Mask",
        "instances_gt": "Mask",
        "camera": "CameraInfo",
    }

    class Params(BaseModel):
        model_config = ConfigDict(extra="forbid")
        seed: int = Field(0, description="picks room, layout, colours, light and trajectory")
        scene: str = Field("room", description="scene preset (ar_perception.sim.SCENE_PRESETS)")
        trajectory: Literal["orbit", "walk", "handheld"] = "orbit"
        fps: float = Field(10.0, gt=0, le=1000)
        size: tuple[int, int] = Field((320, 240), description="width, height")
        frames: int = Field(100, ge=0, description="frames before the source ends; 0 = until stopped")
        realtime: bool = Field(True, description="pace frames at fps; false = as fast as the graph takes them")
        hfov_deg: float = Field(65.0, gt=10, lt=170)

    params: Params

    def setup(self) -> None:
        from ar_perception.sim import SimSource

        p = self.params
        self.source = SimSource(p.seed, p.size, p.scene, p.trajectory, p.fps, p.hfov_deg)

    def produce(self) -> Iterator[Outputs]:
        p = self.params
        start = time.monotonic()
        i = 0
        while not p.frames or i < p.frames:
            f = self.source.frame(i)
            # Capture time: the simulated exposure, on the wall clock of this run.
            capture_ns = time.time_ns()
            meta = {"frame": i, "sim_time": f.time, "seed": p.seed}
            classes = {"classes": list(f.class_names)}
            yield {
                "image": Msg("Image", {"data": f.image}, meta, capture_ns),
                "depth_gt": Msg("Depth", {"data": f.depth}, meta, capture_ns),
                "labels_gt": Msg("Mask", {"data": f.labels}, {**meta, **classes}, capture_ns),
                "instances_gt": Msg("Mask", {"data": f.instances}, {**meta, "classes": []}, capture_ns),
                "camera": Msg("CameraInfo", {"pose": f.pose}, {**meta, **f.intrinsics}, capture_ns),
            }
            i += 1
            if p.realtime:
                yield from self.wait_until(start + i / p.fps)
