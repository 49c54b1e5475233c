"""Damaged model files: every loader in models/ refuses them with a ModelError that names the file.

Each damaged file is cut or garbled from a small valid one the test writes itself: a 1-block EUPE ViT
checkpoint, its ONNX export, a linear head in safetensors and a training checkpoint of fit_cached.
"""

from __future__ import annotations

import io
import json
import pickle
import re
import struct
import zipfile
from pathlib import Path
from typing import cast

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("safetensors")

from ar_perception.errors import ModelError  # noqa: E402
from ar_perception.models.eupe import build_model, load_checkpoint  # noqa: E402
from ar_perception.models.files import check_torch_file  # noqa: E402
from ar_perception.models.heads import DEPTH_BINS, HeadInfo, LinearHead, load_head  # noqa: E402
from ar_perception.models.registry import ViTConfig  # noqa: E402

TINY = ViTConfig("tiny-corrupt-test", embed_dim=32, num_heads=2, depth=1)
CUTS = (0.1, 0.5, 0.99)
TORCH_EXPECTED = "expected a file written by torch.save"


def exact(message: str) -> str:
    return f"^{re.escape(message)}$"


def cut(src: Path, dst: Path, fraction: float) -> Path:
    data = src.read_bytes()
    dst.write_bytes(data[: int(len(data) * fraction)])
    return dst


class Opens:
    """Unpickling this opens (creates) a file: proof that a loader ran code from the file."""

    def __init__(self, path: Path):
        self.path = str(path)

    def __reduce__(self):
        return (open, (self.path, "w"))


# ---------------------------------------------------------------------------------------------
# EUPE checkpoints (torch.save archives, loaded weights-only)
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny_vit():
    torch.manual_seed(0)
    return build_model(TINY)


@pytest.fixture
def checkpoint(tiny_vit, tmp_path: Path) -> Path:
    path = tmp_path / "tiny.pt"
    torch.save(tiny_vit.state_dict(), path)
    return path


def test_the_valid_checkpoint_loads(tiny_vit, checkpoint: Path) -> None:
    fresh = build_model(TINY)
    load_checkpoint(fresh, checkpoint)
    assert all(
        torch.equal(a, b) for a, b in zip(fresh.state_dict().values(), tiny_vit.state_dict().values(), strict=True)
    )


@pytest.mark.parametrize("fraction", (0.0001, *CUTS))
def test_truncated_checkpoint(tiny_vit, checkpoint: Path, fraction: float) -> None:
    bad = cut(checkpoint, checkpoint.with_name("cut.pt"), fraction)
    with pytest.raises(
        ModelError,
        match=exact(
            f"{bad}: cannot read checkpoint file: truncated or corrupt (the zip archive's directory is missing or "
            f"damaged; {TORCH_EXPECTED})"
        ),
    ):
        load_checkpoint(tiny_vit, bad)


def test_empty_random_and_folder_checkpoints(tiny_vit, tmp_path: Path) -> None:
    (tmp_path / "empty.pt").write_bytes(b"")
    with pytest.raises(
        ModelError, match=exact(f"{tmp_path}/empty.pt: empty file (0 bytes), expected a checkpoint file")
    ):
        load_checkpoint(tiny_vit, tmp_path / "empty.pt")
    noise = np.random.default_rng(1).integers(0, 256, 4096, dtype=np.uint8).tobytes()
    assert noise[:1] != b"\x80" and noise[:2] != b"PK"
    (tmp_path / "noise.pt").write_bytes(noise)
    with pytest.raises(
        ModelError,
        match=exact(
            f"{tmp_path}/noise.pt: cannot read checkpoint file: not a PyTorch "
            f"file (no zip archive signature; {TORCH_EXPECTED})"
        ),
    ):
        load_checkpoint(tiny_vit, tmp_path / "noise.pt")
    (tmp_path / "dir.pt").mkdir()
    with pytest.raises(ModelError, match=exact(f"{tmp_path}/dir.pt: is a folder, expected a checkpoint file")):
        load_checkpoint(tiny_vit, tmp_path / "dir.pt")


