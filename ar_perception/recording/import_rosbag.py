"""A ROS bag (ROS 1 `.bag`, or a ROS 2 bag folder in sqlite3 or MCAP storage) written as an arp recording, through
`rosbags` (the `ros` extra). What converts:

- `sensor_msgs/Image` and `sensor_msgs/CompressedImage` -> Image (rgb8, bgr8, rgba8, bgra8, mono8, mono16; JPEG or
  PNG) or, on the depth topic, Depth in metres (16UC1 / mono16 in millimetres, 32FC1 in metres; PNG-compressed
  depth: 16-bit millimetres, or compressedDepth's quantised inverse depth for 32FC1; RVL is refused by name).
- `sensor_msgs/CameraInfo` -> CameraInfo (fx, fy, cx, cy from K; width, height).
- `sensor_msgs/PointCloud2` -> PointCloud on `<node>/points` (x, y, z as float32; packed rgb as colours;
  points without a return left out), in the message's frame.

Times: a message's capture time is its header stamp. Topics: `<node>/image`, `<node>/depth`, `<node>/camera` (and
`<node>/points`), so the recording replays through a graph whose source has that id (graphs/rgbd.yaml: `cam`).
A message that cannot be converted is skipped and named (topic, index, field, why); the rest are kept. Other
message types (IMU, TF...) are listed as not imported.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ar_perception.errors import ArpError, MissingExtraError, RecordingError
from ar_perception.images import cv2_module, to_rgb
from ar_perception.recording.writer import RecordingWriter
from ar_perception.runtime.msg import Msg

__all__ = ["BagTopic", "RosbagImport", "bag_topics", "import_rosbag", "image_array", "depth_array"]

IMAGE_TYPES = ("sensor_msgs/msg/Image", "sensor_msgs/msg/CompressedImage")
CLOUD_TYPE = "sensor_msgs/msg/PointCloud2"
CAMERA_TYPE = "sensor_msgs/msg/CameraInfo"
_COLOUR = {"rgb8": ("rgb", 3), "bgr8": ("bgr", 3), "rgba8": ("rgb", 4), "bgra8": ("bgr", 4), "mono8": ("rgb", 1)}


@dataclass(frozen=True)
class BagTopic:
    name: str
    msgtype: str
    count: int


@dataclass
class RosbagImport:
    path: Path
    counts: dict[str, int]  # output -> messages written
    skipped: list[str] = field(default_factory=list)  # "topic #index: why"
    not_imported: list[str] = field(default_factory=list)  # topics of other types


def _reader(path: Path) -> Any:
    try:
        from rosbags.highlevel import AnyReader
    except ImportError:
        raise MissingExtraError("rosbags", "ros") from None
    if not path.exists():
        raise RecordingError(f"{path}: no such bag (a ROS 1 .bag file, or a ROS 2 bag folder)")
    return AnyReader([path])


def bag_topics(path: str | os.PathLike[str]) -> list[BagTopic]:
    """The topics of a bag: name, message type, count."""
    try:
        with _reader(Path(path)) as reader:
            return [BagTopic(c.topic, c.msgtype, c.msgcount) for c in reader.connections]
    except ArpError:
        raise
    except Exception as e:  # rosbags raises its own errors for damaged or foreign files
        raise RecordingError(f"{path}: not a readable ROS bag ({type(e).__name__}: {e})") from None


def _decode(data: bytes) -> np.ndarray:
    cv2 = cv2_module()
    frame = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    if frame is None:
        raise ValueError("data: not a JPEG or PNG image")
    return frame


def _raw(msg: Any) -> np.ndarray:
    """The pixels of a sensor_msgs/Image, (H, W[, C]) of its encoding's dtype, rows cut to `step`."""
    enc = msg.encoding.lower()
    dtype, channels = {
        "rgb8": (np.uint8, 3),
        "bgr8": (np.uint8, 3),
        "rgba8": (np.uint8, 4),
        "bgra8": (np.uint8, 4),
        "mono8": (np.uint8, 1),
        "8uc1": (np.uint8, 1),
        "mono16": (np.uint16, 1),
        "16uc1": (np.uint16, 1),
        "32fc1": (np.float32, 1),
    }.get(enc, (None, 0))
    if dtype is None:
        raise ValueError(
            f"encoding: {msg.encoding!r} is not converted (rgb8, bgr8, rgba8, bgra8, mono8, mono16, 16UC1, 32FC1)"
        )
    item = np.dtype(dtype).newbyteorder(">" if msg.is_bigendian else "<")
    row = msg.width * channels * item.itemsize
    buf = np.asarray(msg.data, np.uint8)
    if msg.step < row or buf.size < msg.step * msg.height:
        raise ValueError(
            f"data: {buf.size} bytes for {msg.height} rows of step {msg.step} ({row} bytes of pixels each)"
        )
    rows = buf[: msg.step * msg.height].reshape(msg.height, msg.step)[:, :row]
    a = np.ascontiguousarray(rows).view(item).astype(dtype)
    return a.reshape(msg.height, msg.width, channels) if channels > 1 else a.reshape(msg.height, msg.width)


