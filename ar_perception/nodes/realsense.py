"""An Intel RealSense camera (or a recording of one, played by the SDK) as a graph source: colour, depth aligned to
colour in metres, and the colour stream's intrinsics (ar_perception/realsense.py)."""

from __future__ import annotations

import time
from collections.abc import Iterator

from pydantic import BaseModel, ConfigDict, Field

from ar_perception.errors import ArpError, NodeError
from ar_perception.realsense import RealSenseReader
from ar_perception.recording.import_rgbd import sensor_messages
from ar_perception.runtime.node import Node, Outputs

__all__ = ["RealSense"]


class RealSense(Node):
    """Colour + depth (aligned to colour, metres) + intrinsics from a RealSense camera or a .bag/.db3 recording."""

    outputs = {"image": "Image", "depth": "Depth", "camera": "CameraInfo"}

    class Params(BaseModel):
        model_config = ConfigDict(extra="forbid")
        source: str = Field("", description="'' = the first camera; a serial number; or a .bag/.db3 recording")
        size: tuple[int, int] = Field((640, 480), description="width, height a camera is asked for")
        fps: int = Field(30, gt=0, le=300, description="frame rate a camera is asked for")
        realtime: bool = Field(True, description="a recording plays at its own rate; false: as fast as taken")
        frames: int = Field(0, ge=0, description="framesets before the source ends; 0 = until the end or stop")
        timeout_s: float = Field(5.0, gt=0, description="a camera that sends nothing for this long fails the node")

    params: Params

    def setup(self) -> None:
        p = self.params
        try:
            self.reader = RealSenseReader(p.source, size=p.size, fps=p.fps, timeout_s=p.timeout_s)
        except ArpError as e:
            raise NodeError(f"node '{self.id}': params.source: {e}") from None

    def produce(self) -> Iterator[Outputs]:
        p = self.params
        recorded = self.reader.recorded
        start, t0 = time.monotonic(), None
        try:
            for f in self.reader.frames():
                if recorded and p.realtime:  # a recording at its own pace, by the device's timestamps
                    t0 = f.time_s if t0 is None else t0
                    yield from self.wait_until(start + f.time_s - t0)
                if self.stopping:
                    return
                capture_ns = time.time_ns()
                meta = {"frame": f.index, "device_time_s": round(f.time_s, 6)}
                yield sensor_messages(f.rgb, f.depth, f.intrinsics, meta, capture_ns)
                if p.frames and f.index + 1 >= p.frames:
                    return
        except ArpError as e:
            raise NodeError(f"node '{self.id}': {e}") from None
        finally:
            if self.reader.unpaired or self.reader.dropped:
                self.log.info(
                    "node '%s': %d frames had no partner in the other stream; %d colour frames were skipped",
                    self.id,
                    self.reader.unpaired,
                    self.reader.dropped,
                )

    def teardown(self) -> None:
        reader = getattr(self, "reader", None)
        if reader is not None:
            reader.close()
