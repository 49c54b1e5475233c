"""Head and point-cloud node latency at 640x480.

Usage: python benchmarks/heads.py [--json] [--quick]

Heads: the segment and depth nodes' work per frame (ar_perception.models.heads.LinearHead.predict, the
numpy path the nodes run), from a patch grid to a 640x480 mask or depth map, for the shipped default
heads (D = 384). Two grids: 16x16 (the offline stand-in's fixed 224x224 input) and 21x16 (an EUPE ViT/16
at resolution 256 on a 640x480 frame). Also the logits alone (the folded BatchNorm + 1x1 conv: one matmul).

Point cloud: the pointcloud node's `on_sync` through the test harness (synced depth + image + camera
with pose -> world-frame coloured cloud) on the simulator's 640x480 ground-truth depth, with and without
5 cm voxel downsampling. Times are medians over frames, after one warm-up call; the 1-min load average
is printed because other work on a shared machine inflates them.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from collections.abc import Callable
from functools import partial
from typing import Any

import numpy as np

from ar_perception.models.heads import default_head_path, load_head
from ar_perception.nodes.pointcloud import PointCloud
from ar_perception.runtime.harness import NodeHarness
from ar_perception.runtime.msg import Msg
from ar_perception.sim import SimSource

SIZE = (640, 480)
GRIDS = ((16, 16), (16, 21))  # (h, w)


def _median_ms(fn: Callable[[], Any], repeats: int) -> float:
    fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return round(float(np.median(times) * 1000.0), 2)


def bench_heads(repeats: int) -> list[dict[str, Any]]:
    rows = []
    rng = np.random.default_rng(0)
    for task in ("seg", "depth"):
        head = load_head(default_head_path(task), task)
        for h, w in GRIDS:
            patches = rng.normal(size=(h, w, head.info.dim)).astype(np.float32)
            rows.append(
                {
                    "head": task,
                    "grid": f"{h}x{w}",
                    "out": f"{SIZE[0]}x{SIZE[1]}",
                    "channels": head.info.out_channels,
                    "logits_ms": _median_ms(partial(head.logits, patches), repeats),
                    "predict_ms": _median_ms(partial(head.predict, patches, SIZE), repeats),
                    "load_1m": round(os.getloadavg()[0], 2),
                }
            )
    return rows


def bench_pointcloud(frames: int) -> list[dict[str, Any]]:
    src = SimSource(0, size=SIZE, trajectory="walk")
    sims = [src.frame(i * 11) for i in range(frames)]
    rows = []
    for voxel in (None, 0.05):
        h = NodeHarness(PointCloud, {"voxel": voxel}, sync={"mode": "exact"})
        times, n_out = [], []
        for k, f in enumerate([sims[0], *sims]):  # the first is a warm-up
            cam = Msg("CameraInfo", {"pose": f.pose}, dict(f.intrinsics), capture_ns=k)
            h.feed("image", Msg("Image", {"data": f.image}, {}, capture_ns=k))
            h.feed("camera", cam)
            t0 = time.perf_counter()
            ((_, cloud),) = h.feed("depth", Msg("Depth", {"data": f.depth}, {}, capture_ns=k))
            if k:
                times.append(time.perf_counter() - t0)
                n_out.append(len(cloud.arrays["points"]))
        h.close()
        rows.append(
            {
                "node": "pointcloud",
                "size": f"{SIZE[0]}x{SIZE[1]}",
                "voxel_m": voxel,
                "frames": frames,
                "ms_median": round(float(np.median(times) * 1000), 2),
                "points_median": int(np.median(n_out)),
                "load_1m": round(os.getloadavg()[0], 2),
            }
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    parser.add_argument("--quick", action="store_true", help="fewer repeats (a smoke run)")
    args = parser.parse_args()
    result: dict[str, Any] = {
        "machine": {"platform": platform.platform(), "python": platform.python_version(), "cpus": os.cpu_count()},
        "heads": bench_heads(5 if args.quick else 30),
        "pointcloud": bench_pointcloud(3 if args.quick else 15),
    }
    if args.json:
        print(json.dumps(result, indent=1))
        return
    m = result["machine"]
    print(
        f"head and point-cloud latency on {m['platform']}, Python {m['python']}, {m['cpus']} CPUs "
        "(medians; load = 1-min load average after the row)"
    )
    print(f"{'head':>6} {'grid':>6} {'out':>8} {'K':>4} {'logits ms':>9} {'predict ms':>10} {'load':>5}")
    for r in result["heads"]:
        print(
            f"{r['head']:>6} {r['grid']:>6} {r['out']:>8} {r['channels']:>4} {r['logits_ms']:>9} "
            f"{r['predict_ms']:>10} {r['load_1m']:>5}"
        )
    for r in result["pointcloud"]:
        voxel = f"{r['voxel_m']} m voxels" if r["voxel_m"] else "no voxels"
        print(
            f"pointcloud node {r['size']} world frame + colours, {voxel}: {r['ms_median']} ms median "
            f"({r['frames']} frames, {r['points_median']} points, load {r['load_1m']})"
        )


if __name__ == "__main__":
    main()
