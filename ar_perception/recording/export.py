"""Export one recorded topic to ordinary files: frames to PNG or MP4, point clouds to PLY, audio to WAV,
text to JSON lines, and any kind's exact arrays to NPZ.

Depth PNGs are 16-bit, in millimetres (0 = no depth, saturating at 65.535 m); depth MP4s map 0-10 m to the
turbo colour map. Mask PNGs hold the class ids.
"""

from __future__ import annotations

import json
import os
import wave
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import numpy as np

from ar_perception.errors import MissingExtraError, RecordingError
from ar_perception.images import cv2_module
from ar_perception.recording.reader import RecordingReader
from ar_perception.runtime.msg import Msg

if TYPE_CHECKING:
    import cv2

__all__ = ["FORMATS", "ExportResult", "export_topic", "check_request"]

FORMATS: dict[str, tuple[str, ...]] = {  # kind -> formats, the first is the default
    "Image": ("png", "mp4", "npz"),
    "Depth": ("png", "mp4", "npz"),
    "Mask": ("png", "npz"),
    "PointCloud": ("ply", "npz"),
    "Audio": ("wav", "npz"),
    "Text": ("jsonl",),
    "Answer": ("jsonl",),
    "CameraInfo": ("jsonl", "npz"),
    "Features": ("npz",),
    "Tick": ("jsonl",),
    "Any": ("npz", "jsonl"),
}
DEPTH_MP4_MAX_M = 10.0


@dataclass
class ExportResult:
    files: list[Path] = field(default_factory=list)
    messages: int = 0
    format: str = ""


