"""Read arp recordings: check the format, describe the topics, and give back the recorded messages exactly.

A complete file is read through its MCAP summary (indexed, in log-time order). A file without a summary
(cut back to its last flush after a write error) is read by one linear scan in file order. A truncated
file (no footer: the recorder was killed) is refused with the repair command, unless `allow_incomplete`,
which is what `repair` uses.
"""

from __future__ import annotations

import io
import json
import os
import struct
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ar_perception.errors import RecordingError
from ar_perception.recording.codec import decode_message, require_extra
from ar_perception.recording.writer import FORMAT_VERSION, KIND_KEY, META_NAME, STATS_NAME
from ar_perception.runtime.msg import Msg

__all__ = ["TopicInfo", "RecordingReader", "scan_records"]

MAGIC = bytes([137, 77, 67, 65, 80, 48, 13, 10])
_FOOTER_LEN = 1 + 8 + 8 + 8 + 4  # opcode, length, summary_start, summary_offset_start, summary_crc


@dataclass
class TopicInfo:
    topic: str
    kind: str
    schema: str
    count: int = 0
    bytes: int = 0
    first_ns: int = 0
    last_ns: int = 0
    lost: int = 0

    @property
    def rate_hz(self) -> float | None:
        span = (self.last_ns - self.first_ns) / 1e9
        return (self.count - 1) / span if self.count > 1 and span > 0 else None


def _opcode_name(op: int) -> str:
    from mcap.opcode import Opcode

    try:
        return Opcode(op).name.lower()
    except ValueError:
        return f"opcode-{op:#x}"


