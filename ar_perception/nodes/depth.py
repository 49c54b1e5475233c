"""Monocular depth from the shared encoder's features: a linear depth-bin head, metres at image size."""

from __future__ import annotations

from pydantic import Field

from ar_perception.nodes._heads import HeadParams, checked_head, head_input, passed_meta
from ar_perception.runtime.msg import Msg
from ar_perception.runtime.node import Node, Outputs

__all__ = ["DepthHead"]


class DepthHead(Node):
    """Features -> depth (H, W) float32 metres at image size (256 linear bins, 0.001-10 m)."""

    inputs = {"features": "Features"}
    outputs = {"depth": "Depth"}

    class Params(HeadParams):
        size: tuple[int, int] | None = Field(
            None, description="depth map width, height; default: the image size the features were computed from"
        )

    params: Params

    def setup(self) -> None:
        self.head = checked_head(self, self.params.head, "depth")

    def on_input(self, name: str, msg: Msg) -> Outputs:
        patches, cls, size = head_input(self, self.head, msg, self.params.size)
        depth = self.head.predict(patches, size, cls)  # (H, W) float32 metres
        return {"depth": msg.derive("Depth", passed_meta(msg), data=depth)}
