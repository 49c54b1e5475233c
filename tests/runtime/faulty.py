"""Nodes that misbehave on purpose, for the supervisor tests."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator

import numpy as np
from pydantic import BaseModel, ConfigDict

from ar_perception import Msg, Node


class _P(BaseModel):
    model_config = ConfigDict(extra="forbid")
    marker: str = ""


class CrashAtStart(Node):
    """Raises in setup."""

    inputs = ("in",)
    Params = _P

    def setup(self) -> None:
        raise RuntimeError("no camera here")


class CrashOnce(Node):
    """Crashes (exits non-zero) on its first run; works after a restart (a marker file remembers)."""

    inputs = {"in": "Image"}
    outputs = {"out": "Image"}
    Params = _P

    def on_input(self, name: str, msg: Msg) -> dict[str, Msg]:
        if not os.path.exists(self.params.marker):
            open(self.params.marker, "w").close()
            raise RuntimeError("first-run crash")
        return {"out": msg}


class RaiseOnOdd(Node):
    """Raises on odd frames; the skip policy keeps it running."""

    inputs = {"in": "Image"}
    outputs = {"out": "Image"}

    def on_input(self, name: str, msg: Msg) -> dict[str, Msg]:
        if msg.meta.get("frame", 0) % 2:
            raise ValueError(f"odd frame {msg.meta['frame']}")
        return {"out": msg}


class HangOnStop(Node):
    """Ignores the stop request: sleeps far past any stop timeout in teardown."""

    inputs = ("in",)

    def on_input(self, name: str, msg: Msg) -> None:
        return None

    def teardown(self) -> None:
        time.sleep(60)


class BadSource(Node):
    """Declares an Any output, sends a Text where the consumer wants an Image, then a good Image."""

    outputs = {"image": "Any"}

    def produce(self) -> Iterator[dict[str, Msg]]:
        yield {"image": Msg(kind="Text", meta={"text": "not an image"})}
        yield {"image": Msg(kind="Image", arrays={"data": np.zeros((4, 4, 3), np.uint8)})}


class Pair(Node):
    """Two synced images in, their capture-time difference out (as a Text)."""

    inputs = {"a": "Image", "b": "Image"}
    outputs = {"pair": "Text"}

    def on_sync(self, msgs: dict[str, Msg]) -> dict[str, Msg]:
        dt = msgs["a"].capture_ns - msgs["b"].capture_ns
        return {"pair": msgs["a"].derive("Text", {"text": f"{dt}", "frame": msgs["a"].meta.get("frame")})}


class HangOnce(Node):
    """Stops making progress on its fifth frame (a deadlock, say); works after a restart."""

    inputs = {"in": "Image"}
    outputs = {"out": "Image"}
    Params = _P

    def on_input(self, name: str, msg: Msg) -> dict[str, Msg]:
        if msg.meta.get("frame", 0) >= 5 and not os.path.exists(self.params.marker):
            open(self.params.marker, "w").close()
            time.sleep(3600)
        return {"out": msg}
