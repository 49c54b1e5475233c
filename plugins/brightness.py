"""An example plugin node: scale the brightness of every frame."""

from __future__ import annotations

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from ar_perception import Msg, Node


class Brightness(Node):
    """Multiply every pixel by `gain` (clipped to 0..255)."""

    inputs = {"image": "Image"}
    outputs = {"image": "Image"}

    class Params(BaseModel):
        model_config = ConfigDict(extra="forbid")
        gain: float = Field(1.5, ge=0)

    params: Params

    def on_input(self, name: str, msg: Msg) -> dict[str, Msg]:
        scaled = np.clip(msg.data.astype(np.float32) * self.params.gain, 0, 255).astype(np.uint8)
        return {"image": msg.replace(data=scaled)}  # (H, W, 3) uint8
