"""The message envelope and its wire codec: a JSON header frame plus one raw frame per array.

No pickle: arrays travel as their raw buffers (zero-copy on send for large arrays, `np.frombuffer` on
receive), so a 40 MiB depth map costs one memcpy into the kernel at most.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from dataclasses import replace as _dc_replace
from typing import Annotated, Any

import msgspec
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
    `clock_offset_ns` puts that capture time on the clock the graph runs on: a replay sets it to the time it
    replays the message minus the recorded capture time, so latency is `now - (capture_ns + clock_offset_ns)`
    live and replayed alike; live sources leave it 0. The runtime carries it to every output.
    Received arrays are read-only views of the wire buffers.
    """

    kind: str = "Any"
    arrays: Mapping[str, np.ndarray] = field(default_factory=dict)
    meta: Mapping[str, Any] = field(default_factory=dict)
    capture_ns: int = field(default_factory=time.time_ns)
    topic: str = ""
    seq: int = -1
    publish_ns: int = 0
    clock_offset_ns: int = 0

    @property
    def data(self) -> np.ndarray:
        try:
            return self.arrays["data"]
        except KeyError:
            raise KeyError(
                f"{self.kind} message on {self.topic or 'no topic'} has no 'data' array "
                f"(it has: {', '.join(self.arrays) or 'none'})"
            ) from None

    def replace(self, *, kind: str | None = None, meta: Mapping[str, Any] | None = None, **arrays: np.ndarray) -> Msg:
        """Same capture time and kind; the given arrays and metadata keys replace the old ones."""
        return _dc_replace(
            self,
            kind=kind or self.kind,
            arrays={**self.arrays, **arrays},
            meta={**self.meta, **(meta or {})},
            topic="",
            seq=-1,
            publish_ns=0,
        )

    def derive(self, kind: str, meta: Mapping[str, Any] | None = None, **arrays: np.ndarray) -> Msg:
        """A new message of another kind that keeps this one's capture time."""
        return Msg(
            kind=kind,
            arrays=arrays,
            meta=dict(meta or {}),
            capture_ns=self.capture_ns,
            clock_offset_ns=self.clock_offset_ns,
        )

    @property
    def nbytes(self) -> int:
        return sum(a.nbytes for a in self.arrays.values())


_FIELDS = ("kind", "arrays", "meta", "capture_ns", "topic", "seq", "publish_ns", "clock_offset_ns")
assert tuple(f.name for f in fields(Msg)) == _FIELDS, "keep _FIELDS (and wire_msg's arguments) in Msg's order"
_set_kind, _set_arrays, _set_meta, _set_capture, _set_topic, _set_seq, _set_publish, _set_offset = (
    getattr(Msg, f).__set__ for f in _FIELDS
)


def wire_msg(
    kind: str,
    arrays: Mapping[str, np.ndarray],
    meta: Mapping[str, Any],
    capture_ns: int,
    topic: str,
    seq: int,
    publish_ns: int,
    clock_offset_ns: int,
) -> Msg:
    """`Msg(...)` with every field given, for the runtime's per-message path: the frozen dataclass's __init__
    costs twice as much (it sets each field through object.__setattr__), and more with cold caches."""
    m = object.__new__(Msg)
    _set_kind(m, kind)
    _set_arrays(m, arrays)
    _set_meta(m, meta)
    _set_capture(m, capture_ns)
    _set_topic(m, topic)
    _set_seq(m, seq)
    _set_publish(m, publish_ns)
    _set_offset(m, clock_offset_ns)
    return m


class _Header(msgspec.Struct):
    """The header frame, any array specs; decoding checks every other field's type (a bool is not an int).
    Each [name, dtype, shape] is checked one by one in `decode`, so that an error names the array."""

    v: int
    kind: str
    topic: str
    seq: int
    capture_ns: int
    publish_ns: int
    meta: dict[str, Any]
    arrays: list[Any]
    clock_offset_ns: int = 0  # optional: a live message's clock is the capture clock
    shm: Any = None  # where the arrays are, when they are in shared memory (runtime/shm.py)
    shm_seg: str | None = None  # frames from an output with shared memory: marked received there


_Dim = Annotated[int, msgspec.Meta(ge=0)]


class _WellFormed(_Header):
    """The header as `encode` writes it, array specs included: the common case, checked in one C pass."""

    arrays: list[tuple[str, str, list[_Dim]]]


_HEADER = msgspec.json.Decoder(_WellFormed)
_HEAD_OUT = msgspec.json.Encoder()
_META_OUT = json.JSONEncoder(separators=(",", ":"))  # NaN and Infinity as json.dumps writes them
_DTYPE_KINDS = "biufc"  # bool, integers, floats, complex: raw numbers only, never objects or records
_DTYPES: dict[str, np.dtype] = {}  # dtype strings seen on the wire that passed the check
_DTYPES_MAX = 256


