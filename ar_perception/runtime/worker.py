"""One node's process: its setup, then the node loop, with reports to the supervisor.

Started by the supervisor as `python -m ar_perception.runtime.worker CONFIG.json` (a `protocol.WorkerConfig`).
The node object never sees a socket: receive.py fills its input queues (its receive thread while a handler
runs, this loop itself while it waits), the loop here hands it one message at a time through
`on_input`/`on_sync` (or runs its `produce`), and what it emits goes out through publish.py. The state both
threads share is in state.py.
"""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import sys
import time
import traceback
from collections.abc import Callable
from functools import partial
from typing import Any

import zmq

from ar_perception.keys import CurveKeys
from ar_perception.runtime import protocol as pr
from ar_perception.runtime.lag import LagWatch
from ar_perception.runtime.msg import Msg
from ar_perception.runtime.node import Emitted
from ar_perception.runtime.publish import Outlets, Publisher, output_sets
from ar_perception.runtime.receive import Receiver
from ar_perception.runtime.setup import SetupGuard, failure_line
from ar_perception.runtime.state import NodeState

__all__ = ["main", "EXIT_SETUP_FAILED", "EXIT_HANDLER_FAILED"]

EXIT_SETUP_FAILED = 3
EXIT_HANDLER_FAILED = 4
STATS_INTERVAL = 0.5  # seconds between stats reports (also the heartbeat of the health check)
SUBSCRIBERS_WAIT_S = 10.0  # how long the lossy consumers get to subscribe before the start
READY_RESEND_S = 0.1  # Ready is repeated this often until the start: the supervisor may have missed one


