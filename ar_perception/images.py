"""Frames as devices and files give them (gray, RGBA, BGR from OpenCV, 16-bit, float) turned into the Image kind's
RGB uint8 (H, W, 3), for the sources; the channel order cannot be seen in the pixels, so the caller names it."""

from __future__ import annotations

from typing import Any, Literal

import numpy as np

from ar_perception.errors import MissingExtraError

__all__ = ["to_rgb", "cv2_module"]


def to_rgb(frame: np.ndarray, order: Literal["rgb", "bgr"] = "rgb") -> np.ndarray:
    """RGB uint8 (H, W, 3), C-contiguous, of a (H, W) or (H, W, 1|3|4) frame in `order` (+ alpha, dropped).

    uint16 is scaled to 8 bits (65535 -> 255) and floats are read as [0, 1]; anything else raises ValueError.
    """
    a = np.asarray(frame)
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[..., 0]
    if not (a.ndim == 2 or (a.ndim == 3 and a.shape[2] in (3, 4))):
        raise ValueError(f"a frame must be (H, W) gray or (H, W, 1|3|4) channels, got shape {a.shape}")
    if a.shape[0] == 0 or a.shape[1] == 0:
        raise ValueError(f"a frame must be at least 1x1 pixels, got shape {a.shape}")
    if a.dtype == np.uint16:
        a = ((a.astype(np.uint32) + 128) // 257).astype(np.uint8)  # round(x / 257): 65535 -> 255
    elif a.dtype.kind == "f":
        finite = np.isfinite(a)
        if not finite.all():
            raise ValueError(f"a float frame must be finite, got {int((~finite).sum())} NaN/inf values")
        lo, hi = float(a.min()), float(a.max())
        if lo < 0.0 or hi > 1.0:
            raise ValueError(f"a float frame must hold values in [0, 1], got {lo:g} to {hi:g}")
        a = np.round(a * 255.0).astype(np.uint8)
    elif a.dtype != np.uint8:
        raise ValueError(f"a frame must be uint8, uint16 or float in [0, 1], got {a.dtype}")
    if a.ndim == 2:
        rgb = np.repeat(a[..., None], 3, axis=2)  # (H, W) -> (H, W, 3)
    else:
        rgb = a[..., 2::-1] if order == "bgr" else a[..., :3]  # alpha dropped; BGR reversed
    return np.ascontiguousarray(rgb)


def cv2_module() -> Any:
    """OpenCV, or a MissingExtraError naming the extra that installs it (imported on first use: it is heavy)."""
    try:
        import cv2
    except ImportError:
        raise MissingExtraError("opencv-python-headless", "vision") from None
    return cv2
