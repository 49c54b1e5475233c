"""Nodes for the tests of direct edges (runtime/direct.py)."""

from __future__ import annotations

import json
import time

from pydantic import BaseModel, ConfigDict

from ar_perception import Msg, Node


class _HoardP(BaseModel):
    model_config = ConfigDict(extra="forbid")
    log: str
    delay_s: float = 0.0


class Hoard(Node):
    """Keeps every message it gets (so its producer's shared-memory slots stay pinned and large messages go as
    frames) and logs each one's sequence number, size and frame number to `log`, after `delay_s` (a slow one)."""

    inputs = ("in",)
    Params = _HoardP
    params: _HoardP

    def setup(self) -> None:
        self.kept: list[Msg] = []

    def on_input(self, name: str, msg: Msg) -> None:
        time.sleep(self.params.delay_s)
        self.kept.append(msg)
        first = next(iter(msg.arrays.values()))
        with open(self.params.log, "a") as f:
            f.write(json.dumps({"seq": msg.seq, "bytes": int(first.nbytes), "frame": msg.meta.get("frame")}) + "\n")
