import numpy as np
import pytest

from ar_perception import Msg
from ar_perception.errors import NodeError
from ar_perception.nodes.invert import Invert
from ar_perception.nodes.pattern import Pattern
from ar_perception.testing import run_node, run_source
from plugins.brightness import Brightness


def image(v: int = 10) -> Msg:
    return Msg(kind="Image", arrays={"data": np.full((2, 3, 3), v, np.uint8)}, capture_ns=42)


def test_invert_through_harness_keeps_capture_time():
    ((name, out),) = run_node(Invert, [("image", image(10))])
    assert name == "image" and out.topic == "node/image" and out.seq == 0 and out.capture_ns == 42
    assert (out.data == 245).all()


def test_plugin_node_params():
    ((_, out),) = run_node(Brightness, [("image", image(100))], {"gain": 2.0})
    assert (out.data == 200).all()


def test_wrong_shape_on_input_raises_in_strict_mode_and_is_dropped_otherwise():
    bad = Msg(kind="Image", arrays={"data": np.zeros((2, 3), np.uint8)})
    with pytest.raises(
        NodeError, match=r"input 'image': Image.data must be 3-D with last axis 3 \(got shape \(2, 3\)\)"
    ):
        run_node(Invert, [("image", bad)])
    assert run_node(Invert, [("image", bad), ("image", image())], strict=False)[0][1].seq == 0


def test_wrong_kind_on_input():
    with pytest.raises(NodeError, match="takes Image, got a Text message"):
        run_node(Invert, [("image", Msg(kind="Text", meta={"text": "hi"}))])


def test_source_harness():
    out = run_source(Pattern, {"fps": 1000, "frames": 3, "size": [8, 4]})
    assert [m.seq for _, m in out] == [0, 1, 2] and out[0][1].data.shape == (4, 8, 3)


def test_bad_output_raises_in_strict_mode():
    class Wrong(Invert):
        def on_input(self, name, msg):
            return {"image": msg.replace(data=np.zeros((2, 2), np.float32))}

    with pytest.raises(NodeError, match="output 'image': Image.data must be uint8"):
        run_node(Wrong, [("image", image())])


def test_a_slow_source_shows_progress_while_it_waits_and_is_not_taken_for_hung():
    """A pattern at 0.5 fps waits 2 s between frames: it yields None meanwhile (the heartbeat)."""
    import time

    from ar_perception.nodes.pattern import Pattern

    node = Pattern(Pattern.Params(fps=0.5, frames=2, size=(4, 4)), node_id="cam")
    t0 = time.monotonic()
    got = list(node.produce())
    frames = [g for g in got if g is not None]
    assert len(frames) == 2 and time.monotonic() - t0 >= 2.0
    assert got[0] is not None and got.count(None) >= 6  # every 0.25 s of the 2 s wait
