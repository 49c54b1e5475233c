"""One machine's part of a live graph under `arp run --cluster`: a Ray actor (made by cluster/live.py) that
runs arp's own Supervisor for the nodes placed on that machine.

Two phases, driven by cluster/live.py:
1. `prepare()`: the part makes this run's CurveZMQ key pair (the secret stays in its private run folder on
   this machine) and chooses an endpoint for every socket its nodes bind: a free tcp port on this machine's
   address for a socket with a consumer on another part, an ipc file for one whose consumers are all here.
   It returns the endpoints and its public key.
2. `start(endpoints, keys)`: with every part's endpoints and public keys, it starts its nodes (node
   processes die with this actor: PR_SET_PDEATHSIG, and the supervisor's watchdog) and holds them at the
   start barrier until `go()`.
Then `status()` hands out statistics and the events the other parts need (end-of-stream acknowledgements,
ends), `deliver()` takes theirs, and `stop()` stops the part. Ray carries only these small messages; frames
travel on the ZeroMQ links between node processes.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import tempfile
import threading
import traceback
from pathlib import Path
from typing import Any

from ar_perception.errors import ArpError
from ar_perception.graph.load import Graph, graph_search_paths, parse_graph
from ar_perception.graph.spec import SecuritySpec
from ar_perception.keys import create_keypair, load_public, write_public
from ar_perception.runtime.launch import NodeReport, Peers, Supervisor
from ar_perception.runtime.plan import sockets
from ar_perception.runtime.transport import free_tcp_port

__all__ = ["MachineAgent", "load_part_graph"]


def load_part_graph(text: str, path: str) -> Graph:
    """The graph as every part loads it (plugins from the graph's folder, when this machine has it)."""
    return parse_graph(text, path, None, graph_search_paths(path if os.path.exists(path) else None))


class MachineAgent:
    """The nodes `ids` of a graph, on this machine (see the module's docstring)."""

    def __init__(
        self,
        text: str,
        path: str,
        cwd: str,
        env: dict[str, str | None],
        ids: list[str],
        machine: str,
        host: str,
        strict: bool,
        log_level: str,
    ):
        """`text`: the graph as the driver validated it; `cwd`: the driver's folder, where relative paths in
        the graph point (used when this machine has it); `env`: variables to set (None: unset) before the
        node processes start, such as OMP_NUM_THREADS, which Ray sets to 1 in its workers."""
        if os.path.isdir(cwd):
            os.chdir(cwd)  # this worker process is this actor's alone
        for k, v in env.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        self.graph = load_part_graph(text, path)
        self.ids, self.machine, self.host = set(ids), machine, host
        self.strict, self.log_level = strict, log_level
        self.run_dir = tempfile.mkdtemp(prefix="arp-part-")
        os.chmod(self.run_dir, 0o700)
        keys = Path(self.run_dir) / "keys"
        self.public = load_public(create_keypair(keys, "part")[0])
        self.secret_file = keys / "part.key_secret"
        self._ready = threading.Event()  # every node here is ready (set by the supervisor's barrier)
        self._go = threading.Event()
        self._stop = threading.Event()
        self._done = threading.Event()
        self._lock = threading.Lock()
        self._reports: dict[str, dict[str, Any]] = {}
        self._result: dict[str, Any] | None = None
        self._error: str | None = None
        self.peers = Peers(self._barrier)
        self.sup: Supervisor | None = None

    # -- phase 1 ------------------------------------------------------------------------------------
    def prepare(self) -> dict[str, Any]:
        """This part's public key and the endpoints of the sockets its nodes bind, by socket name."""
        endpoints = {}
        for s in sockets(self.graph):
            if s.node not in self.ids:
                continue
            if any(c not in self.ids for c in s.consumers):
                endpoints[s.name] = f"tcp://{self.host}:{free_tcp_port(self.host)}"
            else:
                endpoints[s.name] = f"ipc://{self.run_dir}/{s.name}"
        return {"public": self.public.decode("ascii"), "endpoints": endpoints, "pid": os.getpid()}

    # -- phase 2 ------------------------------------------------------------------------------------
    def start(self, endpoints: dict[str, str], keys: dict[str, str], authorized: list[str]) -> None:
        """Start this part's nodes with every socket's endpoint and, for each tcp endpoint, the public key of
        the part that binds it; `authorized`: every part's public key (who may connect here)."""
        graph = self.graph
        try:
            if any(e.startswith("tcp://") for e in endpoints.values()):
                graph = self._secured(keys, authorized)
            self.sup = Supervisor(
                graph,
                strict=self.strict,
                log_level=self.log_level,
                only=self.ids,
                run_dir=self.run_dir,
                endpoints=endpoints,
                peers=self.peers,
                on_stats=self._snapshot,
                new_session=False,  # the node processes die with this actor's worker (and PR_SET_PDEATHSIG)
            )
        except BaseException:
            self.close()
            raise
        for r in self.sup.reports.values():
            r.host = self.machine
        threading.Thread(target=self._run, name="arp-part", daemon=True).start()

    def _secured(self, keys: dict[str, str], authorized: list[str]) -> Graph:
        """The graph with this run's keys: CurveZMQ on every tcp link, only the parts' keys admitted."""
        folder = Path(self.run_dir) / "keys"
        allowed = folder / "authorized"
        allowed.mkdir(exist_ok=True)
        for i, k in enumerate(authorized):
            write_public(allowed / f"part{i}.key", k.encode("ascii"))
        servers = {}
        for i, (endpoint, k) in enumerate(sorted(keys.items())):
            servers[endpoint.removeprefix("tcp://")] = str(write_public(folder / f"server{i}.key", k.encode("ascii")))
        security = SecuritySpec(secret_key=str(self.secret_file), authorized_keys=str(allowed), server_keys=servers)
        spec = self.graph.spec.model_copy(update={"security": security})
        return dataclasses.replace(self.graph, spec=spec)

    def _barrier(self) -> bool:
        self._ready.set()
        return self._go.is_set()

    def _snapshot(self, reports: dict[str, NodeReport]) -> None:
        with self._lock:
            self._reports = {n: dataclasses.asdict(r) for n, r in reports.items()}

    def _run(self) -> None:
        assert self.sup is not None
        try:
            result = self.sup.run(None, stop_event=self._stop.is_set)
            self._snapshot(result.nodes)
            with self._lock:
                self._result = result.as_dict() | {"reports": self._reports}
        except ArpError as e:
            self._error = str(e)
        except Exception:  # reported to the driver, which stops the run
            self._error = f"machine {self.machine}: {traceback.format_exc(limit=3)}"
        finally:
            self._done.set()
            shutil.rmtree(self.run_dir, ignore_errors=True)

    # -- while it runs --------------------------------------------------------------------------------
    def status(self) -> dict[str, Any]:
        with self._lock:
            reports = dict(self._reports)
        return {
            "ready": self._ready.is_set(),
            "done": self._done.is_set(),
            "error": self._error,
            "reports": reports,
            "events": self.peers.collect(),
        }

    def go(self) -> None:
        self._go.set()

    def deliver(self, events: list[tuple[Any, ...]]) -> None:
        self.peers.deliver(events)

    def stop(self) -> None:
        self._stop.set()

    def close(self) -> None:
        """Remove this part's run folder (this run's secret key is in it) when its supervisor never ran;
        a supervisor that ran removes it itself, and its watchdog does when this process is killed."""
        if self.sup is None or self._done.is_set():
            shutil.rmtree(self.run_dir, ignore_errors=True)

    def result(self, timeout: float) -> dict[str, Any] | None:
        """The part's run once it has ended (None if it has not within `timeout` s)."""
        self._done.wait(timeout)
        with self._lock:
            return self._result
