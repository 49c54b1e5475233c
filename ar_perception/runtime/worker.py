"""One node's process: sockets, the receive thread, the event loop and the reports to the supervisor.

Started by the supervisor as `python -m ar_perception.runtime.worker CONFIG.json`. The node object
itself never sees a socket: it gets messages through `on_input`/`on_sync` and returns its outputs.
"""

from __future__ import annotations

import ctypes
import json
import logging
import os
import signal
import sys
import threading
import time
import traceback
from collections import deque
from collections.abc import Callable, Mapping
from functools import partial
from typing import Any

import numpy as np
import zmq

from ar_perception import kinds
from ar_perception.errors import ArpError, NodeError
from ar_perception.graph.spec import TIMER_RE, QueueSpec, SyncSpec
from ar_perception.keys import CurveKeys
from ar_perception.runtime import transport as tp
from ar_perception.runtime.msg import EOS, Msg, decode, encode
from ar_perception.runtime.queues import InputQueue
from ar_perception.runtime.sync import Synchronizer

__all__ = ["Publisher", "check_input", "main"]

EXIT_SETUP_FAILED = 3
EXIT_HANDLER_FAILED = 4
STATS_INTERVAL = 0.5
ENDED_GRACE_S = 1.0  # how long a lossy input waits for data in flight after its producer exited


class _StoppedInSetup(BaseException):
    """Raised in the main thread, inside the node's setup, when a stop arrives: the node has not run yet."""


def _die_with_parent() -> None:
    try:  # Linux: the kernel kills us if the supervisor dies, even by SIGKILL
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except OSError:
        pass


def failure_line(node_id: str, e: BaseException, params: Any = None, what: str = "failed in setup") -> str:
    """The one line a user sees when a node cannot start: the node, the parameter when the error is about one,
    and what to do. The project's own errors say that already; anything else gets its type and a pointer to
    the traceback, which is logged at debug level."""
    head = f"node '{node_id}' {what}"
    if isinstance(e, ArpError):
        text, own = str(e), f"node '{node_id}': "
        if text.startswith(own):
            return f"{head}: {text[len(own) :]}"
        return text if text.startswith(f"node '{node_id}' ") else f"{head}: {text}"
    param = _param_of_path(params, e.filename) if isinstance(e, OSError) else None
    if param is not None:
        assert isinstance(e, OSError)
        return f"{head}: params.{param}: '{e.filename}': {e.strerror or e} (fix the path: --set {node_id}.{param}=...)"
    text = " ".join(str(e).split())  # one line, also for a multi-line message
    return f"{head}: {type(e).__name__}{': ' + text if text else ''} (run with --log-level debug for the traceback)"


def _param_of_path(params: Any, filename: Any) -> str | None:
    """The parameter whose value is the path an OSError names, if one is."""
    if params is None or not isinstance(filename, str | bytes | os.PathLike):
        return None
    want = os.path.abspath(os.path.expanduser(os.fsdecode(filename)))
    for name, value in params.model_dump().items():
        if isinstance(value, str) and value and os.path.abspath(os.path.expanduser(value)) == want:
            return str(name)
    return None


class Stats:
    def __init__(self, inputs: list[str], outputs: list[str]):
        self.msgs_in = {n: 0 for n in inputs}
        self.bad = {n: 0 for n in inputs}
        self.msgs_out = {n: 0 for n in outputs}
        self.latency_ns: deque[int] = deque(maxlen=4096)
        self.compute_ns: deque[int] = deque(maxlen=4096)
        self.blocked_s = 0.0

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
        }


def check_input(node_id: str, port: str, want: str, msg: Msg) -> str | None:
    """What is wrong with a message arriving on an input declared as kind `want`, or None."""
    if not kinds.compatible(msg.kind, want):
        return f"node '{node_id}' input '{port}' takes {want}, got a {msg.kind} message from {msg.topic}"
    problem = kinds.check(msg.kind, dict(msg.arrays), dict(msg.meta)) if msg.kind in kinds.KINDS else None
    return f"node '{node_id}' input '{port}': {problem}" if problem else None


