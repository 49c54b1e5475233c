"""The same-host shared-memory path for large arrays (graph option `shm: true`).

A producer's output whose consumers all run on this machine (ipc) gets a segment in /dev/shm: a pool of
`SLOTS` reused buffers, sized from the first large message (and made again, larger, when a bigger one comes
while every slot is free). A message whose arrays total at least `SHM_MIN` bytes is copied into a free slot
(the one copy: the node API gives the producer's arrays, not the slot) and only its envelope travels (in a
datagram of a direct edge, runtime/direct.py), naming the segment, the slot and the offsets.

Lifetime. A consumer's node gets its arrays as read-only views of the slot (no copy), and the slot is pinned
for that consumer while any view of it is alive: until the node has handled the message and dropped it, or
for as long as it keeps it (a sync buffer, a list). Each consumer has, in the segment's header, the highest
sequence number it has received (set for every message of the input, also one that came as frames) and,
per slot, the sequence number it pins there; a weak reference to the views' buffer unpins it. The producer
reuses a slot only when every consumer has received past the message in it and none pins it. It never waits
for one: with no free slot (consumers that hold messages, a slow lossy consumer, one not connected yet or
killed while it pinned) the message goes as ordinary ZeroMQ frames and is counted (`shm_fallback` in the
producer's statistics), so a consumer can pin at most `SLOTS` messages of an output, latest queues never
block the producer, and reliable edges keep their own backpressure. A consumer that exits unpins what it
held (also what it still holds at exit); one that is killed leaves its pins, and those slots stay out of use
for the rest of the run (fewer free slots, more frames).

Memory. A slot's pages are reserved (posix_fallocate) when the slot is first used, so an output holds the
slots its consumers made it use (one, when they keep up), and a full /dev/shm is an error at that point, not
a SIGBUS at the write. Where a segment cannot be made or a slot reserved, the output sends frames from then on
(`ShmWriter.unavailable` says why; the Outlets warn once).

Segments are named after the run (`/dev/shm/arp-XXXX-...`): the producer unlinks its own at exit, and the
supervisor and its watchdog remove the run's at the end, also after a crash or SIGKILL.
"""

from __future__ import annotations

import atexit
import mmap
import os
import re
import weakref
from typing import Any

import numpy as np

__all__ = ["SHM_MIN", "SLOTS", "SHM_DIR", "ShmWriter", "ShmReader", "remove_run_segments"]

SHM_MIN = 256 * 1024  # messages with fewer array bytes go as frames: copying them is cheaper than a slot
SLOTS = 4
SHM_DIR = "/dev/shm"
_ALIGN = 64
_MAGIC = 0x41525053484D3031  # "ARPSHM01"
_HEAD = 4  # int64 words: magic, consumers, slots, slot size


def _aligned(n: int) -> int:
    return (n + _ALIGN - 1) // _ALIGN * _ALIGN


