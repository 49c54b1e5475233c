"""A node's outputs on their way out: each set its handler emits, checked and stamped (`Publisher`), sent on
its sockets (`Outlets`), and counted (`Stats`); plus the check of a message arriving on an input.

The worker and the in-process harness (`ar_perception.testing`) share everything here but the sockets, so a
node behaves the same in a test as in a graph.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Generator, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import zmq

from ar_perception import kinds
from ar_perception.errors import NodeError
from ar_perception.keys import CurveKeys
from ar_perception.runtime import direct as dr
from ar_perception.runtime import transport as tp
from ar_perception.runtime.msg import EOS, Msg, encode, wire_msg
from ar_perception.runtime.node import Emitted, Outputs
from ar_perception.runtime.protocol import DirectPlan, OutputPlan
from ar_perception.runtime.queues import InputQueue
from ar_perception.runtime.shm import ShmWriter
from ar_perception.runtime.sync import Synchronizer

__all__ = ["Stats", "check_input", "output_sets", "Publisher", "Outlets"]

SLOW_CONSUMER_WARN_S = 2.0  # a send blocked this long on a reliable consumer is worth a warning
EOS_SEND_LIMIT_S = 5.0  # how long an EOS waits for a consumer that does not read (also when stopping)


class Stats:
    """A node's counters. The receive thread writes `bad`; the node loop writes the rest and takes the snapshots;
    `msgs_in`, `bad` and the snapshot are under `NodeState.cond`."""

    def __init__(self, inputs: list[str], outputs: list[str]):
        self.msgs_in = {n: 0 for n in inputs}
        self.bad = {n: 0 for n in inputs}
        self.msgs_out = {n: 0 for n in outputs}
        self.latency_ns: deque[int] = deque(maxlen=4096)
        self.compute_ns: deque[int] = deque(maxlen=4096)
        self.blocked_s = 0.0  # time spent waiting on reliable consumers, counted while it is spent
        self.shm_fallback: dict[str, int] = {}  # per output (graph `shm`): large messages sent as frames
        self.direct_fallback: dict[str, int] = {}  # per output with direct edges: messages too large for one

    def add_latency(self, msg: Msg, now_ns: int) -> None:
        # Since capture on the graph's clock: a replayed message carries the offset from its recorded
        # capture time to when it was replayed, so the latency is not the age of the recording.
        self.latency_ns.append(now_ns - (msg.capture_ns + msg.clock_offset_ns))

    def snapshot(self, queues: dict[str, InputQueue], sync: Synchronizer | None) -> dict[str, Any]:
        lat = np.array(self.latency_ns, dtype=np.float64) / 1e6
        comp = np.array(self.compute_ns, dtype=np.float64) / 1e6
        drops = {n: q.dropped + self.bad[n] + (sync.dropped[n] if sync else 0) for n, q in queues.items()}
        return {
            "in": dict(self.msgs_in),
            "out": dict(self.msgs_out),
            "drops": drops,
            "bad": dict(self.bad),
            "queue": {n: len(q) for n, q in queues.items()},
            "lat_p50_ms": float(np.percentile(lat, 50)) if lat.size else None,
            "lat_p99_ms": float(np.percentile(lat, 99)) if lat.size else None,
            "compute_p50_ms": float(np.percentile(comp, 50)) if comp.size else None,
            "compute_sum_ms": float(comp.sum()) if comp.size else 0.0,
            "blocked_s": self.blocked_s,
            **({"shm_fallback": dict(self.shm_fallback)} if self.shm_fallback else {}),
            **({"direct_fallback": dict(self.direct_fallback)} if self.direct_fallback else {}),
        }


def check_input(node_id: str, port: str, want: str, msg: Msg) -> str | None:
    """What is wrong with a message arriving on an input declared as kind `want`, or None."""
    if not kinds.compatible(msg.kind, want):
        return f"node '{node_id}' input '{port}' takes {want}, got a {msg.kind} message from {msg.topic}"
    problem = kinds.check(msg.kind, dict(msg.arrays), dict(msg.meta)) if msg.kind in kinds.KINDS else None
    return f"node '{node_id}' input '{port}': {problem}" if problem else None


def output_sets(emitted: Emitted) -> Generator[Outputs, None, None]:
    """Each set of outputs a handler emitted: the one it returned, or each one its iterator yields, as it is
    yielded (closing this closes the handler's generator)."""
    if emitted is None or isinstance(emitted, Mapping):
        yield emitted
    else:
        yield from emitted


class Publisher:
    """Stamps a node's outputs (topic, sequence number, publish time) and checks them against their kinds."""

    def __init__(
        self,
        node_id: str,
        kinds_by_output: dict[str, str],
        strict: bool,
        log: logging.Logger,
        stats: Stats | None = None,
        unused: frozenset[str] = frozenset(),
    ):
        self.node_id, self.kinds, self.strict, self.log = node_id, kinds_by_output, strict, log
        self.unused = unused  # declared outputs the graph does not use: dropped without a word
        self.seq = {o: 0 for o in kinds_by_output}
        self.stats = stats
        self._warned: set[str] = set()
        # The clock offset of the input being handled (set by the runtime): an output built as a new Msg
        # rather than derived from an input carries none of its own, and runs on its input's clock.
        self.clock_offset_ns = 0

    def stamp(self, out: Outputs) -> list[tuple[str, Msg]]:
        stamped = []
        for name, msg in (out or {}).items():
            if name in self.unused:
                continue
            problem = self._problem(name, msg)
            if problem:
                if self.strict:
                    raise NodeError(problem)
                if name not in self._warned:
                    self._warned.add(name)
                    self.log.warning("%s; dropped (warned once)", problem)
                continue
            now = time.time_ns()
            m = wire_msg(
                msg.kind,
                msg.arrays,
                msg.meta,
                msg.capture_ns,
                f"{self.node_id}/{name}",
                self.seq[name],
                now,
                msg.clock_offset_ns or self.clock_offset_ns,
            )
            self.seq[name] += 1
            if self.stats is not None:
                self.stats.msgs_out[name] += 1
                self.stats.add_latency(m, now)
            stamped.append((name, m))
        return stamped

    def stamp_all(self, emitted: Emitted) -> list[tuple[str, Msg]]:
        """Every output of a handler call, stamped in the order it emitted them."""
        return [o for out in output_sets(emitted) for o in self.stamp(out)]

    def _problem(self, name: str, msg: Any) -> str | None:
        if name not in self.kinds:
            return f"node '{self.node_id}' returned unknown output '{name}' (it has: {', '.join(self.kinds)})"
        if not isinstance(msg, Msg):
            return f"node '{self.node_id}' output '{name}' must be a Msg (got {type(msg).__name__})"
        if not kinds.compatible(msg.kind, self.kinds[name]):
            return f"node '{self.node_id}' output '{name}' is declared {self.kinds[name]}, got {msg.kind}"
        if msg.kind in kinds.KINDS and (p := kinds.check(msg.kind, dict(msg.arrays), dict(msg.meta))):
            return f"node '{self.node_id}' output '{name}': {p}"
        return None


@dataclass
class _Edge:
    """A direct edge of an output: its plan, its datagram socket and, for a reliable consumer, its PUSH socket."""

    plan: DirectPlan
    out: dr.DirectOut
    push: zmq.Socket | None


def _edges(o: OutputPlan, pushes: list[tuple[str, zmq.Socket]]) -> list[_Edge]:
    """An output's direct edges, lossy consumers first; the k-th reliable one has the k-th PUSH socket (plan.py
    lists both in the order of the output's consumers)."""
    socks = iter(sock for _, sock in pushes)
    edges = [_Edge(d, dr.DirectOut(d.path), next(socks) if d.reliable else None) for d in o.direct]
    return sorted(edges, key=lambda e: e.plan.reliable)


class Outlets:
    """The sockets of a node's outputs: per output one XPUB for its lossy consumers and one PUSH per reliable
    consumer, and, when its consumers are all on this machine (graph `shm`), a direct datagram socket per
    consumer that carries its messages instead (runtime/direct.py; the ZeroMQ sockets then carry only what is
    too large for a datagram). A lossy send never waits (the XPUB drops at its high-water mark, a full direct
    socket drops the message; receivers count the gaps); a reliable send waits for room (backpressure), unless
    its consumer's process has ended for good."""

    def __init__(
        self,
        ctx: zmq.Context,
        node_id: str,
        plans: dict[str, OutputPlan],
        curve: CurveKeys | None,
        *,
        stats: Stats,
        stop: threading.Event,
        gone: set[str],
        heartbeat: Callable[[], None],
        log: logging.Logger,
    ):
        self.node_id, self.plans, self.stats, self.log = node_id, plans, stats, log
        self.stop = stop  # once set, only an EOS still waits for room
        self.gone = gone  # nodes whose process exited for good (the receive thread adds them)
        self.heartbeat = heartbeat  # called while a send waits: waiting on a consumer is not a hang
        self.undelivered: dict[tuple[str, str], int] = {}  # (output, consumer) -> messages it never got
        self.gate: tp.Gatekeeper | None = None
        bound = [ep for o in plans.values() for ep in (o.pub, *o.reliable)]
        if curve is not None and any(ep.startswith("tcp://") for ep in bound):
            self.gate = tp.Gatekeeper(ctx, curve, log)  # before the first bind
        self.socks: dict[str, tuple[zmq.Socket, list[tuple[str, zmq.Socket]]]] = {}
        for name, o in plans.items():
            ends = zip(o.reliable, o.reliable_to, strict=True)
            pushes = [(to, tp.push_socket(ctx, ep, o.reliable_bound, curve)) for ep, to in ends]
            self.socks[name] = (tp.pub_socket(ctx, o.pub, curve), pushes)
        # Large arrays to consumers on this machine through shared memory (graph `shm`; runtime/shm.py).
        self.shm = {n: ShmWriter(o.shm_prefix, o.shm_consumers) for n, o in plans.items() if o.shm_prefix}
        self._shm_warned: set[str] = set()
        # Every message to consumers on this machine straight into their datagram sockets (runtime/direct.py).
        self.direct = {n: _edges(o, self.socks[n][1]) for n, o in plans.items() if o.direct}
        self.datagram_max: int | None = None  # learnt from the first message too large for one datagram

    def wait_subscribers(self, timeout: float) -> None:
        for edges in self.direct.values():
            for e in edges:
                e.out.connect()  # the consumers bind before they are Ready; one not there yet is tried per send
        for name, o in self.plans.items():
            got = tp.wait_subscribers(self.socks[name][0], o.subscribers, timeout, should_stop=self.stop.is_set)
            if got < o.subscribers and not self.stop.is_set():
                self.log.warning("output %s: %d of %d subscribers joined before start", name, got, o.subscribers)

    def drain_subscriptions(self) -> None:
        for pub, _ in self.socks.values():
            tp.drain_subscriptions(pub)  # (re)subscriptions queue up on an XPUB until read

    def send(self, name: str, msg: Msg) -> None:
        pub, pushes = self.socks[name]
        writer = self.shm.get(name)
        frames = encode(msg, writer)
        if writer is not None and writer.fallbacks:
            self.stats.shm_fallback[name] = writer.fallbacks
            if writer.unavailable is not None and name not in self._shm_warned:
                self._shm_warned.add(name)
                self.log.warning(
                    "output %s/%s: no shared memory (%s); its large messages go as ZeroMQ frames",
                    self.node_id,
                    name,
                    writer.unavailable,
                )
        eos = msg.kind == EOS
        edges = self.direct.get(name)
        if edges is not None:
            self._send_direct(name, edges, frames, msg.seq, eos)
            return
        tp.send_frames(pub, frames, zmq.NOBLOCK)
        for to, sock in pushes:
            self._push(name, to, sock, frames, eos)

    def _push(self, name: str, to: str, sock: zmq.Socket, frames: list[Any], eos: bool) -> bool:
        """Send to a reliable consumer, waiting for room; whether it was sent."""
        if to in self.gone:
            self._undelivered(name, to)
            return False
        try:
            tp.send_frames(sock, frames, zmq.NOBLOCK)  # the common case: room in the pipe
            return True
        except zmq.Again:
            return self._wait_and_send(name, to, sock, frames, eos)

    def _send_direct(self, name: str, edges: list[_Edge], frames: list[Any], seq: int, eos: bool) -> None:
        """Into each consumer's datagram socket: the lossy ones first, all of them, also those that take the message
        over ZeroMQ (a message too large for a datagram: `_send_around`), since they never wait; then the reliable
        ones, which wait for room."""
        buffers = dr.pack(frames)
        size = sum(memoryview(b).nbytes for b in buffers)
        counted = False
        for reliable in (False, True):
            around: list[_Edge] = []
            for e in edges:
                if e.plan.reliable != reliable:
                    continue
                if reliable and e.plan.to in self.gone:
                    self._undelivered(name, e.plan.to)
                    continue
                large = self.datagram_max is not None and size > self.datagram_max
                got = dr.TOO_BIG if large else e.out.send(buffers)
                if reliable and got in (dr.FULL, dr.ABSENT):
                    got = self._wait_direct(name, e, buffers, eos)
                if got == dr.TOO_BIG:
                    if self.datagram_max is None or size <= self.datagram_max:
                        self.datagram_max = size - 1
                        self.log.debug("output %s/%s: %d B is too large for a datagram", self.node_id, name, size)
                    around.append(e)
                # A lossy consumer whose socket is full or gone misses this one (it counts the gap).
            if around:
                if not counted:
                    counted = True
                    self.stats.direct_fallback[name] = self.stats.direct_fallback.get(name, 0) + 1
                self._send_around(name, around, frames, seq, eos)

    def _send_around(self, name: str, edges: list[_Edge], frames: list[Any], seq: int, eos: bool) -> None:
        """A message too large for a datagram: over ZeroMQ to these consumers (all lossy or all reliable) first,
        then a marker into each one's datagram socket that tells it to take the message from ZeroMQ there
        (runtime/direct.py). A consumer the message did not reach gets no marker."""
        mark = [dr.marker(seq)]
        if edges[0].push is None:  # lossy consumers: one send on the XPUB reaches them all
            tp.send_frames(self.socks[name][0], frames, zmq.NOBLOCK)
        for e in edges:
            if e.push is None:
                e.out.send(mark)
            elif self._push(name, e.plan.to, e.push, frames, eos) and e.out.send(mark) != dr.SENT:
                self._wait_direct(name, e, mark, eos)

    def _wait_direct(self, name: str, e: _Edge, buffers: list[Any], eos: bool) -> str:
        """Wait for room in a reliable consumer's datagram socket and send; what the last try gave."""
        last = [dr.FULL]

        def wait(seconds: float) -> bool:
            # Short waits, each followed by a try: Linux reports room in a datagram socket (POLLOUT) only once
            # three quarters of the send buffer are read, and not at all while the consumer's socket is absent.
            if e.out.sock is None:
                time.sleep(0.01)  # (not stop.wait: an EOS is still sent after the stop)
            else:
                e.out.wait_room(min(seconds, 0.01))
            return True

        def attempt() -> bool:
            last[0] = e.out.send(buffers)
            return last[0] in (dr.SENT, dr.TOO_BIG)

        self._wait(name, e.plan.to, wait, attempt, eos)
        return last[0]

    def send_eos(self, seq: dict[str, int]) -> None:
        for name in self.plans:
            self.send(name, Msg(kind=EOS, topic=f"{self.node_id}/{name}", seq=seq[name]))

    def _wait_and_send(self, name: str, to: str, sock: zmq.Socket, frames: list[Any], eos: bool) -> bool:
        def attempt() -> bool:
            try:  # never a blocking send: the consumer may exit between the poll and the send
                tp.send_frames(sock, frames, zmq.NOBLOCK)
                return True
            except zmq.Again:
                return False

        return self._wait(name, to, lambda seconds: bool(sock.poll(int(seconds * 1000), zmq.POLLOUT)), attempt, eos)

    def _wait(self, name: str, to: str, wait: Callable[[float], bool], attempt: Callable[[], bool], eos: bool) -> bool:
        """Until `attempt` sends: `wait` for room (at most 0.2 s at a time), counting the time blocked, warning
        once it is long, giving up when the consumer has exited for good (or, for an EOS, after a limit); whether
        it sent."""
        t0 = last = time.monotonic()
        warned = False
        while not self.stop.is_set() or eos:
            ready = wait(0.2)
            now = time.monotonic()
            self.stats.blocked_s += now - last  # counted as it passes: a stats report mid-wait shows it
            last = now
            if ready and attempt():
                return True
            if to in self.gone:
                self._undelivered(name, to)
                return False
            self.heartbeat()
            if now - t0 > SLOW_CONSUMER_WARN_S and not warned:
                warned = True
                self.log.warning(
                    "reliable consumer '%s' of %s/%s is not keeping up: blocked %.1f s (backpressure; nothing is "
                    "dropped)",
                    to,
                    self.node_id,
                    name,
                    now - t0,
                )
            if eos and now - t0 > EOS_SEND_LIMIT_S:
                return False
        return False

    def _undelivered(self, name: str, to: str) -> None:
        key = (name, to)
        if key not in self.undelivered:
            self.undelivered[key] = 0
            self.log.warning(
                "reliable consumer '%s' of %s/%s has exited: what this output sends from now on does not reach it",
                to,
                self.node_id,
                name,
            )
        self.undelivered[key] += 1

    def close(self) -> None:
        for (name, to), n in self.undelivered.items():
            self.log.warning("%d messages of %s/%s did not reach '%s', which had exited", n, self.node_id, name, to)
        for pub, pushes in self.socks.values():
            pub.close(200)
            for to, s in pushes:
                s.close(0 if to in self.gone else None)  # a live reliable consumer still gets everything
        for edges in self.direct.values():
            for e in edges:
                e.out.close()  # a datagram is the consumer's once sent: nothing to linger for
        if self.gate is not None:
            self.gate.stop()
        for w in self.shm.values():
            w.close()  # after the consumers' end-of-stream acknowledgements: they have copied everything
