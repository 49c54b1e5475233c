"""Procedural surface materials: two colours blended by a pattern evaluated per hit point, plus noise.

Patterns are computed in a part's local frame (origin at the part centre, x along the part's yaw),
so a texture sticks to its object. Noise is a sum of a few seeded 3-D sines: cheap and smooth.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["Material", "PATTERNS", "pattern_blend", "noise3"]

# Pattern ids (index into PATTERNS).
PLAIN, TILES, WOOD, PLANKS, STRIPES, SEGMENTS, LEAFY, CARDBOARD, FABRIC = range(9)
PATTERNS: tuple[str, ...] = ("plain", "tiles", "wood", "planks", "stripes", "segments", "leafy", "cardboard", "fabric")


@dataclass(frozen=True)
class Material:
    """`color_a` / `color_b` are RGB in [0, 1]; `scale` is the pattern period in metres."""

    pattern: int = PLAIN
    color_a: tuple[float, float, float] = (0.7, 0.7, 0.7)
    color_b: tuple[float, float, float] = (0.5, 0.5, 0.5)
    scale: float = 0.3
    noise_amp: float = 0.05
    noise_freq: float = 4.0
    emissive: bool = False


_NOISE_DIRS = np.random.default_rng(12345).normal(size=(4, 3)).astype(np.float32)
_NOISE_DIRS /= np.linalg.norm(_NOISE_DIRS, axis=1, keepdims=True)
_NOISE_DIRS *= np.array([1.0, 1.7, 2.9, 4.3], dtype=np.float32)[:, None]  # octave-ish frequencies
_NOISE_PHASE = np.random.default_rng(54321).uniform(0, 2 * np.pi, size=4).astype(np.float32)
_NOISE_WEIGHT = np.array([0.45, 0.3, 0.15, 0.1], dtype=np.float32) * 1.6


def noise3(x: np.ndarray, y: np.ndarray, z: np.ndarray, freq: np.ndarray | float) -> np.ndarray:
    """Smooth pseudo-noise in about [-1, 1] at points (x, y, z) with spatial frequency `freq` (rad/m)."""
    xs, ys, zs = x * freq, y * freq, z * freq
    out = np.zeros(np.shape(x), dtype=np.float32)
    arg = np.empty_like(out)
    tmp = np.empty_like(out)
    for (wx, wy, wz), phase, weight in zip(_NOISE_DIRS, _NOISE_PHASE, _NOISE_WEIGHT, strict=True):
        np.multiply(xs, wx, out=arg)
        arg += phase
        arg += np.multiply(ys, wy, out=tmp)
        arg += np.multiply(zs, wz, out=tmp)
        np.sin(arg, out=arg)
        arg *= weight
        out += arg
    return out


_HASH_TABLE = np.random.default_rng(777).random(4096).astype(np.float32)


def _hash(i: np.ndarray) -> np.ndarray:
    """Deterministic pseudo-random value in [0, 1) per integer (float array of whole numbers)."""
    return np.take(_HASH_TABLE, i.astype(np.intp) & 4095)


def pattern_blend(pattern: int, lx: np.ndarray, ly: np.ndarray, lz: np.ndarray, s: np.ndarray) -> np.ndarray:
    """Blend weight between colour a (0) and colour b (1) at local points; above 1 darkens colour b."""
    if pattern == TILES:
        # Square floor tiles alternating a/b, with darker grout lines.
        gx, gy = lx / s + 0.013, ly / s + 0.017
        ix, iy = np.floor(gx), np.floor(gy)
        fx, fy = gx - ix, gy - iy
        f = ((ix.astype(np.int32) + iy.astype(np.int32)) & 1).astype(np.float32) * 0.8
        grout = (np.abs(fx - 0.5) > 0.47) | (np.abs(fy - 0.5) > 0.47)
        return np.where(grout, np.float32(1.4), f)
    if pattern == WOOD:
        warp = 0.12 * np.sin(lx * 2.3 / s) + 0.05 * np.sin(lx * 7.1 / s + ly * 3.0 / s)
        g = 0.5 + 0.5 * np.sin((ly + lz + warp) * (2 * np.pi * 6.0 / s))
        return g * g * g
    if pattern == PLANKS:
        width = s
        gy = ly / width + 0.011
        row = np.floor(gy)
        length = 6.0 * width
        gx = (lx + _hash(row) * length) / length
        col = np.floor(gx)
        shade = 0.45 * _hash(row * 31.0 + col * 7.0 + 2048.0)
        grain = 0.5 + 0.5 * np.sin((ly + 0.02 * np.sin(lx * 4.0 + row)) * (2 * np.pi * 5.0 / width))
        f = shade + 0.35 * grain * grain * grain
        seam = (gy - row < 0.025) | (gx - col < 0.004)
        return np.where(seam, np.float32(1.3), f)
    if pattern == STRIPES:
        g = lx / s + 0.013
        return ((g - np.floor(g)) < 0.5).astype(np.float32) * 0.9
    if pattern == SEGMENTS:
        # Beach-ball gores around the vertical axis, with plain caps at the poles.
        k = np.floor((np.arctan2(ly, lx) + np.pi) * (6.0 / (2 * np.pi)))
        cap = lz * lz > 0.85 * (lx * lx + ly * ly + lz * lz)
        return np.where(cap, np.float32(0.0), (k.astype(np.int32) & 1).astype(np.float32))
    if pattern == LEAFY:
        n = noise3(lx, ly, lz, 1.0 / s) + 0.6 * noise3(lx * 2.7, ly * 2.7, lz * 2.7, 1.0 / s)
        return np.clip(0.5 + 0.8 * n, 0.0, 1.0)
    if pattern == CARDBOARD:
        return (np.abs(lx) < 0.35 * s).astype(np.float32)  # packing tape across the middle
    if pattern == FABRIC:
        w = 2 * np.pi / s
        return 0.5 + 0.25 * (np.sin(lx * w) * np.sin((ly + lz) * w))
    return np.zeros(np.shape(lx), dtype=np.float32)
