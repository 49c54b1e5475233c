"""A node's receive side: the one control socket, the input sockets and the timers, into the input queues.

Control messages are read from the start of the process (a stop may come during setup), data only once the
graph has started. A full reliable queue is not read, which blocks its producer (backpressure). A message
that fails to decode or does not fit its input is dropped and counted, never fatal to the node (in strict
mode it stops the node).

Two threads take turns at the sockets, one at a time (the one holding `Receiver.io`; the lock is the memory
barrier ZeroMQ asks for when a socket changes threads). While the node handles a message, the receive thread
reads: latest queues stay fresh, a stop is heard. While the node loop has nothing to do, it borrows the
sockets (`receive_here`) and reads them itself, so that a message goes from the socket to the handler with no
wake-up of another thread on its way (the receive thread gets them back before the handler runs).
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
from ar_perception.runtime import direct as dr
from ar_perception.runtime import protocol as pr
from ar_perception.runtime import transport as tp
from ar_perception.runtime.msg import EOS, Msg, decode
from ar_perception.runtime.publish import check_input
from ar_perception.runtime.shm import ShmReader
from ar_perception.runtime.state import NodeState

__all__ = ["Timer", "Receiver", "ENDED_GRACE_S"]

ENDED_GRACE_S = 1.0  # how long a lossy input waits for data in flight after its producer exited
DRAIN_BATCH = 64  # messages read off one socket in a row, so that control stays responsive
TEND_S = 0.1  # how often a direct input's ZeroMQ socket is looked after
LOSSY_FETCH_S = 0.2  # how long a lossy input's marker waits for its message on ZeroMQ (then it is a drop)
RELIABLE_FETCH_S = 5.0  # a reliable one's: its message was sent before it, so only a lost one takes this long


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
        self.on_stop = on_stop  # runs when the supervisor asks for a stop (in the thread that reads the control)
        self.ready = threading.Event()  # the control socket is connected: a stop is heard from now on
        self.end_at: dict[str, float] = {}  # lossy inputs whose producer exited: when to give up on them
        # Inputs whose producer puts large arrays in shared memory (graph `shm`; runtime/shm.py).
        self.shm = {p: ShmReader(i.shm_index) for p, i in cfg.inputs.items() if i.shm_index is not None}
        self.warned: set[str] = set()
        # The sockets: opened by this thread, read by whichever thread holds `io` (see the module docstring).
        self.io = threading.Lock()
        self._gate = threading.Lock()  # held by the node loop while it wants or holds the sockets
        self._lent = False  # the node loop wants or holds the sockets
        self._node_reads = False  # the node loop holds them (else a drain stops early to hand them over)
        self.closed = False
        self.ctl: zmq.Socket | None = None
        self.up: zmq.Socket | None = None
        self.socks: dict[zmq.Socket, str] = {}  # polled
        self.direct: dict[int, tuple[dr.DirectIn, str]] = {}  # fd -> a direct edge's socket and its input
        self.fallback: dict[str, zmq.Socket] = {}  # a direct input's ZeroMQ socket: read when a marker says
        self._tended = 0.0
        self._later: list[pr.ControlMsg] = []  # control messages read while a marker's message was awaited
        self.timers: dict[str, Timer] = {}
        self.poller = zmq.Poller()
        self.polled: set[zmq.Socket | int] = set()

    def run(self) -> None:
        self._open()
        self.ready.set()
        st = self.state
        try:
            while not st.stop.is_set():
                if self._lent and self._gate.acquire(timeout=0.25):
                    self._gate.release()  # the node loop has given the sockets back
                with self.io:
                    if not self._lent and not st.stop.is_set():
                        self._step(0.25)
        finally:
            with self.io:
                self._close()

    def _open(self) -> None:
        ctl = self.ctx.socket(zmq.SUB)
        ctl.setsockopt(zmq.SUBSCRIBE, b"")
        ctl.setsockopt(zmq.LINGER, 0)
        ctl.connect(self.cfg.ctl)
        self.ctl = ctl
        for port, i in self.cfg.inputs.items():
            q = self.state.queues[port]
            if TIMER_RE.match(i.source):
                self.timers[port] = Timer(i.source)
            else:
                if q.policy == "reliable":
                    sock = tp.pull_socket(self.ctx, _endpoint(i), q.size, self.curve)
                else:
                    sock = tp.sub_socket(self.ctx, _endpoint(i), self.curve)
                if i.direct is None:
                    self.socks[sock] = port
                else:  # runtime/direct.py: messages come through the datagram socket, ZeroMQ when it says
                    self.fallback[port] = sock
                    d = dr.DirectIn(i.direct)
                    self.direct[d.fileno()] = (d, port)
        # Its own report socket: the node loop's is used while a handler runs, when this one may be in use.
        self.up = self.ctx.socket(zmq.PUSH)
        self.up.setsockopt(zmq.LINGER, 1000)
        self.up.connect(self.cfg.up)
        self.poller.register(ctl, zmq.POLLIN)
        self.poller.register(self.state.wake_r, zmq.POLLIN)

    def _close(self) -> None:
        self.closed = True
        for s in [*self.socks, *self.fallback.values(), *([self.ctl] if self.ctl is not None else [])]:
            s.close(0)
        for d, _ in self.direct.values():
            d.close()
        if self.up is not None:
            self.up.close()
        for r in self.shm.values():
            r.close()

    def receive_here(self, timeout: float, seen: int) -> None:
        """Node loop, with nothing queued when `state.changes` was `seen`: read the sockets in this thread until
        something arrives (a message, an end, a control message), the stop, or `timeout` s.

        The message then goes to the node's handler without a wake-up of another thread on its way (the
        receive thread lends its sockets and takes them back when this returns, before the handler runs)."""
        st = self.state
        if not self.is_alive():
            st.wait_change(timeout, seen)
            return
        self._gate.acquire()
        self._lent = True
        st.poke()  # the receive thread's poll returns and it lets go of `io`
        try:
            with self.io:
                if self.closed:
                    return
                self._node_reads = True
                try:
                    deadline = time.monotonic() + timeout
                    while st.changes == seen and not st.stop.is_set():
                        left = deadline - time.monotonic()
                        if left <= 0:
                            break
                        self._step(left)
                finally:
                    self._node_reads = False
        finally:
            self._lent = False
            self._gate.release()  # wakes the receive thread if it waits for the sockets

    def _step(self, max_wait: float) -> None:
        """`step`, where an error (a control message it cannot read, a report it cannot send) stops the node
        the same way in either thread: `state.fatal`, raised by the node loop."""
        try:
            self.step(max_wait)
        except Exception as e:
            self.log.debug("node '%s': receiving failed", self.id, exc_info=True)
            self.state.fatal = NodeError(f"node '{self.id}': receiving failed: {type(e).__name__}: {e}")
            self.state.stop.set()
            self.state.wake()

    def step(self, max_wait: float) -> None:
        """One poll of the sockets (at most `max_wait` s), and what came: control, data, due timers. Called by
        the thread that holds `io`."""
        st, poller, socks, timers = self.state, self.poller, self.socks, self.timers
        started = st.started.is_set()
        with st.cond:
            readers: list[tuple[zmq.Socket | int, str]] = [*socks.items()]
            readers += [(fd, port) for fd, (_, port) in self.direct.items()]
            want = {s for s, port in readers if started and not st.queues[port].full() and port not in st.ended}
        for s in self.polled - want:
            poller.unregister(s)
        for s in want - self.polled:
            poller.register(s, zmq.POLLIN)
        self.polled = want
        now = time.monotonic()
        # Before the start: short polls, to see the start soon (timers are not running yet).
        wait = min([t.next - now for t in timers.values()] + [max_wait]) if started else min(0.02, max_wait)
        events = dict(poller.poll(max(0, int(wait * 1000))))
        if st.wake_r in events:
            os.read(st.wake_r, 4096)
        if self.ctl is not None and self.ctl in events:
            self.on_control(pr.recv_control(self.ctl))
        for s in events:
            if s in socks:
                self._drain(s, socks[s])
            elif s in self.direct:
                self._drain_direct(*self.direct[s])
        while self._later:
            self.on_control(self._later.pop(0))
        now = time.monotonic()
        if self.fallback and now >= self._tended + TEND_S:
            self._tended = now
            for sock in self.fallback.values():
                # ZeroMQ does a socket's housekeeping (attaching a reconnected producer, sending it the
                # subscription) when the socket is used; a direct input's is only read on a marker.
                sock.getsockopt(zmq.EVENTS)
        if not (timers or self.end_at) or not st.started.is_set():
            return  # timers start with the graph
        for port, t_end in list(self.end_at.items()):
            if now >= t_end:
                del self.end_at[port]
                st.mark_ended(port)
        for port, timer in timers.items():
            if (tick := timer.due(now)) is not None:
                st.push(port, tick)

    def _pause(self, port: str) -> bool:
        """Whether a drain stops before its next message: the node loop waits for the sockets (it reads the rest
        itself), or the input's reliable queue is full (backpressure)."""
        if self._lent and not self._node_reads:
            return True
        q = self.state.queues[port]
        if q.policy != "reliable":
            return False
        with self.state.cond:
            return q.full()

    def _drain(self, s: zmq.Socket, port: str) -> None:
        for i in range(DRAIN_BATCH):
            if self._pause(port):
                return
            # The poll said the first is there; asking for the next beats a zmq.Again raised at the end.
            if i and not int(s.getsockopt(zmq.EVENTS)) & zmq.POLLIN:
                return
            try:
                frames = s.recv_multipart(zmq.NOBLOCK, copy=False)
            except zmq.Again:
                return
            self.accept(port, frames)

    def _drain_direct(self, d: dr.DirectIn, port: str, final: bool = False) -> None:
        """Read a direct input's datagrams (a batch; with `final`, everything there, its producer gone)."""
        for _ in range(2**62 if final else DRAIN_BATCH):
            if not final and self._pause(port):
                return
            data = d.recv()
            if data is None:
                return
            try:
                got = dr.unpack(data)
            except ValueError as e:
                self.bad_input(port, f"node '{self.id}' input '{port}': malformed datagram: {e}")
                continue
            if isinstance(got, int):
                self._fetch(port, got, final)
            else:
                self.accept(port, got)

    def _fetch(self, port: str, seq: int, final: bool = False) -> None:
        """The message with `seq`, which a marker on a direct edge says its producer sent over ZeroMQ first (too
        large for a datagram). Others found there (a lossy edge whose markers were dropped on a full socket, what
        a restarted producer left) are skipped. A message that does not come is a drop on a lossy edge (the queue
        counts the gap), and on a reliable one, after `RELIABLE_FETCH_S` (it died with a previous process of
        this node), lost and said so. While it waits, a stop is heard; other control messages wait until after."""
        st, sock = self.state, self.fallback[port]
        reliable = st.queues[port].policy == "reliable"
        deadline = time.monotonic() + (0.0 if final else RELIABLE_FETCH_S if reliable else LOSSY_FETCH_S)
        while not st.stop.is_set():
            if sock.poll(0 if final else 20):
                if self.accept(port, sock.recv_multipart(zmq.NOBLOCK, copy=False), only=seq) == seq:
                    return
                continue
            if time.monotonic() >= deadline:
                if reliable and not final:
                    self.bad_input(port, f"node '{self.id}' input '{port}': message {seq} did not come over ZeroMQ")
                return
            if self.ctl is not None and self.ctl.poll(0):
                msg = pr.recv_control(self.ctl)
                if isinstance(msg, pr.Stop):
                    self.on_control(msg)
                else:
                    self._later.append(msg)  # (an end read here would drain this socket from inside this read)

    def on_control(self, msg: pr.ControlMsg) -> None:
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
            self._producer_ended(msg)
        st.wake()

    def _producer_ended(self, msg: pr.Ended) -> None:
        # A reliable edge ends with its in-band EOS, which arrives in order; a lossy one may have lost its
        # EOS, so it ends after a grace period. A producer that failed sends no EOS at all: take what it
        # sent and end now.
        for s, port in [*self.socks.items(), *((d, port) for d, port in self.direct.values())]:
            if self.cfg.inputs[port].source.split("/")[0] != msg.node:
                continue
            if not msg.clean:
                if isinstance(s, dr.DirectIn):
                    self._drain_direct(s, port, final=True)
                while isinstance(s, zmq.Socket):
                    try:
                        self.accept(port, s.recv_multipart(zmq.NOBLOCK, copy=False))
                    except zmq.Again:
                        break
                self.state.mark_ended(port)
            elif self.state.queues[port].policy != "reliable":
                self.end_at[port] = time.monotonic() + ENDED_GRACE_S

    def accept(self, port: str, frames: list[Any], only: int | None = None) -> int | None:
        """Decode a message and queue it (an EOS ends the input); its sequence number, None when it was bad.
        With `only`, one with another sequence number is only marked received."""
        reader = self.shm.get(port)
        try:
            msg = decode(frames, self.cfg.max_message_bytes, reader)
        except Exception as e:  # a malformed message never kills the node
            self.bad_input(port, f"node '{self.id}' input '{port}': {e}")
            return None
        if reader is not None:
            try:
                reader.release(msg.seq)  # received: once no view pins its slot, the producer may reuse it
            except ValueError:  # a sequence number no producer writes (beyond 64 bits)
                self.bad_input(port, f"node '{self.id}' input '{port}': sequence number {msg.seq} out of range")
                return None
        if only is not None and msg.seq != only:
            return msg.seq  # not the one a marker asked for (runtime/direct.py): its turn has passed
        if msg.kind == EOS:
            with self.state.cond:
                self.state.queues[port].note_end(msg)  # messages lost just before the end count as drops too
            # Acknowledge: the producer keeps its sockets open until its consumers have everything,
            # because ZeroMQ discards what is still in flight when a peer disconnects.
            producer = msg.topic.split("/")[0]
            assert self.up is not None, "accept runs after _open"
            pr.send(self.up, pr.EosAck(node=self.id, pid=os.getpid(), input=port, producer=producer))
            self.state.mark_ended(port)
            return msg.seq
        problem = check_input(self.id, port, self.input_kind(port) or kinds.ANY, msg)
        if problem:
            self.bad_input(port, problem)
            return None
        self.state.push(port, msg)
        return msg.seq

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
