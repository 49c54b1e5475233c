"""Recording benchmark: how many 640x480 RGB + depth 30 fps streams the recorder holds, and replay speed.

Each stream is one source process (benchmarks/recording_nodes.py) publishing a 640x480 RGB image and a
640x480 float32 depth map 30 times a second (64.5 MB/s raw) through the real runtime into one recorder over
`reliable` edges, so nothing can be dropped: a recorder that cannot keep up slows its sources instead. A
stream count "holds" when every topic is recorded at >= 29 fps (from the recorded publish times), every
message sent is in the file, the sources spend under 5% of the run blocked on the recorder, and the
recorder's p99 lag (capture to written) stays under 0.5 s: its input buffers (32 messages per topic) would
otherwise hide a recorder that falls behind for a few seconds.

Replay: the first one-stream recording (lz4, the default) is replayed with `speed: 0` into two sinks over
reliable edges; the figure is recorded duration / replay duration (x real time).

    .venv/bin/python benchmarks/recording.py [--json] [--seconds 8] [--max-streams 6]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

FPS = 30.0
SIZE = (640, 480)
HOLD_FPS = 29.0
HOLD_BLOCKED = 0.05
HOLD_LAG_MS = 500.0


def render_frames(path: Path, n: int = 6) -> None:
    from ar_perception.sim import SimSource

    sim = SimSource(1, SIZE, "room", "walk", FPS)
    frames = [sim.frame(i * 5) for i in range(n)]
    np.savez(path, image=np.stack([f.image for f in frames]), depth=np.stack([f.depth for f in frames]))


def record_run(frames_file: Path, streams: int, seconds: float, compression: str, out: Path) -> dict[str, Any]:
    from ar_perception.graph.load import parse_graph
    from ar_perception.recording import RecordingReader
    from ar_perception.recording.graphs import RECORDER_QUEUE
    from ar_perception.runtime.launch import run_graph

    frames = int(seconds * FPS)
    nodes = [
        {
            "id": f"s{i}",
            "node": "recording_nodes:RgbdSource",
            "params": {"frames_file": str(frames_file), "fps": FPS, "frames": frames, "offset": i},
        }
        for i in range(streams)
    ]
    topics = [f"s{i}/{o}" for i in range(streams) for o in ("image", "depth")]
    nodes.append(
        {
            "id": "rec",
            "node": "recorder",
            "params": {"file": str(out), "compression": compression},
            "inputs": {t: {"source": t, "queue": RECORDER_QUEUE} for t in topics},
        }
    )
    graph = parse_graph(json.dumps({"nodes": nodes}), "<recording-bench>", search_paths=[str(HERE)])
    t0 = time.monotonic()
    result = run_graph(graph, duration=seconds * 10 + 60)
    wall = time.monotonic() - t0
    bad = {n: r.exit_code for n, r in result.nodes.items() if r.exit_code != 0}
    if bad:
        raise RuntimeError(f"recording run with {streams} streams failed: exit codes {bad}")
    rec = RecordingReader(out)
    rates = [rec.topics[t].rate_hz or 0.0 for t in topics]
    recorded = rec.message_count
    blocked = max(result.nodes[f"s{i}"].stats.get("blocked_s", 0.0) for i in range(streams))
    raw = sum(rec.topics[t].bytes for t in topics)
    lag = result.nodes["rec"].stats.get("lat_p99_ms") or 0.0
    holds = (
        min(rates) >= HOLD_FPS
        and recorded == 2 * frames * streams
        and blocked < HOLD_BLOCKED * seconds
        and lag < HOLD_LAG_MS
    )
    return {
        "test": "record",
        "compression": compression,
        "streams": streams,
        "fps_min": round(min(rates), 2),
        "sent": 2 * frames * streams,
        "recorded": recorded,
        "max_blocked_s": round(blocked, 2),
        "recorder_lag_p99_ms": round(lag, 1),
        "raw_mb_per_s": round(raw / 1e6 / rec.duration_s, 1),
        "file_mb": round(rec.size / 1e6, 1),
        "ratio": round(raw / rec.size, 2),
        "run_s": round(wall, 1),
        "holds": bool(holds),
    }


def replay_run(file: Path, consumers: int = 2) -> dict[str, Any]:
    from ar_perception.graph.load import parse_graph
    from ar_perception.recording import RecordingReader
    from ar_perception.runtime.launch import run_graph

    rec = RecordingReader(file)
    topics = sorted(rec.topics)
    nodes: list[dict[str, Any]] = [{"id": "rep", "node": "replay", "params": {"file": str(file), "speed": 0}}]
    nodes += [
        {
            "id": f"sink{i}",
            "node": "sink",
            "inputs": {"in": {"source": f"rep/{topics[i % len(topics)]}", "queue": "reliable"}},
        }
        for i in range(consumers)
    ]
    graph = parse_graph(json.dumps({"nodes": nodes}), "<replay-bench>")
    result = run_graph(graph, duration=600)
    got = sum(sum((result.nodes[f"sink{i}"].stats.get("in") or {}).values()) for i in range(consumers))
    raw = sum(t.bytes for t in rec.topics.values())
    return {
        "test": "replay",
        "speed": 0,
        "messages": rec.message_count,
        "delivered": got,
        "recorded_s": round(rec.duration_s, 2),
        "replay_s": round(result.duration_s, 2),
        "x_realtime": round(rec.duration_s / result.duration_s, 2),
        "msgs_per_s": round(rec.message_count / result.duration_s, 1),
        "raw_mb_per_s": round(raw / 1e6 / result.duration_s, 1),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", action="store_true", help="print one JSON list of rows")
    ap.add_argument("--seconds", type=float, default=8.0, help="length of each recording run")
    ap.add_argument("--max-streams", type=int, default=6)
    ap.add_argument("--compression", nargs="+", default=["lz4", "zstd", "none"])
    args = ap.parse_args()
    rows: list[dict[str, Any]] = []
    log = (lambda *a: print(*a, file=sys.stderr)) if args.json else print
    with tempfile.TemporaryDirectory(prefix="arp-recbench-") as tmp:
        frames_file = Path(tmp) / "frames.npz"
        render_frames(frames_file)
        first: Path | None = None
        for comp in args.compression:
            for n in range(1, args.max_streams + 1):
                out = Path(tmp) / f"{comp}-{n}.mcap"
                row = record_run(frames_file, n, args.seconds, comp, out)
                rows.append(row)
                log(
                    f"record {comp:4s} {n} stream(s): min {row['fps_min']:5.1f} fps, {row['recorded']}/{row['sent']} "
                    f"messages, sources blocked {row['max_blocked_s']:.2f} s, "
                    f"recorder lag p99 {row['recorder_lag_p99_ms']:.0f} ms, {row['raw_mb_per_s']} MB/s raw, "
                    f"ratio {row['ratio']} -> {'holds' if row['holds'] else 'does not hold'}"
                )
                if first is None:
                    first = out
                elif out != first:
                    out.unlink()
                if not row["holds"]:
                    break
        if first is not None:
            row = replay_run(first)
            rows.append(row)
            log(
                f"replay --speed 0: {row['recorded_s']} s of 1 stream in {row['replay_s']} s = "
                f"{row['x_realtime']}x real time ({row['msgs_per_s']} msgs/s, {row['raw_mb_per_s']} MB/s raw)"
            )
    for comp in args.compression:
        held = [r["streams"] for r in rows if r["test"] == "record" and r["compression"] == comp and r["holds"]]
        log(f"{comp}: holds {max(held) if held else 0} stream(s) of 640x480 RGB + depth at 30 fps")
    if args.json:
        print(json.dumps(rows))


if __name__ == "__main__":
    main()