def encode(msg: Msg, shm: Any | None = None) -> list[Any]:
    """Frames for `socket.send_multipart(frames, copy=False)`: header first, then each array's buffer. With
    `shm` (a runtime.shm.ShmWriter) large arrays go into its shared memory instead: the header alone,
    naming where they are."""
    specs, buffers, contiguous = [], [], []
    for name, a in msg.arrays.items():
        if not isinstance(a, np.ndarray):
            raise TransportError(f"array {name!r} of a {msg.kind} message is {type(a).__name__}, not a numpy array")
        if a.dtype.hasobject:
            raise TransportError(
                f"array {name!r} of a {msg.kind} message has dtype object; only plain numeric arrays travel"
            )
        a = a if a.flags.c_contiguous else np.ascontiguousarray(a)  # (ascontiguousarray makes 0-d 1-d)
        specs.append([name, a.dtype.str, list(a.shape)])
        contiguous.append(a)
    desc = shm.claim(contiguous) if shm is not None and contiguous else None
    if desc is None:
        buffers = [a.data if a.nbytes >= _ZERO_COPY_MIN else a.tobytes() for a in contiguous]
    try:
        # The metadata by the json module (it writes NaN and Infinity, and refuses what JSON cannot hold), the
        # rest, plain strings and integers, by msgspec.
        meta = _NO_META if type(msg.meta) is dict and not msg.meta else msgspec.Raw(_meta_json(msg.meta))
        header = {
            "v": WIRE_VERSION,
            "kind": msg.kind,
            "topic": msg.topic,
            "seq": msg.seq,
            "capture_ns": msg.capture_ns,
            "publish_ns": msg.publish_ns,
            "clock_offset_ns": msg.clock_offset_ns,
            "meta": meta,
            "arrays": specs,
        }
        if desc is not None:
            header["shm"] = desc
        elif shm is not None and shm.path is not None:
            header["shm_seg"] = shm.path  # frames, but the consumers still mark it received in the segment
        head = _HEAD_OUT.encode(header)
    except TypeError as e:
        raise TransportError(f"metadata of a {msg.kind} message is not JSON-serialisable: {e}") from None
    if shm is not None and desc is not None:
        shm.fill(desc, contiguous, msg.seq)  # the copy last: it evicts the caches the rest would run in
    return [head, *buffers]


_NO_META = msgspec.Raw(b"{}")
# The json module's C encoder, made once with the settings of _META_OUT (JSONEncoder.encode makes a new one per
# call, which costs more than encoding a small dict); without the C module, _META_OUT itself.
_C_META = (
    json.encoder.c_make_encoder(  # type: ignore[attr-defined]
        None, _META_OUT.default, json.encoder.encode_basestring_ascii, None, ":", ",", False, False, True
    )
    if getattr(json.encoder, "c_make_encoder", None) is not None
    else None
)


def _meta_json(meta: Mapping[str, Any]) -> bytes:
    """The metadata as json.dumps writes it (NaN and Infinity as NaN and Infinity; TypeError for what JSON
    cannot hold; ValueError for a dict that holds itself)."""
    if _C_META is None or not isinstance(meta, dict):
        return _META_OUT.encode(meta).encode()
    try:
        return "".join(_C_META(meta, 0)).encode()
    except RecursionError:
        raise ValueError("Circular reference detected") from None


def _header(head: bytes | bytearray | memoryview) -> tuple[_Header, bool]:
    """The header, and whether its array specs are checked already (the header as `encode` writes it)."""
    try:
        return _check_version(_HEADER.decode(head)), True
    except msgspec.DecodeError:  # (a ValidationError too) explained below, on the slow path
        pass
    # Not the header `encode` writes, or one whose metadata holds NaN or Infinity: json.dumps writes them,
    # strict JSON (and so msgspec) refuses them.
    try:
        obj = json.loads(bytes(head))
    except ValueError as e:
        raise TransportError(f"malformed message header: not JSON ({e})") from None
    if not isinstance(obj, dict):
        raise TransportError(f"malformed message header: expected a JSON object, got {type(obj).__name__}")
    _check_version(obj.get("v"))
    try:
        return msgspec.convert(obj, _Header), False
    except msgspec.ValidationError as e:
        raise TransportError(f"malformed message header: {e}") from None


def _check_version(h: Any) -> Any:
    v = h.v if isinstance(h, _Header) else h
    if v != WIRE_VERSION or isinstance(v, bool):
        raise TransportError(f"wire version {v!r} is not supported (expected {WIRE_VERSION})")
    return h


def _buffer(frame: Any) -> Any:
    """The bytes-like payload of a frame: bytes as they are, a zmq.Frame's buffer without a copy."""
    return frame if isinstance(frame, (bytes, bytearray, memoryview)) else frame.buffer


