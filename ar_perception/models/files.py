"""Checks that a model file is whole and of the kind its loader expects, made before a library reads it.

Libraries meet a damaged file in their own ways: torch suggests loading it again with unsafe unpickling,
onnxruntime and CTranslate2 report an internal parse error. Each check here reads only headers, record
tables and sizes, which costs little next to the load itself, and raises a ModelError that names the file,
says what is wrong and what was expected. The layouts followed: PyTorch's zip archive (torch.save),
safetensors (github.com/huggingface/safetensors, README "Format") and CTranslate2's model.bin
(ctranslate2/specs/model_spec.py). GGUF files (llama.cpp) are checked by `models/gguf.py`, which reads
their header with the `file_size` and `Cursor` defined here.
"""

from __future__ import annotations

import json
import mmap
import os
import struct
import zipfile
from pathlib import Path
from typing import Any

from ar_perception.errors import ModelError

__all__ = [
    "load_torch_file",
    "check_torch_file",
    "check_onnx_file",
    "onnx_load_error",
    "check_safetensors_file",
    "check_ctranslate2_folder",
]

TORCH_EXPECTED = "expected a file written by torch.save"


def _a(what: str) -> str:
    return f"an {what}" if what[:1].lower() in "aeio" else f"a {what}"


def file_size(path: Path, what: str) -> int:
    """The size of `path`, which must be a non-empty regular file holding `what`."""
    try:
        st = path.stat()
    except FileNotFoundError:
        raise ModelError(f"{path}: {what} not found") from None
    except OSError as e:
        raise ModelError(f"{path}: cannot read the {what} ({e.strerror})") from None
    if path.is_dir():
        raise ModelError(f"{path}: is a folder, expected {_a(what)}")
    if st.st_size == 0:
        raise ModelError(f"{path}: empty file (0 bytes), expected {_a(what)}")
    return st.st_size


# ---------------------------------------------------------------------------------------------
# Reads that stop at the end of the file, for the parsers of binary headers (here and models/gguf.py).
# ---------------------------------------------------------------------------------------------


class ShortRead(Exception):
    """A read ran past the end of the file."""


class Cursor:
    def __init__(self, buf: Any, size: int):
        self.buf, self.size, self.pos = buf, size, 0

    def take(self, n: int) -> int:
        if n < 0 or self.pos + n > self.size:
            raise ShortRead
        at = self.pos
        self.pos += n
        return at

    def unpack(self, fmt: str) -> Any:
        at = self.take(struct.calcsize(fmt))
        return struct.unpack_from(fmt, self.buf, at)[0]

    def string(self) -> bytes:
        """A string as GGUF stores it: a u64 length, then the bytes."""
        n = self.unpack("<Q")
        at = self.take(n)
        return bytes(self.buf[at : at + n])


# ---------------------------------------------------------------------------------------------
# PyTorch checkpoints: a zip archive of `<name>/data.pkl` (the pickled structure) and one record per
# tensor storage. Only the structure is unpickled, by torch's weights-only unpickler.
# ---------------------------------------------------------------------------------------------


def check_torch_file(path: str | os.PathLike[str], what: str = "checkpoint file") -> None:
    """Refuse a file that is not a complete torch.save archive, without unpickling anything."""
    path = Path(path)
    size = file_size(path, what)
    with open(path, "rb") as f:
        head = f.read(4)
    if head[:1] == b"\x80":  # the legacy (pre-1.6) format is a bare pickle stream; torch checks it
        return
    if head != b"PK\x03\x04":
        raise ModelError(f"{path}: cannot read {what}: not a PyTorch file (no zip archive signature; {TORCH_EXPECTED})")
    try:
        with zipfile.ZipFile(path) as z:
            infos = z.infolist()
            pickles = [i for i in infos if i.filename.count("/") == 1 and i.filename.endswith("/data.pkl")]
            if len(pickles) != 1:
                raise ModelError(
                    f"{path}: cannot read {what}: a zip archive but not a PyTorch file (no data.pkl "
                    f"record; {TORCH_EXPECTED})"
                )
            for info in infos:
                if info.header_offset + info.compress_size > size:
                    raise ModelError(
                        f"{path}: cannot read {what}: truncated (record {info.filename!r} ends past "
                        f"the end of the file at byte {size}; {TORCH_EXPECTED})"
                    )
            z.read(pickles[0])  # checks the structure's CRC
    except zipfile.BadZipFile as e:
        reason = "bad CRC in data.pkl" if "CRC" in str(e) else "the zip archive's directory is missing or damaged"
        raise ModelError(f"{path}: cannot read {what}: truncated or corrupt ({reason}; {TORCH_EXPECTED})") from None


