"""The source of the recording benchmark: 640x480 RGB + depth at a fixed rate from pre-rendered frames.

Referenced as `recording_nodes:RgbdSource` with benchmarks/ on the search path. Frames come from an .npz
(`image` (K, H, W, 3) uint8, `depth` (K, H, W) float32) rendered once by the benchmark, so that sources cost
no rendering time and every stream carries realistic, differently compressible content.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from ar_perception import Msg, Node
from ar_perception.runtime.node import Outputs


class RgbdSource(Node):
    """Cycles through pre-rendered RGB-D frames at `fps` for `frames` frames."""

    outputs = {"image": "Image", "depth": "Depth"}

    class Params(BaseModel):
        model_config = ConfigDict(extra="forbid")
        frames_file: str
        fps: float = Field(30.0, gt=0)
        frames: int = Field(120, ge=1)
        offset: int = Field(0, ge=0, description="first frame of the cycle, so streams differ")

    params: Params

    def setup(self) -> None:
        with np.load(self.params.frames_file) as f:
            self.images, self.depths = f["image"], f["depth"]
        for a in (self.images, self.depths):
            a.flags.writeable = False  # sent zero-copy

    def produce(self) -> Iterator[Outputs]:
        p = self.params
        start = time.monotonic()
        for i in range(p.frames):
            k = (i + p.offset) % len(self.images)
            now = time.time_ns()
            yield {
                "image": Msg("Image", {"data": self.images[k]}, {"frame": i}, now),
                "depth": Msg("Depth", {"data": self.depths[k]}, {"frame": i}, now),
            }
            delay = start + (i + 1) / p.fps - time.monotonic()
            if delay > 0:
                time.sleep(delay)