def image_array(msg: Any, compressed: bool) -> np.ndarray:
    """RGB uint8 (H, W, 3) of an Image or CompressedImage message."""
    if compressed:
        frame = _decode(bytes(msg.data))
        return to_rgb(frame, "bgr" if frame.ndim == 3 else "rgb")
    enc = msg.encoding.lower()
    if enc not in _COLOUR and enc not in ("8uc1", "mono16"):
        raise ValueError(f"encoding: {msg.encoding!r} is no colour image")
    order = _COLOUR.get(enc, ("rgb", 1))[0]
    return to_rgb(_raw(msg), order)  # type: ignore[arg-type]


def depth_array(msg: Any, compressed: bool, mm_per_unit: float = 1.0) -> np.ndarray:
    """Depth in metres (H, W) float32, 0 = none, of a depth Image (16UC1 / mono16 mm, 32FC1 m) or a 16-bit PNG."""
    if compressed:
        fmt = str(getattr(msg, "format", "")).lower()
        if "rvl" in fmt:
            raise ValueError(f"format: {msg.format!r} (RVL) is not converted; only PNG-compressed depth is")
        data = bytes(msg.data)
        png = data.find(b"\x89PNG")  # compressedDepth puts a 12-byte header before the PNG
        d = _decode(data[png:] if png > 0 else data)
        if d.dtype != np.uint16 or d.ndim != 2:
            raise ValueError(f"data: compressed depth must be a 16-bit single-channel PNG, got {d.dtype} {d.shape}")
        if "32fc1" in fmt:  # compressedDepth of float metres: quantised inverse depth, its two parameters ahead
            if png < 12:
                raise ValueError(f"data: {msg.format!r} needs its 12-byte header before the PNG")
            quant_a, quant_b = struct.unpack_from("<ff", data, 4)
            v = d.astype(np.float32)
            with np.errstate(divide="ignore"):
                metres = np.where(v > 0, np.float32(quant_a) / (v - np.float32(quant_b)), 0)
            return np.where(np.isfinite(metres) & (metres > 0), metres, 0).astype(np.float32)
        return d.astype(np.float32) * np.float32(mm_per_unit / 1000)
    d = _raw(msg)
    if d.ndim != 2 or d.dtype == np.uint8:
        raise ValueError(f"encoding: {msg.encoding!r} is no depth image (16UC1/mono16 in mm, or 32FC1 in m)")
    if d.dtype == np.uint16:
        return d.astype(np.float32) * np.float32(mm_per_unit / 1000)
    return np.where(np.isfinite(d) & (d > 0), d, 0).astype(np.float32)


_PC2_TYPES = {1: "i1", 2: "u1", 3: "i2", 4: "u2", 5: "i4", 6: "u4", 7: "f4", 8: "f8"}  # sensor_msgs/PointField


