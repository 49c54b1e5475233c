"""Read a graph file, substitute ${env:X,default}, validate it and resolve its nodes and wires.

Every problem becomes one line `FILE: nodes[i] (ID).FIELD: what is wrong (expected ..., got ...)`;
all problems are collected before raising one GraphError.
"""

from __future__ import annotations

import difflib
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from ar_perception.errors import ArpError, GraphError
from ar_perception.graph.spec import TIMER_RE, GraphSpec, NodeSpec
from ar_perception.kinds import compatible

__all__ = ["Graph", "Wire", "load_graph", "parse_graph", "apply_overrides"]

_ENV_RE = re.compile(r"\$\{env:([A-Za-z_][A-Za-z0-9_]*)(?:,([^}]*))?\}")


@dataclass(frozen=True)
class Wire:
    """One input of one node fed by `source` ("node/output" or a timer)."""

    src_node: str | None  # None for timers
    src_output: str
    dst_node: str
    dst_input: str

    @property
    def source(self) -> str:
        return f"{self.src_node}/{self.src_output}" if self.src_node else self.src_output


@dataclass
class Graph:
    spec: GraphSpec
    path: str
    text: str
    classes: dict[str, type[Any]] = field(default_factory=dict)
    params: dict[str, BaseModel] = field(default_factory=dict)
    outputs: dict[str, list[str]] = field(default_factory=dict)
    output_kinds: dict[str, dict[str, str]] = field(default_factory=dict)  # {node: {output: kind}}
    wires: list[Wire] = field(default_factory=list)
    search_paths: list[str] = field(default_factory=list)

    def node(self, node_id: str) -> NodeSpec:
        return next(n for n in self.spec.nodes if n.id == node_id)

    @property
    def sources(self) -> list[str]:
        return [n.id for n in self.spec.nodes if not n.inputs]

    def consumers(self, node_id: str, output: str) -> list[Wire]:
        return [w for w in self.wires if w.src_node == node_id and w.src_output == output]


def _near(word: str, options: list[str]) -> str:
    m = difflib.get_close_matches(word, options, n=1, cutoff=0.5)
    return f"; did you mean '{m[0]}'?" if m else ""


