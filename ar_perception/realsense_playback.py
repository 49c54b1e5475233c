"""A RealSense recording read frame by frame, none lost: the playback waits for the reader.

The SDK's own route (sensors -> syncer -> framesets) drops frames when the thread that pairs them is starved: on
a loaded machine a slow reader lost most of a file (measured: 36-50 of 120 framesets, with two busy loops beside
it). A playback sensor's frame callback, though, is waited for (librealsense's maintainers: a playback device
does not drop frames raised to its sensors' callbacks). So each frame goes into a small queue whose `put` blocks
when it is full: the playback stops until the reader takes frames. Colour and depth are paired here, each colour
frame with the depth frame nearest in time (within half a colour frame's period), and made one frameset by a
processing block, so `rs.align` works on it as on the syncer's.
"""

from __future__ import annotations

import queue
import threading
from collections import deque
from typing import Any

from ar_perception.errors import ArpError

__all__ = ["PlaybackFrames"]

_MOST_WAITING = 256  # frames of one stream kept waiting for the other's


class PlaybackFrames:
    """Framesets (depth + colour) of a playback `device`'s depth and colour streams, in file order.

    `next(timeout_s)`: the next frameset, or None when no frame came for `timeout_s` (the caller decides whether
    the file has ended; frames still waiting for their pair are paired as they are only once the playback has
    stopped). A recording without both a depth and a colour stream is refused (ArpError). Colour frames without
    a depth frame within `tolerance_ms` (default: half the colour stream's frame period), and depth frames no
    colour frame took, are counted in `unpaired`. `depth`: frames held between the SDK and the reader."""

    def __init__(self, rs: Any, device: Any, *, depth: int = 8, tolerance_ms: float | None = None, what: str = ""):
        self.rs, self.what = rs, what or "RealSense recording"
        self.unpaired = 0
        self._tolerance = tolerance_ms
        self._inbox: queue.Queue[Any] = queue.Queue(maxsize=depth)
        self._closing = threading.Event()
        self._depths: deque[Any] = deque()
        self._colours: deque[Any] = deque()
        self._sensors: list[Any] = []
        self._held: Any = None
        self._out = rs.frame_queue(4, True)
        self._joiner = rs.processing_block(self._join)
        self._joiner.start(self._out)
        wanted = (rs.stream.depth, rs.stream.color)  # not an IMU's streams
        self._playback = device.as_playback()
        found = {p.stream_type() for s in device.query_sensors() for p in s.get_stream_profiles()}
        if missing := [str(w).split(".")[-1] for w in wanted if w not in found]:
            raise ArpError(f"{self.what}: has no {' and no '.join(missing)} stream (colour and depth are read)")
        self._playback.pause()  # the file starts playing with the first sensor: none plays before all listen
        try:
            for sensor in device.query_sensors():
                profiles = [p for p in sensor.get_stream_profiles() if p.stream_type() in wanted]
                if profiles:
                    sensor.open(profiles)
                    self._sensors.append(sensor)
                    sensor.start(self._arrived)
        except RuntimeError:
            self.close()
            raise
        finally:
            self._playback.resume()

    def _arrived(self, frame: Any) -> None:
        """On the SDK's thread: keep the frame and wait for room (this is what holds the playback back)."""
        frame.keep()
        while not self._closing.is_set():
            try:
                self._inbox.put(frame, timeout=0.1)
                return
            except queue.Full:
                continue

    def _join(self, colour: Any, source: Any) -> None:
        source.frame_ready(source.allocate_composite_frame([self._held, colour]))

    @property
    def stopped(self) -> bool:
        """Whether the file's playback has stopped (it has played to its end)."""
        return bool(self._playback.current_status() == self.rs.playback_status.stopped)

    def next(self, timeout_s: float) -> Any | None:
        while True:
            pair = self._pair(ended=False)
            if pair is not None:
                return pair
            try:
                frame = self._inbox.get(timeout=timeout_s)
            except queue.Empty:  # late: the file has ended only if its playback has stopped
                return self._pair(ended=True) if self.stopped else None
            is_depth = frame.get_profile().stream_type() == self.rs.stream.depth
            waiting = self._depths if is_depth else self._colours
            waiting.append(frame)
            if len(waiting) > _MOST_WAITING:  # the other stream stopped sending: these will find no pair
                waiting.popleft()
                self.unpaired += 1

    def _pair(self, ended: bool) -> Any | None:
        """The oldest colour frame with its depth frame, once the depth frames after it have come (or none will)."""
        while self._colours:
            t = self._colours[0].get_timestamp()
            if not ended and (not self._depths or self._depths[-1].get_timestamp() < t):
                return None  # its nearest depth frame may be still to come
            colour = self._colours.popleft()
            best = min(self._depths, key=lambda d: abs(d.get_timestamp() - t), default=None)
            tolerance = self._tolerance or 500.0 / max(1, colour.get_profile().fps())
            if best is None or abs(best.get_timestamp() - t) > tolerance:
                self.unpaired += 1
                continue
            while self._depths[0] is not best:  # older depth frames no colour frame will take
                self._depths.popleft()
                self.unpaired += 1
            self._held = self._depths.popleft()
            self._joiner.invoke(colour)  # _join runs on this thread
            ok, joined = self._out.try_wait_for_frame(5000)
            if not ok:
                raise ArpError(f"{self.what}: the SDK did not join a colour and a depth frame")
            return joined.as_frameset()
        return None

    def close(self) -> None:
        self._closing.set()
        while True:  # let a callback waiting for room return
            try:
                self._inbox.get_nowait()
            except queue.Empty:
                break
        for sensor in self._sensors:
            for step in (sensor.stop, sensor.close):
                try:
                    step()
                except RuntimeError:  # not started, or already stopped: nothing to release
                    pass
        self._sensors = []
