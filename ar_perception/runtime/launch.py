"""The supervisor behind `arp run`: one OS process per node, restarts, graceful stop, no orphans.

It plans the sockets (ipc in a private run directory, or tcp), starts every node, releases them
together once all are ready, gathers their statistics, restarts a failed node under its policy, and
at the end stops what still runs: a stop message, then SIGTERM, then SIGKILL.
"""

from __future__ import annotations

import logging
import os
import queue
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import psutil
import zmq

from ar_perception.errors import NodeError
from ar_perception.graph.load import Graph
from ar_perception.keys import endpoint_host
from ar_perception.runtime import protocol as pr
from ar_perception.runtime.plan import plan
from ar_perception.runtime.shm import remove_run_segments

__all__ = ["RunResult", "NodeReport", "Supervisor", "Peers", "run_graph"]

log = logging.getLogger("arp.run")
LOSSY_EOS_WAIT_S = 2.0  # how long a finished producer waits for a lossy consumer to see its EOS
REMOTE_EOS_WAIT_S = 5.0  # how long a finished producer keeps its sockets open for consumers elsewhere
START_TIMEOUT = 120.0  # seconds every node gets for setup (model loading) before the run is abandoned
STOP_RESEND_S = 0.2  # the stop message is sent this often until every node has exited
# A node that has not started (still loading models, or waiting for the others) when the run stops has taken
# and sent nothing: it stops at once when asked, and one still there after this long (native code that holds
# the GIL, or Python still starting) is ended without waiting for `stop_timeout`.
UNSTARTED_STOP_S = 1.0


@dataclass
class NodeReport:
    id: str
    node: str
    host: str = ""  # under `arp run --cluster`: the machine it runs on
    stats: dict[str, Any] = field(default_factory=dict)
    restarts: int = 0
    hangs: int = 0
    exit_code: int | None = None
    killed: bool = False
    started: bool = False  # it got to run: a run stopped during setup leaves it False
    errors: list[str] = field(default_factory=list)
    pid: int | None = None
    cpu_percent: float = 0.0
    rss_mb: float = 0.0
    peak_rss_mb: float = 0.0


class Peers:
    """What a supervisor that runs part of a graph (one machine's nodes under `arp run --cluster`) exchanges
    with the supervisors of the other parts, through whoever relays it: out, its nodes' end-of-stream
    acknowledgements and ends; in, theirs. Thread-safe: the relay calls `deliver` and `collect` from another
    thread than the supervisor's loop."""

    def __init__(self, go: Callable[[], bool]):
        self.go = go  # the start barrier: True once every part is ready
        self._in: queue.SimpleQueue[tuple[Any, ...]] = queue.SimpleQueue()
        self._out: queue.SimpleQueue[tuple[Any, ...]] = queue.SimpleQueue()

    def deliver(self, events: list[tuple[Any, ...]]) -> None:
        """Events of the other parts: ("ack", producer, consumer, input) or ("ended", node, clean)."""
        for e in events:
            self._in.put(tuple(e))

    def collect(self) -> list[tuple[Any, ...]]:
        """This part's events since the last call."""
        return _drain(self._out)

    def _incoming(self) -> list[tuple[Any, ...]]:
        return _drain(self._in)