class Worker:
    def __init__(self, cfg: pr.WorkerConfig):
        from ar_perception.registry import resolve

        self.cfg = cfg
        self.id = cfg.node_id
        self.log = logging.getLogger(f"arp.{self.id}")
        cls = resolve(cfg.ref, cfg.search_paths)
        self.node = cls(cls.Params.model_validate(cfg.params), node_id=self.id)
        self.node.graph_text = cfg.graph_text
        self.state = NodeState(cfg.inputs, list(cfg.outputs), cfg.sync)
        self.node._pending = self.state.queued
        self.pub = Publisher(
            self.id,
            {o: p.kind for o, p in cfg.outputs.items()},
            cfg.strict,
            self.log,
            self.state.stats,
            frozenset(cls.output_kinds_for(self.node.params)) - set(cfg.outputs),
        )
        self.ctx = zmq.Context()
        self.up = self.ctx.socket(zmq.PUSH)
        self.up.setsockopt(zmq.LINGER, 2000)
        self.up.connect(cfg.up)
        sec = cfg.security
        self.curve = CurveKeys.load(sec.secret_key, sec.authorized_keys, sec.server_keys) if sec else None
        self.setup = SetupGuard(self.node, self.state.stop, self.log)
        self.receiver = Receiver(cfg, self.ctx, self.curve, self.state, self.node.input_kind, self._stopped, self.log)
        lossy = {p: i.source for p, i in cfg.inputs.items() if i.queue.policy != "reliable" and i.endpoint}
        self.lag = LagWatch(self.id, lossy, self.log)
        self.outlets: Outlets | None = None  # opened first thing in run(): binding may fail
        self._last_stats = 0.0
        self._cpu0: float | None = None  # the process's CPU time when the graph started

    # -- reports to the supervisor ---------------------------------------------------------------
    def report(self, kind: type[pr.Ready | pr.Started | pr.EosSent]) -> None:
        pr.send(self.up, kind(node=self.id, pid=os.getpid()))

    def report_stats(self, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._last_stats < STATS_INTERVAL:
            return
        self._last_stats = now
        if self.outlets is not None:
            self.outlets.drain_subscriptions()
        with self.state.cond:
            snap = self.state.stats.snapshot(self.state.queues, self.state.sync)
        if self.outlets is not None and self.outlets.gate is not None:
            snap["refused"] = self.outlets.gate.refused
        if self._cpu0 is not None:
            snap["cpu_s"] = time.process_time() - self._cpu0  # all its threads, since the start (setup excluded)
        self.lag.update(now, snap)
        if self.lag.lagging:
            snap["lagging"] = sorted(self.lag.lagging)  # lossy inputs it skipped as many of as it handled
        pr.send(self.up, pr.StatsReport(node=self.id, pid=os.getpid(), stats=snap))

    def _stopped(self) -> None:
        """On the supervisor's stop (in the receive thread, or in the node loop when it was reading)."""
        self.node.stopping = True
        self.setup.interrupt()

    # -- the node loop -----------------------------------------------------------------------------
    def run(self) -> int:
        st = self.state
        try:
            self.outlets = Outlets(
                self.ctx,
                self.id,
                self.cfg.outputs,
                self.curve,
                stats=st.stats,
                stop=st.stop,
                gone=st.gone,
                heartbeat=self.report_stats,
                log=self.log,
            )
            self.receiver.start()
            self.receiver.ready.wait(10)
            failure = self.setup.run()
            if failure:
                pr.send(self.up, pr.SetupError(node=self.id, pid=os.getpid(), error=failure))
                return EXIT_SETUP_FAILED
            if failure is not None:
                return 0  # stopped before or during its setup
            self.outlets.wait_subscribers(SUBSCRIBERS_WAIT_S)
            while not (st.started.is_set() or st.stop.is_set()):
                self.report(pr.Ready)
                st.started.wait(READY_RESEND_S)
            if st.stop.is_set():
                return self._end()
            self._cpu0 = time.process_time()
            self.report(pr.Started)
            if self.node.is_source():
                self.run_source()
            else:
                self.run_consumer()
            return self._end()
        except Exception as e:
            self.log.error(
                "node '%s' stopped on an error: %s", self.id, "".join(traceback.format_exception_only(e)).strip()
            )
            return EXIT_HANDLER_FAILED
        finally:
            self._close()

    def _end(self) -> int:
        """After the node's last message: its EOS, then wait until its consumers have everything."""
        st = self.state
        if st.fatal is not None:
            raise st.fatal
        if not st.stop.is_set():
            assert self.outlets is not None
            self.outlets.send_eos(self.pub.seq)
            self.report(pr.EosSent)
            while not (st.released.is_set() or st.stop.is_set()):
                st.released.wait(0.1)
                self.report_stats()  # also the heartbeat the supervisor's health check reads
        return 0

    def _close(self) -> None:
        self.state.stop.set()
        if self.receiver.is_alive():
            self.receiver.join(2.0)
        try:
            self.node.teardown()
        except Exception:
            # After a setup that did not finish, a teardown that trips over it is no news: debug only.
            self.log.log(
                logging.ERROR if self.setup.ok else logging.DEBUG,
                "node '%s' failed in teardown:\n%s",
                self.id,
                traceback.format_exc().rstrip(),
            )
        self.report_stats(force=True)
        if self.outlets is not None:
            self.outlets.close()
        self.up.close()
        self.ctx.term()

    def run_source(self) -> None:
        for out in self.node.produce():
            if self.state.stop.is_set():
                break
            self.publish(out)
            self.report_stats()

    def run_consumer(self) -> None:
        while True:
            item = self.state.next_message(self.receiver.receive_here)
            if item is None:
                return
            port, msg = item
            if msg is not None:
                self.handle(port, msg)
            del item, msg  # free a large payload now, not on the next message's clock
            self.report_stats()

    def handle(self, port: str, msg: Msg) -> None:
        # Compute = time in the node's own handler, counted per call: a synced node's buffering and
        # all publishing are the framework's share, not the node's.
        calls: list[int] = []
        sync = self.state.sync
        try:
            if sync is not None:
                for g in sync.push(port, msg):
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
            error = f"{type(e).__name__}: {e}"
            pr.send(self.up, pr.HandlerError(node=self.id, pid=os.getpid(), input=port, error=error))
            if self.cfg.strict or self.cfg.on_error == "restart":
                raise
        finally:
            self.state.stats.compute_ns.extend(calls)
            if not self.cfg.outputs:  # a sink: its latency since capture is measured when it is done
                self.state.stats.add_latency(msg, time.time_ns())

    def call_and_publish(self, call: Callable[[], Emitted]) -> int:
        """Run a handler and publish what it emits, each set as soon as it is yielded; return the nanoseconds
        spent in the node's own code, publishing excluded."""
        t0 = time.perf_counter_ns()
        sets = output_sets(call())
        spent = 0
        try:
            for out in sets:
                spent += time.perf_counter_ns() - t0
                self.publish(out)
                if self.state.stop.is_set():
                    break
                t0 = time.perf_counter_ns()
            else:
                spent += time.perf_counter_ns() - t0
        finally:
            sets.close()  # a stop ends a streaming handler (its generator) here
        return spent

    def publish(self, out: Any) -> None:
        assert self.outlets is not None
        for name, m in self.pub.stamp(out):
            self.outlets.send(name, m)


def _die_with_parent() -> None:
    try:  # Linux: the kernel kills us if the supervisor dies, even by SIGKILL
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except OSError:
        pass


def _lower_priority(nice: int) -> None:
    """Lower this process's CPU priority by `nice` (graph `nice`): every thread it has (numpy's OpenBLAS starts
    its pool at import) and, through inheritance, every thread it starts later.

    In a session of its own (the supervisor's default) the process is also an autogroup of its own, and Linux
    shares the CPU between autogroups first, by the autogroup's nice: that is lowered too. Under a Ray worker
    the process shares its group with the worker, which keeps its priority."""
    if nice <= 0:
        return
    target = min(19, os.getpriority(os.PRIO_PROCESS, 0) + nice)
    try:
        tids = [int(t) for t in os.listdir("/proc/self/task")]
    except OSError:  # no /proc: this thread only
        tids = [0]
    for tid in tids:
        try:
            os.setpriority(os.PRIO_PROCESS, tid, target)  # Linux: per thread
        except OSError:
            pass  # the thread has ended
    if os.getsid(0) != os.getpid():
        return
    try:
        with open("/proc/self/autogroup") as f:  # "/autogroup-123 nice 0"
            current = int(f.read().split()[-1])
        with open("/proc/self/autogroup", "w") as f:
            f.write(str(min(19, current + nice)))
    except (OSError, ValueError, IndexError):
        pass  # a kernel without autogroups: the threads' own priority is what counts


def _terminate(*_: Any) -> None:
    raise SystemExit(143)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    _die_with_parent()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the supervisor's to handle
    signal.signal(signal.SIGTERM, _terminate)
    with open(argv[0]) as f:
        cfg = pr.WorkerConfig.model_validate_json(f.read())
    _lower_priority(cfg.nice)
    logging.basicConfig(
        level=cfg.log_level.upper(),
        stream=sys.stderr,
        format="%(asctime)s.%(msecs)03d %(name)s %(levelname)s: %(message)s",
        datefmt="%H:%M:%S",
    )
    try:
        worker = Worker(cfg)
    except Exception as e:  # the node's class cannot be imported or built
        logging.getLogger(f"arp.{cfg.node_id}").debug("node '%s' failed to start", cfg.node_id, exc_info=True)
        error = failure_line(cfg.node_id, e, what="failed to start")
        _report_once(cfg.up, pr.SetupError(node=cfg.node_id, pid=os.getpid(), error=error))
        return EXIT_SETUP_FAILED
    return worker.run()


def _report_once(endpoint: str, msg: pr.SetupError) -> None:
    """A report to the supervisor from a process that has no Worker (and so no report socket)."""
    ctx = zmq.Context()
    sock = ctx.socket(zmq.PUSH)
    sock.setsockopt(zmq.LINGER, 2000)
    try:
        sock.connect(endpoint)
        pr.send(sock, msg)
    finally:
        sock.close()
        ctx.term()


if __name__ == "__main__":
    sys.exit(main())
