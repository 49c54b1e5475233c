"""ONNX export + onnxruntime: parity with torch, dynamic batch, int8, intermediates, generic backend."""

from __future__ import annotations

from typing import Final

import numpy as np
import pytest
import torch

pytest.importorskip("onnxruntime")
pytest.importorskip("onnx")

from ar_perception.errors import ModelError
from ar_perception.models.onnx import GenericOnnxEncoder, OnnxEncoder, with_token_output
from ar_perception.models.onnx_export import export_encoder

KEYS: Final = ("x_norm_clstoken", "x_storage_tokens", "x_norm_patchtokens", "x_prenorm")


@pytest.mark.parametrize("name", ["eupe-vit-t", "eupe-convnext-tiny"])
def test_torch_onnxruntime_parity_fp32(name, model_factory, randomize, tmp_path):
    model = model_factory(name)
    randomize(model, seed=7)
    H, W = 256, 320  # non-square: 16x20 ViT grid, 8x10 ConvNeXt grid
    report = export_encoder(model, tmp_path / "enc.onnx", (H, W))
    assert report.outputs == ("cls", "patch_tokens", "storage_tokens", "prenorm")
    enc = OnnxEncoder(report.path)
    assert (
        enc.model_name == name
        and enc.input_size == (H, W)
        and enc.grid == (H // model.cfg.stride, W // model.cfg.stride)
    )
    x = torch.randn(2, 3, H, W)  # dynamic batch: exported with batch 1, run with 2
    with torch.no_grad():
        ref = model.forward_features(x)
    got = enc(x.numpy())
    for k in KEYS:
        a = got[k]
        assert a is not None and a.shape == tuple(ref[k].shape), k
        err = np.abs(a - ref[k].numpy()).max(initial=0.0)
        assert err < 1e-3, (k, err)
    single = enc(x[:1].numpy())
    np.testing.assert_allclose(single["x_norm_patchtokens"][0], got["x_norm_patchtokens"][0], atol=1e-4)
    with pytest.raises(ModelError, match=r"exported for input 256x320, got 224x224"):
        enc(np.zeros((1, 3, 224, 224), np.float32))


def test_export_with_intermediate_layers(model_factory, randomize, tmp_path):
    model = model_factory("eupe-convnext-tiny")
    randomize(model, seed=8)
    report = export_encoder(model, tmp_path / "cnx.onnx", 128, intermediate=(0, 2))
    enc = OnnxEncoder(report.path)
    x = torch.randn(1, 3, 128, 128)
    with torch.no_grad():
        ref_maps = model.get_intermediate_layers(x, [0, 2], reshape=True, norm=True)
        ref = model.forward_features(x)
    got = enc(x.numpy())
    assert [m.shape for m in got["intermediate"]] == [(1, 96, 32, 32), (1, 384, 8, 8)]
    for a, b in zip(got["intermediate"], ref_maps, strict=True):
        assert np.abs(a - b.numpy()).max() < 1e-3
    assert np.abs(got["x_norm_patchtokens"] - ref["x_norm_patchtokens"].numpy()).max() < 1e-3
    assert got["x_prenorm"] is None


def test_int8_export_reports_cosine(model_factory, randomize, tmp_path):
    model = model_factory("eupe-vit-t")
    randomize(model, seed=9)
    report = export_encoder(model, tmp_path / "q.onnx", 224, int8=True)
    assert report.int8 and report.path.is_file()
    assert not (tmp_path / "q.fp32.onnx").exists()
    assert report.cosine_patches is not None and report.cosine_cls is not None, report
    assert report.cosine_patches > 0.9 and report.cosine_cls > 0.9, report
    enc = OnnxEncoder(report.path)
    assert enc.int8
    assert enc(np.zeros((1, 3, 224, 224), np.float32))["x_norm_patchtokens"].shape == (1, 196, 192)


def test_export_rejects_size_off_the_stride(model_factory, tmp_path):
    with pytest.raises(ModelError, match="not a multiple of 32"):
        export_encoder(model_factory("eupe-convnext-tiny"), tmp_path / "x.onnx", (240, 320))


def test_generic_backend_on_a_token_tensor(model_factory, randomize, tmp_path):
    """Any ONNX file + its token tensor's name: here our own export's pre-norm tokens [B, 5 + h*w, D]."""
    model = model_factory("eupe-vit-t")
    randomize(model, seed=10)
    path = export_encoder(model, tmp_path / "vit.onnx", (64, 96)).path
    enc = GenericOnnxEncoder(path, "prenorm", n_prefix=5, patch_size=16)
    assert enc.input_name == "image" and enc.input_size == (64, 96)
    x = torch.randn(1, 3, 64, 96)
    with torch.no_grad():
        ref = model.forward_features(x)["x_prenorm"].numpy()
    got = enc(x.numpy())
    assert got["x_norm_clstoken"].shape == (1, 192) and got["x_storage_tokens"].shape == (1, 4, 192)
    np.testing.assert_allclose(got["x_norm_patchtokens"], ref[:, 5:], atol=1e-4)
    with pytest.raises(
        ModelError, match=r"token tensor 'prenorm' has shape \(1, 29, 192\), expected \[B, 1 \+ 4\*6, D\]"
    ):
        GenericOnnxEncoder(path, "prenorm", n_prefix=1, patch_size=16)(x.numpy())
    with pytest.raises(ModelError, match="no input 'pixels' \\(it has: image\\)"):
        GenericOnnxEncoder(path, "prenorm", input_name="pixels")


def test_internal_tensor_becomes_an_output(model_factory, tmp_path):
    path = export_encoder(model_factory("eupe-vit-t"), tmp_path / "vit.onnx", 32).path
    import onnx

    internal = next(n.output[0] for n in onnx.load(str(path)).graph.node if n.op_type == "LayerNormalization")
    copy = with_token_output(path, internal)
    assert copy != path and copy.is_file()
    assert [o.name for o in onnx.load(str(copy)).graph.output] == [internal]
    assert with_token_output(path, internal) == copy  # cached
    with pytest.raises(ModelError, match="no tensor named 'no/such/tensor'"):
        with_token_output(path, "no/such/tensor")
