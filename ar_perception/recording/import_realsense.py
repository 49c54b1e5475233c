"""A RealSense recording (.bag, or .db3 as librealsense 2.59 records) written as an arp recording: colour, depth
aligned to colour in metres and intrinsics, as `<node>/image`, `<node>/depth`, `<node>/camera`, on the device's
timestamps (ar_perception/realsense.py reads it through the SDK's own playback)."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ar_perception.errors import RecordingError
from ar_perception.realsense import RealSenseReader
from ar_perception.recording.import_rgbd import sensor_messages
from ar_perception.recording.writer import RecordingWriter

__all__ = ["RealSenseImport", "import_realsense"]


@dataclass
class RealSenseImport:
    path: Path
    frames: int
    unpaired: int  # frames the SDK's syncer handed out without a partner in the other stream
    dropped: int  # colour frames missing between those read (gaps in their frame numbers)


def import_realsense(
    source: str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    node: str = "cam",
    graph: str = "",
    progress: Callable[[int], None] | None = None,
) -> RealSenseImport:
    reader = RealSenseReader(str(source), timeout_s=2.0)
    written = 0
    try:
        with RecordingWriter(out, graph=graph, metadata={"import.source": str(source)}) as w:
            for f in reader.frames():
                meta = {"frame": f.index, "device_time_s": round(f.time_s, 6)}
                for msg in sensor_messages(
                    f.rgb, f.depth, f.intrinsics, meta, round(f.time_s * 1e9), node, written
                ).values():
                    w.write(msg)
                written += 1
                if progress is not None:
                    progress(written)
    finally:
        reader.close()
    if not written:
        raise RecordingError(f"{source}: no frame with both colour and depth ({reader.unpaired} frames alone)")
    return RealSenseImport(Path(out), written, reader.unpaired, reader.dropped)
