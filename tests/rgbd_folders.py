"""RGB-D folders the tests write themselves from simulated frames (exact depth and intrinsics known)."""

from pathlib import Path

import cv2
import numpy as np
import yaml

from ar_perception.sim import SimFrame, SimSource

T0 = 1305031102.175304  # a TUM-style epoch timestamp


def sim_frames(n: int, seed: int = 7, size: tuple[int, int] = (160, 120)) -> list[SimFrame]:
    src = SimSource(seed, size, "room", "orbit")
    return [src.frame_at(0.5 * k, k) for k in range(n)]


def write_tum(folder: Path, frames: list[SimFrame], *, scale: float = 5000.0, intrinsics: bool = True) -> Path:
    """A TUM RGB-D folder: rgb/ and depth/ PNGs listed in rgb.txt and depth.txt, depth 5 ms after its colour
    frame, one extra depth frame with no colour partner, and (unless not wanted) intrinsics.yaml."""
    (folder / "rgb").mkdir(parents=True)
    (folder / "depth").mkdir()
    rgb_lines, depth_lines = ["# color images", "# timestamp filename"], ["# depth maps"]
    for k, f in enumerate(frames):
        t = T0 + 0.5 * k
        cv2.imwrite(str(folder / "rgb" / f"{t:.6f}.png"), f.image[..., ::-1])
        d = np.round(f.depth * scale).astype(np.uint16)
        cv2.imwrite(str(folder / "depth" / f"{t + 0.005:.6f}.png"), d)
        rgb_lines.append(f"{t:.6f} rgb/{t:.6f}.png")
        depth_lines.append(f"{t + 0.005:.6f} depth/{t + 0.005:.6f}.png")
    lone = T0 + 0.5 * len(frames) + 0.2
    cv2.imwrite(str(folder / "depth" / f"{lone:.6f}.png"), np.zeros(frames[0].depth.shape, np.uint16))
    depth_lines.append(f"{lone:.6f} depth/{lone:.6f}.png")
    (folder / "rgb.txt").write_text("\n".join(rgb_lines) + "\n")
    (folder / "depth.txt").write_text("\n".join(depth_lines) + "\n")
    if intrinsics:
        given = frames[0].intrinsics
        (folder / "intrinsics.yaml").write_text(
            yaml.safe_dump({key: float(given[key]) for key in ("fx", "fy", "cx", "cy")})
        )
    return folder
