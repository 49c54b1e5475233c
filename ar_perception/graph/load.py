"""Read a graph file, substitute ${env:X,default}, validate it and resolve its nodes and wires.

Every problem becomes one line `FILE: nodes[i] (ID).FIELD: what is wrong (expected ..., got ...)`;
all problems are collected before raising one GraphError.
"""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from ar_perception.errors import ArpError, GraphError, TransportError
from ar_perception.graph.spec import TIMER_RE, GraphSpec, NodeSpec
from ar_perception.keys import is_loopback, load_authorized, load_public, load_secret
from ar_perception.kinds import compatible
from ar_perception.ports import WILDCARD, NodeType
from ar_perception.registry import NodeRefError, resolve

__all__ = [
    "Graph",
    "Wire",
    "load_graph",
    "parse_graph",
    "parse_spec",
    "apply_overrides",
    "read_graph_text",
    "graph_search_paths",
]

_ENV_RE = re.compile(r"\$\{env:([A-Za-z_][A-Za-z0-9_]*)(?:,([^}]*))?\}")
_MAX_VALUES = 100_000  # YAML aliases that repeat each other expand exponentially ("billion laughs")
_MAX_DEPTH = 64


class _DuplicateKey(yaml.MarkedYAMLError):
    pass


class _Loader(yaml.SafeLoader):
    """SafeLoader that refuses a key given twice in one mapping, where plain YAML lets the last silently win."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        first: dict[Any, yaml.Node] = {}
        for key_node, _ in node.value:
            if not isinstance(key_node, yaml.ScalarNode) or key_node.tag == "tag:yaml.org,2002:merge":
                continue  # keys merged in with <<: may be overridden on purpose
            key = self.construct_object(key_node)
            if key in first:
                raise _DuplicateKey(
                    problem=f"duplicate key '{key}' (expected each key once per mapping, got it "
                    f"again; the first is on line {first[key].start_mark.line + 1})",
                    problem_mark=key_node.start_mark,
                )
            first[key] = key_node
        return super().construct_mapping(node, deep=deep)


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
    classes: dict[str, type[NodeType]] = field(default_factory=dict)
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


def _a(value: Any) -> str:
    """How a message names a value a user wrote: its repr, or what it is when that would be long."""
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, (list, tuple)):
        return "a list"
    r = repr(value)
    return r if len(r) <= 80 else f"{r[:60]}... ({len(r)} characters)"


def _substitute_env(raw: dict[str, Any], path: str) -> dict[str, Any]:
    """Expand ${env:NAME} and ${env:NAME,DEFAULT} in every string; refuse a file whose aliases explode."""
    problems: list[str] = []
    count = 0

    def expand(value: str, loc: tuple[Any, ...]) -> Any:
        def sub(m: re.Match[str]) -> str:
            if m.group(1) in os.environ:
                return os.environ[m.group(1)]
            if m.group(2) is not None:
                return m.group(2)
            problems.append(
                f"{path}: {_where(raw, loc)}: environment variable {m.group(1)} is not set and has "
                f"no default (expected it set, or a default as in ${{env:{m.group(1)},DEFAULT}})"
            )
            return m.group(0)

        full = _ENV_RE.fullmatch(value)
        out = _ENV_RE.sub(sub, value)
        if not (full and out.strip()):
            return out
        # A value that is only a reference takes the YAML type of what it expands to (numbers stay numbers).
        try:
            return yaml.safe_load(out)
        except yaml.YAMLError:
            return out

    def walk(value: Any, loc: tuple[Any, ...]) -> Any:
        nonlocal count
        count += 1
        if count > _MAX_VALUES:
            raise GraphError(
                f"{path}: the file expands to more than {_MAX_VALUES} values (expected a graph; "
                "YAML aliases that repeat each other grow exponentially)"
            )
        if len(loc) > _MAX_DEPTH:
            raise GraphError(
                f"{path}: {_where(raw, loc[:4])}: nested too deeply (expected at most {_MAX_DEPTH} levels, got more)"
            )
        if isinstance(value, str):
            return expand(value, loc)
        if isinstance(value, dict):
            return {k: walk(v, (*loc, k)) for k, v in value.items()}
        if isinstance(value, list):
            return [walk(v, (*loc, i)) for i, v in enumerate(value)]
        return value

    out = walk(raw, ())
    if problems:
        raise GraphError(problems)
    return out


def _where(raw: dict[str, Any], loc: tuple[Any, ...]) -> str:
    """Turn a pydantic location ('nodes', 2, 'params', 'fps') into 'nodes[2] (cam).params.fps'."""
    parts: list[str] = []
    nodes = raw.get("nodes") if isinstance(raw, dict) else None
    i = 0
    while i < len(loc):
        key = loc[i]
        if i == 0 and key == "nodes" and i + 1 < len(loc) and isinstance(loc[i + 1], int):
            idx = loc[i + 1]
            node = nodes[idx] if isinstance(nodes, list) and idx < len(nodes) else None
            nid = node.get("id") if isinstance(node, dict) else None
            parts.append(f"nodes[{idx}] ({nid})" if isinstance(nid, (str, int)) else f"nodes[{idx}]")
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

    target: type[BaseModel] | None = model
    for key in loc[:-1]:
        if isinstance(key, int) or target is None:
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
    return list(target.model_fields) if target is not None else []


# What a section of the graph may be, for a value that is none of it (a pydantic model_type error).
_SHAPES = {
    "NodeSpec": ("not a node", "a mapping with id and node"),
    "InputSpec": ("not an input", "NODE/OUTPUT, a timer or a mapping with source and queue"),
    "QueueSpec": ("not a queue", "latest, reliable, fifo, fifo:N or a mapping with policy and size"),
    "SyncSpec": ("not a sync", "a mapping with mode: exact, approximate or latest"),
    "RestartSpec": ("not a restart policy", "never, on-failure or a mapping with policy and max"),
    "SecuritySpec": ("not a security section", "a mapping with secret_key and authorized_keys"),
}
_PATTERNS = {
    "id": "expected letters, digits, _ and -, starting with a letter or _",
    "source": "expected NODE/OUTPUT, timer/hz/RATE or timer/ms/PERIOD",
}


def _pydantic_lines(
    err: ValidationError, model: type[BaseModel], raw: Any, prefix: str, loc_prefix: tuple[Any, ...] = ()
) -> list[str]:
    lines = []
    for e in err.errors():
        loc = tuple(loc_prefix) + tuple(e["loc"])
        where = _where(raw, loc)
        got = e.get("input")
        ctx = e.get("ctx") or {}
        if e["type"] == "extra_forbidden":
            valid = _fields_at(model, tuple(e["loc"]))
            msg = (
                f"unknown key '{loc[-1]}' (expected one of: {', '.join(valid)}{_near(str(loc[-1]), valid)})"
                if valid
                else f"unknown key '{loc[-1]}'"
            )
            where = _where(raw, loc[:-1])
        elif e["type"] == "invalid_key" or loc and loc[-1] == "[key]":  # a key that is not a string: `5: x`
            key = loc[-1] if e["type"] == "invalid_key" else loc[-2]
            msg = f"key {key!r} is not a name (expected a string, got {type(key).__name__})"
            where = _where(raw, loc[:-1] if e["type"] == "invalid_key" else loc[:-2])
        elif e["type"] == "missing":
            msg = "is required but missing"
        elif e["type"] == "model_type" and ctx.get("class_name") in _SHAPES:
            what, shape = _SHAPES[ctx["class_name"]]
            msg = f"{what} (expected {shape}, got {_a(got)})"
        elif e["type"] == "string_pattern_mismatch" and str(loc[-1]) in _PATTERNS:
            msg = f"not a valid {loc[-1]} ({_PATTERNS[str(loc[-1])]}, got {got!r})"
        elif e["type"] == "too_short" and loc == ("nodes",):
            msg = "the graph has no nodes (expected at least one, got an empty list)"
        elif e["type"] == "value_error":  # our own validators: the message already says what it got
            msg = str(ctx.get("error") or e["msg"].removeprefix("Value error, "))
        else:
            msg = f"{e['msg']} (got {_a(got)})"
        lines.append(f"{prefix}: {where}: {msg}" if where else f"{prefix}: {msg}")
    return lines


def _param_lines(err: ValidationError, cls: type[NodeType], at: str) -> list[str]:
    lines = []
    fields = list(cls.Params.model_fields)
    for e in err.errors():
        path = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in e["loc"])[1:]
        if e["type"] == "extra_forbidden":
            name = str(e["loc"][-1])
            msg = f"unknown parameter (expected one of: {', '.join(fields) or 'none'}{_near(name, fields)})"
        elif e["type"] == "missing":
            msg = "is required but missing"
        elif e["type"] == "value_error":
            msg = str((e.get("ctx") or {}).get("error") or e["msg"].removeprefix("Value error, "))
        else:
            msg = f"{e['msg']} (got {_a(e.get('input'))})"
        lines.append(f"{at}.params.{path}: {msg}")
    return lines


def _find_cycle(nodes: list[str], edges: dict[str, set[str]]) -> list[str] | None:
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


def _security_problems(spec: GraphSpec, path: str) -> list[str]:
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


def apply_overrides(raw: dict[str, Any], sets: list[str], prefix: str) -> None:
    """Apply `--set ID.PARAM=VALUE` (VALUE read as YAML) to the raw graph."""
    problems = []
    listed = raw.get("nodes")
    nodes = (
        {n["id"]: n for n in listed if isinstance(n, dict) and isinstance(n.get("id"), str)}
        if isinstance(listed, list)
        else {}
    )
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
        inside = "params"
        *head, last = param.split(".")
        for h in head:
            if not isinstance(target, dict):
                break
            target, inside = target.setdefault(h, {}), f"{inside}.{h}"
        if not isinstance(target, dict):
            problems.append(
                f"--set {s!r}: cannot set a parameter inside {nid}.{inside} (expected a mapping, got {_a(target)})"
            )
            continue
        try:
            target[last] = yaml.safe_load(value) if value.strip() else ""
        except yaml.YAMLError:
            target[last] = value
    if problems:
        raise GraphError([f"{prefix}: {p}" for p in problems])


def _read_yaml(text: str, path: str) -> dict[str, Any]:
    """The YAML mapping of a graph file; a syntax error names its line and column."""
    try:
        raw = yaml.load(text, Loader=_Loader)  # a SafeLoader
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        pos = f":{mark.line + 1}:{mark.column + 1}" if mark else ""
        kind = "" if isinstance(e, _DuplicateKey) else "YAML syntax error: "
        start = e.context_mark if e.context_mark and mark and e.context_mark.line != mark.line else None
        raise GraphError(
            f"{path}{pos}: {kind}{e.problem or e}"
            + (
                f" ({e.context}" + (f" at {start.line + 1}:{start.column + 1}" if start else "") + ")"
                if e.context
                else ""
            )
        ) from None
    except yaml.YAMLError as e:
        raise GraphError(f"{path}: YAML error: {e}") from None
    except RecursionError:
        raise GraphError(f"{path}: nested too deeply (expected at most {_MAX_DEPTH} levels, got more)") from None
    if not isinstance(raw, dict):
        got = "an empty file" if raw is None else _a(raw)
        raise GraphError(f"{path}: a graph file must be a mapping with a 'nodes' list (got {got})")
    return raw


def _id_problems(n: NodeSpec, at: str, seen: set[str]) -> list[str]:
    problems = []
    if n.id in seen:
        problems.append(f"{at}.id: duplicate id '{n.id}' (expected unique ids)")
    seen.add(n.id)
    if n.id == "timer":
        problems.append(f"{at}.id: 'timer' is reserved for timer sources (expected another id, got 'timer')")
    return problems


def _node_problems(graph: Graph, n: NodeSpec, cls: type[NodeType], at: str) -> list[str]:
    """One node checked against its class; records its class, parameters and outputs in `graph` for the wires."""
    problems = []
    graph.classes[n.id] = cls
    out_kinds = cls.output_kinds()
    try:
        graph.params[n.id] = cls.Params.model_validate(n.params)
        out_kinds = cls.output_kinds_for(graph.params[n.id])
    except ValidationError as e:
        problems.extend(_param_lines(e, cls, at))
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
                f"(expected one of: {', '.join(declared) or 'none'}{_near(o, declared)})"
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
                f"(expected one of: {', '.join(in_ports) or 'none'}{_near(port, in_ports)})"
            )
    return problems


def _sync_problems(n: NodeSpec, at: str) -> list[str]:
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


def _wire_problems(graph: Graph) -> tuple[list[str], dict[str, set[str]]]:
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
                    f"'{src_node}' (expected one of: {', '.join(ids)}{_near(src_node, ids)})"
                )
                continue
            if src_node not in graph.classes:
                continue  # its own error is already listed
            outs = graph.outputs[src_node]
            if src_out not in outs:
                problems.append(
                    f"{at}.inputs.{port}: reads '{inp.source}', but node '{src_node}' "
                    f"has no output '{src_out}' (it has: {', '.join(outs) or 'none'}"
                    f"{_near(src_out, outs)})"
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


def parse_spec(text: str, path: str = "<graph>", sets: list[str] | None = None) -> GraphSpec:
    """The graph's schema alone: YAML read, ${env:...} substituted, `sets` applied, then validated. Nodes are
    not resolved (parse_graph does that), so this reads a graph whose nodes are not all available here."""
    raw = _substitute_env(_read_yaml(text, path), path)
    apply_overrides(raw, sets or [], path)
    try:
        return GraphSpec.model_validate(raw)
    except ValidationError as e:
        raise GraphError(_pydantic_lines(e, GraphSpec, raw, path)) from None


def parse_graph(
    text: str, path: str = "<graph>", sets: list[str] | None = None, search_paths: list[str] | None = None
) -> Graph:
    """Validate graph YAML text; raise GraphError with one line per problem."""
    spec = parse_spec(text, path, sets)
    graph = Graph(spec=spec, path=path, text=text, search_paths=list(search_paths or []))
    problems: list[str] = []
    seen: set[str] = set()
    for i, n in enumerate(spec.nodes):
        at = f"{path}: nodes[{i}] ({n.id})"
        problems.extend(_id_problems(n, at, seen))
        try:
            cls = resolve(n.node, graph.search_paths)
        except NodeRefError as e:
            problems.append(f"{at}.node: {e}")
            continue  # the rest of the node is checked against its class
        problems.extend(_node_problems(graph, n, cls, at))
        problems.extend(_sync_problems(n, at))
    wire_problems, edges = _wire_problems(graph)
    problems.extend(wire_problems)
    problems.extend(_security_problems(spec, path))
    cycle = _find_cycle([n.id for n in spec.nodes], edges)
    if cycle:
        problems.append(f"{path}: nodes: cycle {' -> '.join(cycle)} (expected an acyclic graph)")
    if problems:
        raise GraphError(problems)
    return graph


def read_graph_text(path: str | os.PathLike[str]) -> str:
    """The text of a graph file; a file that is missing, unreadable or not UTF-8 is a GraphError."""
    p = Path(path)
    try:
        data = p.read_bytes()
    except FileNotFoundError:
        raise GraphError(f"{p}: no such graph file") from None
    except OSError as e:
        raise GraphError(f"{p}: cannot read graph file: {e}") from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = data[: e.start].count(b"\n") + 1
        raise GraphError(
            f"{p}:{line}: not UTF-8 text (expected a UTF-8 YAML file, got byte "
            f"0x{data[e.start]:02x} at offset {e.start})"
        ) from None


def graph_search_paths(path: str | os.PathLike[str] | None) -> list[str]:
    """Where plugins resolve for a graph file: the current folder, the file's folder and its parent (only the
    current folder for a graph that is no file, such as one stored in a recording)."""
    paths = [str(Path.cwd())]
    if path is not None:
        here = Path(path).resolve().parent
        paths += [str(here), str(here.parent)]
    return paths


def load_graph(path: str | os.PathLike[str], sets: list[str] | None = None) -> Graph:
    """Read and validate a graph file. Plugins resolve against the file's folder and its parent."""
    return parse_graph(read_graph_text(path), str(Path(path)), sets, graph_search_paths(path))