def cloud_arrays(msg: Any) -> dict[str, np.ndarray]:
    """`points` (N, 3) float32 and, with an rgb/rgba field, `colors` (N, 3) uint8 of a sensor_msgs/PointCloud2;
    points with a non-finite coordinate (no return) are left out."""
    fields = {f.name: f for f in msg.fields}
    missing = [c for c in "xyz" if c not in fields]
    if missing:
        raise ValueError(f"fields: no {', '.join(missing)} (has: {', '.join(fields) or 'none'})")
    n = int(msg.width) * int(msg.height)
    step = int(msg.point_step)
    buf = np.asarray(msg.data, np.uint8)
    if n == 0:
        return {"points": np.zeros((0, 3), np.float32)}
    if buf.size < n * step or step <= 0:
        raise ValueError(f"data: {buf.size} bytes for {n} points of {step} bytes")
    rows = buf[: n * step].reshape(n, step) if int(msg.row_step) == int(msg.width) * step else None
    if rows is None:  # rows padded: take each row's points
        rows = np.concatenate(
            [buf[r * msg.row_step : r * msg.row_step + msg.width * step].reshape(-1, step) for r in range(msg.height)]
        )
    order = ">" if msg.is_bigendian else "<"

    def column(name: str) -> np.ndarray:
        f = fields[name]
        code = _PC2_TYPES.get(int(f.datatype))
        if code is None:
            raise ValueError(f"fields: {name} has datatype {f.datatype}, not a PointField number type")
        dtype = np.dtype(order + code)
        raw = np.ascontiguousarray(rows[:, f.offset : f.offset + dtype.itemsize])
        return raw.view(dtype).reshape(-1)

    points = np.stack([column(c).astype(np.float32) for c in "xyz"], axis=1)
    keep = np.isfinite(points).all(axis=1)
    out = {"points": np.ascontiguousarray(points[keep])}
    colour = next((c for c in ("rgb", "rgba") if c in fields), None)
    if colour is not None:  # packed 0x00RRGGBB in a float32 or uint32
        f = fields[colour]
        packed = np.ascontiguousarray(rows[:, f.offset : f.offset + 4]).view(order + "u4").reshape(-1)[keep]
        out["colors"] = np.stack([(packed >> 16) & 255, (packed >> 8) & 255, packed & 255], axis=1).astype(np.uint8)
    return out


def camera_meta(msg: Any) -> dict[str, float]:
    k = np.asarray(getattr(msg, "k", getattr(msg, "K", None)), float).reshape(-1)
    if k.size != 9 or k[0] <= 0 or k[4] <= 0:
        raise ValueError(f"k: expected a 3x3 camera matrix with fx, fy > 0, got {k.tolist()}")
    return {"fx": k[0], "fy": k[4], "cx": k[2], "cy": k[5], "width": float(msg.width), "height": float(msg.height)}


def _pick(
    topics: list[BagTopic],
    image_topic: str | None,
    depth_topic: str | None,
    camera_topic: str | None,
    points_topic: str | None = None,
) -> dict[str, str]:
    """output -> bag topic: named ones, else the image topics split by 'depth' in the name, the camera info
    next to the colour topic (or the only one)."""
    by_name = {t.name: t for t in topics}
    for name in (image_topic, depth_topic, camera_topic, points_topic):
        if name is not None and name not in by_name:
            raise RecordingError(f"no topic {name} in the bag (it has: {', '.join(sorted(by_name)) or 'none'})")
    images = [t.name for t in topics if t.msgtype in IMAGE_TYPES]
    depths = [n for n in images if "depth" in n.lower()]
    colours = [n for n in images if n not in depths]
    chosen: dict[str, str] = {}
    for out, given, candidates, option in (
        ("image", image_topic, colours, "--image-topic"),
        ("depth", depth_topic, depths, "--depth-topic"),
    ):
        if given is not None:
            chosen[out] = given
        elif len(candidates) == 1:
            chosen[out] = candidates[0]
        elif len(candidates) > 1:
            raise RecordingError(f"{len(candidates)} {out} topics ({', '.join(candidates)}): name one with {option}")
    if not chosen and not any(t.msgtype == CLOUD_TYPE for t in topics):
        raise RecordingError(
            f"no sensor_msgs Image, CompressedImage or PointCloud2 topic in the bag (it has: "
            f"{', '.join(f'{t.name} [{t.msgtype}]' for t in topics) or 'nothing'})"
        )
    clouds = [t.name for t in topics if t.msgtype == CLOUD_TYPE]
    if points_topic is not None:
        chosen["points"] = points_topic
    elif len(clouds) == 1:
        chosen["points"] = clouds[0]
    elif len(clouds) > 1:
        raise RecordingError(f"{len(clouds)} PointCloud2 topics ({', '.join(clouds)}): name one with --points-topic")
    infos = [t.name for t in topics if t.msgtype == CAMERA_TYPE]
    if camera_topic is not None:
        chosen["camera"] = camera_topic
    elif infos:
        base = chosen.get("image", chosen.get("depth", "")).rsplit("/", 1)[0]
        near = [n for n in infos if n.rsplit("/", 1)[0] == base]
        chosen["camera"] = near[0] if near else infos[0]
    return chosen


