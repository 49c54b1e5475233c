"""EUPE encoders, ViT/16 and ConvNeXt, for inference: "Efficient Universal Perception Encoder"
(Zhu et al., arXiv 2603.22387), written from shared/eupe/ARCH_SPEC.md (section numbers below refer to it).

Both families expose the official interface:
- `forward_features(x)` -> dict(x_norm_clstoken, x_storage_tokens, x_norm_patchtokens, x_prenorm, masks)
- `model(x)` -> the class token (for the ConvNeXt: the normalised spatial mean)
- `get_intermediate_layers(x, n, reshape, return_class_token, return_extra_tokens, norm)`

and load the released checkpoint files through `load_encoder(name, weights)`. Inputs are ImageNet-
normalised RGB, NCHW float32; sides should be multiples of 16 (ViT) or 32 (ConvNeXt), the remainder
is dropped by the strided convolutions (spec 1).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ar_perception.errors import ModelError
from ar_perception.models.registry import (
    ConvNeXtConfig,
    EncoderConfig,
    ViTConfig,
    get_config,
    list_models,
    register,
)

__all__ = [
    "ViTConfig",
    "ConvNeXtConfig",
    "get_config",
    "list_models",
    "register",
    "EupeViT",
    "EupeConvNeXt",
    "build_model",
    "load_encoder",
    "load_checkpoint",
    "rope_tables",
]


# ---------------------------------------------------------------------------------------------
# ViT building blocks (spec 2)
# ---------------------------------------------------------------------------------------------


class PatchEmbed(nn.Module):
    """16x16 patches -> D channels with one strided convolution (spec 2.2)."""

    def __init__(self, patch_size: int, embed_dim: int):
        super().__init__()
        self.proj = nn.Conv2d(3, embed_dim, kernel_size=patch_size, stride=patch_size)

    def forward(self, x: Tensor) -> Tensor:
        x = self.proj(x)  # (B, 3, H, W) -> (B, D, h, w); remainder rows/columns are dropped
        return x.flatten(2).transpose(1, 2)  # (B, D, h, w) -> (B, h*w, D), row-major


def rope_periods(head_dim: int, base: float) -> Tensor:
    """period_i = base^(2i / (d/2)), i < d/4, in float32 (spec 2.4.1)."""
    n = head_dim // 4
    return base ** (2 * torch.arange(n, dtype=torch.float32) / (head_dim // 2))


def rope_tables(periods: Tensor, h: int, w: int) -> tuple[Tensor, Tensor]:
    """sin and cos tables, each (h*w, 4 * len(periods)), for a row-major h x w patch grid.

    Each axis is normalised by its own length ("separate"), with the 0.5 pixel-centre offset, then
    mapped to [-1, 1] (spec 2.4.2). The 64 angles per token are [y angles, x angles] repeated twice,
    so head dimension j and j + 32 share an angle (rotate-half pairing, spec 2.4.3-4).
    """
    periods = periods.float()
    ys = (torch.arange(h, dtype=torch.float32, device=periods.device) + 0.5) / h
    xs = (torch.arange(w, dtype=torch.float32, device=periods.device) + 0.5) / w
    ys, xs = 2.0 * ys - 1.0, 2.0 * xs - 1.0
    coords = torch.stack(torch.meshgrid(ys, xs, indexing="ij"), dim=-1)  # (h, w, 2): (y, x)
    coords = coords.reshape(h * w, 2)  # (h, w, 2) -> (h*w, 2), row-major like the patch tokens
    angles = 2 * math.pi * coords[:, :, None] / periods[None, None, :]  # (h*w, 2, d/4)
    angles = angles.reshape(h * w, -1)  # (h*w, 2, d/4) -> (h*w, d/2): [y..., x...]
    angles = angles.repeat(1, 2)  # (h*w, d/2) -> (h*w, d): [y, x, y, x]
    return torch.sin(angles), torch.cos(angles)


def rotate_half(v: Tensor) -> Tensor:
    a, b = v.chunk(2, dim=-1)
    return torch.cat((-b, a), dim=-1)


def apply_rope(v: Tensor, sin: Tensor, cos: Tensor) -> Tensor:
    """Rotate (B, heads, N, d) queries or keys; computed in float32 and cast back (spec 2.4.5)."""
    dtype = v.dtype
    v = v.float()
    return (v * cos + rotate_half(v) * sin).to(dtype)


class RopeEmbedding(nn.Module):
    """Holds the RoPE periods as a persistent buffer, `rope_embed.periods` (no learned weights)."""

    periods: Tensor  # the buffer

    def __init__(self, head_dim: int, base: float):
        super().__init__()
        self.register_buffer("periods", rope_periods(head_dim, base), persistent=True)

    def forward(self, h: int, w: int, n_prefix: int) -> tuple[Tensor, Tensor]:
        """Tables for the whole sequence (n_prefix + h*w, d). The prefix rows are the identity
        rotation (sin 0, cos 1), which leaves CLS and storage tokens exactly unchanged and spares
        slicing and re-concatenating q and k in every block."""
        sin, cos = rope_tables(self.periods, h, w)
        d = sin.shape[1]
        sin = torch.cat((sin.new_zeros(n_prefix, d), sin))  # (h*w, d) -> (n_prefix + h*w, d)
        cos = torch.cat((cos.new_ones(n_prefix, d), cos))
        return sin, cos


class MaskedBiasLinear(nn.Linear):
    """The qkv projection whose key third never receives a bias (spec 2.5.2).

    `bias_mask` is 1 / 0 / 1 over the q / k / v thirds. `torch.where` rather than a product keeps
    the keys bias-free even if the stored k third holds NaN or inf (0 * NaN is NaN).
    """

    bias_mask: Tensor  # the buffer

    def __init__(self, dim: int):
        super().__init__(dim, 3 * dim, bias=True)
        self.register_buffer("bias_mask", default_bias_mask(dim), persistent=True)

    def forward(self, x: Tensor) -> Tensor:
        bias = torch.where(self.bias_mask != 0, self.bias * self.bias_mask, torch.zeros_like(self.bias))
        return F.linear(x, self.weight, bias)


def default_bias_mask(dim: int) -> Tensor:
    mask = torch.ones(3 * dim)
    mask[dim : 2 * dim] = 0.0
    return mask


class Attention(nn.Module):
    def __init__(self, dim: int, num_heads: int):
        super().__init__()
        self.num_heads = num_heads
        self.qkv = MaskedBiasLinear(dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: Tensor, rope: tuple[Tensor, Tensor]) -> Tensor:
        B, N, D = x.shape
        qkv = self.qkv(x)  # (B, N, D) -> (B, N, 3D), channels [q | k | v]
        qkv = qkv.reshape(B, N, 3, self.num_heads, D // self.num_heads)  # (B, N, 3, heads, 64)
        q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)  # 3 x (B, heads, N, 64)
        sin, cos = rope  # (N, 64) each; identity rows for the prefix tokens, which stay unrotated
        q, k = apply_rope(q, sin, cos), apply_rope(k, sin, cos)
        x = F.scaled_dot_product_attention(q, k, v)  # scale 1/sqrt(64); (B, heads, N, 64)
        x = x.transpose(1, 2).reshape(B, N, D)  # (B, heads, N, 64) -> (B, N, D), head-major channels
        return self.proj(x)


class LayerScale(nn.Module):
    def __init__(self, dim: int, init: float = 1e-5):
        super().__init__()
        self.gamma = nn.Parameter(torch.full((dim,), init))

    def forward(self, x: Tensor) -> Tensor:
        return x * self.gamma


class Mlp(nn.Module):
    def __init__(self, dim: int, hidden: int):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc2(F.gelu(self.fc1(x)))  # exact erf GELU


class Block(nn.Module):
    """Pre-norm transformer block with LayerScale on both residual branches (spec 2.5)."""

    def __init__(self, cfg: ViTConfig):
        super().__init__()
        D = cfg.embed_dim
        self.norm1 = nn.LayerNorm(D, eps=cfg.ln_eps)
        self.attn = Attention(D, cfg.num_heads)
        self.ls1 = LayerScale(D)
        self.norm2 = nn.LayerNorm(D, eps=cfg.ln_eps)
        self.mlp = Mlp(D, cfg.mlp_ratio * D)
        self.ls2 = LayerScale(D)

    def forward(self, x: Tensor, rope: tuple[Tensor, Tensor]) -> Tensor:
        x = x + self.ls1(self.attn(self.norm1(x), rope))
        return x + self.ls2(self.mlp(self.norm2(x)))


# ---------------------------------------------------------------------------------------------
# The official entry points, the same for both families
# ---------------------------------------------------------------------------------------------


_FeatureDict = dict[str, Tensor | None]


class _Backbone(nn.Module):
    """`forward_features` and `forward` over a family's `_features` (one batch in, one dict out)."""

    def _features(self, x: Tensor, masks: Tensor | None) -> _FeatureDict:
        raise NotImplementedError

    def forward_features(
        self, x: Tensor | list[Tensor], masks: Tensor | None = None
    ) -> _FeatureDict | list[_FeatureDict]:
        if isinstance(x, list):  # several batches (of different sizes, say): one dict each
            ms = masks if isinstance(masks, list) else [masks] * len(x)
            return [self._features(xi, mi) for xi, mi in zip(x, ms, strict=True)]
        return self._features(x, masks)

    def forward(self, x: Tensor, is_training: bool = False):
        out = self._features(x, None)
        return out if is_training else out["x_norm_clstoken"]


