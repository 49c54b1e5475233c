"""A node's receive thread: the one control socket, the input sockets and the timers, into the input queues.

It reads control messages from the start of the process (a stop may come during setup), data only once the
graph has started. A full reliable queue is not read, which blocks its producer (backpressure). A message
that fails to decode or does not fit its input is dropped and counted, never fatal to the node (in strict
mode it stops the node).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from typing import Any

import zmq

from ar_perception import kinds
from ar_perception.errors import NodeError
from ar_perception.graph.spec import TIMER_RE
from ar_perception.keys import CurveKeys
from ar_perception.runtime import protocol as pr
from ar_perception.runtime import transport as tp
from ar_perception.runtime.msg import EOS, Msg, decode
from ar_perception.runtime.publish import check_input
from ar_perception.runtime.shm import ShmReader
from ar_perception.runtime.state import NodeState

__all__ = ["Timer", "Receiver", "ENDED_GRACE_S"]

ENDED_GRACE_S = 1.0  # how long a lossy input waits for data in flight after its producer exited
DRAIN_BATCH = 64  # messages read off one socket in a row, so that control stays responsive


class Timer:
    """A timer input ("timer/hz/30", "timer/ms/100"): a Tick every period from the start of the graph; a late
    timer does not catch up in a burst."""

    def __init__(self, source: str):
        m = TIMER_RE.match(source)
        if m is None:
            raise ValueError(f"not a timer source: {source!r}")
        self.source = source
        self.period = 1.0 / float(m.group(2)) if m.group(1) == "hz" else float(m.group(2)) / 1000.0
        self.next = time.monotonic()
        self.count = 0

    def due(self, now: float) -> Msg | None:
        """The Tick due at `now`, if one is; a late timer skips the ticks it missed."""
        if now < self.next:
            return None
        self.next = max(self.next + self.period, now)
        tick = Msg(kind="Tick", meta={"tick": self.count}, topic=self.source, seq=self.count)
        self.count += 1
        return tick


class Receiver(threading.Thread):
    def __init__(
        self,
        cfg: pr.WorkerConfig,
        ctx: zmq.Context,
        curve: CurveKeys | None,
        state: NodeState,
        input_kind: Callable[[str], str | None],
        on_stop: Callable[[], None],
        log: logging.Logger,
    ):
        super().__init__(name="arp-recv", daemon=True)
        self.cfg, self.ctx, self.curve, self.state, self.log = cfg, ctx, curve, state, log
        self.id = cfg.node_id
        self.input_kind = input_kind  # the kind the node declares for an input
        self.on_stop = on_stop  # runs in this thread when the supervisor asks for a stop
        self.ready = threading.Event()  # the control socket is connected: a stop is heard from now on
        self.end_at: dict[str, float] = {}  # lossy inputs whose producer exited: when to give up on them
        # Inputs whose producer puts large arrays in shared memory (graph `shm`; runtime/shm.py).
        self.shm = {p: ShmReader(i.shm_index) for p, i in cfg.inputs.items() if i.shm_index is not None}
        self.warned: set[str] = set()

    def run(self) -> None:
        ctl = self.ctx.socket(zmq.SUB)
        ctl.setsockopt(zmq.SUBSCRIBE, b"")
        ctl.setsockopt(zmq.LINGER, 0)
        ctl.connect(self.cfg.ctl)
        socks: dict[zmq.Socket, str] = {}
        timers: dict[str, Timer] = {}
        for port, i in self.cfg.inputs.items():
            q = self.state.queues[port]
            if TIMER_RE.match(i.source):
                timers[port] = Timer(i.source)
            elif q.policy == "reliable":
                socks[tp.pull_socket(self.ctx, _endpoint(i), q.size, self.curve)] = port
            else:
                socks[tp.sub_socket(self.ctx, _endpoint(i), self.curve)] = port
        # Its own report socket: a ZeroMQ socket belongs to one thread, and the node loop has the other.
        self.up = self.ctx.socket(zmq.PUSH)
        self.up.setsockopt(zmq.LINGER, 1000)
        self.up.connect(self.cfg.up)
        self.ready.set()
        try:
            self._loop(ctl, socks, timers)
        finally:
            for s in [*socks, ctl]:
                s.close(0)
            self.up.close()
            for r in self.shm.values():
                r.close()

    def _loop(self, ctl: zmq.Socket, socks: dict[zmq.Socket, str], timers: dict[str, Timer]) -> None:
        st = self.state
        poller = zmq.Poller()
        poller.register(ctl, zmq.POLLIN)
        poller.register(st.wake_r, zmq.POLLIN)
        polled: set[zmq.Socket] = set()
        while not st.stop.is_set():
            started = st.started.is_set()
            with st.cond:
                want = {
                    s for s, port in socks.items() if started and not st.queues[port].full() and port not in st.ended
                }
            for s in polled - want:
                poller.unregister(s)
            for s in want - polled:
                poller.register(s, zmq.POLLIN)
            polled = want
            now = time.monotonic()
            # Before the start: short polls, to see the start soon (timers are not running yet).
            wait = min([t.next - now for t in timers.values()] + [0.25]) if started else 0.02
            events = dict(poller.poll(max(0, int(wait * 1000))))
            if st.wake_r in events:
                os.read(st.wake_r, 4096)
            if ctl in events:
                self.on_control(pr.recv_control(ctl), socks)
            for s in events:
                if s in socks:
                    self._drain(s, socks[s])
            if not st.started.is_set():
                continue  # timers start with the graph
            now = time.monotonic()
            for port, t_end in list(self.end_at.items()):
                if now >= t_end:
                    del self.end_at[port]
                    st.mark_ended(port)
            for port, timer in timers.items():
                if (tick := timer.due(now)) is not None:
                    st.push(port, tick)

    def _drain(self, s: zmq.Socket, port: str) -> None:
        for _ in range(DRAIN_BATCH):
            with self.state.cond:
                if self.state.queues[port].full():
                    return
            if not int(s.get(zmq.EVENTS)) & zmq.POLLIN:
                return
            self.accept(port, s.recv_multipart(zmq.NOBLOCK, copy=False))

    def on_control(self, msg: pr.ControlMsg, socks: dict[zmq.Socket, str]) -> None:
        st = self.state
        if isinstance(msg, pr.Stop):
            st.stop.set()
            self.on_stop()
        elif isinstance(msg, pr.Start) and self.id in msg.nodes:
            st.started.set()
        elif isinstance(msg, pr.Release) and self.id in msg.nodes:
            st.released.set()
        elif isinstance(msg, pr.Ended):
            st.gone.add(msg.node)
            self._producer_ended(msg, socks)
        st.wake()

    def _producer_ended(self, msg: pr.Ended, socks: dict[zmq.Socket, str]) -> None:
        # A reliable edge ends with its in-band EOS, which arrives in order; a lossy one may have lost its
        # EOS, so it ends after a grace period. A producer that failed sends no EOS at all: take what it
        # sent and end now.
        for s, port in socks.items():
            if self.cfg.inputs[port].source.split("/")[0] != msg.node:
                continue
            if not msg.clean:
                while True:
                    try:
                        self.accept(port, s.recv_multipart(zmq.NOBLOCK, copy=False))
                    except zmq.Again:
                        break
                self.state.mark_ended(port)
            elif self.state.queues[port].policy != "reliable":
                self.end_at[port] = time.monotonic() + ENDED_GRACE_S

    def accept(self, port: str, frames: list[Any]) -> None:
        reader = self.shm.get(port)
        try:
            msg = decode(frames, self.cfg.max_message_bytes, reader)
        except Exception as e:  # a malformed message never kills the node
            self.bad_input(port, f"node '{self.id}' input '{port}': {e}")
            return
        if reader is not None:
            reader.release(msg.seq)  # its arrays are copied out: the producer may reuse the slot
        if msg.kind == EOS:
            with self.state.cond:
                self.state.queues[port].note_end(msg)  # messages lost just before the end count as drops too
            # Acknowledge: the producer keeps its sockets open until its consumers have everything,
            # because ZeroMQ discards what is still in flight when a peer disconnects.
            producer = msg.topic.split("/")[0]
            pr.send(self.up, pr.EosAck(node=self.id, pid=os.getpid(), input=port, producer=producer))
            self.state.mark_ended(port)
            return
        problem = check_input(self.id, port, self.input_kind(port) or kinds.ANY, msg)
        if problem:
            self.bad_input(port, problem)
            return
        self.state.push(port, msg)

    def bad_input(self, port: str, problem: str) -> None:
        with self.state.cond:
            self.state.stats.bad[port] += 1
        if self.cfg.strict:
            self.state.fatal = NodeError(f"strict mode: {problem}")
            self.state.stop.set()
            self.state.wake()
        elif port not in self.warned:
            self.warned.add(port)
            self.log.warning("%s; dropped (warned once per input)", problem)


def _endpoint(i: pr.InputPlan) -> str:
    assert i.endpoint is not None, "the supervisor plans an endpoint for every input that is not a timer"
    return i.endpoint