def _reading(messages: Iterator[Any], path: object, out: object, result: RosbagImport) -> Iterator[Any]:
    """The bag's messages; a bag that breaks while being read is a RecordingError that says how far it got
    (what was converted until then stays in the recording, which is closed as a valid file)."""
    while True:
        try:
            item = next(messages)
        except StopIteration:
            return
        except Exception as e:  # rosbags raises its own errors for a damaged file
            kept = sum(result.counts.values())
            raise RecordingError(
                f"{path}: the bag cannot be read past this point ({type(e).__name__}: {e}); "
                f"the {kept} messages converted before it are kept in {out}"
            ) from None
        yield item


def import_rosbag(
    path: str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    node: str = "cam",
    image_topic: str | None = None,
    depth_topic: str | None = None,
    camera_topic: str | None = None,
    points_topic: str | None = None,
    depth_mm_per_unit: float = 1.0,
    graph: str = "",
    progress: Callable[[int, int], None] | None = None,
) -> RosbagImport:
    """Convert the bag's colour, depth and camera-info topics (see the module text) into the recording `out`."""
    topics = bag_topics(path)
    chosen = _pick(topics, image_topic, depth_topic, camera_topic, points_topic)
    output_of = {topic: out_name for out_name, topic in chosen.items()}
    total = sum(t.count for t in topics if t.name in output_of)
    result = RosbagImport(Path(out), dict.fromkeys(chosen, 0))
    result.not_imported = [f"{t.name} [{t.msgtype}]" for t in topics if t.name not in output_of]
    index: dict[str, int] = dict.fromkeys(chosen.values(), 0)
    done = 0
    with _reader(Path(path)) as reader, RecordingWriter(out, graph=graph, metadata={"import.source": str(path)}) as w:
        wanted = [c for c in reader.connections if c.topic in output_of]
        for conn, log_ns, raw in _reading(reader.messages(connections=wanted), path, out, result):
            what, i = output_of[conn.topic], index[conn.topic]
            index[conn.topic] += 1
            done += 1
            try:
                msg = reader.deserialize(raw, conn.msgtype)
                stamp = msg.header.stamp
                capture_ns = int(stamp.sec) * 1_000_000_000 + int(stamp.nanosec) or int(log_ns)
                compressed = conn.msgtype.endswith("CompressedImage")
                meta: dict[str, Any] = {}
                if what == "image":
                    arrays, kind = {"data": image_array(msg, compressed)}, "Image"
                elif what == "depth":
                    arrays, meta, kind = (
                        {"data": depth_array(msg, compressed, depth_mm_per_unit)},
                        {"source": "sensor"},
                        "Depth",
                    )
                elif what == "points":
                    arrays, meta, kind = cloud_arrays(msg), {"frame": str(msg.header.frame_id)}, "PointCloud"
                else:
                    arrays, meta, kind = {}, dict(camera_meta(msg)), "CameraInfo"
            except Exception as e:  # one message that does not convert is named and skipped, never the rest
                result.skipped.append(f"{conn.topic} #{i}: {e}")
            else:
                frame = {"frame_id": str(msg.header.frame_id), "topic": conn.topic}
                seq = result.counts[what]
                w.write(Msg(kind, arrays, {**meta, **frame}, capture_ns, f"{node}/{what}", seq, capture_ns))
                result.counts[what] += 1
            if progress is not None:
                progress(done, total)
    if not any(result.counts.values()):
        raise RecordingError(f"{path}: no message could be converted:\n  " + "\n  ".join(result.skipped[:5]))
    return result
