import numpy as np
import pytest

from ar_perception import Msg
from ar_perception.errors import GraphError
from ar_perception.graph.load import parse_graph
from ar_perception.nodes.encoder import Encoder
from ar_perception.runtime.harness import run_node


def frame(h: int = 240, w: int = 320) -> Msg:
    rng = np.random.default_rng(0)
    return Msg(kind="Image", arrays={"data": rng.integers(0, 255, (h, w, 3), dtype=np.uint8)}, capture_ns=7)


@pytest.mark.parametrize("model, dim, grid", [("eupe-vit-t", 192, (16, 21)), ("eupe-convnext-tiny", 768, (8, 10))])
def test_eupe_random_weights_give_features_of_the_right_shape(model, dim, grid):
    ((name, out),) = run_node(Encoder, [("image", frame())], {"model": model, "weights": None, "backend": "torch"})
    assert name == "features" and out.capture_ns == 7
    assert out.arrays["cls"].shape == (dim,)
    # short side 240 -> 256, so 320 -> 341, each snapped down to the stride (16 ViT, 32 ConvNeXt)
    assert out.arrays["patches"].shape == (*grid, dim)
    assert out.meta["image_size"] == [320, 240] and out.meta["encoder"] == model
    assert np.isfinite(out.arrays["patches"]).all()


def test_offline_stand_in_gives_its_fixed_16x16_grid():
    ((_, out),) = run_node(Encoder, [("image", frame())], {"model": "dinov2-vit-s14"})
    assert out.arrays["patches"].shape == (16, 16, 384)


def test_encoder_params_are_validated_in_graphs():
    with pytest.raises(GraphError) as e:
        parse_graph("nodes:\n  - {id: e, node: encoder, params: {backend: tensorrt}}\n", "g.yaml")
    assert e.value.problems[0].startswith(
        "g.yaml: nodes[0] (e).params.backend: Input should be 'torch' or 'onnxruntime' (got 'tensorrt')"
    )
