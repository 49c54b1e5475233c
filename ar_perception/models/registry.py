"""Named EUPE encoder configurations (arXiv 2603.22387; shared/eupe/ARCH_SPEC.md tables 2.1 and 3.1).

Plain dataclasses registered by name, as timm's registry does. This module imports neither torch nor
onnx, so the CLI can list models and weights without the `vision` extra.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, replace

from ar_perception.errors import ModelError

__all__ = [
    "ViTConfig",
    "ConvNeXtConfig",
    "EncoderConfig",
    "register",
    "get_config",
    "list_models",
]

HF_ORG = "facebook"


@dataclass(frozen=True)
class ViTConfig:
    """An EUPE ViT/16 (spec section 2). Only width and heads differ between sizes."""

    name: str
    embed_dim: int
    num_heads: int
    depth: int = 12
    mlp_ratio: int = 4
    patch_size: int = 16
    n_storage_tokens: int = 4
    rope_base: float = 100.0
    ln_eps: float = 1e-5
    filename: str = ""  # official checkpoint file name, e.g. EUPE-ViT-S.pt
    hf_repo: str = ""  # model-hub repository that holds `filename`
    params_m: float = 0.0  # parameter count from the spec, millions
    family: str = "vit"

    @property
    def out_dim(self) -> int:
        return self.embed_dim

    @property
    def stride(self) -> int:
        """Input sides should be multiples of this (the patch size)."""
        return self.patch_size


@dataclass(frozen=True)
class ConvNeXtConfig:
    """An EUPE ConvNeXt (v1 design, spec section 3)."""

    name: str
    depths: tuple[int, int, int, int]
    dims: tuple[int, int, int, int]
    ln_eps: float = 1e-6
    filename: str = ""
    hf_repo: str = ""
    params_m: float = 0.0
    family: str = "convnext"

    @property
    def out_dim(self) -> int:
        return self.dims[-1]

    @property
    def stride(self) -> int:
        """Total downsampling of the last stage: stem 4 x three 2x steps."""
        return 32

    @property
    def patch_size(self) -> int:
        """Pixels per final-stage token, the ConvNeXt analogue of a ViT patch."""
        return 32


EncoderConfig = ViTConfig | ConvNeXtConfig

_REGISTRY: dict[str, EncoderConfig] = {}


def register(cfg: EncoderConfig) -> EncoderConfig:
    if cfg.name in _REGISTRY:
        raise ValueError(f"encoder config '{cfg.name}' is already registered")
    _REGISTRY[cfg.name] = cfg
    return cfg


def get_config(name: str) -> EncoderConfig:
    try:
        return _REGISTRY[name]
    except KeyError:
        near = difflib.get_close_matches(name, list(_REGISTRY), n=1)
        hint = f"; did you mean '{near[0]}'?" if near else ""
        raise ModelError(f"unknown encoder model '{name}' (known: {', '.join(_REGISTRY)}){hint}") from None


def list_models() -> list[str]:
    return list(_REGISTRY)


def _hub(filename: str) -> str:
    # facebook/EUPE-ViT-S is the official model-card repository; the other five follow the same
    # pattern (file stem = repository name). Correct a name here if the hub disagrees.
    return f"{HF_ORG}/{filename.removesuffix('.pt')}"


for _cfg in (
    ViTConfig("eupe-vit-t", embed_dim=192, num_heads=3, filename="EUPE-ViT-T.pt", params_m=5.49),
    ViTConfig("eupe-vit-s", embed_dim=384, num_heads=6, filename="EUPE-ViT-S.pt", params_m=21.60),
    ViTConfig("eupe-vit-b", embed_dim=768, num_heads=12, filename="EUPE-ViT-B.pt", params_m=85.67),
    ConvNeXtConfig(
        "eupe-convnext-tiny",
        depths=(3, 3, 9, 3),
        dims=(96, 192, 384, 768),
        filename="EUPE-ConvNeXt-T.pt",
        params_m=27.82,
    ),
    ConvNeXtConfig(
        "eupe-convnext-small",
        depths=(3, 3, 27, 3),
        dims=(96, 192, 384, 768),
        filename="EUPE-ConvNeXt-S.pt",
        params_m=49.45,
    ),
    ConvNeXtConfig(
        "eupe-convnext-base",
        depths=(3, 3, 27, 3),
        dims=(128, 256, 512, 1024),
        filename="EUPE-ConvNeXt-B.pt",
        params_m=87.57,
    ),
):
    register(replace(_cfg, hf_repo=_hub(_cfg.filename)))
