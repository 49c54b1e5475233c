"""What a node's two threads share: the input queues, the sync, the counters and the events of its life.

Created in one place (`NodeState.__init__`). The receive thread (receive.py) fills the queues; the node
loop (worker.py) takes from them. `cond` guards the queues, the sync, `ended` and the counters.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable

from ar_perception.graph.spec import SyncSpec
from ar_perception.runtime.msg import Msg
from ar_perception.runtime.protocol import InputPlan
from ar_perception.runtime.publish import Stats
from ar_perception.runtime.queues import InputQueue
from ar_perception.runtime.sync import Synchronizer

__all__ = ["NodeState", "IDLE_WAIT_S"]

IDLE_WAIT_S = 0.5  # how long the node loop waits for a message before it reports its stats anyway


class NodeState:
    def __init__(self, inputs: dict[str, InputPlan], outputs: list[str], sync: SyncSpec | None):
        self.cond = threading.Condition()
        self.stop = threading.Event()  # this node is done: a stop was asked, or it failed, or it ended
        self.started = threading.Event()  # the supervisor's Start came: data and timers flow from now on
        self.released = threading.Event()  # after its EOS: the consumers have everything, the node may exit
        self.fatal: Exception | None = None  # strict mode: a bad input, raised by the node loop
        self.queues = {n: InputQueue(n, i.queue) for n, i in inputs.items()}
        self.ended: set[str] = set()  # inputs whose producer has ended
        self.gone: set[str] = set()  # nodes whose process exited for good
        self.stats = Stats(list(inputs), outputs)
        # Fed by reliable queues only, a sync drops nothing by timing: backpressure bounds its buffers.
        lossless = all(q.policy == "reliable" for q in self.queues.values())
        self.sync = Synchronizer(sync, list(inputs), lossless=lossless) if sync else None
        self._rr = 0  # round-robin position over the inputs
        self.changes = 0  # counts what the node loop may be waiting for: a message, an end, a control message
        # `poke` writes a byte here, which the thread reading the sockets polls: when the node loop frees a slot
        # of a full queue (that input was not read: backpressure), and when it wants the sockets itself.
        self.wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_w, False)

    def queued(self, port: str) -> int:
        with self.cond:
            q = self.queues.get(port)
            return len(q) if q is not None else 0

    def push(self, port: str, msg: Msg) -> None:
        with self.cond:
            self.queues[port].push(msg)
            self.changes += 1
            self.cond.notify_all()

    def mark_ended(self, port: str) -> None:
        with self.cond:
            self.ended.add(port)
            self.changes += 1
            self.cond.notify_all()

    def wake(self) -> None:
        """Wake the node loop (a control message changed something it waits on)."""
        with self.cond:
            self.changes += 1
            self.cond.notify_all()

    def wait_change(self, timeout: float, seen: int) -> None:
        """Wait until `changes` has moved past `seen` (something pushed, ended or woken), or `timeout` s."""
        with self.cond:
            self.cond.wait_for(lambda: self.changes != seen or self.stop.is_set(), timeout)

    def poke(self) -> None:
        """Make the reading thread's poll return (it polls `wake_r`)."""
        try:
            os.write(self._wake_w, b"x")
        except BlockingIOError:
            pass  # the pipe is full of pokes already: the reader will see one

    def next_message(self, wait: Callable[[float, int], None] | None = None) -> tuple[str, Msg | None] | None:
        """The next message (round-robin over inputs); ("", None) after an idle wait; None when done.

        With nothing queued it calls `wait(IDLE_WAIT_S, changes)` (receive.Receiver.receive_here: read the
        sockets in this thread until something comes) or, without one, waits for the receive thread."""
        with self.cond:
            if self.stop.is_set():
                return None
            item = self._pop()
            if item is not None:
                return item
            if self.ended >= set(self.queues):
                return None
            seen = self.changes
        (wait or self.wait_change)(IDLE_WAIT_S, seen)  # not under `cond`: the reader pushes under it
        with self.cond:
            return self._pop() or ("", None)

    def _pop(self) -> tuple[str, Msg] | None:
        if self.sync is not None:
            for port in self.ended:
                if not self.queues[port]:
                    self.sync.end(port)  # what it would have completed can no longer match: dropped, counted
        order = list(self.queues)
        for _ in range(len(order)):
            port = order[self._rr % len(order)]
            self._rr += 1
            if self.sync is not None and self.sync.full(port):
                # Leave it queued: the sync buffer waits for the other inputs, and a full reliable queue
                # blocks its producer (backpressure; why that cannot deadlock: runtime/sync.py).
                continue
            q = self.queues[port]
            was_full = q.full()
            m = q.pop()
            if m is not None:
                self.stats.msgs_in[port] += 1  # "in" counts handled messages; in + drops = sent
                if was_full:
                    self.poke()  # the reader stopped reading this input: it may read it again
                return port, m
        return None