class Publisher:
    """Stamps and sends a node's outputs; checks them against the declared kinds."""

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

    def stamp(self, out: Mapping[str, Any] | None) -> list[tuple[str, Msg]]:
        stamped = []
        for name, msg in (out or {}).items():
            problem = None
            if name in self.unused:
                continue
            if name not in self.kinds:
                problem = f"node '{self.node_id}' returned unknown output '{name}' (it has: {', '.join(self.kinds)})"
            elif not isinstance(msg, Msg):
                problem = f"node '{self.node_id}' output '{name}' must be a Msg (got {type(msg).__name__})"
            elif not kinds.compatible(msg.kind, self.kinds[name]):
                problem = f"node '{self.node_id}' output '{name}' is declared {self.kinds[name]}, got {msg.kind}"
            elif msg.kind in kinds.KINDS and (p := kinds.check(msg.kind, dict(msg.arrays), dict(msg.meta))):
                problem = f"node '{self.node_id}' output '{name}': {p}"
            if problem:
                if self.strict:
                    raise NodeError(problem)
                if name not in self._warned:
                    self._warned.add(name)
                    self.log.warning("%s; dropped (warned once)", problem)
                continue
            now = time.time_ns()
            m = Msg(
                kind=msg.kind,
                arrays=msg.arrays,
                meta=msg.meta,
                capture_ns=msg.capture_ns,
                topic=f"{self.node_id}/{name}",
                seq=self.seq[name],
                publish_ns=now,
                clock_offset_ns=msg.clock_offset_ns or self.clock_offset_ns,
            )
            self.seq[name] += 1
            if self.stats is not None:
                self.stats.msgs_out[name] += 1
                self.stats.add_latency(m, now)
            stamped.append((name, m))
        return stamped