# ---------------------------------------------------------------------------------------------
# The ViT
# ---------------------------------------------------------------------------------------------


class EupeViT(_Backbone):
    """EUPE ViT/16: [CLS, 4 storage, patches] through 12 RoPE blocks and one final LayerNorm.

    Attribute order matches the official state_dict order (spec 2.8), so `state_dict()` yields the
    188 official keys in order.
    """

    def __init__(self, cfg: ViTConfig):
        super().__init__()
        self.cfg = cfg
        D = cfg.embed_dim
        self.embed_dim = D
        self.patch_size = cfg.patch_size
        self.n_storage_tokens = cfg.n_storage_tokens
        self.n_layers = cfg.depth  # units that get_intermediate_layers indexes
        self.cls_token = nn.Parameter(torch.zeros(1, 1, D))
        self.storage_tokens = nn.Parameter(torch.zeros(1, cfg.n_storage_tokens, D))
        self.mask_token = nn.Parameter(torch.zeros(1, D))
        self.patch_embed = PatchEmbed(cfg.patch_size, D)
        self.rope_embed = RopeEmbedding(D // cfg.num_heads, cfg.rope_base)
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.depth))
        self.norm = nn.LayerNorm(D, eps=cfg.ln_eps)
        self._init_random()

    def _init_random(self) -> None:
        # Random init for tests and benchmarks only; real use loads a checkpoint.
        for t in (self.cls_token, self.storage_tokens, self.mask_token):
            nn.init.normal_(t, std=0.02)
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.trunc_normal_(m.weight, std=0.02)
                nn.init.zeros_(m.bias)

    def prepare_tokens(self, x: Tensor, masks: Tensor | None = None) -> tuple[Tensor, int, int]:
        B, _, H, W = x.shape
        h, w = H // self.patch_size, W // self.patch_size
        patches = self.patch_embed(x)  # (B, 3, H, W) -> (B, h*w, D)
        if masks is not None:
            # Masked-token training only: masked patches are replaced by the learned mask token.
            patches = torch.where(masks[..., None], self.mask_token.to(patches.dtype), patches)
        cls = self.cls_token.expand(B, -1, -1)  # (1, 1, D) -> (B, 1, D)
        storage = self.storage_tokens.expand(B, -1, -1)  # (1, 4, D) -> (B, 4, D)
        return torch.cat((cls, storage, patches), dim=1), h, w  # (B, 5 + h*w, D)

    def _run_blocks(self, x: Tensor, h: int, w: int, keep: Sequence[int] = ()) -> tuple[Tensor, list[Tensor]]:
        rope = self.rope_embed(h, w, n_prefix=1 + self.n_storage_tokens)
        kept = []
        last = max(keep) if keep else len(self.blocks) - 1
        for i, blk in enumerate(self.blocks[: last + 1]):
            x = blk(x, rope)
            if i in keep:
                kept.append(x)
        return x, kept

    def _features(self, x: Tensor, masks: Tensor | None) -> _FeatureDict:
        tokens, h, w = self.prepare_tokens(x, masks)
        tokens, _ = self._run_blocks(tokens, h, w)
        normed = self.norm(tokens)  # one LN for CLS, storage and patches (spec 2.6)
        p = 1 + self.n_storage_tokens
        return {
            "x_norm_clstoken": normed[:, 0],  # (B, D)
            "x_storage_tokens": normed[:, 1:p],  # (B, 4, D)
            "x_norm_patchtokens": normed[:, p:],  # (B, h*w, D)
            "x_prenorm": tokens,  # (B, 5 + h*w, D)
            "masks": masks,
        }

    def get_intermediate_layers(
        self,
        x: Tensor,
        n: int | Sequence[int] = 1,
        reshape: bool = True,
        return_class_token: bool = False,
        return_extra_tokens: bool = False,
        norm: bool = True,
    ) -> tuple:
        """Outputs of selected blocks (spec 2.6): an int n means the last n blocks, a list those indices."""
        depth = len(self.blocks)
        idx = list(range(depth - n, depth)) if isinstance(n, int) else list(n)
        _check_indices(idx, depth, "block")
        tokens, h, w = self.prepare_tokens(x)
        _, kept = self._run_blocks(tokens, h, w, keep=idx)
        by_index = dict(zip(sorted(set(idx)), kept, strict=True))
        p = 1 + self.n_storage_tokens
        results = []
        for i in idx:
            out = by_index[i]
            if norm:
                out = self.norm(out)
            cls, storage, patches = out[:, 0], out[:, 1:p], out[:, p:]
            if reshape:
                B, _, D = patches.shape
                patches = patches.reshape(B, h, w, D).permute(0, 3, 1, 2)  # (B, h*w, D) -> (B, D, h, w)
            results.append(_pack(patches, cls, storage, return_class_token, return_extra_tokens))
        return tuple(results)


