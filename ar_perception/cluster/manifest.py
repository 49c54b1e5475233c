"""The batch manifest, `OUT/manifest.json`: what each recording of a batch became (done or failed, why, after
how many attempts, where its outputs are), written again after every recording so that an interrupted batch
loses nothing already finished. A recording is done for a later run when its file, the graph and the
overrides are unchanged and its outputs still exist."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from ar_perception.cluster.connect import ClusterError

__all__ = ["Entry", "Manifest", "fingerprint", "graph_digest", "load_manifest", "save_manifest"]

MANIFEST = "manifest.json"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Entry(_Strict):
    recording: str  # absolute path
    fingerprint: str  # of the recording file (size, modification time)
    graph: str  # digest of the graph text, overrides and recorded topics it was replayed with
    status: Literal["done", "failed"]
    attempts: int
    error: str | None = None
    output: str | None = None  # the .mcap of the graph's outputs
    stats: str | None = None  # the per-node statistics JSON
    seconds: float = 0.0  # wall time of the last attempt
    host: str | None = None  # the machine it ran on
    frames: int = 0  # messages the replay nodes published
    drops: int = 0  # messages dropped anywhere (0 at speed 0 unless something failed)
    compute_p50_ms: dict[str, float] = {}  # per node
    node_errors: list[str] = []  # the first errors of messages a node skipped (its on_error: skip)
    earlier_errors: list[str] = []  # why each attempt before the last failed


class Manifest(_Strict):
    version: Literal[1] = 1
    entries: dict[str, Entry] = {}  # by the recording's name in OUT


def fingerprint(path: Path) -> str:
    st = path.stat()
    return f"{st.st_size}:{st.st_mtime_ns}"


def graph_digest(text: str, sets: list[str], record_topics: list[str]) -> str:
    """What the outputs depend on besides the recording: the graph, its overrides, the recorded topics."""
    return hashlib.sha256(json.dumps([text, sets, record_topics]).encode()).hexdigest()[:16]


def load_manifest(out: Path) -> Manifest:
    """OUT's manifest, or an empty one when there is none yet. One that does not read is an error, never
    overwritten: it holds what earlier runs finished."""
    path = out / MANIFEST
    if not path.exists():
        return Manifest()
    try:
        return Manifest.model_validate_json(path.read_bytes())
    except (OSError, ValidationError) as e:
        first = str(e).splitlines()[0]
        raise ClusterError(
            f"{path}: not a batch manifest arp can read ({first}); move it away or choose another --out"
        ) from e


def save_manifest(out: Path, manifest: Manifest) -> None:
    """Write it whole or not at all (a temporary file renamed over the old one)."""
    path = out / MANIFEST
    tmp = path.with_name(f".{MANIFEST}.{os.getpid()}.tmp")
    tmp.write_text(manifest.model_dump_json(indent=2))
    os.replace(tmp, path)
