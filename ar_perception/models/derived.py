"""Copies derived from a model file in the ONNX cache (a token output, a fold, an int8 quantisation).

Each copy is as large as the model (88 MB for the stand-in), so a new version of a source must replace the
copies of the old one rather than add to them: a reinstalled package gives its file a new time, and before
this every reinstall left a full copy behind. A copy is named `<source stem>-<kind>-<place>-<version>.onnx`:
`place` hashes where the source is and the parameters of the derivation, `version` the source's size and time
and the versions of the code that made it. `drop_stale` removes the other versions of the same place, and
everything derived from them (their names start with theirs).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

__all__ = ["derived_path", "drop_stale"]


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:10]


def derived_path(src: Path, kind: str, cache: Path, params: str, versions: str) -> Path:
    """Where the copy of `src` made by `kind` with `params` lives; `versions` names the code that makes it."""
    st = src.stat()
    place = _digest(f"{src.resolve()}|{kind}|{params}")
    version = _digest(f"{st.st_size}|{st.st_mtime_ns}|{versions}")
    return cache / f"{src.stem}-{kind}-{place}-{version}.onnx"


def drop_stale(dst: Path) -> int:
    """Remove the copies of other versions of `dst`'s source (same place) and what was derived from them;
    returns how many files went. Copies derived from `dst` itself stay."""
    stem = dst.stem.rpartition("-")[0]  # without the version
    gone = 0
    for old in dst.parent.glob(f"{stem}-*"):
        if old == dst or old.name.startswith(dst.stem) or old.name.endswith(".tmp"):
            continue
        try:
            old.unlink()
            gone += 1
        except OSError:  # another process removed it first
            pass
    return gone
