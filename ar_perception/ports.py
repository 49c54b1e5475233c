"""What a node class declares: its input and output ports with their kinds, and its parameters.

This is the static side of a node, the part a graph is checked against without running anything (graph/load.py,
registry.py). `ar_perception.Node` (runtime/node.py) extends it with the handlers the runtime calls.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

from pydantic import BaseModel, ConfigDict

from ar_perception.kinds import ANY

__all__ = ["NodeType", "NoParams", "ports", "WILDCARD"]

WILDCARD = "*"  # an input declared as "*" takes whatever input names the graph gives the node


class NoParams(BaseModel):
    model_config = ConfigDict(extra="forbid")


def ports(decl: Mapping[str, str] | tuple[str, ...] | list[str]) -> dict[str, str]:
    """Port declarations as {name: kind}; a bare tuple of names means kind Any."""
    if isinstance(decl, Mapping):
        return dict(decl)
    return {name: ANY for name in decl}


class NodeType:
    """A node class as a graph sees it. Write nodes by subclassing `ar_perception.Node`, which extends this."""

    inputs: ClassVar[Mapping[str, str] | tuple[str, ...]] = ()
    outputs: ClassVar[Mapping[str, str] | tuple[str, ...]] = ()
    Params: ClassVar[type[BaseModel]] = NoParams
    reliable_inputs: ClassVar[bool] = False

    @classmethod
    def input_kinds(cls) -> dict[str, str]:
        return ports(cls.inputs)

    @classmethod
    def output_kinds(cls) -> dict[str, str]:
        return ports(cls.outputs)

    @classmethod
    def input_kind(cls, port: str) -> str | None:
        """The kind input `port` takes, or None when the node has no such input."""
        kinds = cls.input_kinds()
        return kinds.get(port, kinds.get(WILDCARD))

    @classmethod
    def output_kinds_for(cls, params: BaseModel) -> dict[str, str]:
        """The outputs of this node configured with `params`; by default the declared `outputs`."""
        return cls.output_kinds()

    @classmethod
    def is_source(cls) -> bool:
        return not cls.input_kinds()