def decode(
    frames: list[Any],
    max_bytes: int | None = None,
    shm: Any | None = None,
) -> Msg:
    """Inverse of `encode`; frames may be bytes or zmq.Frame (then arrays view the frame's buffer).

    Anything that is not exactly what `encode` writes raises TransportError: the runtime drops and counts
    it. `max_bytes` bounds the message's total size. A header that names shared memory has its arrays read
    by `shm` (a runtime.shm.ShmReader: pinned views); without one it is refused. One that came as frames
    from an output with shared memory is marked received there.
    """
    if not frames:
        raise TransportError("empty multipart message")
    head = _buffer(frames[0])
    bufs = [memoryview(_buffer(f)) for f in frames[1:]]
    if max_bytes is not None and (size := len(head) + sum(b.nbytes for b in bufs)) > max_bytes:
        raise TransportError(f"message of {size} bytes is over the limit of {max_bytes} bytes")
    header, checked = _header(head)
    topic, specs = header.topic, header.arrays
    desc = header.shm
    carried = len(frames) - 1 if desc is None else len(specs)
    if len(specs) != carried or (desc is not None and len(frames) != 1):
        raise TransportError(f"message on {topic!r} declares {len(specs)} arrays but carries {len(frames) - 1}")
    if desc is not None:
        bufs = _from_shm(desc, specs, topic, header.seq, shm)
    elif shm is not None and header.shm_seg is None:
        shm.saw_frames()
    elif shm is not None and (seg := header.shm_seg) is not None:
        try:
            shm.saw(seg, header.seq)
        except (ValueError, OSError) as e:
            raise TransportError(f"message on {topic!r}: {e}") from None
        if max_bytes is not None and (size := len(head) + sum(b.nbytes for b in bufs)) > max_bytes:
            raise TransportError(f"message of {size} bytes is over the limit of {max_bytes} bytes")
    arrays = {}
    for spec, buf in zip(specs, bufs, strict=True):
        if not checked and not (
            isinstance(spec, list)
            and len(spec) == 3
            and isinstance(spec[0], str)
            and isinstance(spec[1], str)
            and isinstance(spec[2], list)
            and all(type(d) is int and d >= 0 for d in spec[2])
        ):
            raise TransportError(
                f"malformed array spec on {topic!r}: expected [name, dtype, [dims >= 0]], got {json.dumps(spec)[:200]}"
            )
        name, dtype, shape = spec
        dt = _DTYPES.get(dtype) or _wire_dtype(name, dtype, topic)
        expected = dt.itemsize * math.prod(shape)
        if expected != buf.nbytes:
            raise TransportError(
                f"array {name!r} on {topic!r} declares {dtype}{tuple(shape)} = {expected} bytes "
                f"but carries {buf.nbytes}"
            )
        a = np.frombuffer(buf, dtype=dt)
        if len(shape) != 1:  # (1-D: the length is the one checked above)
            a = a.reshape(shape)
        a.flags.writeable = False  # a view of the wire buffer: copy before changing it
        arrays[name] = a
    return wire_msg(
        header.kind,
        arrays,
        header.meta,
        header.capture_ns,
        topic,
        header.seq,
        header.publish_ns,
        header.clock_offset_ns,
    )


def _wire_dtype(name: str, dtype: Any, topic: str) -> np.dtype:
    """The numpy dtype a header names for an array, if it is a plain numeric one (remembered: a stream sends
    the same few again and again)."""
    try:
        dt = np.dtype(dtype)
    except TypeError:
        dt = None
    if dt is None or dt.kind not in _DTYPE_KINDS or dt.fields is not None:
        raise TransportError(
            f"array {name!r} on {topic!r} has dtype {dtype!r} (expected a plain numeric dtype such as '|u1' or '<f4')"
        )
    if isinstance(dtype, str) and len(_DTYPES) < _DTYPES_MAX:
        _DTYPES[dtype] = dt
    return dt


def _from_shm(
    desc: Any,
    specs: list[Any],
    topic: str,
    seq: int,
    shm: Any | None,
) -> list[memoryview]:
    """The arrays of a shared-memory message, read at the sizes its specs declare (checked again after)."""
    if shm is None:
        raise TransportError(f"message on {topic!r} is in shared memory, which this input does not use")
    sizes = []
    for spec in specs:
        try:
            sizes.append((_DTYPES.get(spec[1]) or np.dtype(spec[1])).itemsize * math.prod(spec[2]))
        except (TypeError, IndexError, ValueError):
            raise TransportError(f"malformed array spec on {topic!r}: {json.dumps(spec)[:200]}") from None
    try:
        return shm.read(desc, sizes, seq)
    except (ValueError, OSError) as e:
        raise TransportError(f"message on {topic!r}: {e}") from None
