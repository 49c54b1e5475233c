"""Run a node class on given messages without sockets or processes, in milliseconds (for tests)."""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Iterable, Mapping
from typing import Any, Generic, TypeVar

from ar_perception.errors import NodeError
from ar_perception.graph.spec import SyncSpec
from ar_perception.runtime.msg import Msg
from ar_perception.runtime.node import Node
from ar_perception.runtime.publish import Publisher, check_input
from ar_perception.runtime.sync import Synchronizer

__all__ = ["run_node", "run_source", "NodeHarness"]

N = TypeVar("N", bound=Node)


class NodeHarness(Generic[N]):
    """A node set up in this process; `feed` one message, get its stamped outputs back."""

    def __init__(
        self,
        cls: type[N],
        params: Mapping[str, Any] | None = None,
        *,
        node_id: str = "node",
        strict: bool = True,
        sync: Mapping[str, Any] | None = None,
    ):
        self.node = cls(cls.Params.model_validate(dict(params or {})), node_id=node_id)
        self.strict = strict
        self.pub = Publisher(
            node_id, cls.output_kinds_for(self.node.params), strict, logging.getLogger(f"arp.{node_id}")
        )
        self.sync = Synchronizer(SyncSpec(**sync), list(cls.input_kinds())) if sync else None
        self.dropped: dict[str, int] = {}
        self.backlog: deque[tuple[str, Msg]] = deque()  # messages that "arrived" but wait their turn
        self.node._pending = lambda port: sum(1 for n, _ in self.backlog if n == port)
        self.node.setup()

    def feed_all(self, items: Iterable[tuple[str, Msg]]) -> list[tuple[str, Msg]]:
        """Messages that all arrive at once: while one is handled, the node sees the rest as `pending`."""
        self.backlog.extend(items)
        out: list[tuple[str, Msg]] = []
        while self.backlog:
            out.extend(self.feed(*self.backlog.popleft()))
        return out

    def feed(self, name: str, msg: Msg) -> list[tuple[str, Msg]]:
        kinds = self.node.input_kinds()
        want = self.node.input_kind(name)
        if want is None:
            raise NodeError(f"node '{self.node.id}' has no input '{name}' (it has: {', '.join(kinds) or 'none'})")
        problem = check_input(self.node.id, name, want, msg)
        if problem:
            if self.strict:
                raise NodeError(f"strict mode: {problem}")
            self.dropped[name] = self.dropped.get(name, 0) + 1
            return []
        if self.sync is not None:
            out = []
            for g in self.sync.push(name, msg):
                self.pub.clock_offset_ns = max(g.values(), key=lambda m: m.capture_ns).clock_offset_ns
                out.extend(self.pub.stamp_all(self.node.on_sync(g)))
            return out
        self.pub.clock_offset_ns = msg.clock_offset_ns
        return self.pub.stamp_all(self.node.on_input(name, msg))

    def close(self) -> None:
        self.node.teardown()


def run_node(
    cls: type[Node],
    inputs: Iterable[tuple[str, Msg]],
    params: Mapping[str, Any] | None = None,
    *,
    strict: bool = True,
    sync: Mapping[str, Any] | None = None,
) -> list[tuple[str, Msg]]:
    """Feed (input, Msg) pairs in order; return every (output, Msg) the node produced."""
    h = NodeHarness(cls, params, strict=strict, sync=sync)
    try:
        return [o for name, msg in inputs for o in h.feed(name, msg)]
    finally:
        h.close()


def run_source(
    cls: type[Node], params: Mapping[str, Any] | None = None, *, limit: int = 100, strict: bool = True
) -> list[tuple[str, Msg]]:
    """Up to `limit` yields of a source node (waits not counted), stamped as the runtime would."""
    node = cls(cls.Params.model_validate(dict(params or {})), node_id="source")
    pub = Publisher("source", cls.output_kinds_for(node.params), strict, logging.getLogger("arp.source"))
    node.setup()
    out: list[tuple[str, Msg]] = []
    try:
        count = 0
        for produced in node.produce():
            if produced is None:  # a source waiting
                continue
            out.extend(pub.stamp(produced))
            count += 1
            if count >= limit:
                break
    finally:
        node.teardown()
    return out
