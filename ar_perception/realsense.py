"""Intel RealSense through `pyrealsense2` (the `realsense` extra): a live camera, or a recorded file played back by
the SDK (`.bag`, and `.db3`, which librealsense 2.59 records), as colour + depth in metres + intrinsics.

Depth is aligned to the colour image (`rs.align`), so both share the colour stream's pixels and intrinsics, and
scaled to metres by the depth sensor's own units. Colour and depth are paired by the SDK's syncer (live) or by
`realsense_playback.PlaybackFrames` (a recording, none lost): a frame left alone (at the start of a file, or
when a stream drops one) is counted in `unpaired`, not sent.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ar_perception.errors import ArpError, MissingExtraError
from ar_perception.realsense_playback import PlaybackFrames

__all__ = ["RealSenseFrame", "RealSenseReader", "realsense_devices", "record_frames", "rs_module"]

RECORDED = (".bag", ".db3")
STALLED_PLAYBACK_S = 60.0  # a recording still "playing" that gives no frameset for this long has ended
END_DRAIN_S = 6.0  # after a recording's playback stopped: how long its last framesets may take to come out


def rs_module() -> Any:
    try:
        import pyrealsense2 as rs
    except ImportError:
        raise MissingExtraError("pyrealsense2", "realsense") from None
    return rs


def realsense_devices() -> list[str]:
    """The connected RealSense devices: "name (serial)"."""
    rs = rs_module()
    out = []
    for dev in rs.context().query_devices():
        name = dev.get_info(rs.camera_info.name)
        serial = dev.get_info(rs.camera_info.serial_number)
        out.append(f"{name} ({serial})")
    return out


@dataclass
class RealSenseFrame:
    time_s: float  # the device's timestamp of the colour frame (ms in the SDK), as seconds
    rgb: np.ndarray  # (H, W, 3) uint8
    depth: np.ndarray  # (H, W) float32 metres, 0 = none, on the colour image's pixels
    intrinsics: dict[str, float]  # fx, fy, cx, cy, width, height of the colour stream
    index: int


class RealSenseReader:
    """Aligned colour + depth framesets from a device (`source` "" = the first, or a serial number) or a recorded
    file (`source` a path ending in .bag or .db3), read as fast as taken (the SDK's real-time playback drops and
    parts framesets when the reader is not waiting). `size`, `fps`: what a live camera is asked for."""

    def __init__(
        self,
        source: str = "",
        *,
        size: tuple[int, int] = (640, 480),
        fps: int = 30,
        timeout_s: float = 5.0,
    ):
        self.rs = rs = rs_module()
        self.source, self.timeout_ms = source, int(timeout_s * 1000)
        self._unpaired = 0  # frames the syncer handed out alone (live)
        self.dropped = 0  # colour frames missing between the framesets read (their frame numbers skip)
        self.align = rs.align(rs.stream.color)
        self.recorded = source.lower().endswith(RECORDED)
        self._pipeline: Any = None
        self._playback: PlaybackFrames | None = None
        if self.recorded:
            path = Path(source).expanduser()
            if not path.is_file():
                raise ArpError(f"{path}: no such RealSense recording")
            try:
                self.device = rs.context().load_device(str(path))
            except RuntimeError as e:
                raise ArpError(f"{path}: not a RealSense recording librealsense can play ({e})") from None
            self.device.as_playback().set_real_time(False)  # as fast as taken: the caller paces (the node does)
            return
        found = realsense_devices()
        serials = [d.rsplit("(", 1)[-1].rstrip(")") for d in found]
        if not found or (source and source not in serials):
            wanted = f"no RealSense device with serial {source}" if source else "no RealSense device"
            raise ArpError(
                f"{wanted} (devices found: {', '.join(found) or 'none'}); connect one (USB 3), "
                "or give a recorded .bag/.db3 file as the source"
            )
        self._config = cfg = rs.config()
        if source:
            cfg.enable_device(source)
        cfg.enable_stream(rs.stream.depth, size[0], size[1], rs.format.z16, fps)
        cfg.enable_stream(rs.stream.color, size[0], size[1], rs.format.rgb8, fps)
        self._what = f"{source or found[0]} at {size[0]}x{size[1]}, {fps} fps"

    def _start(self) -> None:
        """Streams start when frames are first wanted: a file played in real time would otherwise be over
        before a graph's other nodes are up."""
        if self.recorded:
            try:
                self._playback = PlaybackFrames(self.rs, self.device, what=f"RealSense recording {self.source}")
            except RuntimeError as e:
                self.close()
                raise ArpError(f"RealSense recording {self.source}: cannot play it ({e})") from None
            return
        self._pipeline = self.rs.pipeline()
        try:
            self._pipeline.start(self._config)
        except RuntimeError as e:
            self._pipeline = None
            raise ArpError(f"RealSense {self._what}: cannot start ({e})") from None

    @property
    def unpaired(self) -> int:
        """Frames left without their other stream (not sent)."""
        return self._unpaired + (self._playback.unpaired if self._playback is not None else 0)

    def _next(self) -> Any | None:
        if self._playback is not None:
            return self._playback.next(self.timeout_ms / 1000)
        ok, frames = self._pipeline.try_wait_for_frames(self.timeout_ms)
        return frames if ok else None

    def frames(self) -> Iterator[RealSenseFrame]:
        """Aligned framesets until a file ends (or a live camera sends nothing for `timeout_s`: ArpError).

        A recording plays as fast as it is read: its playback waits for the reader (`PlaybackFrames`), so a slow
        reader on a loaded machine misses none. Colour frames a stream skipped (gaps in their frame numbers) are
        counted in `dropped`."""
        self._start()
        index, last = 0, None
        waited = 0.0
        while True:
            frames = self._next()
            if frames is None:
                # A recording ends when its playback has stopped, not when a frame is late: on a loaded machine
                # the SDK may take longer than `timeout_s`, and the rest of the file must not be lost.
                waited += self.timeout_ms / 1000
                playback = self._playback
                if playback is not None and waited < (END_DRAIN_S if playback.stopped else STALLED_PLAYBACK_S):
                    continue  # still playing, or stopped with framesets perhaps still in the SDK's threads
                break
            waited = 0.0
            if not (frames.get_depth_frame() and frames.get_color_frame()):
                self._unpaired += 1
                continue
            number = frames.get_color_frame().get_frame_number()
            if last is not None and number > last + 1:
                self.dropped += number - last - 1
            last = number
            yield self.convert(self.align.process(frames), index)
            index += 1
        if self._pipeline is not None:
            raise ArpError(f"RealSense {self.source or 'device'}: no frames for {self.timeout_ms / 1000:g} s")

    def convert(self, aligned: Any, index: int) -> RealSenseFrame:
        depth, colour = aligned.get_depth_frame(), aligned.get_color_frame()
        k = colour.get_profile().as_video_stream_profile().get_intrinsics()
        rgb = np.asanyarray(colour.get_data())
        fmt = colour.get_profile().format()
        if fmt == self.rs.format.bgr8:
            rgb = rgb[..., ::-1]
        elif fmt != self.rs.format.rgb8:
            raise ArpError(f"RealSense colour format {fmt} is not converted (rgb8, bgr8)")
        metres = np.asanyarray(depth.get_data()).astype(np.float32) * np.float32(depth.get_units())
        intrinsics = {
            "fx": k.fx,
            "fy": k.fy,
            "cx": k.ppx,
            "cy": k.ppy,
            "width": float(k.width),
            "height": float(k.height),
        }
        return RealSenseFrame(colour.get_timestamp() / 1000, np.ascontiguousarray(rgb), metres, intrinsics, index)

    def close(self) -> None:
        if self._pipeline is not None:
            self._pipeline.stop()
            self._pipeline = None
        if self._playback is not None:
            self._playback.close()
            self._unpaired += self._playback.unpaired  # kept after close
            self._playback = None


