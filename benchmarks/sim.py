"""Simulated source and point-cloud benchmark.

Usage: python benchmarks/sim.py [--json] [--quick]

Sim: frames rendered by `SimSource.frame(i)` (ray cast, shading, shadows, labels, depth), for three
seeds and the three trajectories, after one warm-up frame each; frame time is the median over all
frames, frames/s = 1 / median. Measured at 320x240 and 640x480, with shadows (the default) and
without. Scene build time (layout + mesh + BVH) is reported apart.

Point cloud: `depth_to_points` (world frame, with colours) and `voxel_downsample` (5 cm) on the
sim's 640x480 ground-truth depth; median over frames of each step and of both together.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from typing import Any

import numpy as np

from ar_perception.geometry import depth_to_points, voxel_downsample
from ar_perception.sim import TRAJECTORIES, SimSource

SEEDS = (0, 1, 2)
SIZES = ((320, 240), (640, 480))
VOXEL = 0.05


def _median_ms(samples: list[float]) -> float:
    return float(np.median(samples) * 1000.0)


def bench_sim(size: tuple[int, int], frames: int, shadows: bool) -> dict[str, Any]:
    times, builds = [], []
    for seed in SEEDS:
        for trajectory in TRAJECTORIES:
            t0 = time.perf_counter()
            src = SimSource(seed, size=size, trajectory=trajectory, shadows=shadows)
            builds.append(time.perf_counter() - t0)
            src.frame(0)
            for i in range(1, frames + 1):
                t0 = time.perf_counter()
                src.frame(i * 7)
                times.append(time.perf_counter() - t0)
    med = _median_ms(times)
    return {
        "size": f"{size[0]}x{size[1]}",
        "shadows": shadows,
        "frames": len(times),
        "frame_ms_median": round(med, 2),
        "frame_ms_p90": round(float(np.percentile(times, 90) * 1000.0), 2),
        "frame_ms_min": round(float(np.min(times) * 1000.0), 2),
        "fps": round(1000.0 / med, 1),
        "build_ms_median": round(_median_ms(builds), 1),
        "load_1m": round(os.getloadavg()[0], 2),  # other work on the machine inflates the times
    }


def bench_pointcloud(frames: int) -> dict[str, Any]:
    to_points, down, total, n_in, n_out = [], [], [], [], []
    for seed in SEEDS:
        src = SimSource(seed, size=(640, 480), trajectory="walk")
        for i in range(frames):
            f = src.frame(i * 11)
            k = f.intrinsics
            t0 = time.perf_counter()
            pts, cols = depth_to_points(f.depth, k["fx"], k["fy"], k["cx"], k["cy"], pose=f.pose, rgb=f.image)
            t1 = time.perf_counter()
            small, _ = voxel_downsample(pts, VOXEL, cols)
            t2 = time.perf_counter()
            to_points.append(t1 - t0)
            down.append(t2 - t1)
            total.append(t2 - t0)
            n_in.append(len(pts))
            n_out.append(len(small))
    return {
        "size": "640x480",
        "voxel_m": VOXEL,
        "frames": len(total),
        "depth_to_points_ms_median": round(_median_ms(to_points), 2),
        "voxel_downsample_ms_median": round(_median_ms(down), 2),
        "total_ms_median": round(_median_ms(total), 2),
        "points_in_median": int(np.median(n_in)),
        "points_out_median": int(np.median(n_out)),
        "load_1m": round(os.getloadavg()[0], 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    parser.add_argument("--quick", action="store_true", help="fewer frames (a smoke run)")
    args = parser.parse_args()
    frames = 5 if args.quick else 20

    sim = [bench_sim(size, frames, shadows) for size in SIZES for shadows in (True, False)]
    cloud = bench_pointcloud(frames)
    result: dict[str, Any] = {
        "machine": {
            "platform": platform.platform(),
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
        },
        "sim": sim,
        "pointcloud": cloud,
    }
    if args.json:
        print(json.dumps(result, indent=1))
        return
    m = result["machine"]
    print(
        f"sim benchmark on {m['platform']}, Python {m['python']}, {m['cpus']} CPUs "
        "(load: the 1-min load average after each row; above the CPU count, other work inflates the times)"
    )
    print(
        f"{'size':>8} {'shadows':>7} {'frames':>6} {'median ms':>9} {'p90 ms':>7} {'min ms':>7} {'frames/s':>8} "
        f"{'build ms':>8} {'load':>5}"
    )
    for r in sim:
        print(
            f"{r['size']:>8} {str(r['shadows']):>7} {r['frames']:>6} {r['frame_ms_median']:>9} "
            f"{r['frame_ms_p90']:>7} {r['frame_ms_min']:>7} {r['fps']:>8} {r['build_ms_median']:>8} "
            f"{r['load_1m']:>5}"
        )
    c = cloud
    print(
        f"point cloud {c['size']} ({c['frames']} frames, {c['points_in_median']} -> {c['points_out_median']} points "
        f"at {c['voxel_m']} m voxels): depth_to_points {c['depth_to_points_ms_median']} ms + "
        f"voxel_downsample {c['voxel_downsample_ms_median']} ms = {c['total_ms_median']} ms "
        f"(medians, load {c['load_1m']})"
    )


if __name__ == "__main__":
    main()
