"""EUPE architecture: parameter counts, shapes, intermediate layers and RoPE (ARCH_SPEC 2 and 3)."""

from __future__ import annotations

import math

import pytest
import torch

from ar_perception.models.eupe import (
    Attention,
    EupeViT,
    RopeEmbedding,
    apply_rope,
    get_config,
    list_models,
    rope_periods,
    rope_tables,
)
from ar_perception.models.registry import ViTConfig

SPEC_PARAMS_M = {
    "eupe-vit-t": 5.49,
    "eupe-vit-s": 21.60,
    "eupe-vit-b": 85.67,
    "eupe-convnext-tiny": 27.82,
    "eupe-convnext-small": 49.45,
    "eupe-convnext-base": 87.57,
}
STATE_KEYS = {"eupe-vit-t": 188, "eupe-convnext-tiny": 180, "eupe-convnext-small": 342}  # + norms.3.* = 182 / 344


def test_registry_lists_the_six_models():
    assert list_models() == list(SPEC_PARAMS_M)


@pytest.mark.parametrize("name", list(SPEC_PARAMS_M))
def test_parameter_count_matches_spec(name, model_factory):
    model = model_factory(name)
    n = sum(p.numel() for p in model.parameters()) / 1e6
    assert n == pytest.approx(SPEC_PARAMS_M[name], rel=0.05)
    assert n == pytest.approx(get_config(name).params_m, abs=0.01)  # in fact exact to 10k params
    if name in STATE_KEYS:
        assert len(model.state_dict()) == STATE_KEYS[name]


SIZES = [(224, 224), (256, 256), (256, 320), (512, 512)]  # (H, W)


