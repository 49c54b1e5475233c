"""Graph rewrites for recording and replay: add a recorder on chosen topics; put replay nodes in place of a
graph's sources. Both transform the validated GraphSpec and return the Graph built from it, whose text (the
spec as YAML) is what runs and what a recording stores."""

from __future__ import annotations

import fnmatch
import os
from typing import Any

import yaml

from ar_perception.errors import RecordingError
from ar_perception.graph.load import Graph, graph_search_paths, parse_graph, parse_spec
from ar_perception.graph.spec import GraphSpec, InputSpec, NodeSpec, QueueSpec

__all__ = ["RECORDER_QUEUE", "with_recorder", "for_replay", "topics_of"]

RECORDER_QUEUE = {"policy": "reliable", "size": 32}  # a deeper buffer absorbs the stall of closing a chunk
_RECORDER_REFS = ("recorder", "ar_perception.nodes.recorder:Recorder")


def _build(spec: GraphSpec, path: str) -> Graph:
    """The Graph of a transformed spec, checked in full. Its text is the spec as set (defaults left out), so a
    recording's stored graph reads back to the same spec."""
    text = yaml.safe_dump(spec.model_dump(exclude_unset=True), sort_keys=False, default_flow_style=None, width=120)
    return parse_graph(text, path, None, graph_search_paths(path if os.path.exists(path) else None))


def _with_nodes(spec: GraphSpec, nodes: list[NodeSpec]) -> GraphSpec:
    return spec.model_copy(update={"nodes": nodes})


def topics_of(graph: Graph, node_ids: list[str] | None = None) -> list[str]:
    """Every topic (`node/output`) the graph's nodes (or the given ones) publish."""
    return [f"{n}/{o}" for n, outs in graph.outputs.items() if node_ids is None or n in node_ids for o in outs]


def _unique_id(spec: GraphSpec, base: str) -> str:
    ids = {n.id for n in spec.nodes}
    if base not in ids:
        return base
    return next(f"{base}_{i}" for i in range(2, 10_000) if f"{base}_{i}" not in ids)


def _choose(available: list[str], patterns: list[str] | None) -> list[str]:
    if not patterns:
        return list(available)
    chosen: list[str] = []
    for p in patterns:
        hits = [t for t in available if fnmatch.fnmatchcase(t, p)]
        if not hits:
            raise RecordingError(f"--topics {p}: no topic of the graph matches (it has: {', '.join(available)})")
        chosen += [t for t in hits if t not in chosen]
    return chosen


def _add_recorder(spec: GraphSpec, out: str | os.PathLike[str], topics: list[str], compression: str) -> GraphSpec:
    queue = QueueSpec.model_validate(RECORDER_QUEUE)
    recorder = NodeSpec(
        id=_unique_id(spec, "recorder"),
        node="recorder",
        params={"file": str(out), "compression": compression},
        inputs={t: InputSpec(source=t, queue=queue) for t in topics},
    )
    return _with_nodes(spec, [*spec.nodes, recorder])


def with_recorder(
    text: str,
    path: str,
    out: str | os.PathLike[str],
    *,
    topics: list[str] | None = None,
    sets: list[str] | None = None,
    compression: str = "lz4",
) -> tuple[Graph, list[str]]:
    """The graph plus a recorder of `topics` (glob patterns; default: every topic) with reliable queues."""
    graph = parse_graph(text, path, sets, graph_search_paths(path if os.path.exists(path) else None))
    chosen = _choose(topics_of(graph), topics)
    return _build(_add_recorder(graph.spec, out, chosen, compression), path), chosen


def _missing_topics(
    spec: GraphSpec, sources: list[str], recorded: dict[str, str], path: str, file: str | os.PathLike[str]
) -> list[str]:
    """One line per input that reads a topic of a replaced source which the recording does not hold."""
    consumed: dict[str, list[str]] = {}  # topic -> where it is read
    for i, n in enumerate(spec.nodes):
        for port, inp in n.inputs.items():
            if inp.source.split("/")[0] in sources:
                consumed.setdefault(inp.source, []).append(f"nodes[{i}] ({n.id}).inputs.{port}")
    problems: list[str] = []
    for topic, places in consumed.items():
        if topic not in recorded:
            node = topic.split("/")[0]
            of_node = sorted(t for t in recorded if t.startswith(node + "/"))
            for where in places:
                problems.append(
                    f"{path}: {where}: reads '{topic}', which the recording {file} does not hold "
                    f"(recorded topics of '{node}': {', '.join(of_node) or 'none'}; "
                    f"all recorded topics: {', '.join(sorted(recorded)) or 'none'})"
                )
    return problems


