"""The GGUF header reader: checks that a GGUF model file (llama.cpp) is whole before llama.cpp reads it.

llama.cpp may abort the whole process on a damaged file. `read_gguf_header` parses only the header (the
metadata key-value pairs and one info record per tensor) and checks that the file holds every byte the
tensor infos point at, raising a ModelError that names the file, says what is wrong and what was expected.
The layout followed: GGUF (github.com/ggml-org/ggml, docs/gguf.md).
"""

from __future__ import annotations

import mmap
import os
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ar_perception.errors import ModelError
from ar_perception.models.files import Cursor, ShortRead, file_size

__all__ = ["GgufHeader", "read_gguf_header"]


# ---------------------------------------------------------------------------------------------
# GGUF: magic, version, tensor and metadata counts, the metadata key-value pairs, one info record per
# tensor (name, dims, ggml type, offset into the data section), padding to the alignment, the data.
# ---------------------------------------------------------------------------------------------

GGUF_MAGIC = b"GGUF"
GGUF_VERSIONS = (2, 3)  # llama.cpp refuses version 1
# bytes of a scalar metadata value by GGUF type id (8 = string, 9 = array)
_GGUF_SCALAR = {0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8}
_GGUF_FORMAT = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<B", 10: "<Q", 11: "<q", 12: "<d"}
# ggml tensor type id -> (elements per block, bytes per block), as ggml_blck_size / ggml_type_size say
GGML_TYPES = {
    0: (1, 4),
    1: (1, 2),
    2: (32, 18),
    3: (32, 20),
    6: (32, 22),
    7: (32, 24),
    8: (32, 34),
    9: (32, 36),
    10: (256, 84),
    11: (256, 110),
    12: (256, 144),
    13: (256, 176),
    14: (256, 210),
    15: (256, 292),
    16: (256, 66),
    17: (256, 74),
    18: (256, 98),
    19: (256, 50),
    20: (32, 18),
    21: (256, 110),
    22: (256, 82),
    23: (256, 136),
    24: (1, 1),
    25: (1, 2),
    26: (1, 4),
    27: (1, 8),
    28: (1, 8),
    29: (256, 56),
    30: (1, 2),
    34: (256, 54),
    35: (256, 66),
    39: (32, 17),
    40: (64, 36),
    41: (128, 18),
    42: (64, 18),
}
GGML_MAX_DIMS = 4


@dataclass(frozen=True)
class GgufHeader:
    version: int
    n_tensors: int
    n_metadata: int
    alignment: int
    architecture: str | None
    data_offset: int  # where the tensor data section starts
    needed_bytes: int  # the file size its tensor infos imply (data_offset + the furthest tensor end)


def _gguf_skip_value(c: Cursor, vtype: int, depth: int = 0) -> Any:
    """Reads a metadata value; returns it for scalars and strings, None for arrays (skipped)."""
    if vtype in _GGUF_SCALAR:
        return c.unpack(_GGUF_FORMAT[vtype])
    if vtype == 8:
        return c.string()
    if vtype == 9 and depth >= 4:
        raise ValueError("array nested more than 4 deep")
    if vtype == 9:
        item, n = c.unpack("<I"), c.unpack("<Q")
        if item in _GGUF_SCALAR:
            c.take(n * _GGUF_SCALAR[item])
        else:
            if n > c.size - c.pos:  # every item takes at least one byte
                raise ShortRead
            for _ in range(n):
                _gguf_skip_value(c, item, depth + 1)
        return None
    raise ValueError(f"unknown metadata value type {vtype}")


def read_gguf_header(path: str | os.PathLike[str]) -> GgufHeader:
    """Parse a GGUF file's header and check the file holds every byte its tensor infos point at."""
    path = Path(path)
    size = file_size(path, "GGUF model file")
    with open(path, "rb") as f:
        head = f.read(24)
        if head[:4] != GGUF_MAGIC:
            raise ModelError(
                f"{path}: not a GGUF model (it starts with {head[:4]!r}; a GGUF file starts with {GGUF_MAGIC!r})"
            )
        if size < 24:
            raise ModelError(f"{path}: truncated GGUF model ({size} bytes; the fixed header alone takes 24)")
        version, n_tensors, n_kv = struct.unpack("<IQQ", head[4:24])
        if version not in GGUF_VERSIONS:
            raise ModelError(
                f"{path}: GGUF version {version} is not supported (expected version "
                f"{' or '.join(map(str, GGUF_VERSIONS))})"
            )
        # every metadata pair takes at least 8 + 4 + 1 bytes, every tensor info at least 8 + 4 + 4 + 8
        if 24 + n_kv * 13 + n_tensors * 24 > size:
            raise ModelError(
                f"{path}: truncated or corrupt GGUF model: it declares {n_kv} metadata entries and "
                f"{n_tensors} tensors, more than a file of {size} bytes can hold"
            )
        with mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as buf:
            return _parse_gguf(path, Cursor(buf, size), version, n_tensors, n_kv)


def _parse_gguf(path: Path, c: Cursor, version: int, n_tensors: int, n_kv: int) -> GgufHeader:
    c.pos = 24
    alignment, arch = 32, None
    where = "metadata"
    try:
        for i in range(n_kv):
            where = f"metadata entry {i + 1} of {n_kv}"
            key = c.string()
            value = _gguf_skip_value(c, c.unpack("<I"))
            if key == b"general.alignment" and isinstance(value, int):
                alignment = value
            elif key == b"general.architecture" and isinstance(value, bytes):
                arch = value.decode("utf-8", "replace")
        if alignment <= 0 or alignment & (alignment - 1):
            raise ModelError(f"{path}: corrupt GGUF header: general.alignment is {alignment}, expected a power of 2")
        extents = []
        for i in range(n_tensors):
            where = f"tensor info {i + 1} of {n_tensors}"
            name = c.string()
            n_dims = c.unpack("<I")
            if n_dims > GGML_MAX_DIMS:
                raise ModelError(
                    f"{path}: corrupt GGUF header: tensor {name.decode('utf-8', 'replace')!r} has "
                    f"{n_dims} dimensions (at most {GGML_MAX_DIMS})"
                )
            dims = [c.unpack("<Q") for _ in range(n_dims)]
            ttype, offset = c.unpack("<I"), c.unpack("<Q")
            extents.append((name, dims, ttype, offset))
    except ShortRead:
        raise ModelError(
            f"{path}: truncated or corrupt GGUF model: its {where} runs past the end of the file ({c.size} bytes)"
        ) from None
    except ValueError as e:
        raise ModelError(f"{path}: corrupt GGUF header: {where} has an {e}") from None
    data_offset = -(-c.pos // alignment) * alignment
    end = 0
    for _name, dims, ttype, offset in extents:
        n = 1
        for d in dims:
            n *= d
        block, nbytes = GGML_TYPES.get(ttype, (1, 0))  # an unknown (newer) type: only its offset is checked
        end = max(end, offset + n // block * nbytes)
    needed = data_offset + end
    if needed > c.size:
        raise ModelError(
            f"{path}: truncated or corrupt GGUF model: its {n_tensors} tensors need {needed} bytes, "
            f"the file has {c.size} (expected the complete file)"
        )
    return GgufHeader(version, n_tensors, n_kv, alignment, arch, data_offset, needed)
