"""The static checks of a graph spec against its node classes: ids, parameters, outputs, inputs, sync, the kinds
on each wire, cycles and security; each check returns its problems as one-line messages."""

from __future__ import annotations

from collections.abc import Callable

from pydantic import ValidationError

from ar_perception.errors import ArpError, TransportError
from ar_perception.graph.problems import did_you_mean, param_lines
from ar_perception.graph.resolved import Graph, Wire
from ar_perception.graph.spec import TIMER_RE, GraphSpec, NodeSpec
from ar_perception.keys import is_loopback, load_authorized, load_public, load_secret
from ar_perception.kinds import compatible
from ar_perception.ports import WILDCARD, NodeType


def id_problems(n: NodeSpec, at: str, seen: set[str]) -> list[str]:
    problems = []
    if n.id in seen:
        problems.append(f"{at}.id: duplicate id '{n.id}' (expected unique ids)")
    seen.add(n.id)
    if n.id == "timer":
        problems.append(f"{at}.id: 'timer' is reserved for timer sources (expected another id, got 'timer')")
    return problems


def node_problems(graph: Graph, n: NodeSpec, cls: type[NodeType], at: str) -> list[str]:
    """One node checked against its class; records its class, parameters and outputs in `graph` for the wires."""
    problems = []
    graph.classes[n.id] = cls
    out_kinds = cls.output_kinds()
    try:
        graph.params[n.id] = cls.Params.model_validate(n.params)
        out_kinds = cls.output_kinds_for(graph.params[n.id])
    except ValidationError as e:
        problems.extend(param_lines(e, cls, at))
    except ArpError as e:  # outputs that depend on the parameters (a replay's recording) are unknown
        problems.append(f"{at}.params: {e}")
    except Exception as e:  # a plugin's validator failing in its own way is one more problem
        problems.append(f"{at}.params: checking them with '{n.node}' raised {type(e).__name__}: {e}")
    graph.output_kinds[n.id] = out_kinds
    declared = list(out_kinds)
    outs = n.outputs if n.outputs is not None else declared
    for o in outs:
        if o not in declared:
            problems.append(
                f"{at}.outputs: '{n.node}' has no output '{o}' "
                f"(expected one of: {', '.join(declared) or 'none'}{did_you_mean(o, declared)})"
            )
    graph.outputs[n.id] = [o for o in outs if o in declared]
    problems.extend(_input_problems(n, cls, at))
    transport = n.transport or graph.spec.transport
    if n.port is not None and transport != "tcp":
        problems.append(
            f"{at}.port: fixed ports need tcp (set transport: tcp on the node or the graph; got {transport})"
        )
    return problems


def _input_problems(n: NodeSpec, cls: type[NodeType], at: str) -> list[str]:
    """The inputs a node is given against the inputs its class takes."""
    problems = []
    in_ports = list(cls.input_kinds())
    if WILDCARD in in_ports and not n.inputs:
        problems.append(f"{at}.inputs: '{n.node}' needs at least one input (got none)")
    for port, inp in n.inputs.items():
        if cls.reliable_inputs and inp.queue.policy != "reliable":
            problems.append(
                f"{at}.inputs.{port}: '{n.node}' must never drop, so its inputs "
                f"need queue: reliable (got {inp.queue.policy})"
            )
        if not in_ports:
            problems.append(f"{at}.inputs.{port}: '{n.node}' takes no inputs (expected none, got '{port}')")
        elif port not in in_ports and WILDCARD not in in_ports:
            problems.append(
                f"{at}.inputs.{port}: '{n.node}' has no input '{port}' "
                f"(expected one of: {', '.join(in_ports) or 'none'}{did_you_mean(port, in_ports)})"
            )
    return problems


def sync_problems(n: NodeSpec, at: str) -> list[str]:
    """A sync section against the node's inputs and the fields its mode has."""
    sync = n.sync
    if sync is None:
        return []
    problems = []
    if len(n.inputs) < 2:
        problems.append(f"{at}.sync: sync needs at least 2 inputs (got {len(n.inputs)})")
    if sync.mode == "latest" and sync.trigger not in n.inputs:
        problems.append(
            f"{at}.sync.trigger: sync 'latest' needs a trigger input "
            f"(expected one of: {', '.join(n.inputs)}; got {sync.trigger!r})"
        )
    if sync.mode != "latest" and sync.trigger is not None:
        problems.append(
            f"{at}.sync.trigger: only sync 'latest' has a trigger (expected none "
            f"with mode '{sync.mode}', got {sync.trigger!r})"
        )
    if sync.mode != "approximate" and "slop" in sync.model_fields_set:
        problems.append(
            f"{at}.sync.slop: only sync 'approximate' has a slop (expected none "
            f"with mode '{sync.mode}', got {sync.slop!r})"
        )
    return problems