def export_topic(
    path: str | os.PathLike[str],
    topic: str,
    out_dir: str | os.PathLike[str],
    fmt: str | None = None,
    progress: Callable[[int], None] | None = None,
) -> ExportResult:
    """Write every message of `topic` under `out_dir` in `fmt` (default: the kind's first format)."""
    reader = RecordingReader(path)
    fmt = check_request(reader, topic, fmt)
    info = reader.topics[topic]
    out = Path(out_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise RecordingError(f"{out}: cannot create the export folder: {e.strerror}") from None
    stem = topic.replace("/", "_")
    result = ExportResult(format=fmt)
    fps = info.rate_hz or 10.0
    sink = _Sink(out, stem, fmt, info.kind, fps, result)
    try:
        for i, msg in enumerate(reader.messages([topic])):
            sink.add(i, msg)
            result.messages += 1
            if progress:
                progress(1)
    finally:
        sink.close()
    return result


def check_request(reader: RecordingReader, topic: str, fmt: str | None = None) -> str:
    """The format to export `topic` in (`fmt`, or the kind's default); raises when either does not fit."""
    if topic not in reader.topics:
        import difflib

        near = difflib.get_close_matches(topic, list(reader.topics), n=1)
        raise RecordingError(
            f"{reader.path}: no topic '{topic}' in this recording (it has: "
            f"{', '.join(sorted(reader.topics)) or 'none'})" + (f"; did you mean '{near[0]}'?" if near else "")
        )
    kind = reader.topics[topic].kind
    formats = FORMATS.get(kind, ("npz",))
    if fmt is not None and fmt not in formats:
        raise RecordingError(
            f"topic '{topic}' holds {kind} messages, which export to {', '.join(formats)} (got --format {fmt})"
        )
    return fmt or formats[0]


class _Sink:
    def __init__(self, out: Path, stem: str, fmt: str, kind: str, fps: float, result: ExportResult):
        self.out, self.stem, self.fmt, self.kind, self.fps, self.result = out, stem, fmt, kind, fps, result
        self.video: cv2.VideoWriter | None = None  # opened on the first frame
        self.size = (0, 0)  # width, height of the video's frames, set when it opens
        self.lines: IO[str] | None = None
        self.audio: list[np.ndarray] = []
        self.rate: int | None = None

    def _file(self, name: str) -> Path:
        p = self.out / name
        self.result.files.append(p)
        return p

    def add(self, i: int, msg: Msg) -> None:
        if self.fmt == "npz":
            arrays: dict[str, Any] = {k: np.asarray(a) for k, a in msg.arrays.items()}
            np.savez(self._file(f"{self.stem}_{i:06d}.npz"), **arrays)
            self._jsonl(msg)
        elif self.fmt == "jsonl":
            self._jsonl(msg)
        elif self.fmt == "png":
            cv2 = cv2_module()
            p = self._file(f"{self.stem}_{i:06d}.png")
            if not cv2.imwrite(str(p), self._png(msg)):
                raise RecordingError(f"{p}: OpenCV could not write the PNG")
        elif self.fmt == "mp4":
            self._mp4(msg)
        elif self.fmt == "ply":
            self._ply(i, msg)
        elif self.fmt == "wav":
            rate = int(msg.meta.get("sample_rate", 16000))
            if self.rate is not None and rate != self.rate:
                raise RecordingError(
                    f"audio message {i} has sample rate {rate} Hz, the ones before {self.rate} Hz; "
                    "export it as npz instead"
                )
            self.rate = rate
            self.audio.append(np.asarray(msg.data, dtype=np.float32))

    def _png(self, msg: Msg) -> np.ndarray:
        cv2 = cv2_module()
        a = msg.data
        if self.kind == "Image":
            return cv2.cvtColor(np.ascontiguousarray(a), cv2.COLOR_RGB2BGR)
        if self.kind == "Depth":
            return np.clip(np.nan_to_num(a * 1000.0), 0, 65535).round().astype(np.uint16)  # millimetres
        return a.astype(np.uint16) if a.dtype not in (np.uint8, np.uint16) else a

    def _mp4(self, msg: Msg) -> None:
        cv2 = cv2_module()
        a = msg.data
        if self.kind == "Depth":
            scaled = np.clip(np.nan_to_num(a) / DEPTH_MP4_MAX_M * 255.0, 0, 255).astype(np.uint8)
            frame = cv2.applyColorMap(scaled, cv2.COLORMAP_TURBO)
        else:
            frame = cv2.cvtColor(np.ascontiguousarray(a), cv2.COLOR_RGB2BGR)
        h, w = frame.shape[:2]
        if self.video is None:
            p = self._file(f"{self.stem}.mp4")
            self.video = cv2.VideoWriter(str(p), cv2.VideoWriter_fourcc(*"mp4v"), float(self.fps), (w, h))
            if not self.video.isOpened():
                raise RecordingError(f"{p}: OpenCV cannot open an mp4v video writer")
            self.size = (w, h)
        elif self.size != (w, h):
            raise RecordingError(
                f"frame size changed from {self.size[0]}x{self.size[1]} to {w}x{h} "
                "within the topic; export it as png instead"
            )
        self.video.write(frame)

    def _ply(self, i: int, msg: Msg) -> None:
        try:
            import open3d as o3d
        except ImportError:
            raise MissingExtraError("open3d-cpu", "vision") from None
        pc = o3d.geometry.PointCloud(o3d.utility.Vector3dVector(np.asarray(msg.arrays["points"], np.float64)))
        if "colors" in msg.arrays:
            pc.colors = o3d.utility.Vector3dVector(np.asarray(msg.arrays["colors"], np.float64) / 255.0)
        p = self._file(f"{self.stem}_{i:06d}.ply")
        if not o3d.io.write_point_cloud(p, pc, write_ascii=False):
            raise RecordingError(f"{p}: open3d could not write the PLY file")

    def _jsonl(self, msg: Msg) -> None:
        if self.lines is None:
            self.lines = open(self._file(f"{self.stem}.jsonl"), "w")
        row = {
            "seq": msg.seq,
            "capture_ns": msg.capture_ns,
            "publish_ns": msg.publish_ns,
            "kind": msg.kind,
            "meta": dict(msg.meta),
        }
        if self.fmt == "jsonl":
            row["arrays"] = {
                k: a.tolist() if a.size <= 64 else f"{a.dtype}{list(a.shape)}" for k, a in msg.arrays.items()
            }
        self.lines.write(json.dumps(row) + "\n")

    def close(self) -> None:
        if self.video is not None:
            self.video.release()
        if self.lines is not None:
            self.lines.close()
        if self.fmt == "wav" and self.audio:
            pcm = (np.clip(np.concatenate(self.audio), -1.0, 1.0) * 32767).round().astype("<i2")
            with wave.open(str(self._file(f"{self.stem}.wav")), "wb") as w:
                w.setnchannels(1)
                w.setsampwidth(2)
                w.setframerate(self.rate or 16000)
                w.writeframes(pcm.tobytes())
