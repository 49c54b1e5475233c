"""An RGB-D folder as a graph source: colour, depth in metres and intrinsics, frame pairs at the folder's own
timing (the TUM RGB-D layout, or rgb/ + depth/ with an intrinsics file; ar_perception/rgbd.py)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from ar_perception.errors import ArpError, NodeError
from ar_perception.recording.import_rgbd import rgbd_messages
from ar_perception.rgbd import open_rgbd_folder
from ar_perception.runtime.node import Node, Outputs

__all__ = ["RgbdFolderSource"]


class RgbdFolderSource(Node):
    """Colour + sensor depth (metres) + intrinsics from an RGB-D folder, paced by the folder's timestamps."""

    outputs = {"image": "Image", "depth": "Depth", "camera": "CameraInfo"}

    class Params(BaseModel):
        model_config = ConfigDict(extra="forbid")
        path: str = Field(description="the folder: TUM RGB-D (rgb.txt, depth.txt) or rgb/ + depth/")
        layout: Literal["auto", "tum", "plain"] = "auto"
        depth_scale: float | None = Field(
            None, gt=0, description="PNG depth units per metre; default 5000 (TUM), 1000 (plain: millimetres)"
        )
        intrinsics: str | dict[str, Any] | None = Field(
            None, description="a YAML/JSON file or a mapping with fx, fy, cx, cy; default: the folder's own"
        )
        max_dt_ms: float = Field(20.0, gt=0, description="colour and depth further apart in time are not paired")
        fps: float = Field(30.0, gt=0, description="the rate of a plain folder whose file names are no times")
        realtime: bool = Field(True, description="pace frames by their timestamps; false: as fast as taken")
        frames: int = Field(0, ge=0, description="frames before the source ends; 0 = the whole folder")

    params: Params

    def setup(self) -> None:
        p = self.params
        try:
            self.folder = open_rgbd_folder(
                p.path,
                layout=p.layout,
                depth_scale=p.depth_scale,
                intrinsics=p.intrinsics,
                max_dt_s=p.max_dt_ms / 1000,
                fps=p.fps,
            )
        except ArpError as e:
            raise NodeError(f"node '{self.id}': params.path: {e}") from None
        f = self.folder
        self.log.info(
            "%s: %d frame pairs (%s layout; %d colour and %d depth frames unpaired within %g ms); %s",
            f.root,
            len(f.pairs),
            f.layout,
            f.unpaired_rgb,
            f.unpaired_depth,
            p.max_dt_ms,
            "; ".join(f.notes),
        )

    def produce(self) -> Iterator[Outputs]:
        p = self.params
        pairs = self.folder.pairs[: p.frames or None]
        start, t0 = time.monotonic(), pairs[0].time_s
        for i, pair in enumerate(pairs):
            if p.realtime:
                yield from self.wait_until(start + pair.time_s - t0)
                if self.stopping:
                    return
            try:
                yield rgbd_messages(self.folder, i, time.time_ns())
            except ArpError as e:
                raise NodeError(f"node '{self.id}': frame {i}: {e}") from None