# ---------------------------------------------------------------------------------------------
# ConvNeXt (spec 3)
# ---------------------------------------------------------------------------------------------


class LayerNorm2d(nn.LayerNorm):
    """LayerNorm over the channel axis of a (B, C, H, W) map, eps 1e-6."""

    def forward(self, x: Tensor) -> Tensor:
        x = x.permute(0, 2, 3, 1)  # (B, C, H, W) -> (B, H, W, C)
        x = F.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)
        return x.permute(0, 3, 1, 2)  # (B, H, W, C) -> (B, C, H, W)


class ConvNeXtBlock(nn.Module):
    """dwconv 7x7 -> LN -> Linear 4C -> GELU -> Linear C -> gamma, plus the residual (spec 3.2)."""

    def __init__(self, dim: int, eps: float):
        super().__init__()
        self.gamma = nn.Parameter(torch.full((dim,), 1e-6))  # first in state_dict order, as official
        self.dwconv = nn.Conv2d(dim, dim, kernel_size=7, padding=3, groups=dim)
        self.norm = nn.LayerNorm(dim, eps=eps)
        self.pwconv1 = nn.Linear(dim, 4 * dim)
        self.pwconv2 = nn.Linear(4 * dim, dim)

    def forward(self, x: Tensor) -> Tensor:
        y = self.dwconv(x)
        y = y.permute(0, 2, 3, 1)  # (B, C, H, W) -> (B, H, W, C)
        y = self.pwconv2(F.gelu(self.pwconv1(self.norm(y))))
        y = (y * self.gamma).permute(0, 3, 1, 2)  # (B, H, W, C) -> (B, C, H, W)
        return x + y


