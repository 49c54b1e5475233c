"""A synthetic camera: a moving colour gradient at a fixed rate, for demos and tests."""

from __future__ import annotations

import time
from collections.abc import Iterator

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from ar_perception.runtime.msg import Msg
from ar_perception.runtime.node import Node, Outputs


class Pattern(Node):
    """Moving RGB gradient frames; ends after `frames` frames (0 = never)."""

    outputs = {"image": "Image"}

    class Params(BaseModel):
        model_config = ConfigDict(extra="forbid")
        fps: float = Field(10.0, gt=0, le=10_000)
        size: tuple[int, int] = Field((320, 240), description="width, height")
        frames: int = Field(0, ge=0, description="frames to send before ending; 0 = until stopped")

    params: Params

    def produce(self) -> Iterator[Outputs]:
        w, h = self.params.size
        yy, xx = np.mgrid[0:h, 0:w]
        period = 1.0 / self.params.fps
        start = time.monotonic()
        i = 0
        while not self.params.frames or i < self.params.frames:
            frame = np.empty((h, w, 3), np.uint8)  # (H, W, 3)
            frame[..., 0] = (xx + 4 * i) % 256
            frame[..., 1] = (yy + 2 * i) % 256
            frame[..., 2] = (i * 8) % 256
            yield {"image": Msg(kind="Image", arrays={"data": frame}, meta={"frame": i})}
            i += 1
            yield from self.wait_until(start + i * period)
            if self.stopping:
                return