def test_a_zip_that_is_not_a_torch_archive(tiny_vit, tmp_path: Path) -> None:
    with zipfile.ZipFile(tmp_path / "other.pt", "w") as z:
        z.writestr("notes/readme.txt", "hello")
    with pytest.raises(
        ModelError,
        match=exact(
            f"{tmp_path}/other.pt: cannot read checkpoint file: a zip archive but "
            f"not a PyTorch file (no data.pkl record; {TORCH_EXPECTED})"
        ),
    ):
        load_checkpoint(tiny_vit, tmp_path / "other.pt")


def test_a_damaged_structure_record_fails_its_crc(tiny_vit, checkpoint: Path) -> None:
    data = bytearray(checkpoint.read_bytes())
    with zipfile.ZipFile(checkpoint) as z:
        info = next(i for i in z.infolist() if i.filename.endswith("/data.pkl"))
    name_len, extra_len = struct.unpack_from("<HH", data, info.header_offset + 26)  # the local header's lengths
    start = info.header_offset + 30 + name_len + extra_len
    data[start + 5] ^= 0xFF  # inside the pickled structure
    bad = checkpoint.with_name("crc.pt")
    bad.write_bytes(bytes(data))
    with pytest.raises(
        ModelError,
        match=exact(
            f"{bad}: cannot read checkpoint file: truncated or corrupt (bad CRC in data.pkl; {TORCH_EXPECTED})"
        ),
    ):
        load_checkpoint(tiny_vit, bad)


def test_pickled_objects_are_refused_and_never_run(tiny_vit, tmp_path: Path) -> None:
    refused = (
        "refused to load checkpoint file: it holds Python objects other than tensors and plain data, and "
        "unpickling them could run code (expected a state dict of tensors)"
    )
    marker = tmp_path / "ran"
    torch.save({"blocks.0.norm1.weight": Opens(marker)}, tmp_path / "code.pt")  # a zip archive
    (tmp_path / "legacy.pt").write_bytes(pickle.dumps(Opens(marker), protocol=2))  # a bare (legacy) pickle
    torch.save(torch.nn.Linear(2, 2), tmp_path / "module.pt")  # a whole module, not a state dict
    for name in ("code.pt", "legacy.pt", "module.pt"):
        with pytest.raises(ModelError, match=exact(f"{tmp_path}/{name}: {refused}")):
            load_checkpoint(tiny_vit, tmp_path / name)
    assert not marker.exists()
    torch.save([torch.zeros(1)], tmp_path / "list.pt")
    with pytest.raises(ModelError, match=exact(f"{tmp_path}/list.pt: expected a dictionary of tensors, found list")):
        load_checkpoint(tiny_vit, tmp_path / "list.pt")


