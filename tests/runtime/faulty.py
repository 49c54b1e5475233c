"""Nodes that misbehave on purpose, for the supervisor tests, and the nodes and callback that make a condition
happen whatever the machine's speed: a producer whose frames cost next to nothing, and a consumer that takes
nothing until the test has seen its producer blocked."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from ar_perception import Msg, Node
from ar_perception.nodes.sink import Sink
from ar_perception.runtime.node import Outputs

if TYPE_CHECKING:  # not imported by the node processes that load this module
    from ar_perception.runtime.launch import NodeReport


class _P(BaseModel):
    model_config = ConfigDict(extra="forbid")
    marker: str = ""


class CrashAtStart(Node):
    """Raises in setup."""

    inputs = ("in",)
    Params = _P
    params: _P

    def setup(self) -> None:
        raise RuntimeError("no camera here")


class CrashOnce(Node):
    """Crashes (exits non-zero) on its first run; works after a restart (a marker file remembers)."""

    inputs = {"in": "Image"}
    outputs = {"out": "Image"}
    Params = _P
    params: _P

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
    params: _P

    def on_input(self, name: str, msg: Msg) -> dict[str, Msg]:
        if msg.meta.get("frame", 0) >= 5 and not os.path.exists(self.params.marker):
            open(self.params.marker, "w").close()
            time.sleep(3600)
        return {"out": msg}


def peak_rss_mib() -> float:
    """This process's high-water mark of resident memory (VmHWM), in MiB: exact, unlike sampling from outside."""
    with open("/proc/self/status") as f:
        return next(int(ln.split()[1]) for ln in f if ln.startswith("VmHWM:")) / 1024


def _log_peak(node_id: str, path: str) -> None:
    if path:
        with open(path, "a") as f:
            f.write(json.dumps({"node": node_id, "peak_mib": peak_rss_mib()}) + "\n")


class Fill(Node):
    """A source of `frames` frames, each a fresh array from np.full, so that a frame costs a millisecond (the
    producer is never what limits the rate) and every frame held in a buffer is memory of its own. Sent as
    fast as its consumers take them, or in bursts of `burst` frames back to back, `bursts_per_s` of them a
    second. Its peak memory goes to `peak_log` at the end."""

    outputs = {"image": "Image"}

    class Params(BaseModel):
        model_config = ConfigDict(extra="forbid")
        size: tuple[int, int] = Field((1280, 1024), description="width, height")
        frames: int = Field(10, ge=1)
        burst: int = Field(1, ge=1)
        bursts_per_s: float = Field(0.0, ge=0, description="0: no pauses")
        peak_log: str = ""

    params: Params

    def produce(self) -> Iterator[Outputs]:
        p = self.params
        w, h = p.size
        start = time.monotonic()
        for i in range(p.frames):
            data = np.full((h, w, 3), i % 256, np.uint8)  # (H, W, 3), every page written: resident
            yield {"image": Msg(kind="Image", arrays={"data": data}, meta={"frame": i})}
            if p.bursts_per_s and (i + 1) % p.burst == 0:
                yield from self.wait_until(start + (i + 1) // p.burst / p.bursts_per_s)
            if self.stopping:
                return

    def teardown(self) -> None:
        _log_peak(self.id, self.params.peak_log)


class Gated(Sink):
    """A `sink` whose first message waits until the file `gate` exists: a consumer that takes nothing for as
    long as the test wants (until its producer is blocked: open_when_blocked). After `gate_timeout_s` it goes
    on regardless, so that a test whose condition never comes fails on its checks rather than hangs (under
    the health timeout: the node reports nothing while it waits). Its peak memory goes to `peak_log`."""

    class Params(Sink.Params):
        gate: str
        gate_timeout_s: float = Field(20.0, gt=0)
        peak_log: str = ""

    params: Params

    def setup(self) -> None:
        super().setup()
        self._waited = False

    def on_input(self, name: str, msg: Msg) -> Outputs:
        if not self._waited:
            self._waited = True
            deadline = time.monotonic() + self.params.gate_timeout_s
            while not os.path.exists(self.params.gate) and time.monotonic() < deadline:
                time.sleep(0.01)
        return super().on_input(name, msg)

    def teardown(self) -> None:
        super().teardown()
        _log_peak(self.id, self.params.peak_log)


def open_when_blocked(
    gate: Path, producer: str, output: str = "image", still_s: float = 1.0
) -> Callable[[dict[str, NodeReport]], None]:
    """An on_stats callback that opens `gate` (creates the file) once `producer` is blocked on its consumers:
    its count of `output` messages stood still for `still_s` (a blocked producer goes on reporting; its count
    is of messages stamped, so it stops at the one it cannot send). For a producer that makes a message in
    milliseconds (Fill) nothing but a full pipe holds it still that long, however slow or busy the machine."""
    seen: dict[str, float] = {}

    def on_stats(reports: dict[str, NodeReport]) -> None:
        out = (reports[producer].stats or {}).get("out", {}).get(output, 0)
        now = time.monotonic()
        if out != seen.get("out"):
            seen.update(out=out, since=now)
        elif out and now - seen["since"] >= still_s:
            gate.touch()

    return on_stats


class _SlowP(BaseModel):
    model_config = ConfigDict(extra="forbid")
    seconds: float = 0.25


class Slow(Node):
    """Takes `seconds` over every message: slower than any source the tests give it."""

    inputs = ("in",)
    Params = _SlowP
    params: _SlowP

    def on_input(self, name: str, msg: Msg) -> Outputs:
        time.sleep(self.params.seconds)
        return None
