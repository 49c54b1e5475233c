"""Read a graph file, substitute ${env:X,default}, validate it and resolve its nodes and wires.

Every problem becomes one line `FILE: nodes[i] (ID).FIELD: what is wrong (expected ..., got ...)`;
all problems are collected before raising one GraphError.
"""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import ValidationError

from ar_perception.errors import GraphError
from ar_perception.graph.checks import (
    find_cycle,
    id_problems,
    node_problems,
    security_problems,
    sync_problems,
    wire_problems,
)
from ar_perception.graph.problems import pydantic_lines
from ar_perception.graph.resolved import Graph, Wire
from ar_perception.graph.spec import GraphSpec
from ar_perception.graph.yaml_text import apply_overrides, read_graph_text, read_yaml, substitute_env
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


def parse_spec(text: str, path: str = "<graph>", sets: list[str] | None = None) -> GraphSpec:
    """The graph's schema alone: YAML read, ${env:...} substituted, `sets` applied, then validated. Nodes are
    not resolved (parse_graph does that), so this reads a graph whose nodes are not all available here."""
    raw = substitute_env(read_yaml(text, path), path)
    apply_overrides(raw, sets or [], path)
    try:
        return GraphSpec.model_validate(raw)
    except ValidationError as e:
        raise GraphError(pydantic_lines(e, GraphSpec, raw, path)) from None


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
        problems.extend(id_problems(n, at, seen))
        try:
            cls = resolve(n.node, graph.search_paths)
        except NodeRefError as e:
            problems.append(f"{at}.node: {e}")
            continue  # the rest of the node is checked against its class
        problems.extend(node_problems(graph, n, cls, at))
        problems.extend(sync_problems(n, at))
    wiring_problems, edges = wire_problems(graph)
    problems.extend(wiring_problems)
    problems.extend(security_problems(spec, path))
    cycle = find_cycle([n.id for n in spec.nodes], edges)
    if cycle:
        problems.append(f"{path}: nodes: cycle {' -> '.join(cycle)} (expected an acyclic graph)")
    if problems:
        raise GraphError(problems)
    return graph


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
