"""Pinhole intrinsics and deterministic camera trajectories (orbit, walk-through, handheld) in a room.

A pose is a 4x4 camera-to-world matrix with OpenCV camera axes (x right, y down, z forward) in the
room's world frame (z up, floor at z = 0). Every trajectory is a smooth function of time, so frame i
of a stream is computed directly, without replaying frames 0..i-1.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ar_perception.errors import ArpError

__all__ = ["Intrinsics", "TRAJECTORIES", "Trajectory", "look_at", "make_trajectory"]

TRAJECTORIES: tuple[str, ...] = ("orbit", "walk", "handheld")


@dataclass(frozen=True)
class Intrinsics:
    """Pinhole intrinsics in pixels; pixel (u, v) has its centre at integer coordinates."""

    fx: float
    fy: float
    cx: float
    cy: float
    width: int
    height: int

    @classmethod
    def from_fov(cls, width: int, height: int, hfov_deg: float = 65.0) -> Intrinsics:
        """Square pixels, principal point at the image centre, horizontal field of view in degrees."""
        fx = (width / 2.0) / math.tan(math.radians(hfov_deg) / 2.0)
        return cls(fx=fx, fy=fx, cx=(width - 1) / 2.0, cy=(height - 1) / 2.0, width=width, height=height)

    @property
    def K(self) -> np.ndarray:
        return np.array([[self.fx, 0.0, self.cx], [0.0, self.fy, self.cy], [0.0, 0.0, 1.0]])

    def as_dict(self) -> dict[str, float | int]:
        return {
            "fx": self.fx,
            "fy": self.fy,
            "cx": self.cx,
            "cy": self.cy,
            "width": self.width,
            "height": self.height,
        }

    @classmethod
    def from_dict(cls, d: dict[str, float | int]) -> Intrinsics:
        return cls(
            fx=float(d["fx"]),
            fy=float(d["fy"]),
            cx=float(d["cx"]),
            cy=float(d["cy"]),
            width=int(d["width"]),
            height=int(d["height"]),
        )


def look_at(eye: np.ndarray, target: np.ndarray, roll: float = 0.0) -> np.ndarray:
    """Camera-to-world pose at `eye` looking at `target`, world z up, `roll` radians about the view axis."""
    eye = np.asarray(eye, dtype=np.float64)
    forward = np.asarray(target, dtype=np.float64) - eye
    forward /= np.linalg.norm(forward)
    right = np.cross(forward, (0.0, 0.0, 1.0))
    right /= np.linalg.norm(right)
    down = np.cross(forward, right)
    if roll:
        c, s = math.cos(roll), math.sin(roll)
        right, down = c * right + s * down, -s * right + c * down
    pose = np.eye(4)
    pose[:3, 0], pose[:3, 1], pose[:3, 2], pose[:3, 3] = right, down, forward, eye
    return pose


def _direction(yaw: float, pitch: float) -> np.ndarray:
    cp = math.cos(pitch)
    return np.array([cp * math.cos(yaw), cp * math.sin(yaw), math.sin(pitch)])


class _Wobble:
    """A smooth, seeded, zero-mean signal: a sum of sines with random frequencies and phases."""

    def __init__(self, rng: np.random.Generator, dims: int, f_lo: float, f_hi: float, terms: int = 3):
        self.freq = rng.uniform(f_lo, f_hi, size=(terms, dims))
        self.phase = rng.uniform(0.0, 2.0 * math.pi, size=(terms, dims))

    def __call__(self, t: float) -> np.ndarray:
        return np.sin(2.0 * math.pi * self.freq * t + self.phase).sum(axis=0) / math.sqrt(len(self.freq))


class Trajectory:
    """A camera path through a room: `pose(t)` for t in seconds; it loops every `period` seconds."""

    kind: str
    period: float

    def pose(self, t: float) -> np.ndarray:
        raise NotImplementedError


class _Orbit(Trajectory):
    """Circles the room's free ring looking inward at a slowly moving point near the room centre."""

    def __init__(self, ring: tuple[float, float], rng: np.random.Generator):
        self.kind, self.period = "orbit", 24.0
        self.ax, self.ay = ring
        self.height = rng.uniform(1.2, 1.7)
        self.bob = rng.uniform(0.05, 0.2)
        self.target_z = rng.uniform(0.5, 1.0)
        self.target_r = rng.uniform(0.2, 0.6)
        self.sign = rng.choice([-1.0, 1.0])
        self.phase = rng.uniform(0.0, 2.0 * math.pi)

    def pose(self, t: float) -> np.ndarray:
        a = self.phase + self.sign * 2.0 * math.pi * t / self.period
        eye = np.array([self.ax * math.cos(a), self.ay * math.sin(a), self.height + self.bob * math.sin(2 * a)])
        b = 3.0 * a + self.phase
        target = np.array([self.target_r * math.cos(b), self.target_r * math.sin(b), self.target_z])
        return look_at(eye, target)


