"""Bad input: missing, foreign, truncated, corrupt and future files, a full disk; and repair."""

import errno
import io
import os
import shutil
import time

import numpy as np
import pytest

from ar_perception import Msg
from ar_perception.errors import RecordingError
from ar_perception.recording import RecordingReader, RecordingWriter, repair
from ar_perception.recording import writer as writer_module

from .conftest import same


def frames(n: int, start: int = 0) -> list[Msg]:
    out = []
    for i in range(start, start + n):
        img = np.full((48, 64, 3), i % 256, np.uint8)
        img[i % 48] = 255 - i % 256  # a little structure so that frames differ
        out.append(
            Msg(
                "Image",
                {"data": img},
                {"frame": i},
                capture_ns=10**18 + i * 10**8,
                topic="cam/image",
                seq=i,
                publish_ns=10**18 + i * 10**8 + 5,
            )
        )
    return out


def write(path, msgs, **kw) -> None:
    with RecordingWriter(path, **kw) as w:
        for m in msgs:
            w.write(m)


def test_missing_folder_and_foreign_files(tmp_path):
    with pytest.raises(RecordingError, match=f"^{tmp_path}/nope.mcap: no such recording$"):
        RecordingReader(tmp_path / "nope.mcap")
    with pytest.raises(RecordingError, match=f"^{tmp_path}: is a folder, not a recording$"):
        RecordingReader(tmp_path)
    (tmp_path / "a.mcap").write_bytes(b"PK\x03\x04 this is a zip")
    with pytest.raises(
        RecordingError, match=r"a.mcap: not an MCAP file \(it does not start with the MCAP magic bytes\)$"
    ):
        RecordingReader(tmp_path / "a.mcap")
    from mcap.writer import Writer

    with open(tmp_path / "plain.mcap", "wb") as f:
        w = Writer(f)
        w.start()
        w.finish()
    with pytest.raises(
        RecordingError,
        match=r"plain.mcap: not an arp recording \(the MCAP file has no 'arp' "
        r"metadata record\)$",
    ):
        RecordingReader(tmp_path / "plain.mcap")
    with pytest.raises(
        RecordingError, match=f"^{tmp_path}/no/such/dir/x.mcap: cannot create the recording: No such file or directory$"
    ):
        RecordingWriter(tmp_path / "no" / "such" / "dir" / "x.mcap")


def test_unknown_format_version(tmp_path):
    path = tmp_path / "future.mcap"
    write(path, frames(2), metadata={"format_version": "99", "arp_version": "9.0"})
    with pytest.raises(
        RecordingError,
        match=r"future.mcap: recording format version 99 is not supported \(this arp "
        r"reads version 1; the file was written by arp 9.0\)$",
    ):
        RecordingReader(path)
    with pytest.raises(RecordingError, match=r"format version 99 is not supported"):
        repair(path)


def test_truncated_file_is_refused_with_the_repair_command_and_repair_recovers_it(tmp_path):
    path = tmp_path / "cut.mcap"
    msgs = frames(30)
    w = RecordingWriter(path, chunk_size=20_000, graph="g")
    for m in msgs:
        w.write(m)
    w.flush()
    good = path.stat().st_size
    w.close()
    data = path.read_bytes()
    path.write_bytes(data[: good + 100])  # the summary is gone and a record is cut in the middle
    with pytest.raises(
        RecordingError,
        match=r"cut.mcap: truncated: the file ends without its MCAP footer \(the "
        r"recorder stopped without closing it\); recover it with: "
        rf"arp recording repair {path}$",
    ):
        RecordingReader(path)
    res = repair(path)
    assert res.needed and res.messages == 30 and res.topics == {"cam/image": 30}
    backup = tmp_path / "cut.mcap.bak"
    assert res.backup == backup and backup.stat().st_size == good + 100
    assert res.problems == [f"a {'metadata'} record at byte {good} is cut off (" + res.problems[0].split("(")[1]]
    r = RecordingReader(path)
    assert r.complete and r.indexed and r.repair_meta["messages"] == "30" and r.graph == "g"
    for a, b in zip(msgs, r.messages(), strict=True):
        same(a, b)
    assert repair(path).needed is False  # now intact