class Worker:
    # Set in run(), before the receive thread starts; read by both threads.
    _fatal: Exception | None
    _setup_done: threading.Event
    _interrupt_pending: bool

    def __init__(self, cfg: dict[str, Any]):
        from ar_perception.registry import resolve

        self.cfg = cfg
        self.id = cfg["node_id"]
        self.strict = bool(cfg.get("strict"))
        self.log = logging.getLogger(f"arp.{self.id}")
        cls = resolve(cfg["ref"], cfg.get("search_paths"))
        self.node = cls(cls.Params.model_validate(cfg.get("params") or {}), node_id=self.id)
        self.node.graph_text = cfg.get("graph_text", "")
        self.node._pending = self.queued
        self.ctx = zmq.Context()
        self.up = self.ctx.socket(zmq.PUSH)
        self.up.setsockopt(zmq.LINGER, 2000)
        self.up.connect(cfg["up"])
        self.inputs: dict[str, dict[str, Any]] = cfg["inputs"]
        self.queues = {n: InputQueue(n, QueueSpec(**i["queue"])) for n, i in self.inputs.items()}
        # Fed by reliable queues only, a sync drops nothing by timing: backpressure bounds its buffers.
        lossless = all(q.policy == "reliable" for q in self.queues.values())
        sync = SyncSpec(**cfg["sync"]) if cfg.get("sync") else None
        self.sync = Synchronizer(sync, list(self.inputs), lossless=lossless) if sync else None
        self.outputs: dict[str, dict[str, Any]] = cfg["outputs"]
        self.stats = Stats(list(self.inputs), list(self.outputs))
        declared = cls.output_kinds_for(self.node.params)
        self.pub = Publisher(
            self.id,
            {o: v["kind"] for o, v in self.outputs.items()},
            self.strict,
            self.log,
            self.stats,
            frozenset(declared) - set(self.outputs),
        )
        self.cond = threading.Condition()
        self.stop = threading.Event()
        self.ended: set[str] = set()  # inputs whose producer has ended
        self._warned: set[str] = set()
        self._last_stats = 0.0
        self._end_at: dict[str, float] = {}
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_w, False)
        sec = cfg.get("security")
        self.curve = CurveKeys.load(sec["secret_key"], sec["authorized_keys"], sec["server_keys"]) if sec else None
        self.gate: tp.Gatekeeper | None = None

    # -- reports to the supervisor ---------------------------------------------------------------
    def report(self, kind: str, **fields: Any) -> None:
        self.up.send_json({"type": kind, "node": self.id, "pid": os.getpid(), **fields})

    def report_stats(self, force: bool = False) -> None:
        now = time.monotonic()
        if force or now - self._last_stats >= STATS_INTERVAL:
            self._last_stats = now
            for pub, _ in getattr(self, "out_socks", {}).values():
                tp.drain_subscriptions(pub)  # (re)subscriptions queue up on an XPUB until read
            with self.cond:
                snap = self.stats.snapshot(self.queues, self.sync)
            if self.gate is not None:
                snap["refused"] = self.gate.refused
            self.report("stats", stats=snap)

    # -- sockets ---------------------------------------------------------------------------------
    def open_outputs(self) -> None:
        self.out_socks: dict[str, tuple[zmq.Socket, list[zmq.Socket]]] = {}
        bound = [ep for o in self.outputs.values() for ep in (o["pub"], *o["reliable"])]
        if self.curve is not None and any(ep.startswith("tcp://") for ep in bound):
            self.gate = tp.Gatekeeper(self.ctx, self.curve, self.log)  # before the first bind
        for name, o in self.outputs.items():
            pub = tp.pub_socket(self.ctx, o["pub"], self.curve)
            pushes = [tp.push_socket(self.ctx, ep, o["reliable_bound"], self.curve) for ep in o["reliable"]]
            self.out_socks[name] = (pub, pushes)

    def send(self, name: str, msg: Msg) -> None:
        pub, pushes = self.out_socks[name]
        frames = encode(msg)
        tp.send_frames(pub, frames, zmq.NOBLOCK)  # XPUB drops at its high-water mark; receivers count gaps
        for sock in pushes:
            try:
                tp.send_frames(sock, frames, zmq.NOBLOCK)  # the common case: room in the pipe
                continue
            except zmq.Again:
                pass
            t0 = time.monotonic()
            warned = False
            while not self.stop.is_set() or msg.kind == EOS:
                if sock.poll(200, zmq.POLLOUT):
                    tp.send_frames(sock, frames)
                    break
                self.report_stats()  # waiting on a slow consumer is not a hang of this node
                blocked = time.monotonic() - t0
                if blocked > 2.0 and not warned:
                    warned = True
                    self.log.warning(
                        "reliable consumer of %s/%s is not keeping up: blocked %.1f s "
                        "(backpressure; nothing is dropped)",
                        self.id,
                        name,
                        blocked,
                    )
                if msg.kind == EOS and blocked > 5.0:
                    break
            self.stats.blocked_s += time.monotonic() - t0

    def publish(self, out: dict[str, Any] | None) -> None:
        for name, m in self.pub.stamp(out):
            self.send(name, m)

    def call_and_publish(self, call: Callable[[], Any]) -> int:
        """Run a handler and publish what it emits (one dict, or each dict of an iterator as soon as it is
        yielded); return the nanoseconds spent in the node's own code, publishing excluded."""
        t0 = time.perf_counter_ns()
        emitted = call()
        spent = time.perf_counter_ns() - t0
        if emitted is None or hasattr(emitted, "items"):
            self.publish(emitted)
            return spent
        it = iter(emitted)
        while True:
            t0 = time.perf_counter_ns()
            try:
                out = next(it)
            except StopIteration:
                return spent + time.perf_counter_ns() - t0
            spent += time.perf_counter_ns() - t0
            self.publish(out)
            if self.stop.is_set():
                close = getattr(it, "close", None)
                if close is not None:
                    close()
                return spent

    def queued(self, port: str) -> int:
        with self.cond:
            q = self.queues.get(port)
            return len(q) if q is not None else 0

    def send_eos(self) -> None:
        for name in self.outputs:
            self.send(name, Msg(kind=EOS, topic=f"{self.id}/{name}", seq=self.pub.seq[name]))

    # -- receive thread --------------------------------------------------------------------------
    def receive_loop(self) -> None:
        ctl = self.ctx.socket(zmq.SUB)
        ctl.setsockopt(zmq.SUBSCRIBE, b"")
        ctl.setsockopt(zmq.LINGER, 0)
        ctl.connect(self.cfg["ctl"])
        socks: dict[zmq.Socket, str] = {}
        timers: dict[str, list[float]] = {}  # port -> [period, next deadline, count]
        for port, i in self.inputs.items():
            q = self.queues[port]
            if m := TIMER_RE.match(i["source"]):
                period = 1.0 / float(m.group(2)) if m.group(1) == "hz" else float(m.group(2)) / 1000.0
                timers[port] = [period, time.monotonic(), 0]
            elif q.policy == "reliable":
                socks[tp.pull_socket(self.ctx, i["endpoint"], q.size, self.curve)] = port
            else:
                socks[tp.sub_socket(self.ctx, i["endpoint"], self.curve)] = port
        self.up_rx = self.ctx.socket(zmq.PUSH)
        self.up_rx.setsockopt(zmq.LINGER, 1000)
        self.up_rx.connect(self.cfg["up"])
        self._recv_ready.set()  # control messages (a stop during setup) are read from now on; data after start
        poller = zmq.Poller()
        poller.register(ctl, zmq.POLLIN)
        poller.register(self._wake_r, zmq.POLLIN)
        polled: set[zmq.Socket] = set()
        try:
            while not self.stop.is_set():
                with self.cond:
                    # A full reliable queue stops being read, which blocks its producer (backpressure);
                    # the main thread writes to the wake-up pipe when it frees a slot.
                    want = {
                        s
                        for s, port in socks.items()
                        if not self.queues[port].full() and port not in self.ended and self._started.is_set()
                    }
                for s in polled - want:
                    poller.unregister(s)
                for s in want - polled:
                    poller.register(s, zmq.POLLIN)
                polled = want
                now = time.monotonic()
                wait = min([t[1] - now for t in timers.values()] + [0.25 if self._started.is_set() else 0.02])
                events = dict(poller.poll(max(0, int(wait * 1000))))
                if self._wake_r in events:
                    os.read(self._wake_r, 4096)
                if ctl in events:
                    self.on_control(tp.recv_object(ctl), socks)
                for s in events:
                    if s is ctl or s is self._wake_r:
                        continue
                    port = socks[s]
                    for _ in range(64):  # drain what is there, bounded so control stays responsive
                        with self.cond:
                            if self.queues[port].full():
                                break
                        if not s.get(zmq.EVENTS) & zmq.POLLIN:
                            break
                        self.accept(port, s.recv_multipart(zmq.NOBLOCK, copy=False))
                if not self._started.is_set():
                    continue  # timers start with the graph
                now = time.monotonic()
                for port, t_end in list(self._end_at.items()):
                    if now >= t_end:
                        del self._end_at[port]
                        self.mark_ended(port)
                for port, t in timers.items():
                    if now >= t[1]:
                        t[1] = max(t[1] + t[0], now)
                        self.enqueue(
                            port,
                            Msg(
                                kind="Tick", meta={"tick": int(t[2])}, topic=self.inputs[port]["source"], seq=int(t[2])
                            ),
                        )
                        t[2] += 1
        finally:
            for s in list(socks) + [ctl]:
                s.close(0)
            self.up_rx.close()

    def on_control(self, ctl: dict[str, Any], socks: dict[zmq.Socket, str]) -> None:
        if ctl.get("type") == "stop":
            self.stop.set()
            self.node.stopping = True
            self._interrupt_setup()
        elif ctl.get("type") == "release" and self.id in ctl.get("nodes", ()):
            self._released.set()
        elif ctl.get("type") == "ended":
            # A producer process exited. A reliable edge ends with its in-band EOS, which arrives in order;
            # a lossy one may have lost its EOS, so it ends after a grace period. A producer that failed
            # sends no EOS at all: take what it sent and end now.
            for s, port in socks.items():
                if self.inputs[port]["source"].split("/")[0] != ctl["node"]:
                    continue
                if not ctl.get("clean"):
                    while True:
                        try:
                            self.accept(port, s.recv_multipart(zmq.NOBLOCK, copy=False))
                        except zmq.Again:
                            break
                    self.mark_ended(port)
                elif self.queues[port].policy != "reliable":
                    self._end_at[port] = time.monotonic() + ENDED_GRACE_S
        with self.cond:
            self.cond.notify_all()

    def accept(self, port: str, frames: list[Any]) -> None:
        try:
            msg = decode(frames, self.cfg.get("max_message_bytes"))
        except Exception as e:  # a malformed message never kills the node
            self.bad_input(port, f"node '{self.id}' input '{port}': {e}")
            return
        if msg.kind == EOS:
            with self.cond:
                self.queues[port].note_end(msg)  # messages lost just before the end count as drops too
            # Acknowledge: the producer keeps its sockets open until its consumers have everything,
            # because ZeroMQ discards what is still in flight when a peer disconnects.
            self.up_rx.send_json({"type": "eos", "node": self.id, "input": port, "from": msg.topic.split("/")[0]})
            self.mark_ended(port)
            return
        problem = check_input(self.id, port, self.node.input_kind(port) or kinds.ANY, msg)
        if problem:
            self.bad_input(port, problem)
            return
        self.enqueue(port, msg)

    def enqueue(self, port: str, msg: Msg) -> None:
        with self.cond:
            self.queues[port].push(msg)
            self.cond.notify_all()

    def mark_ended(self, port: str) -> None:
        with self.cond:
            self.ended.add(port)
            self.cond.notify_all()

    def bad_input(self, port: str, problem: str) -> None:
        with self.cond:
            self.stats.bad[port] += 1
        if self.strict:
            self._fatal = NodeError(f"strict mode: {problem}")
            self.stop.set()
        elif port not in self._warned:
            self._warned.add(port)
            self.log.warning("%s; dropped (warned once per input)", problem)

    # -- main loop -------------------------------------------------------------------------------
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
                    os.write(self._wake_w, b"x")  # the receive thread may read that input again
                return port, m
        return None

    def next_message(self) -> tuple[str, Msg | None] | None:
        """The next message (round-robin over inputs); ("", None) after an idle wait; None when done."""
        with self.cond:
            if self.stop.is_set():
                return None
            item = self._pop()
            if item is not None:
                return item
            if self.ended >= set(self.queues):
                return None
            self.cond.wait(STATS_INTERVAL)
            return self._pop() or ("", None)

    def handle(self, port: str, msg: Msg) -> None:
        # Compute = time in the node's own handler, counted per call: a synced node's buffering and
        # all publishing are the framework's share, not the node's.
        calls: list[int] = []
        try:
            if self.sync is not None:
                for g in self.sync.push(port, msg):
                    self.pub.clock_offset_ns = max(g.values(), key=lambda m: m.capture_ns).clock_offset_ns
                    calls.append(self.call_and_publish(partial(self.node.on_sync, g)))
            else:
                self.pub.clock_offset_ns = msg.clock_offset_ns
                calls.append(self.call_and_publish(lambda: self.node.on_input(port, msg)))
        except Exception as e:
            self.log.error(
                "node '%s' raised while handling input '%s' (%s from %s, seq %d):\n%s",
                self.id,
                port,
                msg.kind,
                msg.topic,
                msg.seq,
                traceback.format_exc().rstrip(),
            )
            self.report("handler_error", input=port, error=f"{type(e).__name__}: {e}")
            if self.strict or self.cfg.get("on_error") == "restart":
                raise
        finally:
            self.stats.compute_ns.extend(calls)
            if not self.outputs:  # a sink: its latency since capture is measured when it is done
                self.stats.add_latency(msg, time.time_ns())

    # -- setup, and a stop during it ------------------------------------------------------------------
    def run_setup(self) -> int | None:
        """The node's setup; an exit code when the worker ends here (stopped, or failed), None to go on.

        A failure is reported as one line (failure_line); its traceback is logged at debug level only."""
        with self._setup_lock:
            if self.stop.is_set():
                self._setup_done.set()
                return 0  # stopped before the setup began
            self._setup_started = True
        try:
            try:
                self.node.setup()
            finally:
                self._setup_done.set()
        except _StoppedInSetup:
            self._setup_done.set()
            self.log.debug("node '%s': stopped during setup", self.id)
            return 0
        except Exception as e:
            self.log.debug("node '%s' failed in setup", self.id, exc_info=True)
            if self.stop.is_set():
                # Stopped meanwhile: the interrupt may surface as another error (a native module whose import
                # it broke raises ImportError), and a run that stops has no use for this node anyway.
                return 0
            self.report("setup_error", error=failure_line(self.id, e, self.node.params))
            return EXIT_SETUP_FAILED
        self._setup_ok = True
        return 0 if self.stop.is_set() else None

    def _interrupt_setup(self) -> None:
        """Receive thread, on a stop: a node still in setup (models loading) has taken and sent nothing, so
        its setup is interrupted rather than waited for. The main thread gets a SIGTERM, whose handler raises
        _StoppedInSetup inside the setup; teardown then runs as usual. A setup that cannot be interrupted
        (native code that holds the GIL) is ended by the supervisor (Supervisor._finish)."""
        with self._setup_lock:
            if not self._setup_started or self._setup_done.is_set() or self._interrupt_pending:
                return
            self._interrupt_pending = True
            if signal.getsignal(signal.SIGTERM) == self._on_sigterm:
                signal.pthread_kill(threading.main_thread().ident or 0, signal.SIGTERM)

    def _on_sigterm(self, *_: Any) -> None:
        if self._interrupt_pending:  # sent by _interrupt_setup
            self._interrupt_pending = False
            if not self._setup_done.is_set():
                raise _StoppedInSetup
            return  # the setup had returned by itself: the stop takes its usual way
        raise SystemExit(143)

    def run(self) -> int:
        self._rr = 0
        self._fatal = None
        self._recv_ready = threading.Event()
        self._started = threading.Event()
        self._released = threading.Event()
        self._setup_lock = threading.Lock()
        self._setup_started = False
        self._setup_done = threading.Event()
        self._interrupt_pending = False
        self._setup_ok = False
        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGTERM, self._on_sigterm)
        try:
            self.open_outputs()
            rx = self._rx = threading.Thread(target=self.receive_loop, name="arp-recv", daemon=True)
            rx.start()
            self._recv_ready.wait(10)
            if (code := self.run_setup()) is not None:
                return code
            for name, o in self.outputs.items():
                got = tp.wait_subscribers(
                    self.out_socks[name][0], o["subscribers"], timeout=10.0, should_stop=self.stop.is_set
                )
                if got < o["subscribers"] and not self.stop.is_set():
                    self.log.warning("output %s: %d of %d subscribers joined before start", name, got, o["subscribers"])
            self.report("ready")
            self.wait_start()
            self._started.set()
            if self.stop.is_set():
                pass  # stopped before the start
            elif self.node.is_source():
                self.run_source()
            else:
                self.run_consumer()
            if self._fatal is not None:
                raise self._fatal
            if not self.stop.is_set():
                self.send_eos()
                self.report("eos_sent")
                while not (self._released.is_set() or self.stop.is_set()):
                    self._released.wait(0.1)
                    self.report_stats()  # also the heartbeat the supervisor's health check reads
            return 0
        except Exception as e:
            self.log.error(
                "node '%s' stopped on an error: %s", self.id, "".join(traceback.format_exception_only(e)).strip()
            )
            return EXIT_HANDLER_FAILED
        finally:
            self.stop.set()
            self._started.set()
            if getattr(self, "_rx", None) is not None:
                self._rx.join(2.0)
            try:
                self.node.teardown()
            except Exception:
                # After a setup that did not finish, a teardown that trips over it is no news: debug only.
                self.log.log(
                    logging.ERROR if self._setup_ok else logging.DEBUG,
                    "node '%s' failed in teardown:\n%s",
                    self.id,
                    traceback.format_exc().rstrip(),
                )
            self.report_stats(force=True)
            for pub, pushes in getattr(self, "out_socks", {}).values():
                pub.close(200)
                for s in pushes:
                    s.close()
            if self.gate is not None:
                self.gate.stop()
            self.up.close()
            self.ctx.term()

    def wait_start(self) -> None:
        ctl = self.ctx.socket(zmq.SUB)
        ctl.setsockopt(zmq.SUBSCRIBE, b"")
        ctl.setsockopt(zmq.LINGER, 0)
        ctl.connect(self.cfg["ctl"])
        try:
            while not self.stop.is_set():
                if ctl.poll(100):
                    m = tp.recv_object(ctl)
                    if m.get("type") == "start" and self.id in m.get("nodes", [self.id]):
                        self.report("started")
                        return
                    if m.get("type") == "stop":
                        self.stop.set()
                        return
                self.report("ready")  # repeated: the supervisor may have missed the first one
                time.sleep(0.05)
        finally:
            ctl.close(0)

    def run_source(self) -> None:
        for out in self.node.produce():
            if self.stop.is_set():
                break
            self.publish(out)
            self.report_stats()

    def run_consumer(self) -> None:
        while True:
            item = self.next_message()
            if item is None:
                return
            port, msg = item
            if msg is not None:
                self.handle(port, msg)
            del item, msg  # free a large payload now, not on the next message's clock
            self.report_stats()


