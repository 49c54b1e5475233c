"""`arp run GRAPH --cluster ...`: a live graph whose nodes Ray places across machines.

1. **Placement.** One bundle per node in one placement group, so the graph starts whole or not at all: each
   bundle asks for a token of CPU plus the node's `placement.resources`, on the machine whose Ray label
   `machine` is the node's `placement.machine`; a node without placement stays on the machine that runs
   `arp run` (the camera of a laptop). A graph that cannot be placed is an error that names the node.
2. **Parts.** The nodes that landed on one Ray node form a part: one `MachineAgent` actor there (cluster/
   agent.py) runs arp's Supervisor for them. Phase 1: every part chooses its sockets' endpoints and makes
   its key pair; phase 2: each is told every endpoint and public key, starts its nodes and holds them at the
   start barrier; when every part is ready they all start.
3. **Running.** Every 0.25 s the driver asks each part for its statistics and events, relays end-of-stream
   acknowledgements and node ends to the other parts (so a producer is released only when its consumers
   elsewhere have its end), and redraws the live table with each node's machine. Ctrl-C, --for or the end of
   every part stops the run; a part that fails or is lost stops the others.
Nothing but these small control messages goes through Ray.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from ar_perception.cluster.agent import MachineAgent
from ar_perception.cluster.connect import ClusterError, first_line
from ar_perception.errors import NodeError
from ar_perception.graph.load import Graph
from ar_perception.runtime.launch import NodeReport, RunResult

__all__ = ["run_on_cluster", "NODE_CPU", "PLACE_TIMEOUT_S"]

log = logging.getLogger("arp.cluster")
NODE_CPU = 0.01  # the CPU a node's bundle asks for: a token, so that a 2-core laptop holds a whole graph
PLACE_TIMEOUT_S = 15.0  # how long the placement group may take to be placed before the run is abandoned
START_TIMEOUT_S = 180.0  # every part ready (models loaded) within this, or the run is abandoned
POLL_S = 0.25


def _bundles(graph: Graph, here: str) -> tuple[list[dict[str, float]], list[dict[str, str]]]:
    bundles, selectors = [], []
    for n in graph.spec.nodes:
        p = n.placement
        bundles.append({"CPU": NODE_CPU, **(p.resources if p else {})})
        if p and p.machine:
            selectors.append({"machine": p.machine})
        elif p and p.resources:
            selectors.append({})
        else:
            selectors.append({"ray.io/node-id": here})
    return bundles, selectors


def _what(n: Any) -> str:
    p = n.placement
    parts = ([f"machine {p.machine}"] if p and p.machine else []) + [
        f"{k}: {v:g}" for k, v in (p.resources if p else {}).items()
    ]
    return ", ".join(parts) or "the machine running arp run"


def _have(nodes: list[dict[str, Any]]) -> str:
    return "; ".join(
        f"{n.get('Labels', {}).get('machine') or n['NodeManagerAddress']}: "
        + ", ".join(f"{k} {v:g}" for k, v in sorted(n["Resources"].items()) if not _internal(k))
        for n in nodes
    )


def unplaceable(graph: Graph, nodes: list[dict[str, Any]]) -> str | None:
    """Why a node can be placed on no machine of the cluster (`ray.nodes()`), or None when each fits one."""
    alive = [n for n in nodes if n.get("Alive")]
    machines = sorted({n.get("Labels", {}).get("machine", "") for n in alive} - {""})
    for node in graph.spec.nodes:
        p = node.placement
        if p is None:
            continue
        fits = [
            n
            for n in alive
            if (p.machine is None or n.get("Labels", {}).get("machine") == p.machine)
            and all(n["Resources"].get(k, 0) >= v for k, v in p.resources.items())
        ]
        if not fits:
            return (
                f"node '{node.id}' cannot be placed: no machine in the cluster has {_what(node)} "
                f"(machine labels: {', '.join(machines) or 'none'}; resources: {_have(alive)})"
            )
    return None


def _internal(resource: str) -> bool:
    return resource.startswith("node:") or resource in ("memory", "object_store_memory", "accelerator_type")


class _Run:
    """One live run on the cluster: the placement group, the parts, the relay."""

    def __init__(self, ray: Any, graph: Graph, strict: bool, log_level: str):
        self.ray, self.graph = ray, graph
        from ray.util.placement_group import placement_group, placement_group_table

        if why := unplaceable(graph, ray.nodes()):
            raise ClusterError(why)
        here = ray.get_runtime_context().get_node_id()
        bundles, selectors = _bundles(graph, here)
        self.pg = placement_group(bundles, strategy="PACK", bundle_label_selector=selectors)
        if not self.pg.wait(PLACE_TIMEOUT_S):
            self.close()
            raise ClusterError(
                f"the graph could not be placed whole within {PLACE_TIMEOUT_S:g} s: each node fits a machine, "
                f"but not all at once (or their resources are in use); the cluster has {_have(ray.nodes())}"
            )
        where = placement_group_table(self.pg)["bundles_to_node_id"]
        by_ray_node: dict[str, list[int]] = {}
        for i in range(len(bundles)):
            by_ray_node.setdefault(where[i], []).append(i)
        info = {n["NodeID"]: n for n in ray.nodes()}
        names = {r: info[r].get("Labels", {}).get("machine") or info[r]["NodeManagerAddress"] for r in by_ray_node}
        self.parts: dict[str, Any] = {}  # machine name -> actor
        self.members: dict[str, list[str]] = {}
        from ray.util.scheduling_strategies import PlacementGroupSchedulingStrategy

        # What every part loads: the graph as validated here (overrides and ${env:...} applied here), its
        # path made absolute (plugins next to it), and this folder, where relative paths in it point.
        text = yaml.safe_dump(graph.spec.model_dump(exclude_unset=True), sort_keys=False)
        path = str(Path(graph.path).resolve()) if os.path.exists(graph.path) else graph.path
        env = {"OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS")}  # Ray sets 1 in its workers; keep ours
        agent = ray.remote(num_cpus=0, max_restarts=0, max_concurrency=8)(MachineAgent)
        for ray_node, idx in by_ray_node.items():
            machine = names[ray_node]
            if list(names.values()).count(machine) > 1:  # two Ray nodes with one label, or one address
                machine = f"{machine}/{ray_node[:8]}"
            ids = [graph.spec.nodes[i].id for i in idx]
            strategy = PlacementGroupSchedulingStrategy(self.pg, placement_group_bundle_index=idx[0])
            self.members[machine] = ids
            self.parts[machine] = agent.options(scheduling_strategy=strategy).remote(
                text, path, os.getcwd(), env, ids, machine, info[ray_node]["NodeManagerAddress"], strict, log_level
            )

    def _all(self, method: str, *args: Any, timeout: float = 60.0) -> dict[str, Any]:
        """Call a method of every part; a part that is gone is a ClusterError naming its machine."""
        refs = {m: getattr(a, method).remote(*args) for m, a in self.parts.items()}
        out = {}
        for m, ref in refs.items():
            try:
                out[m] = self.ray.get(ref, timeout=timeout)
            except self.ray.exceptions.RayError as e:
                raise ClusterError(
                    f"machine {m} (nodes {', '.join(self.members[m])}) was lost: {type(e).__name__}: {first_line(e)}"
                ) from e
        return out

    def wire(self) -> None:
        """Phase 1 and 2: every part's endpoints and keys, then every part told them all."""
        prepared = self._all("prepare")
        endpoints = {name: ep for p in prepared.values() for name, ep in p["endpoints"].items()}
        keys = {ep: p["public"] for p in prepared.values() for ep in p["endpoints"].values() if ep.startswith("tcp://")}
        self._all("start", endpoints, keys, [p["public"] for p in prepared.values()])

    def stop(self) -> dict[str, Any]:
        """Ask every part to stop and wait until each has (its nodes' teardown, files and statistics); a part
        that is gone or fails to stop is logged, not raised: the others still stop cleanly."""
        wait = max(self.graph.spec.stop_timeout + 5.0, 10.0)
        refs = {}
        for m, a in self.parts.items():
            a.stop.remote()
            refs[m] = a.result.remote(wait)
        results = {}
        for m, ref in refs.items():
            try:
                results[m] = self.ray.get(ref, timeout=wait + 10.0)
            except self.ray.exceptions.RayError as e:
                log.error("machine %s did not stop cleanly: %s", m, first_line(e))
                continue
            if results[m] is None:
                log.error("machine %s did not stop within %.0f s", m, wait)
        return results

    def close(self) -> None:
        """Remove every part (its run folder with this run's secret key first) and the placement group."""
        from ray.util.placement_group import remove_placement_group

        for a in getattr(self, "parts", {}).values():
            try:
                self.ray.get(a.close.remote(), timeout=10.0)
            except self.ray.exceptions.RayError:
                pass  # gone already: its watchdog removed the folder, or nothing was made
            self.ray.kill(a)
        remove_placement_group(self.pg)