class EupeConvNeXt(_Backbone):
    """EUPE ConvNeXt: 4 stages at strides 4, 8, 16, 32; the "CLS" is the normalised spatial mean."""

    def __init__(self, cfg: ConvNeXtConfig):
        super().__init__()
        self.cfg = cfg
        C = cfg.dims
        self.embed_dim = C[-1]
        self.patch_size = cfg.patch_size
        self.n_storage_tokens = 0
        self.n_layers = 4  # get_intermediate_layers indexes stages
        self.downsample_layers = nn.ModuleList(
            [nn.Sequential(nn.Conv2d(3, C[0], kernel_size=4, stride=4), LayerNorm2d(C[0], eps=cfg.ln_eps))]
            + [
                nn.Sequential(LayerNorm2d(C[s - 1], eps=cfg.ln_eps), nn.Conv2d(C[s - 1], C[s], kernel_size=2, stride=2))
                for s in range(1, 4)
            ]
        )
        self.stages = nn.ModuleList(
            nn.Sequential(*(ConvNeXtBlock(C[s], cfg.ln_eps) for _ in range(cfg.depths[s]))) for s in range(4)
        )
        self.norm = nn.LayerNorm(C[-1], eps=cfg.ln_eps)
        for m in self.modules():
            if isinstance(m, (nn.Linear, nn.Conv2d)):
                nn.init.trunc_normal_(m.weight, std=0.02)
                if m.bias is not None:  # (all of them have one)
                    nn.init.zeros_(m.bias)

    def _stage_outputs(self, x: Tensor, last: int = 3) -> list[Tensor]:
        outs = []
        for s in range(last + 1):
            x = self.stages[s](self.downsample_layers[s](x))  # (B, C_s, H / 2^(s+2), W / 2^(s+2))
            outs.append(x)
        return outs

    def _norm_map(self, fmap: Tensor) -> tuple[Tensor, Tensor]:
        """Final LN of a stage-3 map and of its mean, which is taken BEFORE the norm (spec 3.3)."""
        pooled = fmap.mean(dim=(-2, -1))  # (B, C, h, w) -> (B, C)
        tokens = fmap.flatten(2).transpose(1, 2)  # (B, C, h, w) -> (B, h*w, C)
        seq = torch.cat((pooled[:, None], tokens), dim=1)  # (B, 1 + h*w, C)
        seq = self.norm(seq)
        return seq[:, 0], seq[:, 1:]

    def _features(self, x: Tensor, masks: Tensor | None) -> _FeatureDict:
        # `masks` is passed through untouched; the ConvNeXt has no mask token.
        fmap = self._stage_outputs(x)[-1]  # (B, C3, h3, w3)
        cls, patches = self._norm_map(fmap)
        B, C = cls.shape
        return {
            "x_norm_clstoken": cls,  # (B, C3)
            "x_storage_tokens": cls.new_zeros(B, 0, C),  # (B, 0, C3): no storage tokens
            "x_norm_patchtokens": patches,  # (B, h3*w3, C3)
            "x_prenorm": fmap.flatten(2).transpose(1, 2),  # (B, C3, h3, w3) -> (B, h3*w3, C3)
            "masks": masks,
        }

    def get_intermediate_layers(
        self,
        x: Tensor,
        n: int | Sequence[int] = 1,
        reshape: bool = True,
        return_class_token: bool = False,
        return_extra_tokens: bool = False,
        norm: bool = True,
    ) -> tuple:
        """Stage outputs (spec 3.3): the unit is a stage; only stage 3 gets the final norm.

        `return_extra_tokens` is accepted for interface parity with the ViT and yields an empty
        (B, 0, C_s) storage tensor.
        """
        idx = list(range(4 - n, 4)) if isinstance(n, int) else list(n)
        _check_indices(idx, 4, "stage")
        outs = self._stage_outputs(x, last=max(idx))
        results = []
        for s in idx:
            fmap = outs[s]
            B, C, h, w = fmap.shape
            if norm and s == 3:
                pooled, tokens = self._norm_map(fmap)  # (B, C), (B, h*w, C)
            else:  # norms list is [identity, identity, identity, final LN]
                pooled = fmap.mean(dim=(-2, -1))
                tokens = fmap.flatten(2).transpose(1, 2)  # (B, C, h, w) -> (B, h*w, C)
            if reshape:
                out = tokens.transpose(1, 2).reshape(B, C, h, w)  # (B, h*w, C) -> (B, C, h, w)
            else:
                out = tokens
            results.append(_pack(out, pooled, fmap.new_zeros(B, 0, C), return_class_token, return_extra_tokens))
        return tuple(results)