def load_torch_file(path: str | os.PathLike[str], what: str = "checkpoint file") -> Any:
    """torch.load(path, weights_only=True) on CPU, with every failure a ModelError naming the file."""
    import torch

    path = Path(path)
    check_torch_file(path, what)
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:
        if type(e).__name__ == "UnpicklingError":  # the weights-only unpickler met something else
            raise ModelError(
                f"{path}: refused to load {what}: it holds Python objects other than tensors and "
                "plain data, and unpickling them could run code (expected a state dict of tensors)"
            ) from None
        first = str(e).strip().splitlines()[0][:160] if str(e).strip() else ""
        raise ModelError(
            f"{path}: cannot read {what}: truncated or corrupt ({type(e).__name__}: {first}; {TORCH_EXPECTED})"
        ) from None


# ---------------------------------------------------------------------------------------------
# ONNX: a protobuf ModelProto. A cut or damaged file fails to parse; an empty one parses as an
# empty model, so it is checked first.
# ---------------------------------------------------------------------------------------------


def onnx_load_error(path: str | os.PathLike[str], e: BaseException) -> ModelError:
    """The ModelError for an exception that onnx.load or onnxruntime raised reading `path`."""
    text = str(e)
    if type(e).__name__ in ("DecodeError", "InvalidProtobuf") or "Protobuf parsing failed" in text:
        return ModelError(
            f"{path}: not an ONNX model (truncated or corrupt: protobuf parsing failed; expected a complete .onnx file)"
        )
    first = text.strip().splitlines()[0][:200] if text.strip() else ""
    return ModelError(f"{path}: onnxruntime cannot load it ({type(e).__name__}: {first})")


def check_onnx_file(path: str | os.PathLike[str]) -> None:
    """A non-empty regular file: protobuf reads an empty one as a model without a graph."""
    file_size(Path(path), "ONNX file")


# ---------------------------------------------------------------------------------------------
# safetensors: an 8-byte little-endian header length, a JSON header {name: {dtype, shape,
# data_offsets: [begin, end]}, "__metadata__": {str: str}}, then the tensor bytes.
# ---------------------------------------------------------------------------------------------


def check_safetensors_file(path: str | os.PathLike[str], what: str = "safetensors file") -> None:
    """A header that parses and tensor data that lies inside the file."""
    path = Path(path)
    size = file_size(path, what)
    bad = f"{path}: not a readable safetensors file"
    if size < 8:
        raise ModelError(f"{bad} (truncated: {size} bytes, expected at least the 8-byte header length)")
    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        if n > size - 8:
            raise ModelError(
                f"{bad} (truncated or corrupt: the header length field says {n} bytes, but {size - 8} follow it)"
            )
        raw = f.read(n)
    try:
        header = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        header = None
    if not isinstance(header, dict):
        raise ModelError(
            f"{bad} (corrupt header: not a JSON object; expected tensor names with dtype, shape and data_offsets)"
        )
    end = 0
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        offsets = entry.get("data_offsets") if isinstance(entry, dict) else None
        if (
            not isinstance(offsets, list)
            or len(offsets) != 2
            or not all(isinstance(o, int) and o >= 0 for o in offsets)
            or offsets[0] > offsets[1]
        ):
            raise ModelError(f"{bad} (corrupt header: tensor {name!r} has no valid data_offsets)")
        end = max(end, offsets[1])
    if 8 + n + end > size:
        raise ModelError(f"{bad} (truncated: the tensor data ends at byte {8 + n + end}, the file has {size} bytes)")