def test_a_file_cut_anywhere_keeps_every_flushed_chunk(tmp_path):
    path = tmp_path / "rec.mcap"
    w = RecordingWriter(path, chunk_size=1 << 30)
    sizes = []
    for i, m in enumerate(frames(40)):
        w.write(m)
        if i % 10 == 9:
            w.flush()
            sizes.append(path.stat().st_size)
    snapshot = path.read_bytes()  # what a SIGKILL right now would leave on disk
    w.close()
    rng = np.random.default_rng(0)
    for cut in [sizes[1] + 1, sizes[2] - 1, *rng.integers(sizes[0], len(snapshot), 5)]:
        damaged = tmp_path / f"cut{cut}.mcap"
        damaged.write_bytes(snapshot[:cut])
        res = repair(damaged, tmp_path / "fixed.mcap")
        flushed = 10 * sum(1 for s in sizes if s <= cut)
        # Everything flushed before the cut, plus the chunk cut after its record but within its index.
        assert res.messages in (flushed, flushed + 10), cut
        got = list(RecordingReader(tmp_path / "fixed.mcap").messages())
        assert [m.seq for m in got] == list(range(res.messages))


def test_corrupt_chunk_is_reported_where_and_repair_skips_it(tmp_path):
    path = tmp_path / "bad.mcap"
    write(path, frames(30), chunk_size=20_000)
    r = RecordingReader(path)
    from mcap.reader import SeekingReader

    with open(path, "rb") as f:
        summary = SeekingReader(f).get_summary()
    assert summary is not None
    chunks = summary.chunk_indexes
    victim = chunks[1]
    data = bytearray(path.read_bytes())
    data[victim.chunk_start_offset + 80] ^= 0xFF  # flip one byte of compressed data
    path.write_bytes(bytes(data))
    r = RecordingReader(path)  # the summary is intact, so it opens
    with pytest.raises(
        RecordingError,
        match=r"bad.mcap: corrupt data after \d+ messages \(.*\); recover the intact "
        rf"part with: arp recording repair {path}$",
    ):
        list(r.messages())
    res = repair(path)
    assert res.needed and res.problems == [
        f"the chunk record at byte {victim.chunk_start_offset} is corrupt ({res.problems[0].split('(', 1)[1]}"
    ]
    assert 0 < res.messages < 30
    assert len(list(RecordingReader(path).messages())) == res.messages


class _TinyDisk(io.FileIO):
    """A file on a disk with `room` bytes free: writes past it fail with ENOSPC, as on a full disk."""

    room = 0

    def write(self, b):
        free = self.room - self.tell()
        if free <= 0:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return super().write(bytes(b)[:free])


def test_full_disk_raises_once_and_keeps_what_was_flushed_readable(tmp_path, monkeypatch):
    real_open = open

    def fake_open(path, mode="r", *a, **k):
        return io.BufferedWriter(_TinyDisk(path, "w")) if mode == "wb" else real_open(path, mode, *a, **k)

    monkeypatch.setattr(writer_module, "open", fake_open, raising=False)
    _TinyDisk.room = 40_000
    path = tmp_path / "full.mcap"
    w = RecordingWriter(path, chunk_size=5_000, flush_s=1000)
    written = 0
    with pytest.raises(RecordingError) as e:
        for m in frames(200):
            w.write(m)
            written += 1
    assert str(e.value) == (
        f"{path}: cannot write: No space left on device (errno 28) after {written + 1} messages; "
        f"the file keeps the {w.flushed_messages} messages flushed before the error and stays "
        "readable"
    )
    with pytest.raises(RecordingError, match="the recording stopped at an earlier write error"):
        w.write(frames(1)[0])
    w.close()  # nothing more to write: no second error
    r = RecordingReader(path)
    assert r.complete and not r.indexed and r.message_count == w.flushed_messages > 0
    assert [m.seq for m in r.messages()] == list(range(w.flushed_messages))


def test_flush_timer_bounds_what_a_crash_can_lose(tmp_path):
    path = tmp_path / "timed.mcap"
    w = RecordingWriter(path, chunk_size=1 << 30, flush_s=0.2)
    for m in frames(5):
        w.write(m)
    assert w.flushed_messages == 0
    time.sleep(0.25)
    assert w.maybe_flush() and w.flushed_messages == 5  # the recorder node calls this from a timer thread
    crashed = tmp_path / "crashed.mcap"
    shutil.copy(path, crashed)
    assert repair(crashed).messages == 5
    w.close()
