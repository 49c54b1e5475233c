"""The newest frame of a live capture: a thread of its own drains a camera device or stream as fast as it
delivers, so no driver or network buffer ever hands a reader a stale frame."""

from __future__ import annotations

import threading
import time
from typing import Any

import numpy as np

__all__ = ["LatestFrame"]


class LatestFrame:
    """Drains a live capture on a thread of its own and keeps only its newest frame.

    Capture drivers and network streams queue frames; a reader slower than the camera would get frames
    from further and further in the past. Here every frame is grabbed as soon as it exists and a reader
    always gets the newest one; `grabbed - taken` frames were never asked for.
    """

    def __init__(self, capture: Any, *, fail_after_s: float = 5.0, name: str = "arp-camera-grab"):
        self.capture = capture
        self.fail_after_s = fail_after_s
        self.grabbed = 0
        self.taken = 0
        self.ended = False  # the capture stopped delivering frames for fail_after_s
        self._frame: np.ndarray | None = None
        self._capture_ns = 0
        self._cond = threading.Condition()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        failing_since: float | None = None
        while not self._stop.is_set():
            ok = self.capture.grab()
            capture_ns = time.time_ns()
            if ok:
                ok, frame = self.capture.retrieve()
            if not ok or frame is None:
                now = time.monotonic()
                failing_since = failing_since or now
                if now - failing_since >= self.fail_after_s:
                    break
                self._stop.wait(0.01)
                continue
            failing_since = None
            with self._cond:
                self._frame, self._capture_ns = frame, capture_ns
                self.grabbed += 1
                self._cond.notify_all()
        with self._cond:
            self.ended = True
            self._cond.notify_all()

    def newer(self, than: int, timeout: float) -> tuple[np.ndarray, int, int] | None:
        """(frame, capture time ns, frame number) of the newest frame numbered above `than`, waiting at
        most `timeout` s for one; None when none came (or the capture ended)."""
        with self._cond:
            if not self._cond.wait_for(lambda: self.grabbed > than or self.ended, timeout):
                return None
            if self.grabbed <= than:
                return None
            self.taken += 1
            assert self._frame is not None
            return self._frame, self._capture_ns, self.grabbed

    def close(self, timeout: float = 2.0) -> bool:
        """Stop grabbing; True when the thread has finished (then the capture may be released)."""
        self._stop.set()
        self._thread.join(timeout)
        return not self._thread.is_alive()
