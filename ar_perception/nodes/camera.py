"""A camera source: OpenCV capture from a device, a video file or a stream URL, with pinhole intrinsics.

Live devices and streams are drained on a thread of their own that keeps only the newest frame (_latest_frame.py),
so no driver or network buffer ever hands the graph a stale one. Calibration files (read in _calibration.py) are
OpenCV's own (cv2.FileStorage YAML/XML, as written by OpenCV's calibration sample) or ROS camera_info YAML.
"""

from __future__ import annotations

import glob
import math
import re
import sys
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from ar_perception.errors import NodeError
from ar_perception.images import to_rgb
from ar_perception.nodes._calibration import Calibration, cv2_module, read_calibration
from ar_perception.nodes._latest_frame import LatestFrame
from ar_perception.runtime.msg import Msg
from ar_perception.runtime.node import Node, Outputs

__all__ = ["Camera", "Calibration", "read_calibration", "video_devices", "LatestFrame"]

DEFAULT_HFOV_DEG = 65.0  # a typical webcam; give `calibration` or `hfov_deg` for real geometry
_URL = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*://")


def video_devices() -> list[str]:
    """The V4L2 video devices of this machine, in numeric order (`/dev/video0`, `/dev/video2`, ...)."""
    found = glob.glob("/dev/video*")
    return sorted(found, key=lambda d: (len(d), d))


