"""Graph rewrites for recording and replay: add a recorder on chosen topics; put replay nodes in place of a
graph's sources. Both work on the graph's YAML and return a validated Graph whose text is what runs."""

from __future__ import annotations

import fnmatch
import os
from pathlib import Path
from typing import Any

import yaml

from ar_perception.errors import GraphError, RecordingError
from ar_perception.graph.load import Graph, apply_overrides, parse_graph

__all__ = ["RECORDER_QUEUE", "graph_search_paths", "read_graph_text", "with_recorder", "for_replay", "topics_of"]

RECORDER_QUEUE = {"policy": "reliable", "size": 32}  # a deeper buffer absorbs the stall of closing a chunk
_RECORDER_REFS = ("recorder", "ar_perception.nodes.recorder:Recorder")


def graph_search_paths(path: str | os.PathLike[str] | None) -> list[str]:
    """Where plugins resolve for a graph file (as load_graph does): cwd, the file's folder and its parent."""
    paths = [str(Path.cwd())]
    if path is not None:
        here = Path(path).resolve().parent
        paths += [str(here), str(here.parent)]
    return paths


def read_graph_text(path: str | os.PathLike[str]) -> str:
    try:
        return Path(path).read_text()
    except FileNotFoundError:
        raise GraphError(f"{path}: no such graph file") from None
    except (OSError, UnicodeDecodeError) as e:
        raise GraphError(f"{path}: cannot read graph file: {e}") from None


def _raw(text: str, path: str, sets: list[str] | None) -> dict[str, Any]:
    parse_graph(text, path, sets, graph_search_paths(path if os.path.exists(path) else None))  # all errors first
    raw = yaml.safe_load(text)
    apply_overrides(raw, sets or [], path)
    return raw


def _dump(raw: dict[str, Any]) -> str:
    return yaml.safe_dump(raw, sort_keys=False, default_flow_style=None, width=120)


def topics_of(graph: Graph, node_ids: list[str] | None = None) -> list[str]:
    """Every topic (`node/output`) the graph's nodes (or the given ones) publish."""
    return [f"{n}/{o}" for n, outs in graph.outputs.items() if node_ids is None or n in node_ids for o in outs]


def _unique_id(raw: dict[str, Any], base: str) -> str:
    ids = {n.get("id") for n in raw.get("nodes") or []}
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


def _add_recorder(raw: dict[str, Any], out: str, topics: list[str], compression: str) -> str:
    rid = _unique_id(raw, "recorder")
    raw["nodes"].append(
        {
            "id": rid,
            "node": "recorder",
            "params": {"file": str(out), "compression": compression},
            "inputs": {t: {"source": t, "queue": dict(RECORDER_QUEUE)} for t in topics},
        }
    )
    return rid


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
    raw = _raw(text, path, sets)
    graph = parse_graph(_dump(raw), path, None, graph_search_paths(path))
    chosen = _choose(topics_of(graph), topics)
    _add_recorder(raw, str(out), chosen, compression)
    return parse_graph(_dump(raw), path, None, graph_search_paths(path)), chosen


def _is_recorder(node: dict[str, Any]) -> bool:
    return node.get("node") in _RECORDER_REFS


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
    try:
        raw = yaml.safe_load(text)  # safe: a recorded graph's python/* tags are refused, never run
    except yaml.YAMLError:
        raw = None
    if not isinstance(raw, dict) or not isinstance(raw.get("nodes"), list):
        parse_graph(text, path)  # raises the loader's own error
    apply_overrides(raw, sets or [], path)
    raw["nodes"] = [n for n in raw["nodes"] if not (isinstance(n, dict) and _is_recorder(n))]
    nodes = [n for n in raw["nodes"] if isinstance(n, dict)]
    sources = [n["id"] for n in nodes if not n.get("inputs")]
    if not sources:
        raise RecordingError(
            f"{path}: the graph has no source node (a node without inputs) to replace with the recording {file}"
        )
    problems: list[str] = []
    consumed: dict[str, list[str]] = {}  # topic -> where it is read
    for i, n in enumerate(raw["nodes"]):
        for port, spec in (n.get("inputs") or {}).items():
            src = spec if isinstance(spec, str) else (spec or {}).get("source", "")
            if src.split("/")[0] in sources:
                consumed.setdefault(src, []).append(f"nodes[{i}] ({n.get('id')}).inputs.{port}")
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
    if problems:
        raise RecordingError("\n".join(problems))
    plan: dict[str, Any] = {"replaced": {}, "dropped": []}
    replaced: list[dict[str, Any]] = []
    for n in raw["nodes"]:
        if n.get("id") not in sources:
            replaced.append(n)
            continue
        mine = {t.split("/", 1)[1]: t for t in recorded if t.split("/")[0] == n["id"]}
        if not mine:
            plan["dropped"].append(n["id"])  # nothing recorded and (checked above) nothing reads it
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
        new = {"id": n["id"], "node": "replay", "params": params}
        for key in ("transport", "host"):
            if key in n:
                new[key] = n[key]
        replaced.append(new)
        plan["replaced"][n["id"]] = sorted(mine.values())
    raw["nodes"] = replaced
    if speed == 0:
        for n in raw["nodes"]:
            for port, spec in list((n.get("inputs") or {}).items()):
                spec = {"source": spec} if isinstance(spec, str) else dict(spec)
                if str(spec["source"]).startswith("timer/"):
                    continue
                if (spec.get("queue") or "latest") != "reliable" and not (
                    isinstance(spec.get("queue"), dict) and spec["queue"].get("policy") == "reliable"
                ):
                    spec["queue"] = "reliable"
                    plan.setdefault("made_reliable", []).append(f"{n['id']}.{port}")
                n["inputs"][port] = spec
    search = graph_search_paths(path if os.path.exists(path) else None)
    graph = parse_graph(_dump(raw), path, None, search)
    if record is not None:
        others = [n for n in graph.outputs if n not in plan["replaced"]]
        available = topics_of(graph, others) or topics_of(graph)
        chosen = _choose(available, record_topics)
        _add_recorder(raw, str(record), chosen, "lz4")
        plan["recorded"] = chosen
        graph = parse_graph(_dump(raw), path, None, search)
    return graph, plan
