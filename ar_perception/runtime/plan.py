"""The sockets of a graph run, planned before any process starts: one `WorkerConfig` per node.

Every output gets an XPUB endpoint for its lossy consumers and one PUSH endpoint per reliable consumer (the
producer binds, consumers connect); every input learns where to connect. Endpoints are ipc files in the run's
private folder, or tcp ports (free ones, or fixed ones counting up from a node's `port`, for a graph split over
machines, or given: `arp run --cluster` has each machine choose those of its own nodes, then plans with them all).
The supervisor's own control and report sockets always stay on this machine (ipc).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass

from ar_perception.graph.load import Graph
from ar_perception.graph.spec import TIMER_RE
from ar_perception.runtime import protocol as pr
from ar_perception.runtime import transport as tp
from ar_perception.runtime.shm import SHM_DIR

__all__ = ["plan", "Socket", "sockets"]


@dataclass(frozen=True)
class Socket:
    """A socket a node binds: an output's XPUB (`o{i}.{j}`, for its lossy consumers) or one PUSH per reliable
    consumer of an output (`r{i}.{j}.{k}`). The name is the same wherever the graph is planned."""

    name: str
    node: str
    output: str
    consumers: tuple[str, ...]  # the nodes that connect to it
    inputs: tuple[str, ...] = ()  # for a PUSH: the consumer's input


def sockets(graph: Graph) -> list[Socket]:
    """Every socket of the graph, node by node, output by output."""
    out = []
    for i, n in enumerate(graph.spec.nodes):
        for j, o in enumerate(graph.outputs[n.id]):
            wires = graph.consumers(n.id, o)
            reliable = [w for w in wires if graph.node(w.dst_node).inputs[w.dst_input].queue.policy == "reliable"]
            lossy = tuple(w.dst_node for w in wires if w not in reliable)
            out.append(Socket(f"o{i}.{j}", n.id, o, lossy))
            out += [Socket(f"r{i}.{j}.{k}", n.id, o, (w.dst_node,), (w.dst_input,)) for k, w in enumerate(reliable)]
    return out


def _endpoint(transport: str, host: str, run_dir: str, name: str) -> str:
    if transport == "tcp":
        return f"tcp://{host}:{tp.free_tcp_port(host)}"
    return f"ipc://{run_dir}/{name}"


def _endpoints(transport: str, host: str, run_dir: str, port: int | None) -> Callable[[str], str]:
    """The endpoint maker of one node's sockets: with a `port`, fixed tcp ports counting up from it
    (reachable from elsewhere); else one endpoint per socket name."""
    fixed = iter(range(port, port + 10_000)) if port else None

    def endpoint(name: str) -> str:
        return f"tcp://{host}:{next(fixed)}" if fixed else _endpoint(transport, host, run_dir, name)

    return endpoint


def plan(
    graph: Graph, run_dir: str, strict: bool, log_level: str, given: dict[str, str] | None = None
) -> tuple[dict[str, pr.WorkerConfig], str, str]:
    """Per-node worker configurations plus the supervisor's control and report endpoints. `given`: endpoints
    chosen elsewhere, by socket name (see `sockets`), used as they are."""
    g = graph.spec
    # The control and report sockets stay on this machine: a supervisor only manages its own processes.
    ctl_ep = _endpoint("ipc", g.host, run_dir, "ctl")
    up_ep = _endpoint("ipc", g.host, run_dir, "up")
    outputs: dict[str, dict[str, pr.OutputPlan]] = {}
    reliable_ep: dict[tuple[str, str], str] = {}  # (consumer, input) -> the PUSH endpoint it connects to
    shm_index: dict[tuple[str, str], int] = {}  # (consumer, input) -> its counter in the producer's segment
    direct: dict[tuple[str, str], str] = {}  # (consumer, input) -> where it binds its datagram socket
    for i, n in enumerate(g.nodes):
        transport, host = n.transport or g.transport, n.host or g.host
        kinds_out = graph.output_kinds.get(n.id) or graph.classes[n.id].output_kinds()
        choose = _endpoints(transport, host, run_dir, n.port)

        def endpoint(name: str, choose: Callable[[str], str] = choose) -> str:
            return given[name] if given and name in given else choose(name)

        outputs[n.id] = {}
        for j, o in enumerate(graph.outputs[n.id]):
            wires = graph.consumers(n.id, o)
            reliable = [w for w in wires if graph.node(w.dst_node).inputs[w.dst_input].queue.policy == "reliable"]
            pushes = [endpoint(f"r{i}.{j}.{k}") for k in range(len(reliable))]
            reliable_ep.update({(w.dst_node, w.dst_input): ep for w, ep in zip(reliable, pushes, strict=True)})
            pub = endpoint(f"o{i}.{j}")
            ipc = all(e.startswith("ipc://") for e in (pub, *pushes))
            shm = g.shm and bool(wires) and ipc and os.path.isdir(SHM_DIR)
            direct_to: list[pr.DirectPlan] = []
            if shm:  # every consumer on this machine: large arrays through shared memory (runtime/shm.py)
                shm_index.update({(w.dst_node, w.dst_input): k for k, w in enumerate(wires)})
                # ... and every message straight into the consumer's datagram socket (runtime/direct.py)
                for k, w in enumerate(wires):
                    path = os.path.join(run_dir, f"d{i}.{j}.{k}")
                    direct[(w.dst_node, w.dst_input)] = path
                    direct_to.append(pr.DirectPlan(path=path, to=w.dst_node, reliable=w in reliable))
            outputs[n.id][o] = pr.OutputPlan(
                kind=kinds_out[o],
                pub=pub,
                subscribers=len(wires) - len(reliable),
                reliable=pushes,
                reliable_to=[w.dst_node for w in reliable],
                reliable_bound=max([graph.node(w.dst_node).inputs[w.dst_input].queue.size for w in reliable] or [1]),
                shm_prefix=f"{SHM_DIR}/{os.path.basename(run_dir)}-{n.id}-{j}" if shm else None,
                shm_consumers=len(wires) if shm else 0,
                direct=direct_to,
            )
    cfgs: dict[str, pr.WorkerConfig] = {}
    for n in g.nodes:
        inputs = {}
        for port, inp in n.inputs.items():
            connect = None  # a timer has no socket
            if not TIMER_RE.match(inp.source):
                src, _, out = inp.source.partition("/")
                on_push = inp.queue.policy == "reliable"
                connect = reliable_ep[(n.id, port)] if on_push else outputs[src][out].pub
            inputs[port] = pr.InputPlan(
                source=inp.source,
                queue=inp.queue,
                endpoint=connect,
                shm_index=shm_index.get((n.id, port)),
                direct=direct.get((n.id, port)),
            )
        cfgs[n.id] = pr.WorkerConfig(
            node_id=n.id,
            ref=n.node,
            params=graph.params[n.id].model_dump(mode="json"),
            search_paths=graph.search_paths,
            strict=strict,
            on_error=n.on_error,
            inputs=inputs,
            outputs=outputs[n.id],
            sync=n.sync,
            ctl=ctl_ep,
            up=up_ep,
            log_level=log_level,
            graph_text=graph.text,
            security=g.security,
            max_message_bytes=int(g.max_message_mb * 2**20),
            nice=n.nice,
        )
    return cfgs, ctl_ep, up_ep