def _drain(q: queue.SimpleQueue[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    out = []
    while True:
        try:
            out.append(q.get_nowait())
        except queue.Empty:
            return out


@dataclass
class RunResult:
    nodes: dict[str, NodeReport]
    duration_s: float
    reason: str

    @property
    def ok(self) -> bool:
        """Every node ended by itself or by the stop, none failed."""
        return all(r.exit_code in (0, None) or r.killed for r in self.nodes.values())

    def as_dict(self) -> dict[str, Any]:
        """The run and its per-node statistics, as `--stats` writes them (JSON-ready)."""
        return {
            "reason": self.reason,
            "duration_s": self.duration_s,
            "nodes": {
                r.id: {
                    "node": r.node,
                    "stats": r.stats,
                    "restarts": r.restarts,
                    "hangs": r.hangs,
                    "exit_code": r.exit_code,
                    "killed": r.killed,
                    "started": r.started,
                    "errors": r.errors,
                    "peak_rss_mb": r.peak_rss_mb,
                    **({"host": r.host} if r.host else {}),
                }
                for r in self.nodes.values()
            },
        }


class Supervisor:
    def __init__(
        self,
        graph: Graph,
        *,
        strict: bool = False,
        log_level: str = "WARNING",
        stop_timeout: float | None = None,
        on_stats: Callable[[dict[str, NodeReport]], None] | None = None,
        only: set[str] | None = None,
        run_dir: str | None = None,
        endpoints: dict[str, str] | None = None,
        peers: Peers | None = None,
        new_session: bool = True,
    ):
        """`only`: the nodes this supervisor runs (default all). Under `arp run --cluster` the others run under
        other supervisors: `run_dir` is this part's private folder, `endpoints` every socket's endpoint (by
        name, runtime/plan.py), and `peers` what this part exchanges with the others. `new_session`: node
        processes in a session of their own (a terminal's Ctrl-C reaches the supervisor only; the stop is its
        to make); False under a Ray worker, whose process group Ray ends with it."""
        self.graph = graph
        # The nodes this supervisor starts; the others run under another `arp run --only` elsewhere.
        self.local = set(only) if only else {n.id for n in graph.spec.nodes}
        self.strict = strict
        self.stop_timeout = stop_timeout if stop_timeout is not None else graph.spec.stop_timeout
        self.on_stats = on_stats
        self.peers = peers
        self.new_session = new_session
        self.remote_finished: set[str] = set()  # nodes of other parts that have ended (from `peers`)
        self.run_dir = run_dir or tempfile.mkdtemp(prefix="arp-")
        os.chmod(self.run_dir, 0o700)
        self.cfgs, ctl_ep, up_ep = plan(graph, self.run_dir, strict, log_level, endpoints)
        self._check_remote_keys()
        self.ctx = zmq.Context()
        self.ctl = self.ctx.socket(zmq.PUB)
        self.ctl.setsockopt(zmq.LINGER, 0)
        self.ctl.bind(ctl_ep)
        self.up = self.ctx.socket(zmq.PULL)
        self.up.setsockopt(zmq.LINGER, 0)
        self.up.bind(up_ep)
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self._ps: dict[str, psutil.Process] = {}
        self.reports = {n.id: NodeReport(n.id, n.node) for n in graph.spec.nodes if n.id in self.local}
        self.ready: set[str] = set()
        self.started: set[str] = set()
        self.eos_sent: dict[str, float] = {}
        self.eos_acks: set[tuple[str, str, str]] = set()  # (producer, consumer, input)
        self.finished: set[str] = set()
        self.beat: dict[str, float] = {}  # when each started node last showed progress
        self.setup_errors: dict[str, str] = {}  # the one-line setup failure of each node's current process
        self._starting = False
        self._stopping = False
        self.reaper = subprocess.Popen(
            [sys.executable, "-m", "ar_perception.runtime.reaper", self.run_dir],
            stdin=subprocess.PIPE,
            start_new_session=True,
            text=True,
        )
        self.reaper.wait()  # it forks and its first process exits: the watchdog lives on, reading our pipe

    def _check_remote_keys(self) -> None:
        """A consumer here of a producer elsewhere must know that machine's public key."""
        sec = self.graph.spec.security
        if sec is None:
            return
        for nid in sorted(self.local):
            for port, i in self.cfgs[nid].inputs.items():
                src = i.source.split("/")[0]
                ep = i.endpoint or ""
                host = endpoint_host(ep)
                named = host in sec.server_keys or ep.removeprefix("tcp://") in sec.server_keys
                if ep.startswith("tcp://") and src not in self.local and not named:
                    shutil.rmtree(self.run_dir, ignore_errors=True)
                    raise NodeError(
                        f"node '{nid}' input '{port}' connects to '{src}' on {host}, which this "
                        f"supervisor does not run: security.server_keys needs the public key of the "
                        f"machine at {host}"
                    )

    # -- processes -------------------------------------------------------------------------------
    def spawn(self, node_id: str) -> None:
        self.setup_errors.pop(node_id, None)
        path = os.path.join(self.run_dir, f"{node_id}.json")
        with open(path, "w") as f:
            f.write(self.cfgs[node_id].model_dump_json())
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join([*self.graph.search_paths, env.get("PYTHONPATH", "")])
        # Idle OpenMP threads that spin steal the cores the other node processes need; so do numpy's OpenBLAS
        # threads, which spin for about 2^28 cycles after every call unless told otherwise (measured in the demo:
        # the segment and depth heads' tiny matmuls cost 0.25 and 0.33 of a core that way, 0.02 without).
        env.setdefault("OMP_WAIT_POLICY", "PASSIVE")
        env.setdefault("OPENBLAS_THREAD_TIMEOUT", "4")
        p = subprocess.Popen(
            [sys.executable, "-m", "ar_perception.runtime.worker", path], env=env, start_new_session=self.new_session
        )
        self.procs[node_id] = p
        self.reports[node_id].pid = p.pid
        self._ps[node_id] = psutil.Process(p.pid)
        assert self.reaper.stdin is not None
        self.reaper.stdin.write(f"pid {p.pid}\n")
        self.reaper.stdin.flush()

    def broadcast(self, msg: pr.ControlMsg) -> None:
        pr.send(self.ctl, msg)

    def pump(self, timeout_ms: int) -> None:
        """Read reports from the nodes for up to timeout_ms (and what the other parts of the graph sent)."""
        if self.peers is not None:
            self._from_peers()
        if not self.up.poll(timeout_ms):
            return
        while True:
            try:
                m = pr.recv_report(self.up, zmq.NOBLOCK)
            except zmq.Again:
                return
            r = self.reports.get(m.node)
            if r is None:
                continue
            if isinstance(m, pr.Ready):
                self.ready.add(r.id)
            elif isinstance(m, pr.Started):
                self.started.add(r.id)
                r.started = True
                self.beat[r.id] = time.monotonic()
            elif isinstance(m, pr.EosAck):
                self.eos_acks.add((m.producer, r.id, m.input))
                if self.peers is not None and m.producer not in self.local:
                    self.peers._out.put(("ack", m.producer, r.id, m.input))
            elif isinstance(m, pr.EosSent):
                self.eos_sent.setdefault(r.id, time.monotonic())
            elif isinstance(m, pr.StatsReport):
                r.stats = m.stats
                self.beat[r.id] = time.monotonic()
            elif isinstance(m, pr.SetupError):
                r.errors.append(f"setup: {m.error}")
                self.setup_errors[r.id] = m.error
            elif isinstance(m, pr.HandlerError):
                r.errors.append(f"handler: {m.error}")

    def reap(self) -> list[str]:
        """Collect exited processes, restart failed ones under their policy; return newly finished ids."""
        done = []
        for nid, p in list(self.procs.items()):
            code = p.poll()
            if code is None or nid in self.finished:
                continue
            r = self.reports[nid]
            r.exit_code = code
            if code != 0 and p.pid:
                remove_run_segments(self.run_dir, nid, p.pid)  # what it had in shared memory, if it crashed
            spec = self.graph.node(nid).restart
            if code != 0 and not self._stopping and spec.policy == "on-failure" and r.restarts < spec.max:
                r.restarts += 1
                log.warning("node '%s' exited with code %s; restarting (%d of %d)", nid, code, r.restarts, spec.max)
                self.ready.discard(nid)
                self.started.discard(nid)
                r.exit_code = None  # the report gives the last process's code, not the crash it recovered from
                self.spawn(nid)
                continue
            if code != 0 and not self._stopping and not self._starting:  # at the start, run() raises it
                after = f" (after {r.restarts} restarts)" if r.restarts else ""
                if nid in self.setup_errors:
                    log.error("%s%s", self.setup_errors[nid], after)
                else:
                    log.error("node '%s' exited with code %s%s", nid, code, after)
            self.finished.add(nid)
            done.append(nid)
            self.broadcast(pr.Ended(node=nid, clean=code == 0))
            if self.peers is not None:
                self.peers._out.put(("ended", nid, code == 0))
        return done

    def _from_peers(self) -> None:
        """Acknowledgements for this part's producers from consumers elsewhere; the ends of nodes elsewhere,
        passed on to this part's nodes (a consumer here ends an input whose producer has ended)."""
        assert self.peers is not None
        for event in self.peers._incoming():
            if event[0] == "ack":
                self.eos_acks.add((event[1], event[2], event[3]))
            elif event[0] == "ended" and event[1] not in self.local:
                self.remote_finished.add(event[1])
                self.broadcast(pr.Ended(node=event[1], clean=bool(event[2])))

    def check_health(self) -> None:
        """Kill a started node that showed no progress for its health timeout; `reap` restarts it."""
        now = time.monotonic()
        for nid in sorted(self.started - self.finished):
            timeout = self.graph.node(nid).health_timeout or self.graph.spec.health_timeout
            quiet = now - self.beat.get(nid, now)
            p = self.procs[nid]
            if quiet <= timeout or p.poll() is not None:
                continue
            r = self.reports[nid]
            r.hangs += 1
            r.errors.append(f"hung: no progress for {quiet:.1f} s (health timeout {timeout:g} s)")
            log.error("node '%s' made no progress for %.1f s (health timeout %g s); killing it", nid, quiet, timeout)
            self.started.discard(nid)
            p.kill()
            p.wait()

    def sample_resources(self) -> None:
        """CPU (percent of one core since the last sample) and resident memory of every node process."""
        for nid, proc in self._ps.items():
            r = self.reports[nid]
            try:
                with proc.oneshot():
                    r.cpu_percent = proc.cpu_percent()
                    r.rss_mb = proc.memory_info().rss / 2**20
                r.peak_rss_mb = max(r.peak_rss_mb, r.rss_mb)
            except psutil.Error:  # the process has exited
                r.cpu_percent = 0.0

    def releasable(self) -> list[str]:
        """Producers that sent their EOS and whose consumers have it (or are gone, or are lossy and late)."""
        out = []
        now = time.monotonic()
        for nid, t in self.eos_sent.items():
            if nid in self.finished:
                continue
            pending = [
                w
                for o in self.graph.outputs[nid]
                for w in self.graph.consumers(nid, o)
                if (nid, w.dst_node, w.dst_input) not in self.eos_acks
                and w.dst_node not in self.finished | self.remote_finished
                and (
                    self.graph.node(w.dst_node).inputs[w.dst_input].queue.policy == "reliable"
                    or now - t < LOSSY_EOS_WAIT_S
                )
                # a consumer on another machine acknowledges to its own supervisor: give it time instead
                # (unless its acknowledgement is relayed here, as under `arp run --cluster`)
                and (w.dst_node in self.local or self.peers is not None or now - t < REMOTE_EOS_WAIT_S)
            ]
            if not pending:
                out.append(nid)
        return out

    # -- the run ---------------------------------------------------------------------------------
    def run(self, duration: float | None = None, stop_event: Callable[[], bool] | None = None) -> RunResult:
        self._stopping = False
        self._starting = True
        t0 = time.monotonic()
        reason = "all sources ended"
        try:
            for nid in self.cfgs:
                if nid in self.local:
                    self.spawn(nid)
            deadline = time.monotonic() + START_TIMEOUT
            while self.ready | self.finished != self.local:
                self.pump(50)
                self.reap()
                failed = sorted(n for n in self.finished if self.reports[n].exit_code not in (0, None))
                if failed:
                    self.pump(100)  # its report may still be on the way, and others may fail at the same time
                    self.reap()
                    failed = sorted(n for n in self.finished if self.reports[n].exit_code not in (0, None))
                    raise NodeError("\n".join(self._start_failure(n) for n in failed))
                if stop_event and stop_event():
                    reason = "interrupted"
                    return self._finish(t0, reason)
                if time.monotonic() > deadline:
                    raise NodeError(
                        f"nodes {', '.join(sorted(self.local - self.ready))} were not ready after {START_TIMEOUT:.0f} s"
                    )
            while self.peers is not None and not self.peers.go():  # the other parts are not all ready yet
                self.pump(50)
                self.reap()
                if failed := sorted(n for n in self.finished if self.reports[n].exit_code not in (0, None)):
                    raise NodeError("\n".join(self._start_failure(n) for n in failed))
                if stop_event and stop_event():
                    return self._finish(t0, "interrupted")
            self._starting = False
            t0 = time.monotonic()
            last_view = 0.0
            while True:
                # (Re)send start until each ready node confirms: a SUB may still be joining.
                waiting = sorted(self.ready - self.started - self.finished)
                if waiting:
                    self.broadcast(pr.Start(nodes=waiting))
                self.pump(20 if waiting else 50)
                if released := self.releasable():
                    self.broadcast(pr.Release(nodes=released))
                self.check_health()
                self.reap()
                if self.finished == self.local:
                    break
                if stop_event and stop_event():
                    reason = "interrupted"
                    break
                if duration is not None and time.monotonic() - t0 >= duration:
                    reason = f"--for {duration:g} s elapsed"
                    break
                if time.monotonic() - last_view > 0.5:
                    last_view = time.monotonic()
                    self.sample_resources()
                    if self.on_stats:
                        self.on_stats(self.reports)
            return self._finish(t0, reason)
        except BaseException:
            self._finish(t0, "error")
            raise

    def _start_failure(self, nid: str) -> str:
        """One line on why a node did not start: its own report (node, parameter, fix), else its exit code."""
        if nid in self.setup_errors:
            return self.setup_errors[nid]
        return (
            f"node '{nid}' failed to start: its process exited with code {self.reports[nid].exit_code} "
            "(run with --log-level debug for its log)"
        )

    def _finish(self, t0: float, reason: str) -> RunResult:
        self._stopping = True
        duration = time.monotonic() - t0
        asked = time.monotonic()
        deadline = asked + self.stop_timeout
        unstarted = {nid for nid, p in self.procs.items() if nid not in self.started and p.poll() is None}
        ended: set[str] = set()  # unstarted nodes that had to be ended: no exit status of their own
        sent = 0.0
        while any(p.poll() is None for p in self.procs.values()) and time.monotonic() < deadline:
            if time.monotonic() - sent >= STOP_RESEND_S:  # again, for a node whose control socket was still joining
                sent = time.monotonic()
                self.broadcast(pr.Stop())
            self.pump(50)
            if unstarted and time.monotonic() - asked >= UNSTARTED_STOP_S:
                for nid in sorted(unstarted):
                    if self.procs[nid].poll() is None:
                        log.debug("node '%s' had not started and is still there after the stop; ending it", nid)
                        self.procs[nid].kill()
                        self.procs[nid].wait()
                        ended.add(nid)
                unstarted = set()
        for nid, p in self.procs.items():
            if p.poll() is None:
                log.warning("node '%s' did not stop within %.1f s; killing it", nid, self.stop_timeout)
                self.reports[nid].killed = True
                p.terminate()
                try:
                    p.wait(1.0)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
            if self.reports[nid].exit_code is None and nid not in ended:
                self.reports[nid].exit_code = p.returncode
        self.pump(100)
        self.ctl.close(0)
        self.up.close(0)
        self.ctx.term()
        shutil.rmtree(self.run_dir, ignore_errors=True)
        remove_run_segments(self.run_dir)  # shared memory of outputs (graph `shm`) a crash left behind
        try:
            assert self.reaper.stdin is not None
            self.reaper.stdin.write("done\n")
            self.reaper.stdin.close()
            self.reaper.wait(5)
        except (OSError, subprocess.TimeoutExpired):
            self.reaper.kill()
        return RunResult(self.reports, duration, reason)


def run_graph(
    graph: Graph,
    duration: float | None = None,
    *,
    strict: bool = False,
    log_level: str = "WARNING",
    on_stats: Callable[[dict[str, NodeReport]], None] | None = None,
    only: set[str] | None = None,
) -> RunResult:
    """Run a loaded graph to its end (or for `duration` seconds); Ctrl-C stops it cleanly."""
    interrupted = False

    def on_sigint(*_: Any) -> None:
        nonlocal interrupted
        interrupted = True

    old = signal.signal(signal.SIGINT, on_sigint) if _main_thread() else None
    try:
        sup = Supervisor(graph, strict=strict, log_level=log_level, on_stats=on_stats, only=only)
        return sup.run(duration, lambda: interrupted)
    finally:
        if old is not None:
            signal.signal(signal.SIGINT, old)


def _main_thread() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread()
