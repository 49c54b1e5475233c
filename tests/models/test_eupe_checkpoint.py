"""Loading official-layout checkpoint files through load_encoder (ARCH_SPEC 2.8 and 3.4)."""

from __future__ import annotations

import pytest
import torch

from ar_perception.errors import ModelError
from ar_perception.models.eupe import Block, EupeViT, load_encoder


def official_state(model) -> dict[str, torch.Tensor]:
    """The model's state in the released files' layout, with the checkpoint-only extras."""
    state = {k: v.clone() for k, v in model.state_dict().items()}
    if model.cfg.family == "convnext":
        state["norms.3.weight"] = state["norm.weight"].clone()
        state["norms.3.bias"] = state["norm.bias"].clone()
    D = model.embed_dim
    state["projectors.0.weight"] = torch.randn(1024, D)  # distillation heads: skipped by name
    state["projectors.0.bias"] = torch.randn(1024)
    state["projectors.dino.mlp.2.weight"] = torch.randn(64, 32)
    return state


@pytest.fixture
def vit_t(model_factory, randomize):
    model = model_factory("eupe-vit-t")
    randomize(model, seed=3)
    return model


def _outputs(model, x):
    with torch.no_grad():
        return model.forward_features(x)


def _assert_same(a, b):
    for k in ("x_norm_clstoken", "x_storage_tokens", "x_norm_patchtokens", "x_prenorm"):
        assert torch.equal(a[k], b[k]), k


@pytest.mark.parametrize("name", ["eupe-vit-t", "eupe-convnext-tiny"])
def test_official_layout_file_reproduces_outputs_exactly(name, model_factory, randomize, tmp_path):
    model = model_factory(name)
    randomize(model, seed=4)
    path = tmp_path / model.cfg.filename
    state = official_state(model)
    assert len([k for k in state if not k.startswith("projectors.")]) == (188 if name == "eupe-vit-t" else 182)
    torch.save(state, path)
    loaded = load_encoder(name, weights=path)
    assert not loaded.training
    x = torch.randn(2, 3, 64, 96)
    _assert_same(_outputs(loaded, x), _outputs(model, x))
    with torch.no_grad():
        assert torch.equal(loaded(x), model(x))


def test_file_found_in_cache_with_weights_auto(vit_t, tmp_path, monkeypatch):
    monkeypatch.setenv("ARP_CACHE", str(tmp_path))
    (tmp_path / "weights").mkdir()
    torch.save(official_state(vit_t), tmp_path / "weights" / "EUPE-ViT-T.pt")
    x = torch.randn(1, 3, 32, 32)
    _assert_same(_outputs(load_encoder("eupe-vit-t"), x), _outputs(vit_t, x))


def test_teacher_prefix_is_stripped(vit_t, tmp_path):
    state = {f"teacher.{k}": v for k, v in official_state(vit_t).items()}
    state["student.cls_token"] = torch.full((1, 1, 192), float("nan"))  # training checkpoints hold both
    torch.save(state, tmp_path / "train.pt")
    x = torch.randn(1, 3, 32, 48)
    _assert_same(_outputs(load_encoder("eupe-vit-t", tmp_path / "train.pt"), x), _outputs(vit_t, x))


def test_absent_bias_mask_with_nan_key_bias_gives_masked_bias(vit_t, tmp_path):
    state = official_state(vit_t)
    for i in range(12):
        del state[f"blocks.{i}.attn.qkv.bias_mask"]
        state[f"blocks.{i}.attn.qkv.bias"][192:384] = float("nan")  # the k third: garbage in the file
    state["blocks.0.attn.qkv.bias"][192:384] = 1e30
    del state["rope_embed.periods"]  # recomputed as in 2.4
    del state["mask_token"]  # optional
    torch.save(state, tmp_path / "nomask.pt")
    loaded = load_encoder("eupe-vit-t", tmp_path / "nomask.pt")
    x = torch.randn(1, 3, 48, 64)
    out = _outputs(loaded, x)
    assert all(torch.isfinite(out[k]).all() for k in ("x_norm_clstoken", "x_norm_patchtokens", "x_prenorm"))
    _assert_same(out, _outputs(vit_t, x))
    assert isinstance(loaded, EupeViT)
    for blk in loaded.blocks:  # zeroed at load time, mask restored
        assert isinstance(blk, Block)
        assert torch.equal(blk.attn.qkv.bias[192:384], torch.zeros(192))
        assert torch.equal(blk.attn.qkv.bias_mask, torch.cat([torch.ones(192), torch.zeros(192), torch.ones(192)]))