def _substitute_env(value: Any) -> Any:
    if isinstance(value, str):
        def sub(m: re.Match[str]) -> str:
            if m.group(1) in os.environ:
                return os.environ[m.group(1)]
            if m.group(2) is not None:
                return m.group(2)
            raise GraphError(f"environment variable {m.group(1)} is not set and has no default "
                             f"(write ${{env:{m.group(1)},DEFAULT}})")
        full = _ENV_RE.fullmatch(value)
        out = _ENV_RE.sub(sub, value)
        # A value that is only a reference takes the YAML type of what it expands to (numbers stay numbers).
        return yaml.safe_load(out) if full and out.strip() else out
    if isinstance(value, dict):
        return {k: _substitute_env(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_substitute_env(v) for v in value]
    return value


def _where(raw: dict[str, Any], loc: tuple[Any, ...]) -> str:
    """Turn a pydantic location ('nodes', 2, 'params', 'fps') into 'nodes[2] (cam).params.fps'."""
    parts: list[str] = []
    nodes = raw.get("nodes") if isinstance(raw, dict) else None
    i = 0
    while i < len(loc):
        key = loc[i]
        if key == "nodes" and i + 1 < len(loc) and isinstance(loc[i + 1], int):
            idx = loc[i + 1]
            nid = nodes[idx].get("id", "?") if isinstance(nodes, list) and isinstance(nodes[idx], dict) else "?"
            parts.append(f"nodes[{idx}] ({nid})")
            i += 2
            continue
        if isinstance(key, int):
            parts[-1:] = [f"{parts[-1] if parts else ''}[{key}]"]
        elif str(key).startswith(("function-", "literal[")):
            pass  # pydantic's internal validator names are noise to a user
        else:
            parts.append(str(key))
        i += 1
    return ".".join(parts)


def _fields_at(model: type[BaseModel], loc: tuple[Any, ...]) -> list[str]:
    """The valid field names at a location, to suggest the nearest one for an unknown key."""
    from ar_perception.graph import spec as s

    target: Any = model
    for key in loc[:-1]:
        if isinstance(key, int) or not (isinstance(target, type) and issubclass(target, BaseModel)):
            continue
        f = target.model_fields.get(str(key))
        if f is None:
            return []
        ann = f.annotation
        for cand in (s.NodeSpec, s.InputSpec, s.QueueSpec, s.SyncSpec, s.RestartSpec, s.SecuritySpec):
            if cand is ann or cand.__name__ in str(ann):
                target = cand
                break
        else:
            target = None
    return list(target.model_fields) if isinstance(target, type) and issubclass(target, BaseModel) else []


def _pydantic_lines(err: ValidationError, model: type[BaseModel], raw: Any, prefix: str,
                    loc_prefix: tuple[Any, ...] = ()) -> list[str]:
    lines = []
    for e in err.errors():
        loc = tuple(loc_prefix) + tuple(e["loc"])
        where = _where(raw, loc)
        got = e.get("input")
        if e["type"] == "extra_forbidden":
            valid = _fields_at(model, tuple(e["loc"]))
            msg = f"unknown key '{loc[-1]}' (expected one of: {', '.join(valid)}{_near(str(loc[-1]), valid)})" \
                if valid else f"unknown key '{loc[-1]}'"
            where = _where(raw, loc[:-1])
        elif e["type"] == "missing":
            msg = "is required but missing"
        else:
            msg = f"{e['msg']} (got {got!r})" if not isinstance(got, (dict, list)) else e["msg"]
        lines.append(f"{prefix}: {where}: {msg}" if where else f"{prefix}: {msg}")
    return lines


def _param_lines(err: ValidationError, cls: type[Any], where: str, prefix: str) -> list[str]:
    lines = []
    fields = list(cls.Params.model_fields)
    for e in err.errors():
        path = ".".join(str(p) for p in e["loc"])
        if e["type"] == "extra_forbidden":
            name = str(e["loc"][-1])
            msg = f"unknown parameter (expected one of: {', '.join(fields) or 'none'}{_near(name, fields)})"
        elif e["type"] == "missing":
            msg = "is required but missing"
        else:
            msg = f"{e['msg']} (got {e.get('input')!r})"
        lines.append(f"{prefix}: {where}.params.{path}: {msg}")
    return lines


def _find_cycle(nodes: list[str], edges: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(n: str) -> list[str] | None:
        state[n] = 1
        stack.append(n)
        for m in sorted(edges.get(n, ())):
            if state.get(m) == 1:
                return stack[stack.index(m):] + [m]
            if m not in state and (c := visit(m)):
                return c
        stack.pop()
        state[n] = 2
        return None

    for n in nodes:
        if n not in state and (c := visit(n)):
            return c
    return None


def _security_problems(spec: GraphSpec, path: str) -> list[str]:
    """tcp beyond this machine needs CurveZMQ keys, and the key files named must load."""
    from ar_perception.errors import TransportError
    from ar_perception.keys import CurveKeys, is_loopback

    problems = []
    if spec.security is None:
        if spec.transport == "tcp" and not is_loopback(spec.host):
            problems.append(f"{path}: host: tcp on {spec.host} can be reached from other machines, so it needs "
                            "CurveZMQ (expected a 'security:' section with keys from `arp keys create`, "
                            "or host 127.0.0.1)")
        for i, n in enumerate(spec.nodes):
            transport, host = n.transport or spec.transport, n.host or spec.host
            if transport == "tcp" and not is_loopback(host) and (n.host or n.transport):
                problems.append(f"{path}: nodes[{i}] ({n.id}).host: tcp on {host} can be reached from other "
                                "machines, so it needs CurveZMQ (expected a 'security:' section with keys from "
                                "`arp keys create`, or host 127.0.0.1)")
        return problems
    sec = spec.security
    try:
        CurveKeys.load(sec.secret_key, sec.authorized_keys, sec.server_keys)
    except TransportError as e:
        problems.append(f"{path}: security: {e}")
    return problems


def apply_overrides(raw: dict[str, Any], sets: list[str], prefix: str) -> None:
    """Apply `--set ID.PARAM=VALUE` (VALUE read as YAML) to the raw graph."""
    problems = []
    nodes = {n.get("id"): n for n in raw.get("nodes") or [] if isinstance(n, dict)}
    for s in sets:
        key, eq, value = s.partition("=")
        nid, dot, param = key.partition(".")
        if not eq or not dot or not param:
            problems.append(f"--set {s!r}: expected ID.PARAM=VALUE")
            continue
        if nid not in nodes:
            problems.append(f"--set {s!r}: no node '{nid}'{_near(nid, [str(k) for k in nodes])}")
            continue
        target = nodes[nid].setdefault("params", {})
        *head, last = param.split(".")
        for h in head:
            target = target.setdefault(h, {})
        target[last] = yaml.safe_load(value) if value.strip() else ""
    if problems:
        raise GraphError([f"{prefix}: {p}" for p in problems])


def parse_graph(text: str, path: str = "<graph>", sets: list[str] | None = None,
                search_paths: list[str] | None = None) -> Graph:
    """Validate graph YAML text; raise GraphError with one line per problem."""
    from ar_perception.registry import NodeRefError, resolve
    from ar_perception.runtime.node import WILDCARD

    try:
        raw = yaml.safe_load(text)
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        pos = f":{mark.line + 1}:{mark.column + 1}" if mark else ""
        raise GraphError(f"{path}{pos}: YAML syntax error: {e.problem or e}"
                         + (f" ({e.context})" if e.context else "")) from None
    except yaml.YAMLError as e:
        raise GraphError(f"{path}: YAML error: {e}") from None
    if not isinstance(raw, dict):
        raise GraphError(f"{path}: a graph file must be a mapping with a 'nodes' list "
                         f"(got {type(raw).__name__})")
    raw = _substitute_env(raw)
    apply_overrides(raw, sets or [], path)
    try:
        spec = GraphSpec.model_validate(raw)
    except ValidationError as e:
        raise GraphError(_pydantic_lines(e, GraphSpec, raw, path)) from None

    graph = Graph(spec=spec, path=path, text=text, search_paths=list(search_paths or []))
    problems: list[str] = []
    ids = [n.id for n in spec.nodes]
    seen: set[str] = set()
    for i, n in enumerate(spec.nodes):
        where = f"nodes[{i}] ({n.id})"
        if n.id in seen:
            problems.append(f"{path}: {where}.id: duplicate id '{n.id}' (expected unique ids)")
        seen.add(n.id)
        if n.id == "timer":
            problems.append(f"{path}: {where}.id: 'timer' is reserved for timer sources")
        try:
            cls = resolve(n.node, graph.search_paths)
        except NodeRefError as e:
            problems.append(f"{path}: {where}.node: {e}")
            continue
        graph.classes[n.id] = cls
        out_kinds = cls.output_kinds()
        try:
            graph.params[n.id] = cls.Params.model_validate(n.params)
            out_kinds = cls.output_kinds_for(graph.params[n.id])
        except ValidationError as e:
            problems.extend(_param_lines(e, cls, where, path))
        except ArpError as e:  # outputs that depend on the parameters (a replay's recording) are unknown
            problems.append(f"{path}: {where}.params: {e}")
        graph.output_kinds[n.id] = out_kinds
        declared = list(out_kinds)
        outs = n.outputs if n.outputs is not None else declared
        for o in outs:
            if o not in declared:
                problems.append(f"{path}: {where}.outputs: '{n.node}' has no output '{o}' "
                                f"(expected one of: {', '.join(declared) or 'none'}{_near(o, declared)})")
        graph.outputs[n.id] = [o for o in outs if o in declared]
        in_ports = list(cls.input_kinds())
        if WILDCARD in in_ports and not n.inputs:
            problems.append(f"{path}: {where}.inputs: '{n.node}' needs at least one input (got none)")
        for port, inp in n.inputs.items():
            if cls.reliable_inputs and inp.queue.policy != "reliable":
                problems.append(f"{path}: {where}.inputs.{port}: '{n.node}' must never drop, so its inputs "
                                f"need queue: reliable (got {inp.queue.policy})")
            if port not in in_ports and WILDCARD not in in_ports:
                problems.append(f"{path}: {where}.inputs.{port}: '{n.node}' has no input '{port}' "
                                f"(expected one of: {', '.join(in_ports) or 'none'}{_near(port, in_ports)})")
        if n.port is not None and (n.transport or spec.transport) != "tcp":
            problems.append(f"{path}: {where}.port: fixed ports need tcp (set transport: tcp on the node "
                            f"or the graph; got {n.transport or spec.transport})")
        if n.sync is not None:
            if len(n.inputs) < 2:
                problems.append(f"{path}: {where}.sync: sync needs at least 2 inputs (got {len(n.inputs)})")
            if n.sync.mode == "latest" and n.sync.trigger not in n.inputs:
                problems.append(f"{path}: {where}.sync.trigger: sync 'latest' needs a trigger input "
                                f"(expected one of: {', '.join(n.inputs)}; got {n.sync.trigger!r})")

    edges: dict[str, set[str]] = {}
    for i, n in enumerate(spec.nodes):
        where = f"nodes[{i}] ({n.id})"
        cls = graph.classes.get(n.id)
        for port, inp in n.inputs.items():
            src_node, _, src_out = inp.source.partition("/")
            if TIMER_RE.match(inp.source):
                graph.wires.append(Wire(None, inp.source, n.id, port))
                if cls is not None and not compatible("Tick", cls.input_kind(port) or "Any"):
                    problems.append(f"{path}: {where}.inputs.{port}: a timer gives Tick, "
                                    f"but '{port}' takes {cls.input_kind(port)}")
                continue
            if src_node not in ids:
                problems.append(f"{path}: {where}.inputs.{port}: reads '{inp.source}', but there is no node "
                                f"'{src_node}' (expected one of: {', '.join(ids)}{_near(src_node, ids)})")
                continue
            if src_node not in graph.classes:
                continue  # its own error is already listed
            outs = graph.outputs[src_node]
            if src_out not in outs:
                problems.append(f"{path}: {where}.inputs.{port}: reads '{inp.source}', but node '{src_node}' "
                                f"has no output '{src_out}' (it has: {', '.join(outs) or 'none'}"
                                f"{_near(src_out, outs)})")
                continue
            edges.setdefault(src_node, set()).add(n.id)
            graph.wires.append(Wire(src_node, src_out, n.id, port))
            if cls is not None and cls.input_kind(port) is not None:
                out_kind = graph.output_kinds[src_node][src_out]
                in_kind = cls.input_kind(port)
                if not compatible(out_kind, in_kind):
                    problems.append(f"{path}: {where}.inputs.{port}: kind mismatch: '{inp.source}' gives "
                                    f"{out_kind}, but '{port}' takes {in_kind} (expected {in_kind}, got {out_kind})")
    problems.extend(_security_problems(spec, path))
    cycle = _find_cycle(ids, edges)
    if cycle:
        problems.append(f"{path}: nodes: cycle {' -> '.join(cycle)} (expected an acyclic graph)")
    if problems:
        raise GraphError(problems)
    return graph


def load_graph(path: str | os.PathLike[str], sets: list[str] | None = None) -> Graph:
    """Read and validate a graph file. Plugins resolve against the file's folder and its parent."""
    p = Path(path)
    try:
        text = p.read_text()
    except FileNotFoundError:
        raise GraphError(f"{p}: no such graph file") from None
    except (OSError, UnicodeDecodeError) as e:
        raise GraphError(f"{p}: cannot read graph file: {e}") from None
    here = p.resolve().parent
    return parse_graph(text, str(p), sets, [str(Path.cwd()), str(here), str(here.parent)])