class Camera(Node):
    """Frames from a camera device, a video file or a stream URL (OpenCV), with their intrinsics.

    Frames leave as RGB uint8: OpenCV's BGR is reordered, gray and BGRA made RGB, 16-bit scaled to 8 bits.
    """

    outputs = {"image": "Image", "camera": "CameraInfo"}

    class Params(BaseModel):
        model_config = ConfigDict(extra="forbid")
        source: int | str = Field(
            0,
            description="a camera index (0 = the first camera) or device path "
            "(/dev/video2), a video file, or a stream URL (rtsp://, http://)",
        )
        size: tuple[int, int] | None = Field(
            None,
            description="width, height of the output frames; a camera "
            "is asked for it, and frames are resized when they differ; "
            "default: as delivered",
        )
        fps: float | None = Field(
            None,
            gt=0,
            le=1000,
            description="at most this many frames per second out; a "
            "camera is asked for this rate; a file skips frames to it; default: all",
        )
        realtime: bool = Field(
            True,
            description="a video file plays at its own rate; false: as fast as the "
            "graph takes its frames (no frame skipped)",
        )
        loop: bool = Field(False, description="a video file starts over at its end")
        frames: int = Field(
            0, ge=0, description="frames before the source ends; 0 = until the video ends or the graph stops"
        )
        calibration: str | None = Field(
            None,
            description="OpenCV calibration file (YAML/XML: camera_matrix, "
            "distortion_coefficients, image_width, image_height) or ROS "
            "camera_info YAML",
        )
        hfov_deg: float | None = Field(
            None,
            gt=1,
            lt=179,
            description="horizontal field of view giving the "
            f"intrinsics when there is no calibration file (default "
            f"{DEFAULT_HFOV_DEG:g}, a typical webcam)",
        )
        undistort: bool = Field(
            True,
            description="remove the calibration's lens distortion from frames, so "
            "they fit the pinhole intrinsics sent on `camera`",
        )
        timeout_s: float = Field(
            5.0, gt=0, description="a live source that sends no frame for this long fails the node"
        )

        @model_validator(mode="after")
        def _one_intrinsics_source(self) -> Camera.Params:
            if self.calibration is not None and self.hfov_deg is not None:
                raise ValueError("give either calibration or hfov_deg, not both")
            if self.size is not None and min(self.size) <= 0:
                raise ValueError(f"size must be a positive width, height (got {list(self.size)})")
            return self

    params: Params

    # -- opening --------------------------------------------------------------------------------------
    def _where(self) -> str:
        return f"node '{self.id}': params.source"

    def _target(self) -> tuple[Literal["device", "file", "stream"], int | str]:
        src = self.params.source
        if isinstance(src, int) or (isinstance(src, str) and src.strip().isdigit()):
            return "device", int(src)
        if _URL.match(src):
            return "stream", src
        if src.startswith("/dev/"):
            return "device", src
        return "file", src

    def _open_device(self, cv2: Any, target: int | str) -> Any:
        devices = video_devices()
        found = f"(video devices found: {', '.join(devices) or 'none'})"
        path = target if isinstance(target, str) else f"/dev/video{target}"
        label = f"camera device {target}" if isinstance(target, int) else f"camera device '{target}'"
        if sys.platform.startswith("linux") and not Path(path).exists():
            raise NodeError(
                f"{self._where()}: no {label} {found}; give the index of a connected camera, "
                "a video file or a stream URL"
            )
        cap = cv2.VideoCapture(target)
        if not cap.isOpened():
            raise NodeError(
                f"{self._where()}: cannot open {label} {found}; it may be in use by another "
                "program, or not readable by this user (on Linux: the 'video' group)"
            )
        p = self.params
        if p.size is not None:
            cap.set(cv2.CAP_PROP_FRAME_WIDTH, p.size[0])
            cap.set(cv2.CAP_PROP_FRAME_HEIGHT, p.size[1])
        if p.fps is not None:
            cap.set(cv2.CAP_PROP_FPS, p.fps)
        cap.set(cv2.CAP_PROP_BUFFERSIZE, 1)  # a hint only; the grab thread is what keeps frames fresh
        return cap

    def setup(self) -> None:
        cv2 = self._cv2 = cv2_module()
        p = self.params
        self.kind, target = self._target()
        self.calibration: Calibration | None = None
        if p.calibration is not None:
            try:
                self.calibration = read_calibration(p.calibration)
            except NodeError as e:
                raise NodeError(f"node '{self.id}': params.calibration: {e}") from None
        self.cap: Any = None
        self.grabber: LatestFrame | None = None
        if self.kind == "device":
            self.cap = self._open_device(cv2, target)
        elif self.kind == "file":
            path = Path(str(target)).expanduser()
            if not path.is_file():
                raise NodeError(
                    f"{self._where()}: no such video file '{target}' (expected a camera index, "
                    "a video file or a stream URL such as rtsp://host/stream)"
                )
            self.cap = cv2.VideoCapture(str(path))
            if not self.cap.isOpened():
                raise NodeError(
                    f"{self._where()}: cannot decode video file '{target}' (none of OpenCV's "
                    "video backends could open it)"
                )
        else:
            self.cap = cv2.VideoCapture(str(target))
            if not self.cap.isOpened():
                raise NodeError(
                    f"{self._where()}: cannot open stream '{target}' (unreachable, or a format "
                    "OpenCV's FFmpeg backend does not read)"
                )
        if self.kind != "file":
            self.grabber = LatestFrame(self.cap, fail_after_s=p.timeout_s, name=f"arp-{self.id}-grab")
        self.frames_out = 0
        self.skipped = 0  # file frames skipped to keep the rate (realtime or fps)
        self._info: Calibration | None = None
        self._maps: tuple[Any, Any] | None = None

    # -- frames ---------------------------------------------------------------------------------------
    def _intrinsics(self, w_in: int, h_in: int, w: int, h: int) -> Calibration:
        """Intrinsics of the output frames (w x h) of a capture delivering w_in x h_in; set on the first."""
        if self._info is not None:
            return self._info
        cal = self.calibration
        if cal is None:
            cal = Calibration.from_hfov(w, h, self.params.hfov_deg or DEFAULT_HFOV_DEG)
        else:
            if cal.width is None or cal.height is None:
                cal = replace(cal, width=w_in, height=h_in)
            elif cal.width * h_in != cal.height * w_in:
                self.log.warning(
                    "node '%s': the calibration is for %dx%d but the source delivers %dx%d (another "
                    "aspect ratio); the scaled intrinsics are likely wrong",
                    self.id,
                    cal.width,
                    cal.height,
                    w_in,
                    h_in,
                )
            cal = cal.scaled(w, h)
            if cal.distorted and self.params.undistort:
                cv2 = self._cv2
                k = cal.matrix
                self._maps = cv2.initUndistortRectifyMap(k, np.asarray(cal.distortion), None, k, (w, h), cv2.CV_16SC2)
        self._info = cal
        return cal

    def _messages(self, bgr: np.ndarray, capture_ns: int, extra: dict[str, Any]) -> Outputs:
        cv2 = self._cv2
        h_in, w_in = bgr.shape[:2]
        w, h = self.params.size or (w_in, h_in)
        if (w, h) != (w_in, h_in):
            shrink = w < w_in and h < h_in
            bgr = cv2.resize(bgr, (w, h), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)
        cal = self._intrinsics(w_in, h_in, w, h)
        if self._maps is not None:
            bgr = cv2.remap(bgr, *self._maps, cv2.INTER_LINEAR)
        try:
            rgb = to_rgb(bgr, "bgr")  # OpenCV's gray, BGR, BGRA, 16-bit
        except ValueError as e:
            raise NodeError(
                f"{self._where()}: {self.params.source!r} gives frames that cannot be made RGB: {e}"
            ) from None
        meta = {"frame": self.frames_out, **extra}
        info = cal.meta()
        if cal.distorted and not self.params.undistort:
            info["distortion"] = list(cal.distortion)
        self.frames_out += 1
        return {
            "image": Msg("Image", {"data": rgb}, meta, capture_ns),
            "camera": Msg("CameraInfo", {}, {**meta, **info}, capture_ns),
        }

    def produce(self) -> Iterator[Outputs]:
        if self.kind == "file":
            yield from self._play_file()
        else:
            yield from self._live()

    def _more(self) -> bool:
        return not self.stopping and (not self.params.frames or self.frames_out < self.params.frames)

    def _play_file(self) -> Iterator[Outputs]:
        cv2, cap, p = self._cv2, self.cap, self.params
        file_fps = cap.get(cv2.CAP_PROP_FPS)
        if not file_fps or not math.isfinite(file_fps) or file_fps <= 0:
            file_fps = 30.0
            self.log.warning("node '%s': '%s' does not say its frame rate; playing it at 30 fps", self.id, p.source)
        period = 1.0 / file_fps
        out_period = 1.0 / p.fps if p.fps else 0.0
        start = time.monotonic()
        offset, i, next_out = 0.0, 0, 0.0  # video time of earlier loops, frame in this loop, next due time
        while self._more():
            t = offset + i * period  # video time of the next frame
            late = p.realtime and time.monotonic() - start - t >= period
            skip = late or (out_period > 0 and t < next_out - 1e-6)
            if p.realtime and not skip:
                yield from self.wait_until(start + t)
            if not cap.grab():
                if p.loop and i > 0:
                    cap.set(cv2.CAP_PROP_POS_FRAMES, 0)
                    offset, i = t, 0
                    continue
                return
            capture_ns = time.time_ns()
            i += 1
            if skip:
                self.skipped += 1
                continue
            ok, frame = cap.retrieve()
            if not ok or frame is None:
                self.skipped += 1
                continue
            if out_period:
                next_out = next_out + out_period if t < next_out + out_period else t + out_period
            yield self._messages(frame, capture_ns, {"video_time": round(t, 6)})

    def _live(self) -> Iterator[Outputs]:
        p, grabber = self.params, self.grabber
        assert grabber is not None
        out_period = 1.0 / p.fps if p.fps else 0.0
        seen, due = 0, time.monotonic()
        while self._more():
            if out_period:
                yield from self.wait_until(due)
                due = max(due + out_period, time.monotonic())
            got = self._wait(grabber, seen)
            if got is None:
                if self.stopping:
                    return
                if grabber.ended and self.kind == "stream":
                    self.log.warning("node '%s': stream '%s' ended", self.id, p.source)
                    return
                what = "stream" if self.kind == "stream" else "camera device"
                raise NodeError(f"node '{self.id}': the {what} {p.source!r} sent no frame for {p.timeout_s:g} s")
            frame, capture_ns, seen = got
            yield self._messages(frame, capture_ns, {})

    def _wait(self, grabber: LatestFrame, seen: int) -> tuple[np.ndarray, int, int] | None:
        # The grab thread declares the end after timeout_s of failed grabs; a grab that blocks instead
        # (a stalled network) is caught by this deadline, which leaves the thread time to report first.
        deadline = time.monotonic() + self.params.timeout_s + min(1.0, self.params.timeout_s)
        while not self.stopping:  # short waits, so that a stop is seen at once
            left = deadline - time.monotonic()
            if left <= 0 or grabber.ended and grabber.grabbed <= seen:
                return None
            got = grabber.newer(seen, min(left, 0.1))
            if got is not None:
                return got
        return None

    def teardown(self) -> None:
        grabber, cap = getattr(self, "grabber", None), getattr(self, "cap", None)
        released = grabber.close(self.params.timeout_s) if grabber is not None else True
        if grabber is not None and grabber.grabbed > grabber.taken:
            self.log.info(
                "node '%s': %d of %d grabbed frames were passed over for newer ones",
                self.id,
                grabber.grabbed - grabber.taken,
                grabber.grabbed,
            )
        if cap is not None and released:  # never release a capture a blocked grab() is still using
            cap.release()
