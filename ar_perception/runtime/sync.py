"""Multi-input synchronisation on capture time: `exact`, `approximate` (within a slop) and `latest`.

Every buffer is bounded and every message older than the timeout is dropped and counted, so no
policy ever waits without bound.
"""

from __future__ import annotations

from collections import deque

from ar_perception.graph.spec import SyncSpec
from ar_perception.runtime.msg import Msg

__all__ = ["Synchronizer"]


class Synchronizer:
    def __init__(self, spec: SyncSpec, inputs: list[str]):
        self.spec = spec
        self.inputs = list(inputs)
        self.buffers: dict[str, deque[Msg]] = {n: deque() for n in self.inputs}
        self.dropped: dict[str, int] = {n: 0 for n in self.inputs}
        self._slop_ns = int(spec.slop * 1e9)
        self._timeout_ns = int(spec.timeout * 1e9)

    def push(self, name: str, msg: Msg) -> list[dict[str, Msg]]:
        """Add one message; return the matched sets it completes (oldest first)."""
        buf = self.buffers[name]
        buf.append(msg)
        if len(buf) > self.spec.buffer:
            buf.popleft()
            self.dropped[name] += 1
        self._expire(msg.capture_ns)
        if self.spec.mode == "latest":
            return self._latest(name)
        out = []
        while all(self.buffers.values()):
            group = self._match()
            if group is None:
                break
            out.append(group)
        return out

    def _expire(self, now_ns: int) -> None:
        for n, buf in self.buffers.items():
            if self.spec.mode == "latest" and n != self.spec.trigger:
                continue  # the newest of a non-trigger input stays usable however old
            while buf and now_ns - buf[0].capture_ns > self._timeout_ns:
                buf.popleft()
                self.dropped[n] += 1

    def _latest(self, name: str) -> list[dict[str, Msg]]:
        trig = self.spec.trigger
        others = [n for n in self.inputs if n != trig]
        for n in others:  # keep only the newest of each non-trigger input
            while len(self.buffers[n]) > 1:
                self.buffers[n].popleft()
        if not self.buffers[trig] or not all(self.buffers[n] for n in others):
            return []
        out = []
        while self.buffers[trig]:
            t = self.buffers[trig].popleft()
            out.append({trig: t, **{n: self.buffers[n][-1] for n in others}})
        return out

    def _match(self) -> dict[str, Msg] | None:
        # Pivot on the newest head. Messages too old to ever match it are dropped (the pivot only grows);
        # of the rest, each input offers its newest message not after the pivot. When every head then
        # lies within the slop below the pivot (equal to it for `exact`), they form a set.
        slop = 0 if self.spec.mode == "exact" else self._slop_ns
        while all(self.buffers.values()):
            pivot = max(b[0].capture_ns for b in self.buffers.values())
            for n, buf in self.buffers.items():
                while buf and (buf[0].capture_ns < pivot - slop or (len(buf) > 1 and buf[1].capture_ns <= pivot)):
                    buf.popleft()
                    self.dropped[n] += 1
            if not all(self.buffers.values()):
                return None
            if max(b[0].capture_ns for b in self.buffers.values()) == pivot:
                return {n: b.popleft() for n, b in self.buffers.items()}
        return None