# ---------------------------------------------------------------------------------------------
# CTranslate2 model folders: model.bin = version, spec name and revision, then per variable its name,
# rank, dims, dtype, byte count and bytes, then the aliases; config.json and the vocabulary beside it.
# ---------------------------------------------------------------------------------------------

CT2_FILES = ("model.bin", "config.json", "tokenizer.json", "vocabulary.txt")


def _ct2_max_version() -> int:
    try:
        from ctranslate2.specs.model_spec import CURRENT_BINARY_VERSION

        return int(CURRENT_BINARY_VERSION)
    except Exception:  # an older or newer package layout: the version of ctranslate2 4.x
        return 6


def check_ctranslate2_folder(
    folder: str | os.PathLike[str], spec: str = "WhisperSpec", what: str = "whisper model"
) -> None:
    """A CTranslate2 conversion of `spec` with every file faster-whisper reads, model.bin complete."""
    folder = Path(folder)
    expected = f"expected a CTranslate2 conversion with {', '.join(CT2_FILES)}"
    if not folder.is_dir():
        raise ModelError(f"{what} folder {folder} is not a folder ({expected})")
    if not (folder / "model.bin").is_file():
        raise ModelError(f"{what} folder {folder} has no model.bin ({expected})")
    missing = [
        n
        for n in CT2_FILES[1:]
        if not (folder / n).is_file() and not (n == "vocabulary.txt" and (folder / "vocabulary.json").is_file())
    ]
    if missing:
        raise ModelError(f"{what} folder {folder} has no {', '.join(missing)} ({expected})")
    config = folder / "config.json"
    try:
        parsed = json.loads(config.read_text())
    except (UnicodeDecodeError, ValueError) as e:
        reason = f"{e.msg} at line {e.lineno} column {e.colno}" if isinstance(e, json.JSONDecodeError) else "not UTF-8"
        raise ModelError(f"{config}: not valid JSON ({reason}; expected the model's CTranslate2 config)") from None
    if not isinstance(parsed, dict):
        raise ModelError(
            f"{config}: expected a JSON object (the model's CTranslate2 config), found {type(parsed).__name__}"
        )
    _check_ct2_model_bin(folder / "model.bin", spec)


def _check_ct2_model_bin(path: Path, spec: str) -> None:
    size = file_size(path, "CTranslate2 model file")
    newest = _ct2_max_version()
    with open(path, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as buf:
        c = Cursor(buf, size)

        def string() -> str:
            n = c.unpack("<H")
            at = c.take(n)
            return bytes(buf[at : at + n]).rstrip(b"\0").decode("utf-8", "replace")

        where = "header"
        try:
            version = c.unpack("<I")
            if not 1 <= version <= newest:
                raise ModelError(
                    f"{path}: not a CTranslate2 model this ctranslate2 reads (binary version field "
                    f"reads {version}, expected 1 to {newest})"
                )
            name = string() if version >= 2 else ""
            if version >= 2:
                c.unpack("<I")  # spec revision
            if name != spec:
                raise ModelError(f"{path}: a CTranslate2 {name or 'unnamed'} model, expected a {spec} model")
            n_vars = c.unpack("<I")
            for i in range(n_vars):
                where = f"variable {i + 1} of {n_vars}"
                var = string()
                where = f"variable {var!r}"
                rank = c.unpack("<B")
                for _ in range(rank):
                    c.unpack("<I")
                if version >= 4:
                    c.unpack("<B")  # dtype
                    nbytes = c.unpack("<I")
                else:
                    item = c.unpack("<B")
                    nbytes = c.unpack("<I") * item
                c.take(nbytes)
            if version >= 3:
                where = "alias table"
                for _ in range(c.unpack("<I")):
                    string(), string()
        except ShortRead:
            raise ModelError(
                f"{path}: truncated CTranslate2 model: its {where} runs past the end of the file "
                f"({size} bytes; expected the complete file)"
            ) from None
