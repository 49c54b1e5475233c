"""An RGB-D folder (TUM RGB-D, or rgb/ + depth/) written as an arp recording that `arp replay` plays through a
graph whose source node has the same id: topics `<node>/image`, `<node>/depth` (metres, from the sensor) and
`<node>/camera`, on the folder's own clock (its timestamps become the capture times)."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ar_perception.errors import ArpError, RecordingError
from ar_perception.recording.writer import RecordingWriter
from ar_perception.rgbd import RgbdFolder
from ar_perception.runtime.msg import Msg

__all__ = ["ImportResult", "import_rgbd", "rgbd_messages", "sensor_messages"]


def sensor_messages(
    rgb: np.ndarray,
    depth: np.ndarray,
    intrinsics: Mapping[str, float],
    meta: Mapping[str, Any],
    capture_ns: int,
    node: str = "",
    seq: int = -1,
    depth_meta: Mapping[str, Any] | None = None,
) -> dict[str, Msg]:
    """One RGB-D frame as the Image, Depth (metres, `meta.source: sensor`) and CameraInfo messages a sensor
    source sends, captured at `capture_ns` (topics `<node>/<output>` when `node` is given, as a recording has
    them). Shared by the rgbd_folder and realsense nodes and the importers."""
    parts = {
        "image": ("Image", {"data": rgb}, dict(meta)),
        "depth": ("Depth", {"data": depth}, {**meta, **(depth_meta or {}), "source": "sensor"}),
        "camera": ("CameraInfo", {}, {**meta, **intrinsics}),
    }
    return {
        out: Msg(kind, arrays, m, capture_ns, topic=f"{node}/{out}" if node else "", seq=seq, publish_ns=capture_ns)
        for out, (kind, arrays, m) in parts.items()
    }


def rgbd_messages(folder: RgbdFolder, index: int, capture_ns: int, node: str = "", seq: int = -1) -> dict[str, Msg]:
    """`sensor_messages` of the folder's pair `index`. Raises ArpError for a pair that cannot be read."""
    pair = folder.pairs[index]
    rgb, depth = folder.load(pair)
    meta = {"frame": index, "time_s": round(pair.time_s, 6), "file": pair.rgb.name}
    return sensor_messages(rgb, depth, folder.intrinsics, meta, capture_ns, node, seq, {"file": pair.depth.name})


@dataclass
class ImportResult:
    path: Path
    frames: int  # pairs written
    skipped: list[str]  # pairs that could not be read: "file: why"
    unpaired_rgb: int
    unpaired_depth: int


def import_rgbd(
    folder: RgbdFolder,
    out: str | os.PathLike[str],
    *,
    node: str = "cam",
    graph: str = "",
    frames: int = 0,
    progress: Callable[[int, int], None] | None = None,
) -> ImportResult:
    """Write `folder`'s pairs (the first `frames`; 0 = all) to the recording `out`. A pair that cannot be read
    is skipped and named in the result, the rest are kept; `progress(done, total)` after each pair. `graph`
    (YAML text) is stored as the recording's graph, for `arp replay` without a graph argument."""
    pairs = folder.pairs[: frames or None]
    skipped: list[str] = []
    written = 0
    meta = {
        "source": str(folder.root),
        "layout": folder.layout,
        "depth_scale": f"{folder.depth_scale:g}",
        "intrinsics": ", ".join(f"{k}={v:g}" for k, v in folder.intrinsics.items()),
    }
    with RecordingWriter(out, graph=graph, metadata={f"import.{k}": v for k, v in meta.items()}) as writer:
        for i, pair in enumerate(pairs):
            capture_ns = round(pair.time_s * 1e9)
            try:
                msgs = rgbd_messages(folder, i, capture_ns, node, written)
            except ArpError as e:
                skipped.append(f"{pair.rgb.name}: {e}")
            else:
                for msg in msgs.values():
                    writer.write(msg)
                written += 1
            if progress is not None:
                progress(i + 1, len(pairs))
    if not written:
        raise RecordingError(f"{folder.root}: no frame pair could be read:\n  " + "\n  ".join(skipped[:5]))
    return ImportResult(Path(out), written, skipped, folder.unpaired_rgb, folder.unpaired_depth)
