"""Telling a user that a node cannot keep up: over a window of its statistics, a node that skipped at least as
many messages of a lossy input (`latest`, `fifo`) as it handled is behind its producer. The queue keeps its
latency bounded by skipping; the warning says so, and what helps."""

from __future__ import annotations

import logging
from typing import Any

__all__ = ["LagWatch", "WINDOW_S", "REPEAT_S"]

WINDOW_S = 5.0  # the window the handled and skipped messages are counted over
REPEAT_S = 30.0  # an input is warned about at most this often


class LagWatch:
    """Fed every statistics snapshot of one node (`update`); logs a warning per lagging lossy input."""

    def __init__(self, node_id: str, lossy: dict[str, str], log: logging.Logger):
        self.node_id, self.lossy, self.log = node_id, lossy, log  # lossy: input -> its source topic
        self._start: dict[str, tuple[float, int, int]] = {}  # input -> (time, handled, skipped) at window start
        self._warned: dict[str, float] = {}
        self.lagging: set[str] = set()  # the inputs behind in the last complete window

    def update(self, now: float, snap: dict[str, Any]) -> list[str]:
        """The warnings this snapshot gives (also logged)."""
        out = []
        for port, topic in self.lossy.items():
            handled, skipped = int(snap["in"].get(port, 0)), int(snap["drops"].get(port, 0))
            t0, h0, s0 = self._start.setdefault(port, (now, handled, skipped))
            if now - t0 < WINDOW_S:
                continue
            self._start[port] = (now, handled, skipped)
            dh, ds = handled - h0, skipped - s0
            if ds > 0 and ds >= dh:
                self.lagging.add(port)
                if now - self._warned.get(port, -REPEAT_S) >= REPEAT_S:
                    self._warned[port] = now
                    out.append(
                        f"node '{self.node_id}' cannot keep up with input '{port}' ({topic}): in the last "
                        f"{now - t0:.0f} s it handled {dh} messages and skipped {ds}; its queue keeps the latency "
                        "bounded by skipping (a lower rate or resolution upstream, or a faster model, helps)"
                    )
            else:
                self.lagging.discard(port)
        for line in out:
            self.log.warning("%s", line)
        return out
