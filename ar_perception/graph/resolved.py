"""A graph as loaded: its spec with each node's class, parameters and outputs, and the wires between nodes."""

from __future__ import annotations

from dataclasses import dataclass, field

from pydantic import BaseModel

from ar_perception.graph.spec import GraphSpec, NodeSpec
from ar_perception.ports import NodeType


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
