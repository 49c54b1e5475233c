"""A sink that counts what it receives and can log it as JSON lines (for tests and benchmarks)."""

from __future__ import annotations

import json
import time
from typing import IO

from pydantic import BaseModel, ConfigDict, Field

from ar_perception.errors import NodeError
from ar_perception.nodes._files import output_path
from ar_perception.runtime.msg import Msg
from ar_perception.runtime.node import Node, Outputs


class Sink(Node):
    """Accepts anything; optionally sleeps per message (a slow consumer) and logs envelopes."""

    inputs = ("in",)

    class Params(BaseModel):
        model_config = ConfigDict(extra="forbid")
        delay_ms: float = Field(0.0, ge=0, description="simulated work per message")
        log: str | None = Field(
            None, description="append one JSON line per message to this file (its folder is created)"
        )

    params: Params

    def setup(self) -> None:
        self._file: IO[str] | None = None
        if self.params.log:
            path = output_path(self.id, "log", self.params.log)
            try:
                self._file = open(path, "a")
            except OSError as e:
                raise NodeError(
                    f"node '{self.id}': params.log: cannot open '{path}' for writing ({e.strerror or e})"
                ) from None

    def on_input(self, name: str, msg: Msg) -> Outputs:
        recv_ns = time.time_ns()  # when handling starts: the simulated work comes after
        if self.params.delay_ms:
            time.sleep(self.params.delay_ms / 1000)
        if self._file:
            self._file.write(
                json.dumps(
                    {
                        "input": name,
                        "topic": msg.topic,
                        "seq": msg.seq,
                        "kind": msg.kind,
                        "capture_ns": msg.capture_ns,
                        "publish_ns": msg.publish_ns,
                        "recv_ns": recv_ns,
                        "meta": dict(msg.meta),
                        "shapes": {k: list(a.shape) for k, a in msg.arrays.items()},
                        "sums": {k: float(a.sum(dtype="float64")) for k, a in msg.arrays.items()},
                    }
                )
                + "\n"
            )
            self._file.flush()
        return None

    def teardown(self) -> None:
        file: IO[str] | None = getattr(self, "_file", None)  # None too when the setup did not get that far
        if file is not None:
            file.close()