class _Walk(Trajectory):
    """Walks around the free ring at eye height, looking ahead and to one side, with a step bob."""

    def __init__(self, ring: tuple[float, float], rng: np.random.Generator):
        self.kind, self.period = "walk", 30.0
        self.ax, self.ay = ring
        self.height = rng.uniform(1.45, 1.75)
        self.inward = math.radians(rng.uniform(-30.0, 70.0))  # negative: looks out, at the walls
        self.pitch = -math.radians(rng.uniform(8.0, 32.0))
        self.sign = rng.choice([-1.0, 1.0])
        self.phase = rng.uniform(0.0, 2.0 * math.pi)
        self.sway = _Wobble(rng, 2, 0.05, 0.15)

    def pose(self, t: float) -> np.ndarray:
        a = self.phase + self.sign * 2.0 * math.pi * t / self.period
        eye = np.array([self.ax * math.cos(a), self.ay * math.sin(a), self.height])
        eye[2] += 0.02 * math.sin(2.0 * math.pi * 1.8 * t)  # steps
        heading = math.atan2(self.sign * self.ay * math.cos(a), -self.sign * self.ax * math.sin(a))
        sway = self.sway(t)
        yaw = heading + self.sign * self.inward + 0.25 * sway[0]
        pitch = self.pitch + 0.1 * sway[1]
        return look_at(eye, eye + _direction(yaw, pitch))


class _Handheld(Trajectory):
    """Stands on the free ring and looks around a point of interest, with hand jitter."""

    def __init__(self, ring: tuple[float, float], rng: np.random.Generator, targets: np.ndarray):
        self.kind, self.period = "handheld", 30.0
        if len(targets):
            target = targets[int(rng.integers(len(targets)))]
            a = math.atan2(target[1] / ring[1], target[0] / ring[0]) + rng.uniform(-0.7, 0.7)
        else:
            a = rng.uniform(0.0, 2.0 * math.pi)
            target = np.array([0.0, 0.0, 0.8])
        self.base = np.array([ring[0] * math.cos(a), ring[1] * math.sin(a), rng.uniform(1.3, 1.65)])
        to = np.asarray(target, dtype=np.float64) - self.base
        self.yaw0 = math.atan2(to[1], to[0])
        self.pitch0 = math.atan2(to[2], math.hypot(to[0], to[1]))
        self.look = _Wobble(rng, 2, 1.0 / 15.0, 1.0 / 6.0)
        self.drift = _Wobble(rng, 3, 0.05, 0.2)
        self.shake = _Wobble(rng, 6, 1.0, 6.0, terms=4)

    def pose(self, t: float) -> np.ndarray:
        look, drift, shake = self.look(t), self.drift(t), self.shake(t)
        eye = self.base + 0.05 * drift + 0.008 * shake[:3]
        yaw = self.yaw0 + math.radians(30.0 * look[0] + 0.6 * shake[3])
        pitch = self.pitch0 + math.radians(10.0 * look[1] + 0.6 * shake[4])
        return look_at(eye, eye + _direction(yaw, pitch), roll=math.radians(1.5) * shake[5])


def make_trajectory(
    kind: str, ring: tuple[float, float], rng: np.random.Generator, targets: np.ndarray | None = None
) -> Trajectory:
    """A trajectory of `kind` on the ellipse with semi-axes `ring` (metres) around the room centre.

    `targets` (M, 3) are points of interest in the world frame; a handheld camera looks around one.
    """
    if kind == "orbit":
        return _Orbit(ring, rng)
    if kind == "walk":
        return _Walk(ring, rng)
    if kind == "handheld":
        return _Handheld(ring, rng, np.zeros((0, 3)) if targets is None else np.asarray(targets, dtype=np.float64))
    raise ArpError(f"unknown sim trajectory {kind!r} (expected one of: {', '.join(TRAJECTORIES)})")
