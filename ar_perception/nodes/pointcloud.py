"""Depth + image + camera -> a coloured point cloud, in the world frame when the camera has a pose."""

from __future__ import annotations

import os
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from ar_perception.errors import NodeError
from ar_perception.nodes._files import output_path
from ar_perception.runtime.msg import Msg
from ar_perception.runtime.node import Node, Outputs

__all__ = ["PointCloud"]


class PointCloud(Node):
    """Depth (+ Image for colours) + CameraInfo, synced on capture time -> PointCloud.

    Give the node a `sync` in the graph (`exact` for one source's outputs, `approximate` otherwise);
    without one it triggers on each depth map with the newest image and camera. Points are in the
    world frame when the CameraInfo carries a pose (camera-to-world), else in the camera frame.
    Depth of another size than the camera's width x height is handled by scaling the intrinsics, and an
    image of another size than the depth is resized to it; another aspect ratio (beyond a pixel of rounding)
    is an error. Depth <= 0, NaN or inf is no depth: those pixels give no point.
    """

    inputs = {"depth": "Depth", "image": "Image", "camera": "CameraInfo"}
    outputs = {"points": "PointCloud"}

    class Params(BaseModel):
        model_config = ConfigDict(extra="forbid")
        voxel: float | None = Field(None, gt=0, description="voxel size in metres for downsampling; none = keep all")
        min_range: float | None = Field(None, ge=0, description="drop points nearer than this z-depth (m)")
        max_range: float | None = Field(None, gt=0, description="drop points farther than this z-depth (m)")
        frame: Literal["auto", "world", "camera"] = Field(
            "auto", description="auto: world when the camera carries a pose, else camera"
        )
        ply: str | None = Field(
            None,
            description="write the last cloud to this PLY file (at stop, or every `ply_every` clouds; its folder "
            "is created)",
        )
        ply_every: int = Field(0, ge=0, description="also write the PLY every N clouds; 0 = only at stop")

        @model_validator(mode="after")
        def _ranges(self) -> PointCloud.Params:
            if self.min_range is not None and self.max_range is not None and self.min_range >= self.max_range:
                raise ValueError(f"min_range ({self.min_range}) must be below max_range ({self.max_range})")
            return self

    params: Params

    def setup(self) -> None:
        self.latest: dict[str, Msg] = {}
        self.last: tuple[np.ndarray, np.ndarray | None] | None = None
        self.count = 0
        # The PLY's folder is made now, so that a path that cannot be written fails the start, not the stop.
        self.ply = output_path(self.id, "ply", self.params.ply) if self.params.ply else None
        if self.params.voxel is not None or self.params.ply:
            from ar_perception.geometry import open3d_module

            open3d_module()  # import it now (about 1 s), not on the first frame's clock; missing -> how to install

    def on_input(self, name: str, msg: Msg) -> Outputs:
        """Without a graph `sync`: each depth map triggers, with the newest image and camera."""
        self.latest[name] = msg
        if name != "depth" or "camera" not in self.latest:
            return None
        return self.on_sync({**self.latest, "depth": msg})

    def on_sync(self, msgs: dict[str, Msg]) -> Outputs:
        from ar_perception.geometry import depth_to_points, scaled_intrinsics, voxel_downsample

        depth_msg, cam = msgs["depth"], msgs["camera"]
        depth = depth_msg.data
        h, w = depth.shape
        k = cam.meta
        _same_aspect(
            self.id,
            ("depth", w, h),
            ("camera", int(k["width"]), int(k["height"])),
            "the intrinsics cannot be scaled to the depth map",
        )
        fx, fy, cx, cy = scaled_intrinsics(k, w, h)  # depth maps at another size than the camera's
        pose = cam.arrays.get("pose")
        p = self.params
        if p.frame == "world" and pose is None:
            raise NodeError(f"node '{self.id}': frame is 'world' but the CameraInfo carries no pose")
        use_pose = pose if p.frame != "camera" else None
        rgb = None
        image = msgs.get("image")
        if image is not None:
            rgb = image.data
            _same_aspect(
                self.id,
                ("image", rgb.shape[1], rgb.shape[0]),
                ("depth", w, h),
                "the colours would not line up with the points",
            )
            if rgb.shape[:2] != (h, w):
                import cv2

                rgb = cv2.resize(rgb, (w, h), interpolation=cv2.INTER_LINEAR)
        if rgb is not None:
            points, colors = depth_to_points(
                depth, fx, fy, cx, cy, pose=use_pose, rgb=rgb, max_range=p.max_range, min_range=p.min_range
            )
        else:
            points = depth_to_points(depth, fx, fy, cx, cy, pose=use_pose, max_range=p.max_range, min_range=p.min_range)
            colors = None
        if p.voxel is not None and len(points):
            if colors is not None:
                points, colors = voxel_downsample(points, p.voxel, colors)
            else:
                points = voxel_downsample(points, p.voxel)
        self.last = (points, colors)
        self.count += 1
        if p.ply and p.ply_every and self.count % p.ply_every == 0:
            self._write_ply()
        meta = {key: v for key, v in depth_msg.meta.items() if key not in ("classes",)}
        meta["frame"] = "world" if use_pose is not None else "camera"
        if "frame" in depth_msg.meta:
            meta["frame_index"] = depth_msg.meta["frame"]
        arrays = {"points": points} if colors is None else {"points": points, "colors": colors}
        return {"points": depth_msg.derive("PointCloud", meta, **arrays)}

    def _write_ply(self) -> None:
        from ar_perception.geometry import write_ply

        if self.last is None or self.ply is None:
            return
        path = self.ply
        tmp = path.with_name(f".{path.stem}.{os.getpid()}.tmp{path.suffix}")
        write_ply(tmp, *self.last)
        os.replace(tmp, path)

    def teardown(self) -> None:
        if getattr(self, "ply", None) is not None and self.last is not None:
            self._write_ply()


def _same_aspect(node_id: str, a: tuple[str, int, int], b: tuple[str, int, int], why: str) -> None:
    """Raise unless a's width x height is b's scaled, give or take a pixel of rounding on each side."""
    (na, wa, ha), (nb, wb, hb) = a, b
    if abs(wa * hb - ha * wb) > max(wa, wb) + max(ha, hb):
        what = "is for" if nb == "camera" else "is"
        raise NodeError(
            f"node '{node_id}': input '{na}' is {wa}x{ha} but input '{nb}' {what} {wb}x{hb} (width x "
            f"height): another aspect ratio, so {why}"
        )
