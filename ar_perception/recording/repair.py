"""Recover a recording that a crash or a full disk left without its footer: keep every intact record, rewrite
a complete file (with summary, index and fresh per-topic statistics) and note the repair in its metadata."""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

from ar_perception.errors import RecordingError
from ar_perception.recording.reader import scan_records
from ar_perception.recording.writer import FORMAT_VERSION, KIND_KEY, META_NAME, RecordingWriter

__all__ = ["RepairResult", "repair"]


@dataclass
class RepairResult:
    path: Path
    needed: bool
    messages: int = 0
    topics: dict[str, int] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    backup: Path | None = None
    duration_s: float = 0.0  # of the recovered data


def repair(
    path: str | os.PathLike[str], out: str | os.PathLike[str] | None = None, *, backup: bool = True, force: bool = False
) -> RepairResult:
    """Rewrite what is readable in `path` as a complete recording at `out` (default: in place, the original
    kept as PATH.bak when `backup`). A file that is already complete and intact is left alone unless `force`."""
    from mcap.records import Channel, Message, Metadata, Schema

    src = Path(path)
    if not src.exists():
        raise RecordingError(f"{src}: no such recording")
    problems: list[str] = []
    records = scan_records(src, problems)
    meta: dict[str, str] = {}
    schemas: dict[int, Schema] = {}
    channels: dict[int, Channel] = {}
    seen_ids: set[int] = set()
    # First pass: the metadata, to check the format before writing anything.
    for _, rec in scan_records(src, []):
        if isinstance(rec, Metadata) and rec.name == META_NAME:
            meta = dict(rec.metadata)
            break
    if not meta:
        raise RecordingError(
            f"{src}: not an arp recording (no readable '{META_NAME}' metadata record), so it cannot be repaired"
        )
    if meta.get("format_version") != str(FORMAT_VERSION):
        raise RecordingError(
            f"{src}: recording format version {meta.get('format_version')} is not supported "
            f"(this arp reads version {FORMAT_VERSION})"
        )
    if not force and _intact(src):
        return RepairResult(src, needed=False)

    target = Path(out) if out is not None else src
    tmp = target.with_name(target.name + ".repairing")
    result = RepairResult(target, needed=True, problems=problems)
    first = last = None
    try:
        writer = RecordingWriter(tmp, graph=meta.get("graph", ""), metadata=meta, compression="zstd")
        try:
            for _, rec in records:
                if isinstance(rec, Schema):
                    schemas[rec.id] = rec
                elif isinstance(rec, Channel):
                    channels[rec.id] = rec
                elif isinstance(rec, Message):
                    ch = channels.get(rec.channel_id)
                    if ch is None:
                        if rec.channel_id not in seen_ids:
                            seen_ids.add(rec.channel_id)
                            problems.append(
                                f"messages of channel {rec.channel_id} have no channel record and were dropped"
                            )
                        continue
                    writer.write_raw(
                        ch.topic,
                        ch.metadata.get(KIND_KEY, "Any"),
                        rec.data,
                        rec.log_time,
                        rec.publish_time,
                        rec.sequence,
                    )
                    result.messages += 1
                    result.topics[ch.topic] = result.topics.get(ch.topic, 0) + 1
                    first = rec.log_time if first is None else min(first, rec.log_time)
                    last = rec.log_time if last is None else max(last, rec.log_time)
                elif isinstance(rec, Metadata) and rec.name not in (META_NAME, "arp.stats", "arp.repair"):
                    writer.add_metadata(rec.name, dict(rec.metadata))
            writer.add_metadata(
                "arp.repair",
                {
                    "repaired_from": str(src),
                    "repaired_ns": str(time.time_ns()),
                    "messages": str(result.messages),
                    "problems": json.dumps(problems),
                },
            )
        finally:
            writer.close()
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    if target == src and backup:
        result.backup = src.with_name(src.name + ".bak")
        os.replace(src, result.backup)
    os.replace(tmp, target)
    result.duration_s = (last - first) / 1e9 if first is not None and last is not None else 0.0
    return result


def _intact(path: Path) -> bool:
    """Whether the file has its footer and summary and every record reads back with good CRCs."""
    from ar_perception.recording.reader import RecordingReader

    try:
        r = RecordingReader(path)
    except RecordingError:
        return False
    if not r.indexed:
        return False
    problems: list[str] = []
    for _ in scan_records(path, problems):
        pass
    return not problems