def _reliable(n: NodeSpec, made: list[str]) -> NodeSpec:
    """The node with every input but a timer's on a reliable queue; `made` gets each one changed."""
    changed = {
        port: inp.model_copy(update={"queue": QueueSpec.model_validate("reliable")})
        for port, inp in n.inputs.items()
        if inp.queue.policy != "reliable" and not inp.source.startswith("timer/")
    }
    made += [f"{n.id}.{port}" for port in changed]
    return n.model_copy(update={"inputs": {**n.inputs, **changed}}) if changed else n


def for_replay(
    text: str,
    path: str,
    file: str | os.PathLike[str],
    recorded: dict[str, str],
    *,
    speed: float = 1.0,
    loop: bool = False,
    start: float = 0.0,
    end: float | None = None,
    restamp: bool = False,
    record: str | os.PathLike[str] | None = None,
    record_topics: list[str] | None = None,
    sets: list[str] | None = None,
) -> tuple[Graph, dict[str, Any]]:
    """The graph with each source node replaced by a replay node of the same id that publishes the recorded
    topics of that source, so every wire and topic name stays the same. `recorded` is {topic: kind}.

    At speed 0 every queue becomes reliable, so that nothing is dropped and outputs are deterministic: a sync
    fed by reliable queues only is lossless (it waits for a trailing input however far behind in capture
    time, and holds the others back by backpressure; runtime/sync.py).
    `record` adds a recorder of the graph's other outputs. Returns the graph and a description of the plan.
    """
    # The schema only: the sources about to be replaced may be nodes this machine cannot run (a camera).
    spec = parse_spec(text, path, sets)  # safe YAML: a recorded graph's python/* tags are refused, never run
    kept = _with_nodes(spec, [n for n in spec.nodes if n.node not in _RECORDER_REFS])
    sources = [n.id for n in kept.nodes if not n.inputs]
    if not sources:
        raise RecordingError(
            f"{path}: the graph has no source node (a node without inputs) to replace with the recording {file}"
        )
    problems = _missing_topics(kept, sources, recorded, path, file)
    if problems:
        raise RecordingError("\n".join(problems))
    plan: dict[str, Any] = {"replaced": {}, "dropped": []}
    nodes: list[NodeSpec] = []
    for n in kept.nodes:
        if n.id not in sources:
            nodes.append(n)
            continue
        mine = {t.split("/", 1)[1]: t for t in recorded if t.split("/")[0] == n.id}
        if not mine:
            plan["dropped"].append(n.id)  # nothing recorded and (checked above) nothing reads it
            continue
        params: dict[str, Any] = {
            "file": str(file),
            "topics": mine,
            "speed": speed,
            "loop": loop,
            "start": start,
            "restamp": restamp,
        }
        if end is not None:
            params["end"] = end
        where = {k: getattr(n, k) for k in ("transport", "host") if k in n.model_fields_set}
        nodes.append(NodeSpec(id=n.id, node="replay", params=params, **where))
        plan["replaced"][n.id] = sorted(mine.values())
    if speed == 0:
        made: list[str] = []
        nodes = [_reliable(n, made) for n in nodes]
        if made:
            plan["made_reliable"] = made
    replayed = _with_nodes(spec, nodes)
    graph = _build(replayed, path)
    if record is not None:
        others = [n for n in graph.outputs if n not in plan["replaced"]]
        chosen = _choose(topics_of(graph, others) or topics_of(graph), record_topics)
        plan["recorded"] = chosen
        graph = _build(_add_recorder(replayed, record, chosen, "lz4"), path)
    return graph, plan