def test_periods_from_file_are_used(vit_t, tmp_path):
    state = official_state(vit_t)
    state["rope_embed.periods"] = state["rope_embed.periods"].double() * 2  # stored as float64: cast
    torch.save(state, tmp_path / "p.pt")
    loaded = load_encoder("eupe-vit-t", tmp_path / "p.pt")
    assert isinstance(loaded, EupeViT) and loaded.rope_embed.periods.dtype == torch.float32
    torch.testing.assert_close(loaded.rope_embed.periods, vit_t.rope_embed.periods * 2)


def test_missing_unexpected_and_misshaped_keys_are_listed(vit_t, tmp_path):
    state = official_state(vit_t)
    del state["blocks.3.mlp.fc1.weight"]
    del state["norm.bias"]
    state["blocks.12.attn.qkv.weight"] = torch.zeros(1)
    state["head.weight"] = torch.zeros(1)
    state["blocks.0.ls1.gamma"] = torch.zeros(7)
    path = tmp_path / "bad.pt"
    torch.save(state, path)
    with pytest.raises(ModelError) as err:
        load_encoder("eupe-vit-t", path)
    msg = str(err.value)
    assert str(path) in msg
    assert "missing keys (2): blocks.3.mlp.fc1.weight, norm.bias" in msg
    assert "unexpected keys (2): blocks.12.attn.qkv.weight, head.weight" in msg
    assert "wrong shapes (1): blocks.0.ls1.gamma (expected [192], found [7])" in msg
    assert "projectors" not in msg


def test_file_of_another_model_is_refused(model_factory, tmp_path):
    torch.save(official_state(model_factory("eupe-convnext-tiny")), tmp_path / "EUPE-ConvNeXt-T.pt")
    with pytest.raises(ModelError, match=r"not a checkpoint for eupe-vit-t \(EUPE-ViT-T.pt\)") as err:
        load_encoder("eupe-vit-t", tmp_path / "EUPE-ConvNeXt-T.pt")
    assert "missing keys (172): cls_token, storage_tokens, patch_embed.proj.weight," in str(
        err.value
    )  # 188 - 14 optional - norm.*
    assert "unexpected keys" in str(err.value) and "downsample_layers.0.0.weight" in str(err.value)


def test_convnext_alias_norms3_only(model_factory, randomize, tmp_path):
    model = model_factory("eupe-convnext-tiny")
    randomize(model, seed=5)
    state = official_state(model)
    del state["norm.weight"], state["norm.bias"]  # only the duplicate left: it is the final norm
    state["norms.0.weight"] = torch.zeros(3)  # other norms.* are skipped
    torch.save(state, tmp_path / "c.pt")
    x = torch.randn(1, 3, 64, 64)
    _assert_same(_outputs(load_encoder("eupe-convnext-tiny", tmp_path / "c.pt"), x), _outputs(model, x))


def test_unreadable_files(tmp_path):
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(ModelError, match="cannot read checkpoint"):
        load_encoder("eupe-vit-t", tmp_path / "junk.pt")
    torch.save([torch.zeros(1)], tmp_path / "list.pt")
    with pytest.raises(ModelError, match="expected a dictionary of tensors, found list"):
        load_encoder("eupe-vit-t", tmp_path / "list.pt")
    with pytest.raises(ModelError, match="weights file for eupe-vit-t not found"):
        load_encoder("eupe-vit-t", tmp_path / "nope.pt")


def test_random_init_with_weights_none():
    model = load_encoder("eupe-vit-t", weights=None)
    assert not model.training and sum(p.numel() for p in model.parameters()) > 5e6
