"""What the segment and depth nodes share: the `head` parameter, loading the head in setup, reading a Features
message for it and passing its meta on."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from ar_perception.errors import NodeError
from ar_perception.runtime.msg import Msg
from ar_perception.runtime.node import Node

if TYPE_CHECKING:
    from ar_perception.models.heads import Task

_FEATURE_META = ("encoder", "image_size")  # describe the features, not the frame: not passed on


class HeadParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    head: str | None = Field(
        None, description="head file (.safetensors); default: the shipped head for the offline default encoder"
    )


def checked_head(node: Node, path: str | None, task: Task) -> Any:
    """Load the head of `task` for `node` (default: the shipped one), as a NodeError if it cannot be read."""
    from ar_perception.errors import ModelError
    from ar_perception.models.heads import load_default_head, load_head

    try:
        head = load_head(path, task) if path else load_default_head(task)
    except ModelError as e:
        raise NodeError(f"node '{node.id}': {e}") from None
    if head.info.features != "full":
        node.log.warning(
            "the %s head was trained on '%s' features, the encoder node gives one pass per frame "
            "('full'); expect slightly worse output",
            task,
            head.info.features,
        )
    return head


def head_input(
    node: Node, head: Any, msg: Msg, size: tuple[int, int] | None
) -> tuple[np.ndarray, np.ndarray | None, tuple[int, int]]:
    """(patches, cls, (W, H)) of a Features message for `head`; warns once when the encoder differs."""
    patches = msg.arrays["patches"]
    if patches.shape[-1] != head.info.dim:
        raise NodeError(
            f"node '{node.id}': the {head.task} head takes {head.info.dim}-d features of "
            f"{head.info.encoder}, got {patches.shape[-1]}-d features of {msg.meta.get('encoder', '?')}"
        )
    encoder = msg.meta.get("encoder")
    if encoder and encoder != head.info.encoder:  # same width, other meaning: its output would be garbage
        task = head.task
        raise NodeError(
            f"node '{node.id}': the {task} head reads features of "
            f"{head.info.encoder}, but it receives features of {encoder}; a head only reads the encoder it was "
            f"trained on. Run the encoder as {head.info.encoder}, or train a {task} head for {encoder} "
            f"(arp sim-dataset -o data/sim && arp train-head {task} --encoder {encoder} --data data/sim "
            f"-o {task}-{encoder}.safetensors) and give it as this node's `head`"
        )
    if size is None:
        image_size = msg.meta.get("image_size")
        if not image_size:
            raise NodeError(f"node '{node.id}': Features carry no meta.image_size; set the node's `size` parameter")
        if not (
            isinstance(image_size, (list, tuple))
            and len(image_size) == 2
            and all(isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in image_size)
        ):
            raise NodeError(
                f"node '{node.id}': Features meta.image_size must be [width, height] in whole pixels, "
                f"at least 1 (got {image_size!r})"
            )
        size = (int(image_size[0]), int(image_size[1]))
    return patches, msg.arrays.get("cls"), size


def passed_meta(msg: Msg) -> dict[str, Any]:
    """The meta of a Features message that the head's output carries on (the frame's, not the features')."""
    return {k: v for k, v in msg.meta.items() if k not in _FEATURE_META}