@pytest.mark.parametrize("name", list(SPEC_PARAMS_M))
@pytest.mark.parametrize("hw", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_shapes(name, hw, model_factory):
    model = model_factory(name)
    cfg = model.cfg
    H, W = hw
    x = torch.randn(1, 3, H, W)
    with torch.no_grad():
        out = model.forward_features(x)
        cls = model(x)
    D = cfg.out_dim
    h, w = H // cfg.stride, W // cfg.stride
    S = 4 if cfg.family == "vit" else 0
    assert out["x_norm_clstoken"].shape == (1, D)
    assert out["x_storage_tokens"].shape == (1, S, D)
    assert out["x_norm_patchtokens"].shape == (1, h * w, D)
    assert out["x_prenorm"].shape == (1, (1 + S + h * w) if cfg.family == "vit" else h * w, D)
    assert out["masks"] is None
    assert torch.equal(cls, out["x_norm_clstoken"])
    assert all(torch.isfinite(out[k]).all() for k in ("x_norm_clstoken", "x_norm_patchtokens", "x_prenorm"))


def test_vit_s_token_counts_of_spec_table():
    """ARCH_SPEC 2.7: N = 201, 261, 325 and 1029 tokens."""
    cfg = get_config("eupe-vit-s")
    assert isinstance(cfg, ViTConfig)
    model = EupeViT(cfg).eval()
    for (H, W), n in zip(SIZES, (201, 261, 325, 1029), strict=True):
        tokens, h, w = model.prepare_tokens(torch.zeros(1, 3, H, W))
        assert tokens.shape[1] == n and (h, w) == (H // 16, W // 16)


def test_convnext_stage_sizes_at_320x256(model_factory):
    model = model_factory("eupe-convnext-tiny")
    with torch.no_grad():
        maps = model.get_intermediate_layers(torch.randn(1, 3, 256, 320), 4, reshape=True)
    assert [tuple(m.shape) for m in maps] == [(1, 96, 64, 80), (1, 192, 32, 40), (1, 384, 16, 20), (1, 768, 8, 10)]


def test_vit_batch_and_list_inputs(model_factory):
    model = model_factory("eupe-vit-t")
    x = torch.randn(2, 3, 64, 80)
    with torch.no_grad():
        batch = model.forward_features(x)
        single = model.forward_features([x[:1], x[1:]])
        full = model(x, is_training=True)
    assert isinstance(single, list) and len(single) == 2
    torch.testing.assert_close(single[1]["x_norm_patchtokens"][0], batch["x_norm_patchtokens"][1], atol=1e-5, rtol=0)
    assert set(full) == {"x_norm_clstoken", "x_storage_tokens", "x_norm_patchtokens", "x_prenorm", "masks"}


def test_vit_intermediate_layers(model_factory, randomize):
    model = model_factory("eupe-vit-t")
    randomize(model)
    x = torch.randn(1, 3, 64, 96)
    with torch.no_grad():
        ff = model.forward_features(x)
        four = model.get_intermediate_layers(x, 4, reshape=True, norm=True)
        raw = model.get_intermediate_layers(x, [8, 11], reshape=False, norm=False)
        full = model.get_intermediate_layers(x, [2, 11], return_class_token=True, return_extra_tokens=True)
    assert len(four) == 4 and all(m.shape == (1, 192, 4, 6) for m in four)
    # [3] is exactly x_norm_patchtokens reshaped: (B, h*w, D) -> (B, D, h, w)
    torch.testing.assert_close(
        four[3], ff["x_norm_patchtokens"].reshape(1, 4, 6, 192).permute(0, 3, 1, 2), atol=0, rtol=0
    )
    # un-normalised block 11 output is x_prenorm's patch part
    torch.testing.assert_close(raw[1], ff["x_prenorm"][:, 5:], atol=0, rtol=0)
    assert raw[0].shape == (1, 24, 192)
    # n=4 means blocks 8..11 in order: block 8 normalised equals [0]
    torch.testing.assert_close(four[0], model.norm(raw[0]).reshape(1, 4, 6, 192).permute(0, 3, 1, 2))
    maps, cls, storage = full[1]
    torch.testing.assert_close(cls, ff["x_norm_clstoken"], atol=0, rtol=0)
    torch.testing.assert_close(storage, ff["x_storage_tokens"], atol=0, rtol=0)
    assert maps.shape == (1, 192, 4, 6) and full[0][1].shape == (1, 192) and full[0][2].shape == (1, 4, 192)
    with pytest.raises(ValueError, match="0..11"):
        model.get_intermediate_layers(x, [12])


def test_convnext_intermediate_layers(model_factory, randomize):
    model = model_factory("eupe-convnext-tiny")
    randomize(model)
    x = torch.randn(1, 3, 128, 96)
    with torch.no_grad():
        ff = model.forward_features(x)
        normed = model.get_intermediate_layers(x, 4, reshape=True, return_class_token=True, norm=True)
        raw = model.get_intermediate_layers(x, 4, reshape=True, return_class_token=True, norm=False)
        flat = model.get_intermediate_layers(x, [1], reshape=False)
        # the stages by hand: downsample s, then blocks of s
        y, stages = x, []
        for s in range(4):
            y = model.stages[s](model.downsample_layers[s](y))
            stages.append(y)
    for s in range(3):  # stages 0-2 come back un-normalised, whatever `norm` says
        torch.testing.assert_close(normed[s][0], stages[s], atol=0, rtol=0)
        torch.testing.assert_close(raw[s][0], stages[s], atol=0, rtol=0)
        torch.testing.assert_close(normed[s][1], stages[s].mean(dim=(-2, -1)))
    torch.testing.assert_close(raw[3][0], stages[3], atol=0, rtol=0)
    h3, w3 = 4, 3
    torch.testing.assert_close(
        normed[3][0], ff["x_norm_patchtokens"].transpose(1, 2).reshape(1, 768, h3, w3), atol=0, rtol=0
    )
    torch.testing.assert_close(normed[3][1], ff["x_norm_clstoken"], atol=0, rtol=0)
    # pooled "CLS": mean first, then the final norm (not the mean of normalised tokens)
    torch.testing.assert_close(ff["x_norm_clstoken"], model.norm(stages[3].mean(dim=(-2, -1))))
    assert not torch.allclose(ff["x_norm_clstoken"], ff["x_norm_patchtokens"].mean(1), atol=1e-3)
    assert flat[0].shape == (1, 16 * 12, 192)
    assert ff["x_storage_tokens"].shape == (1, 0, 768)


def test_rope_periods_match_spec_list():
    listed = [1, 1.3335, 1.7783, 2.3714, 3.1623, 4.2170, 5.6234, 7.4989,
              10, 13.335, 17.783, 23.714, 31.623, 42.170, 56.234, 74.989]  # fmt: skip
    p = rope_periods(64, 100.0)
    assert p.dtype == torch.float32
    torch.testing.assert_close(p, torch.tensor(listed), rtol=1e-4, atol=0)


def test_rope_on_non_square_grid_against_direct_formula():
    """Token (r, c) of a 16x20 grid, every head dimension, from the spec's formulas (2.4)."""
    h, w = 16, 20
    periods = rope_periods(64, 100.0)
    sin, cos = rope_tables(periods, h, w)
    assert sin.shape == cos.shape == (h * w, 64)
    v = torch.randn(1, 1, h * w, 64)
    rotated = apply_rope(v, sin, cos)
    for r, c in [(3, 7), (15, 0), (0, 19)]:
        y = 2 * (r + 0.5) / h - 1  # separate normalisation: by h for rows ...
        x = 2 * (c + 0.5) / w - 1  # ... and by w for columns, not by max(h, w)
        t = r * w + c
        a, b = v[0, 0, t, :32].double(), v[0, 0, t, 32:].double()
        expect = torch.empty(64, dtype=torch.float64)
        for j in range(32):
            coord = y if j < 16 else x
            theta = 2 * math.pi * coord / float(periods[j % 16])
            expect[j] = a[j] * math.cos(theta) - b[j] * math.sin(theta)
            expect[32 + j] = b[j] * math.cos(theta) + a[j] * math.sin(theta)
        torch.testing.assert_close(rotated[0, 0, t].double(), expect, atol=2e-5, rtol=0)
    # y = -15/16 ... 15/16 and x = -19/20 ... 19/20 as the spec's example says
    theta_y0 = torch.atan2(sin[0, 0], cos[0, 0])  # period 1: angle 2*pi*y, wrapped
    assert math.isclose(math.cos(float(theta_y0)), math.cos(2 * math.pi * (-15 / 16)), abs_tol=1e-5)


def test_attention_against_naive_spec_implementation():
    """Masked k-bias, RoPE on patch tokens only, 1/sqrt(64) scale, head-major merge (spec 2.5)."""
    torch.manual_seed(0)
    D, heads, h, w = 128, 2, 3, 4
    attn = Attention(D, heads).eval()
    with torch.no_grad():
        attn.qkv.bias.normal_()  # a non-zero k third that must be ignored
    x = torch.randn(2, 5 + h * w, D)
    rope = RopeEmbedding(64, 100.0)(h, w, n_prefix=5)  # identity rows for CLS + 4 storage tokens
    with torch.no_grad():
        got = attn(x, rope)
        W, b = attn.qkv.weight.double(), attn.qkv.bias.double().clone()
        b[D : 2 * D] = 0
        qkv = x.double() @ W.T + b
        out = torch.zeros(2, 5 + h * w, D, dtype=torch.float64)
        for hd in range(heads):
            sl = slice(hd * 64, hd * 64 + 64)
            q, k, v = qkv[..., :D][..., sl], qkv[..., D : 2 * D][..., sl], qkv[..., 2 * D :][..., sl]
            q, k = q.clone(), k.clone()
            for t in range(h * w):
                r, c = divmod(t, w)
                ang = torch.tensor(
                    [2 * math.pi * (2 * (r + 0.5) / h - 1) / float(p) for p in rope_periods(64, 100.0)]
                    + [2 * math.pi * (2 * (c + 0.5) / w - 1) / float(p) for p in rope_periods(64, 100.0)],
                    dtype=torch.float64,
                )
                for m in (q, k):
                    a, bb = m[:, 5 + t, :32].clone(), m[:, 5 + t, 32:].clone()
                    m[:, 5 + t, :32] = a * ang.cos() - bb * ang.sin()
                    m[:, 5 + t, 32:] = bb * ang.cos() + a * ang.sin()
            logits = q @ k.transpose(-1, -2) / 8.0
            p = torch.exp(logits - logits.amax(-1, keepdim=True))
            out[..., sl] = (p / p.sum(-1, keepdim=True)) @ v
        expect = out @ attn.proj.weight.double().T + attn.proj.bias.double()
    torch.testing.assert_close(got.double(), expect, atol=2e-5, rtol=0)


def test_nan_in_key_bias_never_reaches_the_output(model_factory):
    model = model_factory("eupe-vit-t")
    x = torch.randn(1, 3, 32, 48)
    with torch.no_grad():
        before = model(x)
        saved = [blk.attn.qkv.bias.clone() for blk in model.blocks]
        for blk in model.blocks:
            blk.attn.qkv.bias[192:384] = float("nan")
        after = model(x)
        for blk, b in zip(model.blocks, saved, strict=True):
            blk.attn.qkv.bias.copy_(b)
    assert torch.isfinite(after).all()
    torch.testing.assert_close(after, before, atol=0, rtol=0)
