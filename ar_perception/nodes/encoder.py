"""The one shared vision encoder: frames in, EUPE (or stand-in) features out."""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from ar_perception.errors import NodeError
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

    class Params(BaseModel):
        model_config = ConfigDict(extra="forbid")
        model: str = Field(
            "eupe-vit-s",
            description="eupe-vit-t|s|b, eupe-convnext-tiny|small|base, "
            "dinov2-vit-s14 (offline stand-in) or onnx (generic)",
        )
        weights: str | None = Field("auto", description="auto (cache, then hub), a checkpoint path, or null")
        backend: Literal["torch", "onnxruntime"] = "onnxruntime"
        resolution: int = Field(256, ge=32, le=2048, description="short side in pixels, snapped to the patch")
        intermediate: list[int] = Field([], description="extra blocks (ViT) or stages (ConvNeXt) to output")
        fallback: bool = Field(True, description="weights auto and absent: run the offline stand-in")
        threads: int | None = Field(None, ge=1)
        onnx_path: str | None = Field(None, description="model=onnx: the ONNX file")
        token_output: str | None = Field(None, description="model=onnx: name of the token tensor")
        n_prefix: int = Field(1, ge=0, description="model=onnx: tokens before the patch tokens")
        patch_size: int = Field(14, ge=1, description="model=onnx: patch size in pixels")
        input_name: str | None = Field(None, description="model=onnx: the image input (default: the first)")
        input_size: tuple[int, int] | None = Field(None, description="model=onnx: fixed input H, W")

    def setup(self) -> None:
        from ar_perception.models.encoder import build_encoder

        self.encoder = build_encoder(self.params.model_dump())
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
