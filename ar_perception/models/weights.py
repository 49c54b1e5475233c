"""Where EUPE weights come from: an explicit path, the local cache, or the model hub when online.

The official files (EUPE-ViT-S.pt, ...) live on the Hugging Face hub under facebook/<file stem>
(see `registry.py`). The cache folder is `$ARP_CACHE/weights`, by default
`~/.cache/ar-perception/weights`. This module does not import torch.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from ar_perception.errors import MissingExtraError, ModelError
from ar_perception.models.registry import EncoderConfig, get_config, list_models

__all__ = [
    "WeightsInfo",
    "cache_root",
    "weights_dir",
    "hub_url",
    "resolve_weights",
    "fetch",
    "list_weights",
]

_TRUE = {"1", "true", "yes", "on"}


def cache_root() -> Path:
    """`$ARP_CACHE`, else `$XDG_CACHE_HOME/ar-perception`, else `~/.cache/ar-perception`."""
    if os.environ.get("ARP_CACHE"):
        return Path(os.environ["ARP_CACHE"]).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg).expanduser() if xdg else Path.home() / ".cache") / "ar-perception"


def weights_dir() -> Path:
    return cache_root() / "weights"


def hub_url(cfg: EncoderConfig) -> str:
    return f"https://huggingface.co/{cfg.hf_repo}/resolve/main/{cfg.filename}"


@dataclass(frozen=True)
class WeightsInfo:
    name: str
    filename: str
    hf_repo: str
    present: bool
    path: Path
    size_bytes: int | None


def list_weights() -> list[WeightsInfo]:
    """One row per registered model: is its official file in the local cache?"""
    rows = []
    for name in list_models():
        cfg = get_config(name)
        path = weights_dir() / cfg.filename
        present = path.is_file()
        rows.append(
            WeightsInfo(name, cfg.filename, cfg.hf_repo, present, path, path.stat().st_size if present else None)
        )
    return rows


def resolve_weights(name: str, weights: str | os.PathLike = "auto") -> Path:
    """The checkpoint file to load for `name`.

    An explicit path must exist. "auto" looks in the cache folder, then downloads from the hub
    unless offline (no network, or HF_HUB_OFFLINE=1); failing both, the ModelError says exactly
    how to get the file.
    """
    cfg = get_config(name)
    if str(weights) != "auto":
        path = Path(weights).expanduser()
        if not path.is_file():
            raise ModelError(f"{path}: weights file for {name} not found (expected {cfg.filename})")
        return path
    local = weights_dir() / cfg.filename
    if local.is_file():
        return local
    try:
        return _download(cfg)
    except ModelError as e:
        raise ModelError(_how_to_get(cfg, reason=str(e))) from None


def fetch(name: str, force: bool = False) -> Path:
    """Download the official file for `name` into the cache folder (no-op if already there)."""
    cfg = get_config(name)
    local = weights_dir() / cfg.filename
    if local.is_file() and not force:
        return local
    try:
        return _download(cfg)
    except ModelError as e:
        raise ModelError(_how_to_get(cfg, reason=str(e))) from None


def _offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").lower() in _TRUE


def _download(cfg: EncoderConfig) -> Path:
    if _offline():
        raise ModelError("HF_HUB_OFFLINE is set, so no download was attempted")
    endpoint = os.environ.get("HF_ENDPOINT", "https://huggingface.co")
    if not _reachable(endpoint):
        raise ModelError(f"the model hub ({endpoint}) cannot be reached from this machine")
    dest = weights_dir()
    dest.mkdir(parents=True, exist_ok=True)
    return _download_from_hub(cfg.hf_repo, cfg.filename, dest)


def _reachable(url: str, timeout: float = 3.0) -> bool:
    """A quick TCP probe, so that an offline machine fails in seconds rather than after the hub
    client's retries (about 25 s). Behind an HTTP proxy the probe is skipped."""
    if any(os.environ.get(v) for v in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy")):
        return True
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        with socket.create_connection((parts.hostname or "", port), timeout=timeout):
            return True
    except OSError:
        return False


def _download_from_hub(repo_id: str, filename: str, dest: Path) -> Path:
    """The only network call in the package; tests replace it."""
    try:
        from huggingface_hub import hf_hub_download
        from huggingface_hub.utils import GatedRepoError, LocalEntryNotFoundError, RepositoryNotFoundError
    except ImportError:
        raise MissingExtraError("huggingface_hub", "vision") from None
    try:
        return Path(hf_hub_download(repo_id=repo_id, filename=filename, local_dir=dest))
    except GatedRepoError:
        raise ModelError(
            f"the hub repository {repo_id} is gated: accept its licence on https://huggingface.co/{repo_id} "
            "and log in (`hf auth login` or HF_TOKEN)"
        ) from None
    except RepositoryNotFoundError:
        raise ModelError(f"the hub has no repository {repo_id} (or it needs a login)") from None
    except LocalEntryNotFoundError:
        raise ModelError("the model hub could not be reached") from None
    except Exception as e:  # the hub client raises many error types across versions
        raise ModelError(f"download failed: {type(e).__name__}: {e}") from None


def _how_to_get(cfg: EncoderConfig, reason: str) -> str:
    local = weights_dir() / cfg.filename
    return (
        f"weights for {cfg.name} ({cfg.filename}) are not available: {reason}.\n"
        f"Get them in one of these ways:\n"
        f"  - with network: arp weights fetch {cfg.name}\n"
        f"  - by hand: download {hub_url(cfg)}\n"
        f"    (model page https://huggingface.co/{cfg.hf_repo}; accept the FAIR research licence there if asked)\n"
        f"    and put it at {local} (the cache folder is $ARP_CACHE/weights, default ~/.cache/ar-perception/weights)\n"
        f"  - or pass the file directly: weights: /path/to/{cfg.filename}"
    )
