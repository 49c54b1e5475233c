"""How one arp message becomes one MCAP message and back, bit for bit.

Image, Depth, PointCloud and CameraInfo messages use Foxglove's well-known protobuf schemas
(foxglove.RawImage rgb8 / 32FC1, foxglove.PointCloud, foxglove.CameraCalibration), so that Foxglove shows
them. Every other kind uses the schema `arp.Envelope` (protobuf, message encoding "protobuf"):

    message Envelope {
      string header = 1;          // JSON, see below
      repeated bytes arrays = 2;  // raw C-order buffers of the arrays not carried elsewhere, in header order
    }

The header is the JSON object {"v": 1, "kind": K, "capture_ns": N, "seq": N, "publish_ns": N,
"meta": {...}, "arrays": [[name, dtype, shape], ...], "foxglove": [names]}: dtype is numpy's `dtype.str`
(e.g. "<f4"), shape a list; "foxglove" names the arrays that a Foxglove field carries instead of
`arrays` (a RawImage's `data`, a PointCloud's interleaved x, y, z, r, g, b). A Foxglove message carries
its Envelope too, as the extra length-delimited field 1000 (ENVELOPE_FIELD): protobuf readers that do not
know the field skip it, so the message is still a valid foxglove message, and arp gets back the exact
kind, metadata, capture time, sequence number and every array.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from ar_perception.errors import MissingExtraError, RecordingError
from ar_perception.runtime.msg import Msg

__all__ = ["ENVELOPE_FIELD", "ENVELOPE_SCHEMA", "require_extra", "schema_for", "encode_message", "decode_message"]

ENVELOPE_FIELD = 1000
ENVELOPE_SCHEMA = "arp.Envelope"
HEADER_VERSION = 1

_FOXGLOVE = {
    "Image": "foxglove.RawImage",
    "Depth": "foxglove.RawImage",
    "PointCloud": "foxglove.PointCloud",
    "CameraInfo": "foxglove.CameraCalibration",
}
_XYZ = np.dtype([("x", "<f4"), ("y", "<f4"), ("z", "<f4")])
_XYZRGB = np.dtype([("x", "<f4"), ("y", "<f4"), ("z", "<f4"), ("r", "u1"), ("g", "u1"), ("b", "u1")])


def require_extra() -> None:
    """Raise MissingExtraError unless the `record` extra (mcap, protobuf schemas) is installed."""
    import importlib.util

    for module, package in (
        ("mcap", "mcap"),
        ("mcap_protobuf", "mcap-protobuf-support"),
        ("foxglove_schemas_protobuf", "foxglove-schemas-protobuf"),
    ):
        if importlib.util.find_spec(module) is None:
            raise MissingExtraError(package, "record")


def _classes() -> dict[str, Any]:
    from foxglove_schemas_protobuf.CameraCalibration_pb2 import CameraCalibration
    from foxglove_schemas_protobuf.PointCloud_pb2 import PointCloud
    from foxglove_schemas_protobuf.RawImage_pb2 import RawImage

    return {
        "foxglove.RawImage": RawImage,
        "foxglove.PointCloud": PointCloud,
        "foxglove.CameraCalibration": CameraCalibration,
    }


_schema_cache: dict[str, bytes] = {}


def schema_for(kind: str) -> tuple[str, bytes]:
    """(schema name, FileDescriptorSet bytes) for a channel of this kind."""
    name = _FOXGLOVE.get(kind, ENVELOPE_SCHEMA)
    if name not in _schema_cache:
        from google.protobuf import descriptor_pb2

        if name == ENVELOPE_SCHEMA:
            f = descriptor_pb2.FileDescriptorProto(name="arp/envelope.proto", package="arp", syntax="proto3")
            m = f.message_type.add(name="Envelope")
            m.field.add(
                name="header",
                number=1,
                type=descriptor_pb2.FieldDescriptorProto.TYPE_STRING,
                label=descriptor_pb2.FieldDescriptorProto.LABEL_OPTIONAL,
            )
            m.field.add(
                name="arrays",
                number=2,
                type=descriptor_pb2.FieldDescriptorProto.TYPE_BYTES,
                label=descriptor_pb2.FieldDescriptorProto.LABEL_REPEATED,
            )
            _schema_cache[name] = descriptor_pb2.FileDescriptorSet(file=[f]).SerializeToString()
        else:
            from mcap_protobuf.schema import build_file_descriptor_set

            _schema_cache[name] = build_file_descriptor_set(_classes()[name]).SerializeToString()
    return name, _schema_cache[name]


# -- protobuf wire format, for the Envelope ------------------------------------------------------------
def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def _field(number: int, payload: bytes | memoryview) -> list[bytes | memoryview]:
    return [_varint(number << 3 | 2), _varint(len(payload)), payload]


def _read_varint(buf: memoryview, i: int) -> tuple[int, int]:
    shift = n = 0
    while True:
        if i >= len(buf):
            raise ValueError("truncated varint")
        b = buf[i]
        i += 1
        n |= (b & 0x7F) << shift
        if not b & 0x80:
            return n, i
        shift += 7


def _fields(buf: memoryview) -> list[tuple[int, int, Any]]:
    """Top-level (number, wire type, value) of a protobuf message; length-delimited values as memoryviews."""
    out, i = [], 0
    while i < len(buf):
        key, i = _read_varint(buf, i)
        number, wire = key >> 3, key & 7
        value: int | memoryview
        if wire == 0:
            value, i = _read_varint(buf, i)
        elif wire == 1:
            value, i = buf[i : i + 8], i + 8
        elif wire == 2:
            n, i = _read_varint(buf, i)
            if i + n > len(buf):
                raise ValueError("truncated length-delimited field")
            value, i = buf[i : i + n], i + n
        elif wire == 5:
            value, i = buf[i : i + 4], i + 4
        else:
            raise ValueError(f"unsupported wire type {wire}")
        out.append((number, wire, value))
    return out


# -- encode ------------------------------------------------------------------------------------------
def _timestamp(ns: int) -> Any:
    from google.protobuf.timestamp_pb2 import Timestamp

    return Timestamp(seconds=ns // 1_000_000_000, nanos=ns % 1_000_000_000)


def _foxglove(msg: Msg, arrays: dict[str, np.ndarray]) -> tuple[Any, list[str]]:
    """The Foxglove message for `msg` and the names of the arrays it carries exactly."""
    cls = _classes()[_FOXGLOVE[msg.kind]]
    meta, stamp = msg.meta, _timestamp(msg.capture_ns)
    frame_id = next((str(meta[k]) for k in ("frame_id", "frame") if isinstance(meta.get(k), str)), "")
    data = arrays.get("data")
    if msg.kind == "Image":
        if data is not None and data.dtype == np.uint8 and data.ndim == 3 and data.shape[2] == 3:
            h, w = data.shape[:2]
            return cls(
                timestamp=stamp, frame_id=frame_id, width=w, height=h, encoding="rgb8", step=w * 3, data=data.tobytes()
            ), ["data"]
        return cls(timestamp=stamp, frame_id=frame_id), []
    if msg.kind == "Depth":
        if data is not None and data.dtype.str == "<f4" and data.ndim == 2:
            h, w = data.shape
            return cls(
                timestamp=stamp, frame_id=frame_id, width=w, height=h, encoding="32FC1", step=w * 4, data=data.tobytes()
            ), ["data"]
        return cls(timestamp=stamp, frame_id=frame_id), []
    if msg.kind == "PointCloud":
        from foxglove_schemas_protobuf.PackedElementField_pb2 import PackedElementField as F

        pts, cols = arrays.get("points"), arrays.get("colors")
        if pts is None or pts.dtype.str != "<f4" or pts.ndim != 2 or pts.shape[1] != 3:
            return cls(timestamp=stamp, frame_id=frame_id), []
        fields = [F(name=c, offset=4 * i, type=F.FLOAT32) for i, c in enumerate("xyz")]
        if cols is not None and cols.dtype == np.uint8 and cols.shape == pts.shape:
            packed = np.empty(len(pts), _XYZRGB)  # (N,) records of 15 bytes: x y z float32, r g b uint8
            for i, c in enumerate("rgb"):
                packed[c] = cols[:, i]
                fields.append(F(name="rgb"[i], offset=12 + i, type=F.UINT8))
            carried = ["points", "colors"]
        else:
            packed = np.empty(len(pts), _XYZ)
            carried = ["points"]
        for i, c in enumerate("xyz"):
            packed[c] = pts[:, i]
        return cls(
            timestamp=stamp, frame_id=frame_id, point_stride=packed.dtype.itemsize, fields=fields, data=packed.tobytes()
        ), carried
    # CameraInfo: the calibration is for display; the exact values travel in the envelope's metadata.
    try:
        fx, fy, cx, cy = (float(meta[k]) for k in ("fx", "fy", "cx", "cy"))
        w, h = int(meta["width"]), int(meta["height"])
    except (KeyError, TypeError, ValueError):
        return cls(timestamp=stamp, frame_id=frame_id), []
    return cls(
        timestamp=stamp,
        frame_id=frame_id,
        width=w,
        height=h,
        distortion_model="plumb_bob",
        D=[0.0] * 5,
        K=[fx, 0, cx, 0, fy, cy, 0, 0, 1],
        R=[1.0, 0, 0, 0, 1, 0, 0, 0, 1],
        P=[fx, 0, cx, 0, 0, fy, cy, 0, 0, 0, 1, 0],
    ), []


def encode_message(msg: Msg) -> bytes:
    """The MCAP message data of `msg` (schema: `schema_for(msg.kind)`)."""
    arrays = {}
    for name, a in msg.arrays.items():
        if not isinstance(a, np.ndarray) or a.dtype.hasobject:
            raise RecordingError(
                f"array {name!r} of a {msg.kind} message on {msg.topic or 'no topic'} "
                f"cannot be recorded (got {type(a).__name__})"
            )
        arrays[name] = a if a.flags.c_contiguous else a.copy(order="C")  # (keeps 0-d arrays 0-d)
    head: list[bytes | memoryview] = []
    carried: list[str] = []
    if msg.kind in _FOXGLOVE:
        fox, carried = _foxglove(msg, arrays)
        head = [fox.SerializeToString()]
    header = {
        "v": HEADER_VERSION,
        "kind": msg.kind,
        "capture_ns": msg.capture_ns,
        "seq": msg.seq,
        "publish_ns": msg.publish_ns,
        "meta": msg.meta,
        "arrays": [[n, a.dtype.str, list(a.shape)] for n, a in arrays.items()],
        "foxglove": carried,
    }
    try:
        text = json.dumps(header, separators=(",", ":")).encode()
    except (TypeError, ValueError) as e:
        raise RecordingError(
            f"metadata of a {msg.kind} message on {msg.topic or 'no topic'} is not JSON-serialisable: {e}"
        ) from None
    env: list[bytes | memoryview] = _field(1, text)
    for n, a in arrays.items():
        if n not in carried:
            env += _field(2, a.data.cast("B") if a.size else b"")
    if msg.kind in _FOXGLOVE:
        return b"".join(head + _field(ENVELOPE_FIELD, b"".join(env)))
    return b"".join(env)


# -- decode ------------------------------------------------------------------------------------------
def decode_message(schema: str, data: bytes, topic: str = "") -> Msg:
    """The arp message stored as `data` on a channel of `schema`; raises ValueError when malformed."""
    view = memoryview(data)
    env: memoryview | None
    if schema == ENVELOPE_SCHEMA:
        env = view
        fox = None
    elif schema in _classes():
        env = next((v for n, w, v in _fields(view) if n == ENVELOPE_FIELD and w == 2), None)
        if env is None:
            raise ValueError(f"{schema} message without its arp envelope (field {ENVELOPE_FIELD})")
        fox = _classes()[schema].FromString(data)
    else:
        raise ValueError(f"unknown schema {schema!r}")
    text, buffers = None, []
    for number, wire, value in _fields(env):
        if number == 1 and wire == 2:
            text = bytes(value)
        elif number == 2 and wire == 2:
            buffers.append(value)
    if text is None:
        raise ValueError("envelope without a header")
    header = json.loads(text)
    if header.get("v") != HEADER_VERSION:
        raise ValueError(f"message header version {header.get('v')!r} (expected {HEADER_VERSION})")
    carried = set(header.get("foxglove") or ())
    fox_arrays = _from_foxglove(header["kind"], fox, carried) if carried else {}
    arrays, it = {}, iter(buffers)
    for name, dtype, shape in header["arrays"]:
        if name in carried:
            a = fox_arrays[name]
            if a.dtype.str != dtype or list(a.shape) != list(shape):
                raise ValueError(
                    f"array {name!r}: the Foxglove field holds {a.dtype.str}{list(a.shape)}, "
                    f"the header says {dtype}{shape}"
                )
        else:
            buf = next(it, None)
            if buf is None:
                raise ValueError(f"array {name!r} is missing from the envelope")
            a = np.frombuffer(buf, dtype=np.dtype(dtype)).reshape(shape)
        arrays[name] = a
    return Msg(
        kind=header["kind"],
        arrays=arrays,
        meta=header.get("meta") or {},
        capture_ns=int(header["capture_ns"]),
        topic=topic,
        seq=int(header["seq"]),
        publish_ns=int(header["publish_ns"]),
    )


def _from_foxglove(kind: str, fox: Any, carried: set[str]) -> dict[str, np.ndarray]:
    if kind in ("Image", "Depth"):
        dtype, depth = (np.uint8, 3) if kind == "Image" else (np.dtype("<f4"), 0)
        a = np.frombuffer(fox.data, dtype=dtype)
        return {"data": a.reshape((fox.height, fox.width, depth) if depth else (fox.height, fox.width))}
    if kind == "PointCloud":
        packed = np.frombuffer(fox.data, dtype=_XYZRGB if "colors" in carried else _XYZ)
        out = {"points": np.stack([packed[c] for c in "xyz"], axis=-1)}  # (N, 3) float32, exact bits
        if "colors" in carried:
            out["colors"] = np.stack([packed[c] for c in "rgb"], axis=-1)  # (N, 3) uint8
        return out
    raise ValueError(f"a {kind} message cannot carry arrays in its Foxglove fields")
