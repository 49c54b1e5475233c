"""The one shared vision encoder: frames in, EUPE (or stand-in) features out."""

from __future__ import annotations

import numpy as np

from ar_perception.errors import NodeError
from ar_perception.models.encoder import EncoderSpec, build_encoder
from ar_perception.runtime.msg import Msg
from ar_perception.runtime.node import Node, Outputs

_MAX_ASPECT = 8  # the encoder's input grows with the long side; a 10x4000 strip would be 102400 patches


class Encoder(Node):
    """One Features message per frame: class token, final-norm patch grid (h, w, D), optional layers.

    Frames of any size are scaled to `resolution` on their short side (tiny ones up, large ones down);
    frames more elongated than 8:1 are refused (crop them in the source).
    """

    inputs = {"image": "Image"}
    outputs = {"features": "Features"}

    Params = EncoderSpec  # what build_encoder takes: one definition of the parameters and their docs
    params: EncoderSpec

    def setup(self) -> None:
        self.encoder = build_encoder(self.params)
        self.log.warning("encoder: %s", self.encoder.describe())  # the user must see which model runs

    def on_input(self, name: str, msg: Msg) -> Outputs:
        h, w = msg.data.shape[:2]
        H, W = self.encoder.input_size_for(h, w)
        if max(H, W) > _MAX_ASPECT * min(H, W):
            raise NodeError(
                f"node '{self.id}': input '{name}': a {w}x{h} frame is too elongated for the encoder "
                f"(it would take {W}x{H} pixels; at most {_MAX_ASPECT}:1); crop it in the source"
            )
        out = self.encoder(np.asarray(msg.data))
        arrays = {"cls": np.asarray(out["cls"], np.float32), "patches": np.asarray(out["patches"], np.float32)}
        for i, layer in enumerate(out.get("intermediate") or []):
            arrays[f"layer{self.params.intermediate[i]}"] = np.asarray(layer, np.float32)
        meta = {"encoder": self.encoder.name, "image_size": [int(w), int(h)]}
        return {"features": msg.derive("Features", meta, **arrays)}
