"""Per-input queue policies: `latest`, `fifo` (drop oldest past N) and `reliable` (never drop).

Drops are counted where they happen: here when a full queue sheds a message, and from gaps in a
topic's sequence numbers for messages the transport shed before they arrived.
"""

from __future__ import annotations

from collections import deque

from ar_perception.graph.spec import QueueSpec
from ar_perception.runtime.msg import Msg

__all__ = ["InputQueue"]


class InputQueue:
    def __init__(self, name: str, spec: QueueSpec):
        self.name = name
        self.policy = spec.policy
        self.size = 1 if spec.policy == "latest" else spec.size
        self._items: deque[Msg] = deque()
        self.received = 0
        self.dropped = 0
        self._last_seq: dict[str, int] = {}

    def __len__(self) -> int:
        return len(self._items)

    def full(self) -> bool:
        """Only a reliable queue is ever full: its reader must stop reading, which blocks the producer."""
        return self.policy == "reliable" and len(self._items) >= self.size

    def push(self, msg: Msg) -> None:
        self.received += 1
        last = self._last_seq.get(msg.topic)
        if last is not None and msg.seq > last + 1:
            self.dropped += msg.seq - last - 1
        self._last_seq[msg.topic] = msg.seq  # a restarted producer starts again at 0: no drop counted
        if self.policy != "reliable" and len(self._items) >= self.size:
            self._items.popleft()
            self.dropped += 1
        self._items.append(msg)

    def note_end(self, eos: Msg) -> None:
        """The end-of-stream marker carries the next seq: a gap before it is messages lost in transit."""
        last = self._last_seq.get(eos.topic)
        if last is not None and eos.seq > last + 1:
            self.dropped += eos.seq - last - 1
        elif last is None and eos.seq > 0:
            self.dropped += eos.seq

    def pop(self) -> Msg | None:
        return self._items.popleft() if self._items else None