def record_frames(
    path: str | os.PathLike[str], depth_mm: list[np.ndarray], rgb: list[np.ndarray], k: dict[str, float]
) -> None:
    """Record frames to a RealSense file through the SDK's own recorder on a software device (no camera needed):
    for tests and for trying a graph without hardware. `depth_mm` (H, W) uint16, `rgb` (H, W, 3) uint8."""
    rs = rs_module()
    h, w = depth_mm[0].shape
    intr = rs.intrinsics()
    intr.width, intr.height, intr.fx, intr.fy, intr.ppx, intr.ppy = w, h, k["fx"], k["fy"], k["cx"], k["cy"]
    intr.model, intr.coeffs = rs.distortion.none, [0.0] * 5
    dev = rs.software_device()
    sensors, profiles = [], []
    for uid, (name, stream, fmt, bpp) in enumerate(
        (("Depth", rs.stream.depth, rs.format.z16, 2), ("Color", rs.stream.color, rs.format.rgb8, 3))
    ):
        s = dev.add_sensor(name)
        vs = rs.video_stream()
        vs.type, vs.index, vs.uid, vs.width, vs.height, vs.fps, vs.bpp, vs.fmt = stream, 0, uid, w, h, 30, bpp, fmt
        vs.intrinsics = intr
        profiles.append(s.add_video_stream(vs))
        if name == "Depth":
            s.add_read_only_option(rs.option.depth_units, 0.001)
        sensors.append(s)
    dev.create_matcher(rs.matchers.default)
    recorder = rs.recorder(str(path), dev)
    queue = rs.frame_queue(2 * len(rgb) + 4)
    recorded = recorder.query_sensors()
    for s, p in zip(recorded, profiles, strict=True):
        s.open(p)
        s.start(queue)
    for i, (d, c) in enumerate(zip(depth_mm, rgb, strict=True)):
        for s, p, pixels, bpp in ((sensors[0], profiles[0], d, 2), (sensors[1], profiles[1], c, 3)):
            f = rs.software_video_frame()
            f.pixels, f.stride, f.bpp, f.timestamp = np.ascontiguousarray(pixels), w * bpp, bpp, i * 1000 / 30
            f.domain, f.frame_number, f.profile = rs.timestamp_domain.hardware_clock, i, p.as_video_stream_profile()
            if bpp == 2:
                f.depth_units = 0.001
            s.on_video_frame(f)
    for s in recorded:
        s.stop()
        s.close()
    del recorder  # the file is finished when the recorder goes
