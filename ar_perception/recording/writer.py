"""The MCAP recording writer: chunked, compressed, and flushed often enough that a crash loses at most `flush_s`.

Layout (standard MCAP, https://mcap.dev/spec): a Metadata record "arp" first (format version, arp version,
graph YAML, creation time), then chunks of Schema/Channel/Message records, and at close a Metadata record
"arp.stats" (per-topic counts, times, bytes and sequence gaps) and the summary. One channel per (topic,
kind); the channel's metadata holds `arp.kind`. A message's log time is its publish time.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from ar_perception.errors import RecordingError
from ar_perception.recording.codec import encode_message, require_extra, schema_for
from ar_perception.runtime.msg import Msg

__all__ = ["FORMAT_VERSION", "META_NAME", "STATS_NAME", "RecordingWriter", "TopicStats", "Compression"]

FORMAT_VERSION = 1
META_NAME = "arp"
STATS_NAME = "arp.stats"
KIND_KEY = "arp.kind"
Compression = Literal["zstd", "lz4", "none"]


@dataclass
class TopicStats:
    kind: str
    count: int = 0
    bytes: int = 0
    first_ns: int = 0
    last_ns: int = 0
    lost: int = 0  # messages missing from the topic's sequence numbers (should stay 0: recorder inputs are reliable)
    last_seq: int = -1


def _arp_version() -> str:
    return importlib.metadata.version("ar-perception")  # what `ar_perception.__version__` gives


class RecordingWriter:
    """Writes arp messages to one MCAP file; thread-safe, so a timer thread may call `maybe_flush`.

    A write error (a full disk) raises RecordingError once, then the file is cut back to its last flush
    and closed as a valid MCAP without summary: what was flushed stays readable without repair.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        graph: str = "",
        compression: Compression = "lz4",
        chunk_size: int = 4 << 20,
        flush_s: float = 0.5,
        created_ns: int | None = None,
        metadata: dict[str, str] | None = None,
    ):
        require_extra()
        from mcap.writer import CompressionType, Writer

        self.path = Path(path)
        self.flush_s = flush_s
        try:
            self._file = open(self.path, "wb")
        except OSError as e:
            raise RecordingError(f"{self.path}: cannot create the recording: {e.strerror}") from None
        comp = {"zstd": CompressionType.ZSTD, "lz4": CompressionType.LZ4, "none": CompressionType.NONE}
        if compression not in comp:
            raise RecordingError(f"unknown compression {compression!r} (expected one of: {', '.join(comp)})")
        # Chunks close here, not inside mcap's writer, so that every chunk boundary is a known-good offset.
        self._mcap = Writer(self._file, chunk_size=1 << 62, compression=comp[compression])
        self.chunk_size = chunk_size
        self._chunk_bytes = 0
        self._lock = threading.RLock()
        self._schemas: dict[str, int] = {}
        self._channels: dict[tuple[str, str], int] = {}
        self.topics: dict[str, TopicStats] = {}
        self.messages = 0
        self.flushed_messages = 0
        self._good_offset = 0
        self._last_flush = time.monotonic()
        self.failed: RecordingError | None = None
        self.closed = False
        created_ns = time.time_ns() if created_ns is None else created_ns
        meta = {
            "format_version": str(FORMAT_VERSION),
            "arp_version": _arp_version(),
            "graph": graph,
            "created": datetime.fromtimestamp(created_ns / 1e9, UTC).isoformat(timespec="milliseconds"),
            "created_ns": str(created_ns),
            **(metadata or {}),
        }
        with self._lock, self._guard():
            self._mcap.start(profile="", library=f"ar-perception {_arp_version()}")
            self._mcap.add_metadata(META_NAME, meta)
            self._flush_locked()

    # -- writing ---------------------------------------------------------------------------------
    def write(self, msg: Msg, log_ns: int | None = None) -> None:
        """Record one message on its topic (`msg.topic`); its log time is `log_ns` or its publish time."""
        data = encode_message(msg)  # outside the lock: the CPU-heavy part
        log = log_ns if log_ns is not None else (msg.publish_ns or msg.capture_ns)
        with self._lock:
            st = self._add(msg.topic, msg.kind, data, log, msg.publish_ns or log, msg.seq)
            if st.last_seq >= 0 and msg.seq > st.last_seq + 1:
                st.lost += msg.seq - st.last_seq - 1
            st.last_seq = msg.seq

    def write_raw(self, topic: str, kind: str, data: bytes, log_ns: int, publish_ns: int, sequence: int) -> None:
        """Record an already encoded message (repair copies messages this way)."""
        with self._lock:
            self._add(topic, kind, data, log_ns, publish_ns, sequence)

    def _add(self, topic: str, kind: str, data: bytes, log: int, publish: int, seq: int) -> TopicStats:
        if self.failed is not None:
            raise RecordingError(f"{self.path}: the recording stopped at an earlier write error ({self.failed})")
        if self.closed:
            raise RecordingError(f"{self.path}: the recording is closed")
        with self._guard():
            ch = self._channel(topic, kind)
            self._mcap.add_message(
                ch, log_time=log, data=data, publish_time=publish, sequence=seq & 0xFFFFFFFF if seq >= 0 else 0
            )
        st = self.topics.get(topic)
        if st is None or st.kind != kind:
            st = self.topics.setdefault(topic, TopicStats(kind))
            st.kind = kind
        if st.count == 0:
            st.first_ns = log
        st.count += 1
        st.bytes += len(data)
        st.first_ns, st.last_ns = min(st.first_ns, log), max(st.last_ns, log)
        self.messages += 1
        self._chunk_bytes += len(data)
        if self._chunk_bytes >= self.chunk_size:
            self.flush()
        else:
            self._maybe_flush_locked()
        return st

    def add_metadata(self, name: str, data: dict[str, str]) -> None:
        """A named MCAP metadata record of string keys and values."""
        with self._lock:
            if self.failed is None and not self.closed:
                with self._guard():
                    self._mcap.add_metadata(name, data)

    def _channel(self, topic: str, kind: str) -> int:
        key = (topic, kind)
        if key not in self._channels:
            name, data = schema_for(kind)
            if name not in self._schemas:
                self._schemas[name] = self._mcap.register_schema(name=name, encoding="protobuf", data=data)
            self._channels[key] = self._mcap.register_channel(
                topic=topic, message_encoding="protobuf", schema_id=self._schemas[name], metadata={KIND_KEY: kind}
            )
        return self._channels[key]

    # -- flushing --------------------------------------------------------------------------------
    def maybe_flush(self) -> bool:
        """Flush when messages wait and `flush_s` has passed since the last flush; True if it flushed."""
        with self._lock:
            if self.failed is not None or self.closed:
                return False
            return self._maybe_flush_locked()

    def _maybe_flush_locked(self) -> bool:
        if self.messages > self.flushed_messages and time.monotonic() - self._last_flush >= self.flush_s:
            self.flush()
            return True
        return False

    def flush(self) -> None:
        """Close the chunk in progress and hand everything to the operating system."""
        with self._lock:
            if self.failed is None and not self.closed:
                with self._guard():
                    self._flush_locked()

    def _flush_locked(self) -> None:
        self._mcap.flush()
        self._chunk_bytes = 0
        self._good_offset = self._file.tell()
        self.flushed_messages = self.messages
        self._last_flush = time.monotonic()

    def close(self, extra_stats: dict[str, object] | None = None) -> None:
        """Write the per-topic statistics and the summary; the file is then complete."""
        with self._lock:
            if self.closed or self.failed is not None:
                return
            stats = {
                "messages": self.messages,
                **(extra_stats or {}),
                "topics": {t: {k: v for k, v in asdict(s).items() if k != "last_seq"} for t, s in self.topics.items()},
            }
            with self._guard():
                self._mcap.add_metadata(STATS_NAME, {"json": json.dumps(stats)})
                self._mcap.finish()
                self._file.flush()
                os.fsync(self._file.fileno())
                self._file.close()
            self.closed = True

    def __enter__(self) -> RecordingWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- failure ---------------------------------------------------------------------------------
    @contextmanager
    def _guard(self) -> Iterator[None]:
        try:
            yield
        except OSError as e:
            kept = self._salvage()
            self.failed = RecordingError(
                f"{self.path}: cannot write: {e.strerror or e} (errno {e.errno}) after {self.messages} messages; "
                + (
                    f"the file keeps the {self.flushed_messages} messages flushed before the error and stays readable"
                    if kept and self.flushed_messages
                    else "no message had been flushed yet; the file keeps only its metadata"
                    if kept
                    else f"what was flushed before the error can be recovered with: arp recording repair {self.path}"
                )
            )
            raise self.failed from None

    def _salvage(self) -> bool:
        """Cut the file back to its last flush and end it with a footer; True when that worked."""
        from mcap.data_stream import RecordBuilder
        from mcap.records import DataEnd, Footer
        from mcap.writer import MCAP0_MAGIC

        try:
            self._file.close()
        except OSError:
            pass  # the buffered bytes that did not fit are dropped here
        if self._good_offset == 0:
            return False
        try:
            with open(self.path, "r+b") as f:
                f.truncate(self._good_offset)
                f.seek(self._good_offset)
                rb = RecordBuilder()
                DataEnd(0).write(rb)
                Footer(summary_start=0, summary_offset_start=0, summary_crc=0).write(rb)
                f.write(rb.end() + MCAP0_MAGIC)
            return True
        except OSError:
            return False
