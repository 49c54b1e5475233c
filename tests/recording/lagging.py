"""Nodes for the replay tests: a branch that trails by a forced number of frames, and an exact-sync pair."""

from __future__ import annotations

import time

from pydantic import BaseModel, ConfigDict, Field

from ar_perception import Msg, Node


class Trail(Node):
    """Passes each frame on only once `behind` newer frames wait in its queue (fewer at the end of a stream
    of `frames` frames): its output trails its input by that many frames whatever the machine's speed."""

    inputs = {"image": "Image"}
    outputs = {"image": "Image"}

    class Params(BaseModel):
        model_config = ConfigDict(extra="forbid")
        behind: int = Field(4, ge=1)
        frames: int = Field(ge=1, description="frames in the stream (numbered 0 .. frames-1 in meta.frame)")

    params: Params

    def on_input(self, name: str, msg: Msg) -> dict[str, Msg]:
        need = min(self.params.behind, self.params.frames - 1 - msg.meta["frame"])
        while self.pending("image") < need and not self.stopping:
            time.sleep(0.005)
        return {"image": msg}


class Pair(Node):
    """An image and its trailing copy, synced on capture time, in; a Text naming the frame out.

    The Text is a new message, not derived from an input: it runs on its inputs' clock all the same."""

    inputs = {"image": "Image", "late": "Image"}
    outputs = {"pair": "Text"}

    def on_sync(self, msgs: dict[str, Msg]) -> dict[str, Msg]:
        a, b = msgs["image"], msgs["late"]
        meta = {"frame": a.meta["frame"], "late_frame": b.meta["frame"]}
        return {"pair": Msg(kind="Text", meta={"text": "pair", **meta}, capture_ns=a.capture_ns)}
