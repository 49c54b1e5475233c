"""Shared fixtures for the model tests: no network, a private cache folder, models built once."""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

# As the encoder node does: idle OpenMP threads sleep instead of spinning, which keeps torch usable
# when other processes share the 2 cores (effective only if torch is not imported yet).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
torch = pytest.importorskip("torch")


@pytest.fixture(scope="session", autouse=True)
def _offline_private_cache(tmp_path_factory):
    """Every test runs offline against an empty cache folder of its own session."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("ARP_CACHE", str(tmp_path_factory.mktemp("arp-cache")))
        mp.setenv("HF_HUB_OFFLINE", "1")
        yield


_MODELS: dict[str, object] = {}


@pytest.fixture(scope="session")
def model_factory():
    """Random-weight models, built once per session (seeded, float32, eval mode)."""
    from ar_perception.models.eupe import build_model

    def get(name: str):
        if name not in _MODELS:
            torch.manual_seed(0)
            _MODELS[name] = build_model(name)
        return _MODELS[name]

    return get


@pytest.fixture
def randomize():
    return randomize_


@pytest.fixture
def photo():
    return skimage_photo


@pytest.fixture
def interrupted_after_checkpoints():
    return interrupted_after_checkpoints_


@contextmanager
def interrupted_after_checkpoints_(n: int) -> Iterator[None]:
    """torch.save writes `n` checkpoints, then raises KeyboardInterrupt, as Ctrl-C during training would;
    the block must end in that interrupt."""
    real_save, saved = torch.save, 0

    def save_then_stop(obj, path):
        nonlocal saved
        if saved == n:
            raise KeyboardInterrupt
        saved += 1
        real_save(obj, path)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(torch, "save", save_then_stop)
        with pytest.raises(KeyboardInterrupt):
            yield


def randomize_(model, seed: int = 1) -> None:
    """Give every parameter non-trivial values (random init leaves biases and LayerNorms at 0/1)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("gamma"):
                p.copy_(0.1 + 0.05 * torch.randn(p.shape, generator=g))
            elif p.ndim == 1:
                p.add_(0.05 * torch.randn(p.shape, generator=g))


def skimage_photo(name: str) -> Path:
    """A real photograph shipped in scikit-image's data folder (found without importing skimage)."""
    spec = importlib.util.find_spec("skimage")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("scikit-image (dev extra) is not installed")
    path = Path(list(spec.submodule_search_locations)[0]) / "data" / f"{name}.png"
    if not path.is_file():
        pytest.skip(f"{path} is not shipped by this scikit-image version")
    return path
