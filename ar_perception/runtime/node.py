"""The Node base class: declare ports and parameters, write `on_input`; the runtime owns the rest."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

from pydantic import BaseModel

from ar_perception.ports import WILDCARD, NodeType, NoParams, ports
from ar_perception.runtime.msg import Msg

__all__ = ["Node", "NoParams", "Outputs", "Emitted", "ports", "WILDCARD"]

Outputs = Mapping[str, Msg] | None
# What a handler may return: one set of outputs, or an iterator of them (each is published as it is yielded).
Emitted = Outputs | Iterable[Outputs]


class Node(NodeType):
    """Base class of every node.

    A processing node declares `inputs` and `outputs` ({port: kind}, or a tuple of names for kind Any)
    and implements `on_input` (or `on_sync` when the graph syncs its inputs). A source node has no
    inputs and implements `produce`, a generator of {output: Msg}; when it returns, the source has ended.
    A handler that streams (an LLM answering token by token) may instead be a generator of {output: Msg}:
    each yielded set is published at once, and `pending(input)` tells it whether newer messages wait.
    Parameters are a nested pydantic model `Params` (extra="forbid"); load weights in `setup`.

    An input named "*" takes any input name the graph wires (a recorder). A node whose outputs depend on
    its parameters (a replay) overrides `output_kinds_for`. `reliable_inputs` makes a graph that feeds
    the node through a lossy queue fail validation. `graph_text` holds the YAML of the running graph.
    These declarations live in `NodeType` (ports.py), the part of a node a graph is checked against.
    """

    def __init__(self, params: BaseModel | Mapping[str, Any] | None = None, *, node_id: str | None = None):
        self.id = node_id or type(self).__name__.lower()
        self.params = params if isinstance(params, BaseModel) else self.Params(**(params or {}))
        self.log = logging.getLogger(f"arp.node.{self.id}")
        self.stopping = False  # set by the runtime when a graceful stop was asked for
        self.graph_text = ""  # set by the runtime
        self._pending: Callable[[str], int] | None = None  # installed by the runtime

    def setup(self) -> None:
        """Load models and open devices. Runs once in the node's own process, before any message."""

    def pending(self, name: str) -> int:
        """How many messages wait on input `name` behind the one being handled (0 outside a runtime)."""
        pending = getattr(self, "_pending", None)
        return pending(name) if pending is not None else 0

    def on_input(self, name: str, msg: Msg) -> Emitted:
        raise NotImplementedError(f"{type(self).__name__} does not handle input {name!r}")

    def on_sync(self, msgs: dict[str, Msg]) -> Emitted:
        """Called with one message per input when the graph gives this node a `sync` policy."""
        raise NotImplementedError(f"{type(self).__name__} does not support synced inputs")

    def produce(self) -> Iterator[Outputs]:
        """Sources: yield {output: Msg} until the source ends.

        A source that waits for something rare (a question, a trigger) yields None while it waits: the
        supervisor counts a node with no progress for its health timeout as hung and restarts it.
        """
        raise NotImplementedError(f"{type(self).__name__} is not a source")
        yield  # pragma: no cover

    def wait_until(self, deadline: float) -> Iterator[None]:
        """Sources: `yield from self.wait_until(t)` sleeps until `time.monotonic()` reaches t. Long waits
        yield None every 0.25 s, which shows the supervisor progress; it returns early when the graph
        stops (check `self.stopping` after it)."""
        while not self.stopping and (delay := deadline - time.monotonic()) > 0:
            time.sleep(min(delay, 0.25))
            if deadline - time.monotonic() > 0:
                yield None

    def teardown(self) -> None:
        """Release devices and files. Runs once at stop, also after an error."""