def test_a_record_past_the_end_is_truncation(tmp_path: Path) -> None:
    """A zip whose directory survived but whose records claim more bytes than the file has."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("archive/data.pkl", b"\x80\x02}q\x00.")
        z.writestr("archive/data/0", b"\0" * 64)
    data = bytearray(buf.getvalue())
    entry = [i for i in range(len(data)) if data[i : i + 4] == b"PK\x01\x02"][1]  # its central directory entry
    struct.pack_into("<I", data, entry + 20, 10**6)  # its compressed size
    (tmp_path / "long.pt").write_bytes(bytes(data))
    with pytest.raises(
        ModelError,
        match=exact(
            f"{tmp_path}/long.pt: cannot read checkpoint file: truncated (record 'archive/data/0' ends past the end "
            f"of the file at byte {len(data)}; {TORCH_EXPECTED})"
        ),
    ):
        check_torch_file(tmp_path / "long.pt")


# ---------------------------------------------------------------------------------------------
# Training checkpoints (models/training/fit.py): weights-only, resumable
# ---------------------------------------------------------------------------------------------


class TinyCache:
    """Four 2x2 grids of 8-d features: what fit_cached reads from a FeatureCache."""

    n = 4
    index = np.array([[4 * i, 2, 2] for i in range(4)])  # (offset, h, w) per sample

    def __init__(self) -> None:
        self._tokens = np.random.default_rng(0).standard_normal((16, 8)).astype(np.float16)

    def tokens(self) -> np.ndarray:
        return self._tokens

    def cls(self) -> np.ndarray:
        return np.zeros((4, 8), np.float16)


def _fit(tmp_path: Path, epochs: int, ckpt: Path, logs: list[str] | None = None):
    from ar_perception.models.training.features import FeatureCache
    from ar_perception.models.training.fit import TrainConfig, fit_cached

    values = np.random.default_rng(1).integers(0, 3, 4 * 16).astype(np.uint8)  # 4x4 targets, 3 classes
    tindex = np.array([[16 * i, 4, 4] for i in range(4)])
    cfg = TrainConfig(task="seg", data=str(tmp_path), encoder={"model": "fake"}, epochs=epochs, batch_size=2)
    return fit_cached(
        cast(FeatureCache, TinyCache()),  # a stand-in with only what fit_cached reads
        (values, tindex),
        cfg,
        3,
        checkpoint=ckpt,
        progress=False,
        log=(logs if logs is not None else []).append,
    )


def test_training_checkpoint_holds_only_tensors_and_plain_data_and_resumes(
    tmp_path: Path, interrupted_after_checkpoints
) -> None:
    full_state, full_losses = _fit(tmp_path, 3, tmp_path / "full.ckpt.pt")
    ck = torch.load(tmp_path / "full.ckpt.pt", weights_only=True)  # no Python objects inside
    assert ck["epoch"] == 3 and len(ck["losses"]) == 3 and all(type(x) is float for x in ck["losses"])

    ckpt = tmp_path / "seg.ckpt.pt"
    with interrupted_after_checkpoints(2):  # stopped during epoch 3
        _fit(tmp_path, 3, ckpt)
    logs: list[str] = []
    state, losses = _fit(tmp_path, 3, ckpt, logs)
    assert logs == [f"resuming from {ckpt} after epoch 2"]
    np.testing.assert_allclose(losses, full_losses, rtol=1e-5)
    for k in full_state:
        np.testing.assert_allclose(state[k], full_state[k], rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("fraction", CUTS)
def test_truncated_training_checkpoint(tmp_path: Path, fraction: float) -> None:
    ckpt = tmp_path / "seg.ckpt.pt"
    _fit(tmp_path, 1, ckpt)
    cut(ckpt, ckpt, fraction)
    with pytest.raises(
        ModelError,
        match=exact(
            f"{ckpt}: cannot read training checkpoint: truncated or corrupt (the zip archive's directory is missing "
            f"or damaged; {TORCH_EXPECTED})"
        ),
    ):
        _fit(tmp_path, 2, ckpt)


def test_training_checkpoint_with_objects_or_the_wrong_content(tmp_path: Path) -> None:
    ckpt = tmp_path / "seg.ckpt.pt"
    marker = tmp_path / "ran"
    torch.save({"key": "k", "epoch": 1, "losses": [], "model": {}, "opt": {}, "sched": Opens(marker)}, ckpt)
    with pytest.raises(
        ModelError,
        match=exact(
            f"{ckpt}: refused to load training checkpoint: it holds Python objects other than tensors and plain data, "
            "and unpickling them could run code (expected a state dict of tensors)"
        ),
    ):
        _fit(tmp_path, 1, ckpt)
    assert not marker.exists()
    torch.save({"key": "k", "epoch": "one", "model": {}}, ckpt)
    with pytest.raises(
        ModelError,
        match=exact(
            f"{ckpt}: not a training checkpoint of arp (missing or invalid: epoch, losses, opt, sched; expected a "
            "dict with key, epoch, losses, model, opt, sched); delete it to train from the start"
        ),
    ):
        _fit(tmp_path, 1, ckpt)
    ckpt.unlink()  # as the message says
    _fit(tmp_path, 1, ckpt)
    ck = torch.load(ckpt, weights_only=True)
    ck["model"]["conv.weight"] = torch.zeros(5, 8, 1, 1)
    torch.save(ck, ckpt)
    with pytest.raises(
        ModelError,
        match=exact(
            f"{ckpt}: training checkpoint does not fit this head (Error(s) in loading state_dict for TorchHead:); "
            "delete it to train from the start"
        ),
    ):
        _fit(tmp_path, 1, ckpt)


# ---------------------------------------------------------------------------------------------
# ONNX files (onnxruntime sessions, the generic and the stand-in encoder)
# ---------------------------------------------------------------------------------------------

ONNX_CORRUPT = "not an ONNX model (truncated or corrupt: protobuf parsing failed; expected a complete .onnx file)"


@pytest.fixture(scope="module")
def tiny_onnx(tiny_vit, tmp_path_factory) -> Path:
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx")
    from ar_perception.models.onnx_export import export_encoder

    return export_encoder(tiny_vit, tmp_path_factory.mktemp("onnx") / "tiny.onnx", 32).path


def _tiny_graph(tmp_path: Path, name: str, inputs: dict[str, list[int]], meta: dict[str, str]) -> Path:
    """A valid ONNX file: every input passes through an Identity to an output `y<i>`."""
    import onnx
    from onnx import TensorProto, helper

    nodes = [helper.make_node("Identity", [n], [f"y{i}"]) for i, n in enumerate(inputs)]
    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info(n, TensorProto.FLOAT, s) for n, s in inputs.items()],
        [helper.make_tensor_value_info(f"y{i}", TensorProto.FLOAT, s) for i, s in enumerate(inputs.values())],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    for k, v in meta.items():
        model.metadata_props.add(key=k, value=v)
    path = tmp_path / name
    onnx.save(model, str(path))
    return path


def test_the_valid_export_loads(tiny_onnx: Path) -> None:
    from ar_perception.models.onnx import OnnxEncoder

    out = OnnxEncoder(tiny_onnx)(np.zeros((1, 3, 32, 32), np.float32))
    assert out["x_norm_patchtokens"].shape == (1, 4, 32)


@pytest.mark.parametrize("fraction", CUTS)
def test_truncated_onnx(tiny_onnx: Path, tmp_path: Path, fraction: float) -> None:
    from ar_perception.models.onnx import GenericOnnxEncoder, OnnxEncoder

    bad = cut(tiny_onnx, tmp_path / "cut.onnx", fraction)
    with pytest.raises(ModelError, match=exact(f"{bad}: {ONNX_CORRUPT}")):
        OnnxEncoder(bad)
    with pytest.raises(ModelError, match=exact(f"{bad}: {ONNX_CORRUPT}")):
        GenericOnnxEncoder(bad, "patch_tokens", n_prefix=0, patch_size=16)


def test_empty_and_random_onnx(tmp_path: Path) -> None:
    pytest.importorskip("onnxruntime")
    from ar_perception.models.onnx import GenericOnnxEncoder, OnnxEncoder

    (tmp_path / "empty.onnx").write_bytes(b"")
    (tmp_path / "noise.onnx").write_bytes(np.random.default_rng(2).integers(0, 256, 5000, dtype=np.uint8).tobytes())
    for make in (OnnxEncoder, lambda p: GenericOnnxEncoder(p, "tokens")):
        with pytest.raises(
            ModelError, match=exact(f"{tmp_path}/empty.onnx: empty file (0 bytes), expected an ONNX file")
        ):
            make(tmp_path / "empty.onnx")
        with pytest.raises(ModelError, match=exact(f"{tmp_path}/noise.onnx: {ONNX_CORRUPT}")):
            make(tmp_path / "noise.onnx")


def test_the_offline_stand_in_with_a_damaged_file(tiny_onnx: Path, tmp_path: Path, monkeypatch) -> None:
    from ar_perception.models import standin as standin_module

    bad = cut(tiny_onnx, tmp_path / "vit_s_focus.onnx", 0.5)
    monkeypatch.setattr(standin_module, "standin_source", lambda: bad)
    with pytest.raises(ModelError, match=exact(f"{bad}: {ONNX_CORRUPT}")):
        standin_module.standin_encoder()


def test_valid_onnx_with_the_wrong_inputs_or_outputs(tiny_onnx: Path, tmp_path: Path) -> None:
    pytest.importorskip("onnxruntime")
    from ar_perception.models.onnx import GenericOnnxEncoder, OnnxEncoder

    meta = {"arp.model": "x", "arp.input_size": "[32, 32]", "arp.grid": "[2, 2]", "arp.stride": "16", "arp.dim": "32"}
    vector = _tiny_graph(tmp_path, "vector.onnx", {"x": [1, 8]}, meta)
    with pytest.raises(
        ModelError,
        match=exact(f"{vector}: an encoder export has one input 'image' [B, 3, H, W], this file has x [1, 8]"),
    ):
        OnnxEncoder(vector)
    with pytest.raises(
        ModelError, match=exact(f"{vector}: input 'x' has shape [1, 8], expected an image batch [B, 3, H, W]")
    ):
        GenericOnnxEncoder(vector, "y0")
    image = _tiny_graph(tmp_path, "image.onnx", {"image": [1, 3, 32, 32]}, meta)
    with pytest.raises(
        ModelError,
        match=exact(f"{image}: the encoder export lacks output(s) cls, patch_tokens, storage_tokens (it has: y0)"),
    ):
        OnnxEncoder(image)
    bad_meta = _tiny_graph(tmp_path, "meta.onnx", {"image": [1, 3, 32, 32]}, {**meta, "arp.input_size": "[32"})
    with pytest.raises(
        ModelError, match=exact(f"{bad_meta}: export metadata arp.input_size is '[32', expected 2 integers")
    ):
        OnnxEncoder(bad_meta)
    no_grid = _tiny_graph(
        tmp_path, "nogrid.onnx", {"image": [1, 3, 32, 32]}, {k: v for k, v in meta.items() if k != "arp.grid"}
    )
    with pytest.raises(ModelError, match=exact(f"{no_grid}: export metadata arp.grid is missing, expected 2 integers")):
        OnnxEncoder(no_grid)
    foreign = _tiny_graph(tmp_path, "foreign.onnx", {"image": [1, 3, 32, 32]}, {})
    with pytest.raises(ModelError, match=exact(f"{foreign}: not an ar-perception encoder export (no arp.* metadata)")):
        OnnxEncoder(foreign)
    two = _tiny_graph(tmp_path, "two.onnx", {"image": [1, 3, 32, 32], "mask": [1, 1, 32, 32]}, {})
    with pytest.raises(ModelError, match=exact(f"{two}: several inputs (image, mask); give input_name")):
        GenericOnnxEncoder(two, "y0")
    with pytest.raises(ModelError, match=exact(f"{tiny_onnx}: no tensor named 'no/such' in the graph")):
        GenericOnnxEncoder(tiny_onnx, "no/such")


# ---------------------------------------------------------------------------------------------
# Heads (safetensors)
# ---------------------------------------------------------------------------------------------

SAFETENSORS_BAD = "not a readable safetensors file"


def _head_state(info: HeadInfo) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(3)
    K, D = info.out_channels, info.in_channels
    return {
        "bn.weight": rng.uniform(0.5, 1.5, D),
        "bn.bias": rng.normal(size=D),
        "bn.running_mean": rng.normal(size=D),
        "bn.running_var": rng.uniform(0.5, 2, D),
        "conv.weight": rng.normal(size=(K, D, 1, 1)),
        "conv.bias": rng.normal(size=K),
    }


SEG = HeadInfo("seg", "fake-enc", 8, [32, 32], classes=["a", "b", "c"])


@pytest.fixture
def head_file(tmp_path: Path) -> Path:
    return LinearHead(SEG, _head_state(SEG)).save(tmp_path / "seg.safetensors")


def _header_len(path: Path) -> int:
    return struct.unpack("<Q", path.read_bytes()[:8])[0]


def _save_raw(path: Path, state: dict[str, np.ndarray], meta: dict[str, str] | None) -> Path:
    from safetensors.numpy import save_file

    save_file({k: np.ascontiguousarray(v, np.float32) for k, v in state.items()}, str(path), meta)
    return path


def _meta(path: Path) -> dict[str, str]:
    n = _header_len(path)
    return json.loads(path.read_bytes()[8 : 8 + n])["__metadata__"]


def test_the_valid_head_loads(head_file: Path) -> None:
    assert load_head(head_file, "seg").classes == ["a", "b", "c"]


@pytest.mark.parametrize("fraction", (0.005, *CUTS))
def test_truncated_head(head_file: Path, tmp_path: Path, fraction: float) -> None:
    size, n = head_file.stat().st_size, _header_len(head_file)
    bad = cut(head_file, tmp_path / "cut.safetensors", fraction)
    kept = bad.stat().st_size
    assert kept > 0
    if kept < 8:
        why = f"truncated: {kept} bytes, expected at least the 8-byte header length"
    elif kept < 8 + n:
        why = f"truncated or corrupt: the header length field says {n} bytes, but {kept - 8} follow it"
    else:
        why = f"truncated: the tensor data ends at byte {size}, the file has {kept} bytes"
    with pytest.raises(ModelError, match=exact(f"{bad}: {SAFETENSORS_BAD} ({why})")):
        load_head(bad)
    assert fraction != 0.99 or kept >= 8 + n  # the cuts reach both the header and the data


def test_empty_folder_and_garbage_header(head_file: Path, tmp_path: Path) -> None:
    (tmp_path / "empty.safetensors").write_bytes(b"")
    with pytest.raises(
        ModelError, match=exact(f"{tmp_path}/empty.safetensors: empty file (0 bytes), expected a head file")
    ):
        load_head(tmp_path / "empty.safetensors")
    (tmp_path / "dir.safetensors").mkdir()
    with pytest.raises(ModelError, match=exact(f"{tmp_path}/dir.safetensors: is a folder, expected a head file")):
        load_head(tmp_path / "dir.safetensors")
    data = bytearray(head_file.read_bytes())
    n = _header_len(head_file)
    data[8 : 8 + n] = b"\xff" * n
    (tmp_path / "garbage.safetensors").write_bytes(bytes(data))
    with pytest.raises(
        ModelError,
        match=exact(
            f"{tmp_path}/garbage.safetensors: {SAFETENSORS_BAD} (corrupt header: not a JSON object; expected tensor "
            "names with dtype, shape and data_offsets)"
        ),
    ):
        load_head(tmp_path / "garbage.safetensors")
    struct.pack_into("<Q", data, 0, 2**62)
    (tmp_path / "huge.safetensors").write_bytes(bytes(data))
    with pytest.raises(
        ModelError,
        match=exact(
            f"{tmp_path}/huge.safetensors: {SAFETENSORS_BAD} (truncated or corrupt: the header length field says "
            f"{2**62} bytes, but {len(data) - 8} follow it)"
        ),
    ):
        load_head(tmp_path / "huge.safetensors")
    header = json.loads(head_file.read_bytes()[8 : 8 + n])
    header["conv.bias"]["data_offsets"] = [0, -4]
    text = json.dumps(header).encode()
    (tmp_path / "offsets.safetensors").write_bytes(
        struct.pack("<Q", len(text)) + text + head_file.read_bytes()[8 + n :]
    )
    with pytest.raises(
        ModelError,
        match=exact(
            f"{tmp_path}/offsets.safetensors: {SAFETENSORS_BAD} (corrupt header: tensor 'conv.bias' has no valid "
            "data_offsets)"
        ),
    ):
        load_head(tmp_path / "offsets.safetensors")


def test_head_tensors_missing_misshaped_or_not_finite(head_file: Path, tmp_path: Path) -> None:
    meta, state = _meta(head_file), _head_state(SEG)
    missing = _save_raw(tmp_path / "missing.safetensors", {k: v for k, v in state.items() if k != "conv.bias"}, meta)
    with pytest.raises(
        ModelError,
        match=exact(
            f"{missing}: seg head: tensor 'conv.bias' is missing (expected shape (3,); the file has: bn.bias, "
            "bn.running_mean, bn.running_var, bn.weight, conv.weight)"
        ),
    ):
        load_head(missing)
    shaped = _save_raw(tmp_path / "shape.safetensors", {**state, "conv.weight": np.zeros((4, 8, 1, 1))}, meta)
    with pytest.raises(
        ModelError,
        match=exact(f"{shaped}: seg head: tensor 'conv.weight' must have shape (3, 8, 1, 1), got (4, 8, 1, 1)"),
    ):
        load_head(shaped)
    nan = _save_raw(tmp_path / "nan.safetensors", {**state, "bn.running_var": np.full(8, np.nan)}, meta)
    with pytest.raises(
        ModelError, match=exact(f"{nan}: seg head: tensor 'bn.running_var' holds NaN or infinite values")
    ):
        load_head(nan)


def test_head_metadata_missing_or_invalid(head_file: Path, tmp_path: Path) -> None:
    meta, state = _meta(head_file), _head_state(SEG)
    info = json.loads(meta["info"])

    def with_meta(name: str, m: dict[str, str] | None) -> Path:
        return _save_raw(tmp_path / f"{name}.safetensors", state, m)

    cases = [
        (with_meta("none", None), "not an arp head file (metadata format None, expected 'arp-head')"),
        (with_meta("version", {**meta, "version": "x"}), "head format version 'x' is not supported (expected 1)"),
        (
            with_meta("noinfo", {k: v for k, v in meta.items() if k != "info"}),
            "head metadata 'info' is missing (expected the JSON of HeadInfo that LinearHead.save writes)",
        ),
        (
            with_meta("json", {**meta, "info": "{oops"}),
            "head metadata 'info' is not valid JSON (Expecting property "
            "name enclosed in double quotes: line 1 column 2 (char 1))",
        ),
        (with_meta("list", {**meta, "info": "[]"}), "head metadata 'info' is a JSON list, expected an object"),
        (
            with_meta("unknown", {**meta, "info": json.dumps({**info, "colour": 1})}),
            "head metadata 'info' has unknown key(s) colour (known: bins, classes, cls_token, dim, encoder, features, "
            "ignore_index, input_size, task, training)",
        ),
        (
            with_meta("fields", {**meta, "info": json.dumps({**info, "task": "pose", "dim": -1})}),
            "head metadata 'info' has an invalid task 'pose' (expected 'seg' or 'depth'); invalid dim -1 (expected a "
            "positive integer)",
        ),
        (
            with_meta("classes", {**meta, "info": json.dumps({**info, "classes": []})}),
            "head metadata 'info' has an invalid classes [] (expected a non-empty list of names)",
        ),
        (
            with_meta("bins", {**meta, "info": json.dumps({**info, "task": "depth", "bins": {"n": DEPTH_BINS}})}),
            f"head metadata 'info' has an invalid bins {{'n': {DEPTH_BINS}}} (expected {{'n': count, 'min': metres, "
            "'max': metres})",
        ),
    ]
    for path, why in cases:
        with pytest.raises(ModelError, match=exact(f"{path}: {why}")):
            load_head(path)
