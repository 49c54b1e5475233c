"""Weight resolution: explicit path, cache folder, hub download (faked: no network in tests), errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from ar_perception.errors import ModelError
from ar_perception.models import weights
from ar_perception.models.registry import get_config


@pytest.fixture
def cache(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("ARP_CACHE", str(tmp_path))
    return tmp_path


@pytest.fixture
def no_network(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("a test tried to reach the network")

    monkeypatch.setattr(weights, "_download_from_hub", refuse)
    monkeypatch.setattr(weights, "_reachable", refuse)


def test_official_file_names_and_hub_repos():
    names = {n: (get_config(n).filename, get_config(n).hf_repo) for n in weights.list_models()}
    assert names["eupe-vit-s"] == ("EUPE-ViT-S.pt", "facebook/EUPE-ViT-S")
    assert names["eupe-convnext-base"] == ("EUPE-ConvNeXt-B.pt", "facebook/EUPE-ConvNeXt-B")
    assert (
        weights.hub_url(get_config("eupe-vit-t"))
        == "https://huggingface.co/facebook/EUPE-ViT-T/resolve/main/EUPE-ViT-T.pt"
    )


def test_unknown_model_suggests_nearest():
    with pytest.raises(ModelError, match="unknown encoder model 'eupe-vit-m'.*did you mean 'eupe-vit-"):
        weights.resolve_weights("eupe-vit-m")


def test_explicit_path(cache, tmp_path, no_network):
    f = tmp_path / "mine.pt"
    f.write_bytes(b"x")
    assert weights.resolve_weights("eupe-vit-s", f) == f
    with pytest.raises(ModelError, match=r"nope.pt: weights file for eupe-vit-s not found \(expected EUPE-ViT-S.pt\)"):
        weights.resolve_weights("eupe-vit-s", tmp_path / "nope.pt")


def test_auto_uses_the_cache_folder_first(cache, no_network):
    (cache / "weights").mkdir()
    (cache / "weights" / "EUPE-ViT-B.pt").write_bytes(b"1234")
    assert weights.resolve_weights("eupe-vit-b") == cache / "weights" / "EUPE-ViT-B.pt"
    rows = {r.name: r for r in weights.list_weights()}
    assert rows["eupe-vit-b"].present and rows["eupe-vit-b"].size_bytes == 4
    assert not rows["eupe-vit-s"].present and rows["eupe-vit-s"].path == cache / "weights" / "EUPE-ViT-S.pt"
    assert weights.fetch("eupe-vit-b") == cache / "weights" / "EUPE-ViT-B.pt"  # present: no download


def test_auto_offline_error_says_how_to_get_the_file(cache, no_network, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelError) as err:
        weights.resolve_weights("eupe-vit-s")
    msg = str(err.value)
    assert msg.startswith("weights for eupe-vit-s (EUPE-ViT-S.pt) are not available: HF_HUB_OFFLINE is set")
    assert "arp weights fetch eupe-vit-s" in msg
    assert "https://huggingface.co/facebook/EUPE-ViT-S/resolve/main/EUPE-ViT-S.pt" in msg
    assert str(cache / "weights" / "EUPE-ViT-S.pt") in msg
    with pytest.raises(ModelError, match="arp weights fetch eupe-convnext-tiny"):
        weights.fetch("eupe-convnext-tiny")


def test_unreachable_hub_fails_fast_with_instructions(cache, monkeypatch):
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(weights, "_reachable", lambda url, timeout=3.0: False)
    monkeypatch.setattr(weights, "_download_from_hub", pytest.fail)
    with pytest.raises(ModelError, match=r"cannot be reached from this machine\.\nGet them"):
        weights.resolve_weights("eupe-vit-t")


def test_online_download_goes_to_the_cache(cache, monkeypatch):
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(weights, "_reachable", lambda url, timeout=3.0: True)
    calls = []

    def fake_download(repo_id, filename, dest):
        calls.append((repo_id, filename, dest))
        (dest / filename).write_bytes(b"weights")
        return dest / filename

    monkeypatch.setattr(weights, "_download_from_hub", fake_download)
    path = weights.resolve_weights("eupe-convnext-small")
    assert path == cache / "weights" / "EUPE-ConvNeXt-S.pt"
    assert calls == [("facebook/EUPE-ConvNeXt-S", "EUPE-ConvNeXt-S.pt", cache / "weights")]
    assert weights.resolve_weights("eupe-convnext-small") == path and len(calls) == 1  # cached now
    weights.fetch("eupe-convnext-small", force=True)
    assert len(calls) == 2


@pytest.mark.parametrize(
    "error, expect",
    [
        ("GatedRepoError", "the hub repository facebook/EUPE-ViT-T is gated: accept its licence"),
        ("RepositoryNotFoundError", "the hub has no repository facebook/EUPE-ViT-T"),
        ("LocalEntryNotFoundError", "the model hub could not be reached"),
        ("TimeoutError", "download failed: TimeoutError"),
    ],
)
def test_hub_errors_become_model_errors(error, expect, cache, monkeypatch):
    hub = pytest.importorskip("huggingface_hub")
    import huggingface_hub.utils as hub_utils

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(weights, "_reachable", lambda url, timeout=3.0: True)
    cls = getattr(hub_utils, error, None) or TimeoutError
    exc = cls.__new__(cls)  # the hub's errors want an HTTP response object; the type is what matters
    Exception.__init__(exc, "boom")

    def raising(**kwargs):
        raise exc

    monkeypatch.setattr(hub, "hf_hub_download", raising)
    with pytest.raises(ModelError) as err:
        weights.fetch("eupe-vit-t")
    assert expect in str(err.value)
    assert "arp weights fetch eupe-vit-t" in str(err.value)


def test_cache_root_defaults(monkeypatch, tmp_path):
    monkeypatch.delenv("ARP_CACHE", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert weights.weights_dir() == tmp_path / "ar-perception" / "weights"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert weights.weights_dir() == Path.home() / ".cache" / "ar-perception" / "weights"


def test_cli_facing_modules_do_not_import_torch():
    """`arp weights list` and node validation must not pay for torch or onnxruntime at import."""
    import subprocess
    import sys

    code = (
        "import sys, ar_perception.models.weights, ar_perception.models.encoder, ar_perception.models.onnx,"
        " ar_perception.models.onnx_export, ar_perception.models.standin;"
        "print([m for m in ('torch', 'onnxruntime', 'onnx', 'cv2') if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