def _check_indices(idx: list[int], depth: int, unit: str) -> None:
    bad = [i for i in idx if not 0 <= i < depth]
    if not idx or bad:
        raise ValueError(f"get_intermediate_layers: {unit} indices must be in 0..{depth - 1}, got {idx}")


def _pack(main: Tensor, cls: Tensor, extra: Tensor, with_cls: bool, with_extra: bool):
    if with_cls and with_extra:
        return main, cls, extra
    if with_cls:
        return main, cls
    if with_extra:
        return main, extra
    return main


# ---------------------------------------------------------------------------------------------
# Building and loading
# ---------------------------------------------------------------------------------------------


def build_model(cfg: EncoderConfig | str) -> EupeViT | EupeConvNeXt:
    """A randomly initialised model (float32, eval mode) for a config or registered name."""
    cfg = get_config(cfg) if isinstance(cfg, str) else cfg
    model = EupeViT(cfg) if isinstance(cfg, ViTConfig) else EupeConvNeXt(cfg)
    return model.eval()


def load_encoder(name: str, weights: str | Path | None = "auto") -> EupeViT | EupeConvNeXt:
    """The EUPE encoder `name` in eval mode.

    weights: "auto" (local cache, then the model hub when online, else a ModelError saying how to
    get the file; see `ar_perception.models.weights`), a checkpoint path, or None for random
    initialisation (tests and benchmarks).
    """
    cfg = get_config(name)
    model = build_model(cfg)
    if weights is not None:
        from ar_perception.models.weights import resolve_weights

        load_checkpoint(model, resolve_weights(name, weights))
    return model.eval()