def scan_records(path: Path, problems: list[str]) -> Iterator[tuple[int, Any]]:
    """(file offset, record) for every Schema, Channel, Message and Metadata record, chunks opened, in file
    order. Stops at the end of the data section or at a cut-off record; skips corrupt chunks. Each problem
    met is appended to `problems` as one sentence that says where."""
    require_extra()
    from mcap.data_stream import ReadDataStream
    from mcap.opcode import Opcode
    from mcap.records import Channel, Chunk, Message, Metadata, Schema
    from mcap.stream_reader import breakup_chunk

    readers = {Opcode.SCHEMA: Schema.read, Opcode.CHANNEL: Channel.read, Opcode.METADATA: Metadata.read}
    with open(path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        if f.read(8) != MAGIC:
            raise RecordingError(f"{path}: not an MCAP file (it does not start with the MCAP magic bytes)")
        pos = 8
        while True:
            head = f.read(9)
            if len(head) < 9:
                problems.append(f"the file ends at byte {size} without an MCAP footer")
                return
            opcode, length = struct.unpack("<BQ", head)
            if pos + 9 + length > size:
                problems.append(
                    f"a {_opcode_name(opcode)} record at byte {pos} is cut off ({length} bytes, {size - pos - 9} left)"
                )
                return
            if opcode in (Opcode.DATA_END, Opcode.FOOTER):
                return
            records: list[Any] = []
            if opcode in (Opcode.CHUNK, Opcode.MESSAGE, *readers):
                body = f.read(length)
                stream = ReadDataStream(io.BytesIO(body))
                try:
                    if opcode == Opcode.CHUNK:
                        records = breakup_chunk(Chunk.read(stream), validate_crc=True)
                    elif opcode == Opcode.MESSAGE:
                        records = [Message.read(stream, length)]
                    else:
                        records = [readers[opcode](stream)]
                except Exception as e:  # a bad CRC, bad compression, bad lengths: the record is lost
                    problems.append(
                        f"the {_opcode_name(opcode)} record at byte {pos} is corrupt "
                        f"({type(e).__name__}: {e}) and was skipped"
                    )
                    records = []
            else:
                f.seek(length, io.SEEK_CUR)
            for r in records:
                yield pos, r
            pos += 9 + length


class RecordingReader:
    """An arp recording opened for reading. `topics`, `meta` and the times describe it; `messages` reads it."""

    def __init__(self, path: str | os.PathLike[str], *, allow_incomplete: bool = False):
        require_extra()
        self.path = Path(path)
        if not self.path.exists():
            raise RecordingError(f"{self.path}: no such recording")
        if self.path.is_dir():
            raise RecordingError(f"{self.path}: is a folder, not a recording")
        self.size = self.path.stat().st_size
        with open(self.path, "rb") as f:
            if f.read(8) != MAGIC:
                raise RecordingError(f"{self.path}: not an MCAP file (it does not start with the MCAP magic bytes)")
            f.seek(max(0, self.size - 8 - _FOOTER_LEN))
            tail = f.read()
        self.complete = len(tail) == 8 + _FOOTER_LEN and tail[-8:] == MAGIC and tail[0] == 0x02
        self.problems: list[str] = []
        self.meta: dict[str, str] = {}
        self.stats: dict[str, Any] = {}
        self.repair_meta: dict[str, str] = {}
        self.topics: dict[str, TopicInfo] = {}
        self.chunks = 0
        self.compression: set[str] = set()
        self.indexed = False
        if not self.complete and not allow_incomplete:
            raise RecordingError(
                f"{self.path}: truncated: the file ends without its MCAP footer (the recorder "
                f"stopped without closing it); recover it with: arp recording repair {self.path}"
            )
        try:
            if self.complete and struct.unpack("<Q", tail[9:17])[0] != 0:
                self._read_summary()
            else:
                self._read_by_scanning()
        except RecordingError:
            raise
        except Exception as e:
            raise RecordingError(
                f"{self.path}: corrupt summary or index ({type(e).__name__}: {e}); "
                f"recover the data with: arp recording repair {self.path}"
            ) from None
        self._check_meta()

    # -- opening ---------------------------------------------------------------------------------
    def _read_summary(self) -> None:
        from mcap.reader import SeekingReader

        with open(self.path, "rb") as f:
            r = SeekingReader(f, validate_crcs=True)
            summary = r.get_summary()
            assert summary is not None
            for m in r.iter_metadata():
                self._take_metadata(m.name, m.metadata)
        self.indexed = True
        self.chunks = len(summary.chunk_indexes)
        self.compression = {c.compression or "none" for c in summary.chunk_indexes}
        counts = summary.statistics.channel_message_counts if summary.statistics else {}
        recorded = self.stats.get("topics", {})
        for ch in summary.channels.values():
            schema = summary.schemas[ch.schema_id].name if ch.schema_id in summary.schemas else ""
            t = self.topics.setdefault(ch.topic, TopicInfo(ch.topic, ch.metadata.get(KIND_KEY, "?"), schema))
            t.count += counts.get(ch.id, 0)
            if ch.topic in recorded:
                s = recorded[ch.topic]
                t.bytes, t.first_ns, t.last_ns, t.lost = s["bytes"], s["first_ns"], s["last_ns"], s.get("lost", 0)
        if summary.statistics and not recorded:
            for t in self.topics.values():
                t.first_ns, t.last_ns = summary.statistics.message_start_time, summary.statistics.message_end_time

    def _read_by_scanning(self) -> None:
        from mcap.records import Channel, Message, Metadata, Schema

        schemas: dict[int, str] = {}
        channels: dict[int, TopicInfo] = {}
        for _, rec in scan_records(self.path, self.problems):
            if isinstance(rec, Message):
                t = channels.get(rec.channel_id)
                if t is None:
                    continue
                if t.count == 0:
                    t.first_ns = rec.log_time
                t.count += 1
                t.bytes += len(rec.data)
                t.first_ns, t.last_ns = min(t.first_ns, rec.log_time), max(t.last_ns, rec.log_time)
            elif isinstance(rec, Schema):
                schemas[rec.id] = rec.name
            elif isinstance(rec, Channel):
                channels[rec.id] = self.topics.setdefault(
                    rec.topic, TopicInfo(rec.topic, rec.metadata.get(KIND_KEY, "?"), schemas.get(rec.schema_id, ""))
                )
            elif isinstance(rec, Metadata):
                self._take_metadata(rec.name, rec.metadata)

    def _take_metadata(self, name: str, data: dict[str, str]) -> None:
        if name == META_NAME:
            self.meta = dict(data)
        elif name == STATS_NAME:
            try:
                self.stats = json.loads(data.get("json", "{}"))
            except ValueError:
                self.problems.append("the arp.stats metadata is not valid JSON and was ignored")
        elif name == "arp.repair":
            self.repair_meta = dict(data)

    def _check_meta(self) -> None:
        if not self.meta:
            raise RecordingError(
                f"{self.path}: not an arp recording (the MCAP file has no '{META_NAME}' metadata record)"
            )
        version = self.meta.get("format_version", "?")
        if version != str(FORMAT_VERSION):
            raise RecordingError(
                f"{self.path}: recording format version {version} is not supported (this arp "
                f"reads version {FORMAT_VERSION}; the file was written by arp "
                f"{self.meta.get('arp_version', '?')})"
            )

    # -- description -----------------------------------------------------------------------------
    @property
    def graph(self) -> str:
        return self.meta.get("graph", "")

    @property
    def format_version(self) -> int:
        return int(self.meta["format_version"])

    @property
    def message_count(self) -> int:
        return sum(t.count for t in self.topics.values())

    @property
    def start_ns(self) -> int:
        firsts = [t.first_ns for t in self.topics.values() if t.count]
        return min(firsts) if firsts else 0

    @property
    def end_ns(self) -> int:
        lasts = [t.last_ns for t in self.topics.values() if t.count]
        return max(lasts) if lasts else 0

    @property
    def duration_s(self) -> float:
        return (self.end_ns - self.start_ns) / 1e9

    # -- messages --------------------------------------------------------------------------------
    def messages(
        self, topics: Iterable[str] | None = None, start_ns: int | None = None, end_ns: int | None = None
    ) -> Iterator[Msg]:
        """The recorded messages (of `topics`, with log time in [start_ns, end_ns)), exactly as recorded:
        kind, arrays, metadata, capture time, sequence number, publish time and topic."""
        return (m for _, m in self.timed_messages(topics, start_ns, end_ns))

    def timed_messages(
        self, topics: Iterable[str] | None = None, start_ns: int | None = None, end_ns: int | None = None
    ) -> Iterator[tuple[int, Msg]]:
        """(log time, message) pairs, as `messages`."""
        wanted = None if topics is None else set(topics)
        if wanted is not None and (unknown := sorted(wanted - set(self.topics))):
            raise RecordingError(
                f"{self.path}: no topic {', '.join(unknown)} in this recording "
                f"(it has: {', '.join(sorted(self.topics)) or 'none'})"
            )
        n, where = 0, "the start"
        for schema, topic, log, data in self._raw(wanted, start_ns, end_ns):
            where = f"message {n} ({topic} at {(log - self.start_ns) / 1e9:.3f} s)"
            try:
                msg = decode_message(schema, data, topic)
            except Exception as e:
                raise RecordingError(f"{self.path}: {where} is malformed ({e})") from None
            n += 1
            yield log, msg

    def _raw(
        self, wanted: set[str] | None, start_ns: int | None, end_ns: int | None
    ) -> Iterator[tuple[str, str, int, bytes]]:
        if self.indexed:
            from mcap.reader import SeekingReader

            n = 0
            with open(self.path, "rb") as f:
                it = SeekingReader(f, validate_crcs=True).iter_messages(
                    topics=wanted, starting_at=start_ns, ending_before=end_ns, log_time_order=True
                )
                while True:
                    try:
                        schema, channel, m = next(it)
                    except StopIteration:
                        return
                    except Exception as e:
                        raise RecordingError(
                            f"{self.path}: corrupt data after {n} messages ({type(e).__name__}: "
                            f"{e}); recover the intact part with: arp recording repair "
                            f"{self.path}"
                        ) from None
                    n += 1
                    yield schema.name if schema else "", channel.topic, m.log_time, m.data
            return
        from mcap.records import Channel, Message, Schema

        schemas: dict[int, str] = {}
        channels: dict[int, tuple[str, str]] = {}
        for _, rec in scan_records(self.path, []):
            if isinstance(rec, Message) and rec.channel_id in channels:
                schema_name, topic = channels[rec.channel_id]
                if wanted is not None and topic not in wanted:
                    continue
                if (start_ns is not None and rec.log_time < start_ns) or (
                    end_ns is not None and rec.log_time >= end_ns
                ):
                    continue
                yield schema_name, topic, rec.log_time, rec.data
            elif isinstance(rec, Schema):
                schemas[rec.id] = rec.name
            elif isinstance(rec, Channel):
                channels[rec.id] = (schemas.get(rec.schema_id, ""), rec.topic)

    def read_topic(self, topic: str) -> list[Msg]:
        return list(self.messages([topic]))
