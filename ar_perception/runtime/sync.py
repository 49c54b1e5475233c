"""Multi-input synchronisation on capture time: `exact`, `approximate` (within a slop) and `latest`.

Lossy (the default): every buffer is bounded and every message older than the timeout is dropped and
counted, so no policy ever waits without bound. Lossless (the runtime's choice for `exact` and `approximate`
when every input is `reliable`): nothing expires or overflows. The caller stops feeding an input whose buffer
is `full`, so memory is bounded by backpressure on its producer, and the only messages discarded (and
counted) are those that can never complete a set: older than a head of another input, or left when an input
has ended.

Why lossless mode cannot deadlock. A sync waits only while some input's buffer is empty: when every buffer
holds a message, `push` matches the heads or discards the oldest as unmatchable. The inputs of one sync
carry the capture times of one source (equal times mean one frame), each in capture order: producers
publish in capture order and reliable paths keep it. An input whose buffer is full blocks, through its queue
and socket, the producers upstream of it; but those producers sent every capture time now in that buffer
before the message they are blocked on, to every consumer, so the paths to the waiting inputs already carry
a message at or after the full buffer's head. It arrives without anything more from the blocked producers;
the head then matches or is discarded, and the buffer drains. When a waiting input ends instead, `end`
discards what can no longer match. The argument assumes that no node on the path to one input only
swallows capture times (emits for every tenth frame, say) beyond what a buffer, a queue and a socket hold of
the other inputs; give those other inputs lossy queues, so that their producers never block.
"""

from __future__ import annotations

from collections import deque

from ar_perception.graph.spec import SyncSpec
from ar_perception.runtime.msg import Msg

__all__ = ["Synchronizer"]


class Synchronizer:
    def __init__(self, spec: SyncSpec, inputs: list[str], *, lossless: bool = False):
        self.spec = spec
        self.inputs = list(inputs)
        self.lossless = lossless and spec.mode != "latest"  # `latest` keeps only the newest by design
        self.buffers: dict[str, deque[Msg]] = {n: deque() for n in self.inputs}
        self.dropped: dict[str, int] = {n: 0 for n in self.inputs}
        self.ended: set[str] = set()
        self._slop_ns = int(spec.slop * 1e9)
        self._timeout_ns = int(spec.timeout * 1e9)

    def full(self, name: str) -> bool:
        """The input's buffer is at its bound: feed it no more until a set completes (lossless mode)."""
        return len(self.buffers[name]) >= self.spec.buffer

    def push(self, name: str, msg: Msg) -> list[dict[str, Msg]]:
        """Add one message; return the matched sets it completes (oldest first)."""
        buf = self.buffers[name]
        if self.lossless and self.full(name):
            raise ValueError(
                f"sync input '{name}' is full ({self.spec.buffer} messages): a lossless sync drops nothing, "
                "so its caller must wait for a set to complete before feeding that input again"
            )
        buf.append(msg)
        if not self.lossless:
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
        self._drop_unmatchable()
        return out

    def end(self, name: str) -> None:
        """No more messages will come on input `name` (its producer ended and its queue is empty)."""
        self.ended.add(name)
        self._drop_unmatchable()

    def _drop_unmatchable(self) -> None:
        # An ended input with nothing buffered completes no more sets: what the others hold (and any
        # message they still get) would wait forever, and block their producers in lossless mode.
        if self.spec.mode == "latest" or not any(n in self.ended and not self.buffers[n] for n in self.inputs):
            return
        for n, buf in self.buffers.items():
            self.dropped[n] += len(buf)
            buf.clear()

    def _expire(self, now_ns: int) -> None:
        for n, buf in self.buffers.items():
            if self.spec.mode == "latest" and n != self.spec.trigger:
                continue  # the newest of a non-trigger input stays usable however old
            while buf and now_ns - buf[0].capture_ns > self._timeout_ns:
                buf.popleft()
                self.dropped[n] += 1

    def _latest(self, name: str) -> list[dict[str, Msg]]:
        trig = self.spec.trigger
        if trig is None:  # graph/load.py refuses such a graph; a SyncSpec built by hand may lack it
            raise ValueError(f"sync 'latest' needs a trigger input (one of: {', '.join(self.inputs)})")
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
        # For `exact`, every drop here is of a message that can never match, whatever the timing: inputs
        # arrive in capture order, so no input whose head is past it will bring its capture time. For
        # `approximate`, preferring the newest message within the slop depends on what has arrived.
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
