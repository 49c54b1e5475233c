"""Monocular depth from the shared encoder's features: a linear depth-bin head, metres at image size; optionally
scaled to a sensor's depth (median ratio), where a graph wires one to `reference`."""

from __future__ import annotations

from collections import deque

import numpy as np
from pydantic import Field

from ar_perception.nodes._heads import HeadParams, checked_head, head_input, passed_meta
from ar_perception.runtime.msg import Msg
from ar_perception.runtime.node import Node, Outputs

__all__ = ["DepthHead"]


class DepthHead(Node):
    """Features -> depth (H, W) float32 metres at image size (256 linear bins, 0.001-10 m).

    With a sensor's Depth wired to `reference` (optional), each prediction is scaled by median(reference) /
    median(prediction) over the pixels both hold, using the reference captured nearest in time (within
    `max_skew_ms`): the head's shape with the sensor's metric scale. `meta.scale` says the factor (1.0 and
    `meta.scaled: false` when no reference was near enough)."""

    inputs = {"features": "Features", "reference": "Depth"}
    outputs = {"depth": "Depth"}

    class Params(HeadParams):
        size: tuple[int, int] | None = Field(
            None, description="depth map width, height; default: the image size the features were computed from"
        )
        max_skew_ms: float = Field(
            50.0, ge=0, description="a `reference` depth this close in capture time scales a prediction"
        )

    params: Params

    def setup(self) -> None:
        self.head = checked_head(self, self.params.head, "depth")
        self._references: deque[Msg] = deque(maxlen=16)

    def on_input(self, name: str, msg: Msg) -> Outputs:
        if name == "reference":
            self._references.append(msg)
            return None
        patches, cls, size = head_input(self, self.head, msg, self.params.size)
        depth = self.head.predict(patches, size, cls)  # (H, W) float32 metres
        meta = passed_meta(msg)
        if self._references:
            near = min(self._references, key=lambda r: abs(r.capture_ns - msg.capture_ns))
            scale = None
            if abs(near.capture_ns - msg.capture_ns) <= self.params.max_skew_ms * 1e6:
                scale = median_scale(depth, np.asarray(near.data, np.float32))
            if scale is not None:
                depth = (depth * np.float32(scale)).astype(np.float32)
            meta = {**meta, "scale": round(scale or 1.0, 6), "scaled": scale is not None}
        return {"depth": msg.derive("Depth", meta, data=depth)}


def median_scale(pred: np.ndarray, reference: np.ndarray) -> float | None:
    """median(reference) / median(pred) over the pixels where both hold a depth (the reference resampled to the
    prediction's size, nearest neighbour); None when fewer than 1 % of the pixels do."""
    h, w = pred.shape
    ys = (np.arange(h) * reference.shape[0] // h)[:, None]
    xs = (np.arange(w) * reference.shape[1] // w)[None, :]
    ref = reference[ys, xs]
    both = np.isfinite(ref) & (ref > 0) & np.isfinite(pred) & (pred > 0)
    if both.sum() < 0.01 * both.size:
        return None
    return float(np.median(ref[both]) / np.median(pred[both]))