class _Segment:
    """A mapped segment: header, per-consumer received sequence numbers, per-consumer-and-slot pins, the
    per-slot sequence numbers, then the slots."""

    def __init__(self, path: str, consumers: int, slots: int, slot_size: int, *, create: bool):
        self.path = path
        self.fd = -1  # the producer's, kept to reserve each slot's memory when it is first used
        flags = os.O_RDWR | (os.O_CREAT | os.O_EXCL if create else 0)
        fd = os.open(path, flags, 0o600)
        try:
            if create:
                os.ftruncate(fd, self._meta(consumers, slots) + slots * slot_size)
                os.posix_fallocate(fd, 0, self._meta(consumers, slots))
            self.map = mmap.mmap(fd, 0)
        except BaseException:
            os.close(fd)
            if create:
                os.unlink(path)
            raise
        if create:
            self.fd = fd
        else:
            os.close(fd)
        head = np.frombuffer(self.map, dtype=np.int64, count=_HEAD)
        if create:
            head[:] = (_MAGIC, consumers, slots, slot_size)
        elif head[0] != _MAGIC:
            raise ValueError(f"{path}: not an arp shared-memory segment")
        self.consumers, self.slots, self.slot_size = int(head[1]), int(head[2]), int(head[3])
        n = self.consumers
        words = np.frombuffer(self.map, dtype=np.int64, count=self._meta(n, self.slots) // 8)
        if create:
            words[_HEAD:] = -1
        del head, words  # (numpy's views of the mapping, to set it up; they would keep it from closing)
        # The words as Python ints, for the per-message checks (a numpy call per word costs more than the check;
        # aligned 8-byte reads and writes, as numpy's).
        self.words = memoryview(self.map)[: self._meta(n, self.slots)].cast("q")
        self.data = self._meta(n, self.slots)

    def seen_at(self, consumer: int) -> int:
        return self.words[_HEAD + consumer]

    def pin_at(self, consumer: int, k: int) -> int:
        return self.words[_HEAD + self.consumers + consumer * self.slots + k]

    def set_pin(self, consumer: int, k: int, seq: int) -> None:
        self.words[_HEAD + self.consumers + consumer * self.slots + k] = seq

    def seq_at(self, k: int) -> int:
        return self.words[_HEAD + self.consumers + self.consumers * self.slots + k]

    def set_seq(self, k: int, seq: int) -> None:
        self.words[_HEAD + self.consumers + self.consumers * self.slots + k] = seq

    @staticmethod
    def _meta(consumers: int, slots: int) -> int:
        return _aligned(8 * (_HEAD + consumers + consumers * slots + slots))

    def slot(self, k: int) -> memoryview:
        start = self.data + k * self.slot_size
        return memoryview(self.map)[start : start + self.slot_size]

    def reserve(self, k: int) -> None:
        """Give slot `k` its memory now (OSError when /dev/shm is full): a write into a page tmpfs cannot
        provide would kill the process with SIGBUS."""
        os.posix_fallocate(self.fd, self.data + k * self.slot_size, self.slot_size)

    def close(self) -> None:
        self.words.release()
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1
        try:
            self.map.close()
        except BufferError:  # a node still holds a view: the mapping goes when it lets go, or with the process
            pass


class ShmWriter:
    """The producer side of one output: copies large messages into free slots (see the module docstring)."""

    def __init__(self, prefix: str, consumers: int):
        self.prefix, self.consumers = prefix, consumers
        self.seg: _Segment | None = None
        self.gen = 0
        self.want = 0  # the slot size a message asked for that the segment could not hold
        self.fallbacks = 0  # large messages sent as frames: no free slot (or slots too small) at the time
        self.reserved: set[int] = set()  # slots of the current segment whose memory is reserved
        self.unavailable: str | None = None  # why this output cannot use shared memory (then: frames only)

    def claim(self, arrays: list[np.ndarray]) -> list[Any] | None:
        """A free slot the arrays fit in, as the descriptor [path, slot, offsets] for the envelope, or None when
        they go as frames (too small, no free slot, or larger than the slots until all are free). `fill` copies
        them in: the envelope is made in between, before the copy evicts the caches it would run in."""
        offsets, total = [], 0
        for a in arrays:
            offsets.append(total)
            total += _aligned(a.nbytes)
        if total < SHM_MIN:
            return None
        if self.unavailable is not None:
            self.fallbacks += 1
            return None
        seg = self.seg
        try:
            if seg is None or total > seg.slot_size:
                self.want = max(self.want, total)
                if seg is not None and not self._all_free(seg):
                    self.fallbacks += 1
                    return None
                seg = self._remake()
            k = self._free_slot(seg)
            if k is None:
                self.fallbacks += 1
                return None
            if k not in self.reserved:
                seg.reserve(k)
                self.reserved.add(k)
        except OSError as e:  # no /dev/shm, or it is full: frames from now on (the Outlets warn once)
            self.unavailable = f"{type(e).__name__}: {e}"
            self.fallbacks += 1
            self.close()
            return None
        return [seg.path, k, offsets]

    def fill(self, desc: list[Any], arrays: list[np.ndarray], seq: int) -> None:
        """Copy C-contiguous arrays into the slot `claim` gave (the one copy), which then holds message `seq`."""
        seg = self.seg
        assert seg is not None and desc[0] == seg.path, "fill the slot of the last claim"
        _, k, offsets = desc
        view = seg.slot(k)
        for a, off in zip(arrays, offsets, strict=True):
            view[off : off + a.nbytes] = a.reshape(-1).view(np.uint8).data  # a plain memcpy into the mapping
        seg.set_seq(k, seq)

    @staticmethod
    def _is_free(seg: _Segment, k: int) -> bool:
        s = seg.seq_at(k)
        if s < 0:
            return True
        # Received past it (read first: a consumer pins before it marks a message received) and not pinned.
        for c in range(seg.consumers):
            if seg.seen_at(c) < s:
                return False
        for c in range(seg.consumers):
            if seg.pin_at(c, k) == s:
                return False
        return True

    def _free_slot(self, seg: _Segment) -> int | None:
        return next((k for k in range(seg.slots) if self._is_free(seg, k)), None)

    def _all_free(self, seg: _Segment) -> bool:
        return all(self._is_free(seg, k) for k in range(seg.slots))

    def _remake(self) -> _Segment:
        self.close()
        self.reserved.clear()
        self.gen += 1
        size = _aligned(max(self.want, SHM_MIN))
        size = size + size // 4  # room for frames that vary a little (compressed depth, point counts)
        self.seg = _Segment(f"{self.prefix}-{os.getpid()}-{self.gen}", self.consumers, SLOTS, size, create=True)
        return self.seg

    @property
    def path(self) -> str | None:
        """The current segment, named in every envelope of the output (also one sent as frames)."""
        return self.seg.path if self.seg is not None else None

    def close(self) -> None:
        if self.seg is not None:
            path = self.seg.path
            self.seg.close()
            self.seg = None
            try:
                os.unlink(path)
            except FileNotFoundError:
                pass


class ShmReader:
    """The consumer side of one input: views of a message's arrays in its slot, pinned while they live."""

    def __init__(self, index: int):
        self.index = index
        self.seg: _Segment | None = None
        self.old: list[_Segment] = []  # segments replaced by a larger one, kept while a node holds their views
        # The pins of messages whose views are alive, by id of the weak reference that unpins (a bare weakref:
        # weakref.finalize costs more per message); what is still held at the process's exit is let go then.
        self._held: dict[int, tuple[weakref.ref, _Segment, int, int]] = {}
        atexit.register(self._let_go_of_all)

    def read(self, desc: Any, sizes: list[int], seq: int) -> list[memoryview]:
        """Read-only-to-be views of the arrays a descriptor names (the caller checks them against the
        envelope); the slot stays pinned for this consumer until every view of it is gone."""
        if not (isinstance(desc, list) and len(desc) == 3 and isinstance(desc[0], str)):
            raise ValueError(f"malformed shared-memory descriptor {str(desc)[:100]}")
        path, k, offsets = desc
        seg = self._mapped(path)
        if not (isinstance(k, int) and 0 <= k < seg.slots and isinstance(offsets, list)):
            raise ValueError(f"shared-memory slot {k!r} is not in {path}")
        fits = len(offsets) == len(sizes)
        for o, n in zip(offsets, sizes, strict=False) if fits else ():
            fits = type(o) is int and 0 <= o and o + n <= seg.slot_size
            if not fits:
                break
        if not fits:
            raise ValueError(f"array offsets {str(offsets)[:100]} do not fit slot {k} of {path}")
        seg.set_pin(self.index, k, seq)  # before it counts as received: the producer checks in the other order
        base = np.frombuffer(seg.map, dtype=np.uint8, count=seg.slot_size, offset=seg.data + k * seg.slot_size)
        ref = weakref.ref(base, self._let_go)
        self._held[id(ref)] = (ref, seg, k, seq)
        # Every view below keeps `base` alive; read-only, so that no node can write into another's input.
        return [memoryview(base[o : o + n]).toreadonly() for o, n in zip(offsets, sizes, strict=True)]  # type: ignore[arg-type]

    def _mapped(self, path: Any) -> _Segment:
        if not isinstance(path, str) or not path.startswith(SHM_DIR + "/arp-") or "/" in path[len(SHM_DIR) + 1 :]:
            raise ValueError(f"shared-memory segment {str(path)[:100]!r} is not an arp segment")
        if self.seg is None or self.seg.path != path:
            seg = _Segment(path, 0, 0, 0, create=False)
            if self.index >= seg.consumers:
                seg.close()
                raise ValueError(f"{path} has {seg.consumers} consumers; this input is number {self.index}")
            self._retire()
            self.seg = seg
        return self.seg

    def _retire(self) -> None:
        """The producer has left the current segment (a larger one, or frames only): unmap it now, or once the
        node lets go of its views (a deleted file's memory stays in use while it is mapped)."""
        if self.seg is not None:
            self.old.append(self.seg)
            self.seg = None
        self._unmap_unused()

    def _unmap_unused(self) -> None:
        held = {id(h[1]) for h in self._held.values()}
        for seg in [s for s in self.old if id(s) not in held]:
            self.old.remove(seg)
            seg.close()

    def saw_frames(self) -> None:
        """A message that came as frames naming no segment: its producer has none any more (shared memory
        became unavailable to it), so this reader lets go of the one it has."""
        if self.seg is not None:
            self._retire()

    def saw(self, path: Any, seq: int) -> None:
        """A message that came as frames from an output with a segment: map it (a consumer that joined late
        or only ever got frames must still say what it has received) and mark `seq` received."""
        self._mapped(path)
        self.release(seq)

    def release(self, seq: int) -> None:
        """Received every message up to `seq` (also those that came as frames, or never came)."""
        if self.seg is not None:
            self.seg.words[_HEAD + self.index] = seq

    def _let_go(self, ref: weakref.ref) -> None:
        """The last view of a message is gone: unpin its slot."""
        held = self._held.pop(id(ref), None)
        if held is not None:
            _, seg, k, seq = held
            if seg.pin_at(self.index, k) == seq:
                seg.set_pin(self.index, k, -1)
            if self.old:
                self._unmap_unused()

    def _let_go_of_all(self) -> None:
        for ref, *_ in list(self._held.values()):
            self._let_go(ref)

    def close(self) -> None:
        """Unmap (a segment whose views a node still holds stays mapped until they go: then they unpin and it
        is unmapped, also at the process's exit)."""
        self._retire()


def remove_run_segments(run_dir: str, node: str | None = None, pid: int | None = None) -> int:
    """Remove the segments of a run (named after its run folder), or of one node process of it; returns how
    many there were."""
    base = re.escape(os.path.basename(run_dir.rstrip("/")))
    who = rf"{re.escape(node)}-\d+-{pid}-\d+" if node is not None and pid is not None else ".+"
    pattern = re.compile(rf"{base}-{who}")
    n = 0
    try:
        names = os.listdir(SHM_DIR)
    except OSError:
        return 0
    for name in names:
        if pattern.fullmatch(name):
            try:
                os.unlink(os.path.join(SHM_DIR, name))
                n += 1
            except OSError:
                pass
    return n