def _terminate(*_: Any) -> None:
    raise SystemExit(143)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    _die_with_parent()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the supervisor's to handle
    with open(argv[0]) as f:
        cfg = json.load(f)
    logging.basicConfig(
        level=str(cfg.get("log_level", "INFO")).upper(),
        stream=sys.stderr,
        format="%(asctime)s.%(msecs)03d %(name)s %(levelname)s: %(message)s",
        datefmt="%H:%M:%S",
    )
    signal.signal(signal.SIGTERM, _terminate)
    try:
        worker = Worker(cfg)
    except Exception as e:  # the node's class cannot be imported or built
        node_id = cfg.get("node_id")
        logging.getLogger(f"arp.{node_id}").debug("node '%s' failed to start", node_id, exc_info=True)
        _report_once(cfg["up"], "setup_error", node_id, error=failure_line(str(node_id), e, what="failed to start"))
        return EXIT_SETUP_FAILED
    return worker.run()


def _report_once(endpoint: str, kind: str, node_id: Any, **fields: Any) -> None:
    """A report to the supervisor from a process that has no Worker (and so no report socket)."""
    ctx = zmq.Context()
    sock = ctx.socket(zmq.PUSH)
    sock.setsockopt(zmq.LINGER, 2000)
    try:
        sock.connect(endpoint)
        sock.send_json({"type": kind, "node": node_id, "pid": os.getpid(), **fields})
    finally:
        sock.close()
        ctx.term()


if __name__ == "__main__":
    sys.exit(main())
