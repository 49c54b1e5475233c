"""The Node base class: declare ports and parameters, write `on_input`; the runtime owns the rest."""

from __future__ import annotations

import logging
from typing import Any, ClassVar, Iterator, Mapping

from pydantic import BaseModel, ConfigDict

from ar_perception.kinds import ANY
from ar_perception.runtime.msg import Msg

__all__ = ["Node", "NoParams", "Outputs", "ports"]

Outputs = Mapping[str, Msg] | None


class NoParams(BaseModel):
    model_config = ConfigDict(extra="forbid")


def ports(decl: Mapping[str, str] | tuple[str, ...] | list[str]) -> dict[str, str]:
    """Port declarations as {name: kind}; a bare tuple of names means kind Any."""
    if isinstance(decl, Mapping):
        return dict(decl)
    return {name: ANY for name in decl}


class Node:
    """Base class of every node.

    A processing node declares `inputs` and `outputs` ({port: kind}, or a tuple of names for kind Any)
    and implements `on_input` (or `on_sync` when the graph syncs its inputs). A source node has no
    inputs and implements `produce`, a generator of {output: Msg}; when it returns, the source has ended.
    Parameters are a nested pydantic model `Params` (extra="forbid"); load weights in `setup`.
    """

    inputs: ClassVar[Mapping[str, str] | tuple[str, ...]] = ()
    outputs: ClassVar[Mapping[str, str] | tuple[str, ...]] = ()
    Params: ClassVar[type[BaseModel]] = NoParams

    def __init__(self, params: BaseModel | Mapping[str, Any] | None = None, *, node_id: str | None = None):
        self.id = node_id or type(self).__name__.lower()
        self.params = params if isinstance(params, BaseModel) else self.Params(**(params or {}))
        self.log = logging.getLogger(f"arp.node.{self.id}")
        self.stopping = False  # set by the runtime when a graceful stop was asked for

    @classmethod
    def input_kinds(cls) -> dict[str, str]:
        return ports(cls.inputs)

    @classmethod
    def output_kinds(cls) -> dict[str, str]:
        return ports(cls.outputs)

    @classmethod
    def is_source(cls) -> bool:
        return not cls.input_kinds()

    def setup(self) -> None:
        """Load models and open devices. Runs once in the node's own process, before any message."""

    def on_input(self, name: str, msg: Msg) -> Outputs:
        raise NotImplementedError(f"{type(self).__name__} does not handle input {name!r}")

    def on_sync(self, msgs: dict[str, Msg]) -> Outputs:
        """Called with one message per input when the graph gives this node a `sync` policy."""
        raise NotImplementedError(f"{type(self).__name__} does not support synced inputs")

    def produce(self) -> Iterator[Outputs]:
        """Sources: yield {output: Msg} until the source ends."""
        raise NotImplementedError(f"{type(self).__name__} is not a source")
        yield  # pragma: no cover

    def teardown(self) -> None:
        """Release devices and files. Runs once at stop, also after an error."""