def wire_problems(graph: Graph) -> tuple[list[str], dict[str, set[str]]]:
    """Every input's source must exist and give a kind the input takes; adds the wires and returns the
    problems and the edges between nodes (for the cycle check)."""
    problems: list[str] = []
    edges: dict[str, set[str]] = {}
    ids = [n.id for n in graph.spec.nodes]
    for i, n in enumerate(graph.spec.nodes):
        at = f"{graph.path}: nodes[{i}] ({n.id})"
        cls = graph.classes.get(n.id)
        for port, inp in n.inputs.items():
            src_node, _, src_out = inp.source.partition("/")
            if TIMER_RE.match(inp.source):
                graph.wires.append(Wire(None, inp.source, n.id, port))
                if cls is not None and not compatible("Tick", cls.input_kind(port) or "Any"):
                    problems.append(
                        f"{at}.inputs.{port}: a timer gives Tick, but '{port}' takes {cls.input_kind(port)}"
                    )
                continue
            if src_node not in ids:
                problems.append(
                    f"{at}.inputs.{port}: reads '{inp.source}', but there is no node "
                    f"'{src_node}' (expected one of: {', '.join(ids)}{did_you_mean(src_node, ids)})"
                )
                continue
            if src_node not in graph.classes:
                continue  # its own error is already listed
            outs = graph.outputs[src_node]
            if src_out not in outs:
                problems.append(
                    f"{at}.inputs.{port}: reads '{inp.source}', but node '{src_node}' "
                    f"has no output '{src_out}' (it has: {', '.join(outs) or 'none'}"
                    f"{did_you_mean(src_out, outs)})"
                )
                continue
            edges.setdefault(src_node, set()).add(n.id)
            graph.wires.append(Wire(src_node, src_out, n.id, port))
            in_kind = cls.input_kind(port) if cls is not None else None
            if in_kind is not None:
                out_kind = graph.output_kinds[src_node][src_out]
                if not compatible(out_kind, in_kind):
                    problems.append(
                        f"{at}.inputs.{port}: kind mismatch: '{inp.source}' gives "
                        f"{out_kind}, but '{port}' takes {in_kind} (expected {in_kind}, got {out_kind})"
                    )
    return problems, edges


def security_problems(spec: GraphSpec, path: str) -> list[str]:
    """tcp beyond this machine needs CurveZMQ keys, and the key files named must load."""
    problems = []
    if spec.security is None:
        if spec.transport == "tcp" and not is_loopback(spec.host):
            problems.append(
                f"{path}: host: tcp on {spec.host} can be reached from other machines, so it needs "
                "CurveZMQ (expected a 'security:' section with keys from `arp keys create`, "
                "or host 127.0.0.1)"
            )
        for i, n in enumerate(spec.nodes):
            transport, host = n.transport or spec.transport, n.host or spec.host
            if transport == "tcp" and not is_loopback(host) and (n.host or n.transport):
                problems.append(
                    f"{path}: nodes[{i}] ({n.id}).host: tcp on {host} can be reached from other "
                    "machines, so it needs CurveZMQ (expected a 'security:' section with keys from "
                    "`arp keys create`, or host 127.0.0.1)"
                )
        return problems
    sec = spec.security
    checks: list[tuple[str, Callable[[str], object], str]] = [
        ("secret_key", load_secret, sec.secret_key),
        ("authorized_keys", load_authorized, sec.authorized_keys),
    ]
    checks += [(f"server_keys.{host}", load_public, key) for host, key in sec.server_keys.items()]
    for name, load, arg in checks:
        try:
            load(arg)
        except TransportError as e:
            problems.append(f"{path}: security.{name}: {e}")
    return problems


def find_cycle(nodes: list[str], edges: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(n: str) -> list[str] | None:
        state[n] = 1
        stack.append(n)
        for m in sorted(edges.get(n, ())):
            if state.get(m) == 1:
                return stack[stack.index(m) :] + [m]
            if m not in state and (c := visit(m)):
                return c
        stack.pop()
        state[n] = 2
        return None

    for n in nodes:
        if n not in state and (c := visit(n)):
            return c
    return None
