"""Invert every frame: the smallest useful node."""

from __future__ import annotations

from ar_perception.runtime.msg import Msg
from ar_perception.runtime.node import Node, Outputs


class Invert(Node):
    """Invert every frame."""

    inputs = {"image": "Image"}
    outputs = {"image": "Image"}

    def on_input(self, name: str, msg: Msg) -> Outputs:
        return {"image": msg.replace(data=255 - msg.data)}  # (H, W, 3) uint8
