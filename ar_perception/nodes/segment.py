"""Semantic segmentation from the shared encoder's features: a linear head, a class mask at image size."""

from __future__ import annotations

import math

import numpy as np
from pydantic import Field

from ar_perception.nodes._heads import HeadParams, checked_head, head_input, passed_meta
from ar_perception.runtime.msg import Msg
from ar_perception.runtime.node import Node, Outputs

__all__ = ["Segment"]

_MAX_LOGITS_BYTES = 512 << 20  # (H, W, classes) float32 logits at mask size: 8000x8000 with 12 classes is 3 GB


class Segment(Node):
    """Features -> class mask at image size (linear head on the patch tokens).

    Masks so large that their logits would take more than 512 MiB (e.g. 8000x8000) are computed at a lower
    resolution and scaled up, nearest-neighbour: a patch covers many pixels there anyway.
    """

    inputs = {"features": "Features"}
    outputs = {"mask": "Mask"}

    class Params(HeadParams):
        size: tuple[int, int] | None = Field(
            None, description="mask width, height; default: the image size the features were computed from"
        )

    params: Params

    def setup(self) -> None:
        self.head = checked_head(self, self.params.head, "seg")
        self.classes = list(self.head.classes)
        self.dtype = np.uint8 if len(self.classes) <= 256 else np.int32

    def on_input(self, name: str, msg: Msg) -> Outputs:
        patches, cls, size = head_input(self, self.head, msg, self.params.size)
        scale = math.sqrt(_MAX_LOGITS_BYTES / (4 * len(self.classes) * size[0] * size[1]))
        if scale < 1:
            import cv2

            small = (max(1, int(size[0] * scale)), max(1, int(size[1] * scale)))
            mask = self.head.predict(patches, small, cls).astype(self.dtype)  # (h, w) class ids
            mask = cv2.resize(mask, size, interpolation=cv2.INTER_NEAREST)  # (h, w) -> (H, W)
        else:
            mask = self.head.predict(patches, size, cls).astype(self.dtype)  # (H, W) class ids
        return {"mask": msg.derive("Mask", {**passed_meta(msg), "classes": self.classes}, data=mask)}
