"""Publish the topics of a recording, as recorded (Images made RGB), with their original timing or a speed factor.

Each message carries the replay clock (`Msg.clock_offset_ns`: when it was replayed minus its capture time), so
latency since capture counts from the replay, whatever the capture times, and reaches every downstream node.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from ar_perception import kinds
from ar_perception.errors import RecordingError
from ar_perception.images import to_rgb
from ar_perception.runtime.msg import Msg
from ar_perception.runtime.node import Node, Outputs

if TYPE_CHECKING:
    from ar_perception.recording.reader import RecordingReader


class Replay(Node):
    """Replays recorded topics: one output per topic (named as the topic unless `topics` maps them).

    Messages leave as recorded, except recorded Images that are not RGB uint8 (H, W, 3): gray, RGBA, 16-bit
    and [0, 1] float images are converted to it; others are left to the runtime's check, which drops them.
    """

    outputs = ()  # the recorded topics, known once the file is: see output_kinds_for

    class Params(BaseModel):
        model_config = ConfigDict(extra="forbid")
        file: str = Field(description="the .mcap recording")
        topics: dict[str, str] | None = Field(
            None, description="{output: recorded topic}; default: every topic, each on an output of its own name"
        )
        speed: float = Field(1.0, ge=0, le=1000, description="1 = original timing; 0 = as fast as the graph takes")
        loop: bool = False
        start: float = Field(0.0, ge=0, description="seconds after the first recorded message")
        end: float | None = Field(None, gt=0, description="seconds after the first recorded message")
        restamp: bool = Field(
            False,
            description="shift capture times so that the replay starts now; off: the recorded capture times "
            "(latency counts from the replay either way)",
        )

        @model_validator(mode="after")
        def _range(self) -> Replay.Params:
            if self.end is not None and self.end <= self.start:
                raise ValueError(f"end ({self.end} s) must come after start ({self.start} s)")
            return self

    params: Params

    @classmethod
    def _plan(cls, params: Params) -> tuple[RecordingReader, dict[str, str]]:
        from ar_perception.recording.reader import RecordingReader

        reader = RecordingReader(params.file)
        missing = [t for t in (params.topics or {}).values() if t not in reader.topics]
        if missing:
            raise RecordingError(
                f"{params.file}: no topic {', '.join(missing)} in this recording "
                f"(it has: {', '.join(sorted(reader.topics)) or 'none'})"
            )
        if params.start > reader.duration_s:
            raise RecordingError(
                f"{params.file}: start {params.start:g} s is past the end of the recording ({reader.duration_s:.3f} s)"
            )
        return reader, dict(params.topics) if params.topics is not None else {t: t for t in reader.topics}

    @classmethod
    def output_kinds_for(cls, params: BaseModel) -> dict[str, str]:
        if not isinstance(params, Replay.Params):
            raise TypeError(f"replay: expected Replay.Params, got {type(params).__name__}")
        reader, mapping = cls._plan(params)
        return {out: reader.topics[topic].kind for out, topic in mapping.items()}

    def setup(self) -> None:
        self.reader, mapping = self._plan(self.params)
        self.output_of = {topic: out for out, topic in mapping.items()}

    def produce(self) -> Iterator[Outputs]:
        p, reader = self.params, self.reader
        start_ns = reader.start_ns + round(p.start * 1e9)
        end_ns = reader.start_ns + round(p.end * 1e9) + 1 if p.end is not None else None
        topics = list(self.output_of)
        shift, count, last_log, k = 0, 0, start_ns, 0
        while True:
            t0, wall0 = time.monotonic(), time.time_ns()
            offset = wall0 - start_ns if p.restamp else shift
            for log_ns, msg in reader.timed_messages(topics, start_ns, end_ns):
                if self.stopping:
                    return
                if p.speed > 0:
                    yield from self.wait_until(t0 + (log_ns - start_ns) / 1e9 / p.speed)
                    if self.stopping:
                        return
                count += k == 0
                last_log = max(last_log, log_ns)
                capture_ns = msg.capture_ns + offset
                yield {
                    self.output_of[msg.topic]: Msg(
                        kind=msg.kind,
                        arrays=_normalised(msg),
                        meta=msg.meta,
                        capture_ns=capture_ns,
                        clock_offset_ns=time.time_ns() - capture_ns,  # this is its capture, as replayed
                    )
                }
            if not p.loop or count == 0:
                return
            # The next pass starts one mean message interval after this one ended; capture times keep growing.
            span = last_log - start_ns
            shift += span + span // max(1, count - 1)
            if p.speed > 0:
                yield from self.wait_until(t0 + (span + span // max(1, count - 1)) / 1e9 / p.speed)
                if self.stopping:
                    return
            k += 1


def _normalised(msg: Msg) -> Mapping[str, np.ndarray]:
    """The arrays of a recorded message; an Image's made RGB uint8 when it can be (older or foreign recordings)."""
    if msg.kind != "Image" or "data" not in msg.arrays or kinds.check("Image", dict(msg.arrays), {}) is None:
        return msg.arrays
    try:
        return {**msg.arrays, "data": to_rgb(msg.arrays["data"], "rgb")}
    except ValueError:
        return msg.arrays