def load_checkpoint(model: EupeViT | EupeConvNeXt, path: str | Path) -> None:
    """Load an official checkpoint file into `model` by the rules of spec 2.8 / 3.4."""
    from ar_perception.models.files import load_torch_file

    path = Path(path)
    raw = load_torch_file(path, "checkpoint file")  # weights only; a damaged file is a ModelError naming it
    state = official_to_model_state(model, raw, source=str(path))
    model.load_state_dict(state, strict=True)
    model.eval()


def official_to_model_state(
    model: EupeViT | EupeConvNeXt, raw: object, source: str = "<state dict>"
) -> dict[str, Tensor]:
    """Map a checkpoint dictionary onto `model`'s exact state_dict keys, or raise ModelError.

    - a `teacher.` prefix (training checkpoints) is stripped; when present, only those keys count;
    - `projectors.*` (distillation heads) are skipped; for the ConvNeXt, `norms.3.*` is an alias of
      `norm.*` and other `norms.*` are skipped;
    - ViT: a missing `bias_mask` gets the 1/0/1 mask, missing `rope_embed.periods` the computed
      periods, a missing `mask_token` keeps the model's own; the k third of every qkv bias is zeroed
      whatever the file holds there;
    - anything else missing, unexpected or of the wrong shape is an error that lists the keys.
    """
    if not isinstance(raw, Mapping):
        raise ModelError(f"{source}: expected a dictionary of tensors, found {type(raw).__name__}")
    if "teacher" in raw and isinstance(raw["teacher"], Mapping):
        raw = raw["teacher"]
    state = {str(k): v for k, v in raw.items()}
    if any(k.startswith("teacher.") for k in state):
        state = {k.removeprefix("teacher."): v for k, v in state.items() if k.startswith("teacher.")}
    state = {k: v for k, v in state.items() if not k.startswith("projectors.")}

    own = model.state_dict()
    if isinstance(model, EupeConvNeXt):
        for suffix in ("weight", "bias"):
            alias = state.pop(f"norms.3.{suffix}", None)
            if alias is not None and f"norm.{suffix}" not in state:
                state[f"norm.{suffix}"] = alias
        state = {k: v for k, v in state.items() if not k.startswith("norms.")}
    else:
        D = model.embed_dim
        optional = {"mask_token", "rope_embed.periods"} | {
            f"blocks.{i}.attn.qkv.bias_mask" for i in range(len(model.blocks))
        }
        for key in optional:
            if key not in state:
                state[key] = default_bias_mask(D) if key.endswith("bias_mask") else own[key].clone()

    missing = [k for k in own if k not in state]  # in the model's (= the official) key order
    unexpected = sorted(set(state) - set(own), key=_natural)
    wrong_shape = [
        f"{k} (expected {list(own[k].shape)}, found {list(getattr(state[k], 'shape', []))})"
        for k in own
        if k in state and (not isinstance(state[k], Tensor) or state[k].shape != own[k].shape)
    ]
    if missing or unexpected or wrong_shape:
        name = model.cfg.name
        lines = [f"{source}: not a checkpoint for {name} ({model.cfg.filename})"]
        if missing:
            lines.append(f"missing keys ({len(missing)}): {_abbrev(missing)}")
        if unexpected:
            lines.append(f"unexpected keys ({len(unexpected)}): {_abbrev(unexpected)}")
        if wrong_shape:
            lines.append(f"wrong shapes ({len(wrong_shape)}): {_abbrev(wrong_shape)}")
        raise ModelError("\n".join(lines))

    state = {k: state[k].detach().to(torch.float32).clone() for k in own}
    if isinstance(model, EupeViT):
        for i in range(len(model.blocks)):
            bias, mask = state[f"blocks.{i}.attn.qkv.bias"], state[f"blocks.{i}.attn.qkv.bias_mask"]
            state[f"blocks.{i}.attn.qkv.bias"] = torch.where(mask != 0, bias, torch.zeros_like(bias))
    return state


def _natural(key: str) -> list[tuple[int, int, str]]:
    return [(0, int(p), "") if p.isdigit() else (1, 0, p) for p in key.split(".")]


def _abbrev(items: list[str], limit: int = 12) -> str:
    shown = ", ".join(items[:limit])
    return shown + (f", ... and {len(items) - limit} more" if len(items) > limit else "")