def _report(d: dict[str, Any]) -> NodeReport:
    return NodeReport(**d)


def run_on_cluster(
    ray: Any,
    graph: Graph,
    duration: float | None = None,
    *,
    strict: bool = False,
    log_level: str = "WARNING",
    on_stats: Callable[[dict[str, NodeReport]], None] | None = None,
) -> RunResult:
    """Run a loaded graph on a connected Ray cluster (see the module's docstring); Ctrl-C stops it cleanly."""
    interrupted = threading.Event()
    main = threading.current_thread() is threading.main_thread()
    old = signal.signal(signal.SIGINT, lambda *_: interrupted.set()) if main else None
    try:
        run = _Run(ray, graph, strict, log_level)
        try:
            return _drive(run, duration, interrupted, on_stats)
        except BaseException:
            run.stop()  # the other machines' nodes stop cleanly: their files are written
            raise
        finally:
            run.close()
    finally:
        if old is not None:
            signal.signal(signal.SIGINT, old)


def _drive(
    run: _Run,
    duration: float | None,
    interrupted: threading.Event,
    on_stats: Callable[[dict[str, NodeReport]], None] | None,
) -> RunResult:
    """Wire the parts, start them together, relay their events and statistics until the run ends."""
    t0 = time.monotonic()
    reason = "all sources ended"
    reports: dict[str, NodeReport] = {}
    run.wire()
    started = False
    deadline = time.monotonic() + START_TIMEOUT_S
    while True:
        status = run._all("status", timeout=30.0)
        if failed := {m: s["error"] for m, s in status.items() if s["error"]}:
            raise NodeError("\n".join(failed.values()))
        for m, s in status.items():
            if s["events"]:
                for other, actor in run.parts.items():
                    if other != m:
                        actor.deliver.remote(s["events"])
            reports.update({n: _report(r) for n, r in s["reports"].items()})
        if not started:
            if all(s["ready"] for s in status.values()):
                run._all("go")
                started, t0 = True, time.monotonic()
            elif time.monotonic() > deadline:
                waiting = [m for m, s in status.items() if not s["ready"]]
                raise NodeError(f"machine(s) {', '.join(waiting)} not ready after {START_TIMEOUT_S:.0f} s")
        elif on_stats and reports:
            on_stats(reports)
        if all(s["done"] for s in status.values()):
            break
        if interrupted.is_set():
            reason = "interrupted"
            break
        if started and duration is not None and time.monotonic() - t0 >= duration:
            reason = f"--for {duration:g} s elapsed"
            break
        time.sleep(POLL_S)
    return _finish(run, reports, reason, t0)


def _finish(run: _Run, reports: dict[str, NodeReport], reason: str, t0: float) -> RunResult:
    """Stop every part (those that ended already are done) and gather their final reports."""
    duration = time.monotonic() - t0
    for result in run.stop().values():
        if result is not None:
            reports.update({n: _report(r) for n, r in result["reports"].items()})
    ordered = {n.id: reports.get(n.id) or NodeReport(n.id, n.node) for n in run.graph.spec.nodes}
    return RunResult(ordered, duration, reason)
