"""The two nodes of the transport benchmark: a paced (or back-to-back) payload source and a recording sink.

Referenced from the benchmark graph as `bench_nodes:Producer` / `bench_nodes:Consumer` with benchmarks/ on
the search path. The consumer stamps `time.time_ns()` first thing in `on_input` and writes one row per
message (seq, publish_ns, recv_ns, nbytes) as a .npy file at teardown.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator

import numpy as np
from pydantic import BaseModel, ConfigDict, Field
from raw_peer import payload

from ar_perception import Msg, Node
from ar_perception.runtime.node import Outputs


class Producer(Node):
    """Sends `count` messages of `nbytes`, sleeping `period_ms` after each (0 = back-to-back)."""

    outputs = ("out",)

    class Params(BaseModel):
        model_config = ConfigDict(extra="forbid")
        nbytes: int = Field(ge=1)
        count: int = Field(ge=1)
        period_ms: float = Field(0.0, ge=0)

    params: Params

    def setup(self) -> None:
        self._payload = payload(self.params.nbytes)
        self._payload.flags.writeable = False  # sent zero-copy, so it must never change under zmq

    def produce(self) -> Iterator[Outputs]:
        period = self.params.period_ms / 1000.0
        for i in range(self.params.count):
            yield {"out": Msg(arrays={"data": self._payload}, meta={"i": i})}
            if period:
                time.sleep(period)


class Consumer(Node):
    """Records (seq, publish_ns, recv_ns, nbytes) per message; writes them to `out` (.npy) at teardown."""

    inputs = ("data",)

    class Params(BaseModel):
        model_config = ConfigDict(extra="forbid")
        out: str

    params: Params

    def setup(self) -> None:
        self._rows: list[tuple[int, int, int, int]] = []

    def on_input(self, name: str, msg: Msg) -> Outputs:
        now = time.time_ns()
        self._rows.append((msg.seq, msg.publish_ns, now, msg.data.nbytes))
        return None

    def teardown(self) -> None:
        rows = np.array(getattr(self, "_rows", []), dtype=np.int64).reshape(-1, 4)
        tmp = self.params.out + ".part.npy"
        np.save(tmp, rows)
        os.replace(tmp, self.params.out)
