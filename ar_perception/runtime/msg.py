"""The message envelope and its wire codec: a JSON header frame plus one raw frame per array.

No pickle: arrays travel as their raw buffers (zero-copy on send for large arrays, `np.frombuffer` on
receive), so a 40 MiB depth map costs one memcpy into the kernel at most.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field, replace as _dc_replace
from typing import Any, Mapping

import numpy as np

from ar_perception.errors import TransportError

__all__ = ["Msg", "encode", "decode", "EOS", "WIRE_VERSION"]

WIRE_VERSION = 1
EOS = "__eos__"  # kind of the in-band end-of-stream marker
_ZERO_COPY_MIN = 65536  # below this, copying is cheaper than zmq's zero-copy bookkeeping


@dataclass(frozen=True, slots=True)
class Msg:
    """An envelope (kind, topic, seq, capture/publish times, metadata) plus named numpy arrays.

    `capture_ns` is the wall-clock time the source frame was captured; nodes that derive a message from
    an input keep it (`replace`, `derive`), so latency since capture is measurable anywhere.
    Received arrays are read-only views of the wire buffers.
    """

    kind: str = "Any"
    arrays: Mapping[str, np.ndarray] = field(default_factory=dict)
    meta: Mapping[str, Any] = field(default_factory=dict)
    capture_ns: int = field(default_factory=time.time_ns)
    topic: str = ""
    seq: int = -1
    publish_ns: int = 0

    @property
    def data(self) -> np.ndarray:
        try:
            return self.arrays["data"]
        except KeyError:
            raise KeyError(f"{self.kind} message on {self.topic or 'no topic'} has no 'data' array "
                           f"(it has: {', '.join(self.arrays) or 'none'})") from None

    def replace(self, *, kind: str | None = None, meta: Mapping[str, Any] | None = None,
                **arrays: np.ndarray) -> Msg:
        """Same capture time and kind; the given arrays and metadata keys replace the old ones."""
        return _dc_replace(
            self,
            kind=kind or self.kind,
            arrays={**self.arrays, **arrays},
            meta={**self.meta, **(meta or {})},
            topic="", seq=-1, publish_ns=0,
        )

    def derive(self, kind: str, meta: Mapping[str, Any] | None = None, **arrays: np.ndarray) -> Msg:
        """A new message of another kind that keeps this one's capture time."""
        return Msg(kind=kind, arrays=arrays, meta=dict(meta or {}), capture_ns=self.capture_ns)

    @property
    def nbytes(self) -> int:
        return sum(a.nbytes for a in self.arrays.values())


def encode(msg: Msg) -> list[Any]:
    """Frames for `socket.send_multipart(frames, copy=False)`: header first, then each array's buffer."""
    specs, buffers = [], []
    for name, a in msg.arrays.items():
        if not isinstance(a, np.ndarray):
            raise TransportError(f"array {name!r} of a {msg.kind} message is {type(a).__name__}, "
                                 "not a numpy array")
        if a.dtype.hasobject:
            raise TransportError(f"array {name!r} of a {msg.kind} message has dtype object; "
                                 "only plain numeric arrays travel")
        a = a if a.flags.c_contiguous else np.ascontiguousarray(a)  # (ascontiguousarray makes 0-d 1-d)
        specs.append([name, a.dtype.str, list(a.shape)])
        buffers.append(a.data if a.nbytes >= _ZERO_COPY_MIN else a.tobytes())
    header = {
        "v": WIRE_VERSION, "kind": msg.kind, "topic": msg.topic, "seq": msg.seq,
        "capture_ns": msg.capture_ns, "publish_ns": msg.publish_ns, "meta": msg.meta, "arrays": specs,
    }
    try:
        head = json.dumps(header, separators=(",", ":")).encode()
    except TypeError as e:
        raise TransportError(f"metadata of a {msg.kind} message is not JSON-serialisable: {e}") from None
    return [head, *buffers]


def decode(frames: list[Any]) -> Msg:
    """Inverse of `encode`; frames may be bytes or zmq.Frame (then arrays view the frame's buffer)."""
    if not frames:
        raise TransportError("empty multipart message")
    try:
        head = frames[0] if isinstance(frames[0], (bytes, bytearray)) else frames[0].bytes
        header = json.loads(head)
        if header.get("v") != WIRE_VERSION:
            raise TransportError(f"wire version {header.get('v')!r} is not supported "
                                 f"(expected {WIRE_VERSION})")
        specs = header["arrays"]
    except (ValueError, KeyError, AttributeError) as e:
        raise TransportError(f"malformed message header: {e}") from None
    if len(specs) != len(frames) - 1:
        raise TransportError(f"message on {header.get('topic')!r} declares {len(specs)} arrays "
                             f"but carries {len(frames) - 1}")
    arrays = {}
    for (name, dtype, shape), frame in zip(specs, frames[1:]):
        buf = frame if isinstance(frame, (bytes, bytearray, memoryview)) else frame.buffer
        try:
            a = np.frombuffer(buf, dtype=np.dtype(dtype)).reshape(shape)
            a.flags.writeable = False  # a view of the wire buffer: copy before changing it
            arrays[name] = a
        except (ValueError, TypeError) as e:
            raise TransportError(f"array {name!r} on {header.get('topic')!r} does not match its "
                                 f"declared {dtype}{tuple(shape)}: {e}") from None
    return Msg(kind=header["kind"], arrays=arrays, meta=header.get("meta") or {},
               capture_ns=int(header["capture_ns"]), topic=header["topic"], seq=int(header["seq"]),
               publish_ns=int(header["publish_ns"]))
