"""Same-host direct edges: one Unix datagram socket per consumer, so a message wakes its consumer and nothing else.

A ZeroMQ message between two processes wakes three threads: the producer's I/O thread, the consumer's I/O thread
and the consumer's own thread. On a machine with two busy cores each wake-up costs hundreds of microseconds, and
a frame crosses several nodes. A direct edge sends the message's frames (for large arrays only the envelope that
names their shared-memory slot, runtime/shm.py) as one datagram straight into the consumer's socket, from the
producer's own thread: one wake-up per hop.

An edge is direct when its output uses shared memory (graph `shm: true`, every consumer on this machine). The
consumer binds a socket at a path the plan gives (in the run's private folder) before it reports Ready; the
producer connects to it. Unix datagrams keep order and never drop; when a consumer's socket is full the send
fails at once (EAGAIN), so a lossy edge drops the message (the consumer counts the gap, as ZeroMQ's high-water
mark would) and a reliable one waits until the consumer reads (backpressure).

A message too large for one datagram (the kernel bounds it by the socket buffer, `net.core.wmem_max`) still goes
over the edge's ZeroMQ socket, which stays connected for this: the datagram socket gets a marker in its place
(`marker`), so the consumer fetches it from ZeroMQ at that point and the order of the edge, its end-of-stream
included, is kept.

Wire format of a datagram: u32 n, then n u32 frame lengths, then the frames, each padded to a multiple of `ALIGN`
bytes (as is the header), so that arrays viewing the received bytes are aligned. n = 0 is the marker: then a u64
sequence number follows, that of the message to read from ZeroMQ.
"""

from __future__ import annotations

import errno
import os
import select
import socket
import struct
from collections.abc import Sequence
from typing import Any

__all__ = ["DirectOut", "DirectIn", "pack", "unpack", "marker", "SENT", "FULL", "ABSENT", "TOO_BIG"]

BUFFER_BYTES = 4 << 20  # asked for as the send and receive buffer (the kernel caps it at net.core.[rw]mem_max)
ALIGN = 16  # every frame starts at a multiple of this in the datagram (arrays view it: numpy, Arrow want alignment)
_PAD = bytes(ALIGN)
_U32 = struct.Struct("<I")
_MARK = struct.Struct("<IQ")

SENT, FULL, ABSENT, TOO_BIG = "sent", "full", "absent", "too-big"


def pack(frames: Sequence[Any]) -> list[Any]:
    """The buffers of one datagram for `socket.sendmsg` (gathered by the kernel: no join, no copy here)."""
    lens = [memoryview(f).nbytes for f in frames]
    head = struct.pack(f"<I{len(lens)}I", len(lens), *lens)
    out: list[Any] = [head, _PAD[: -len(head) % ALIGN]]
    for f, size in zip(frames, lens, strict=True):
        out += [f, _PAD[: -size % ALIGN]]
    return [b for b in out if len(b)]


def marker(seq: int) -> bytes:
    """The datagram that stands for a message sent over ZeroMQ instead: 'read the message with `seq` there'."""
    return _MARK.pack(0, seq)


def unpack(data: bytes) -> list[memoryview] | int:
    """The frames of a datagram (views of `data`, each at an `ALIGN` offset), or the sequence number a marker
    names. ValueError when the lengths do not add up."""
    if len(data) < 4:
        raise ValueError(f"a datagram of {len(data)} bytes is shorter than its header")
    (n,) = _U32.unpack_from(data)
    if n == 0:
        if len(data) != _MARK.size:
            raise ValueError(f"a marker of {len(data)} bytes (expected {_MARK.size})")
        return int(_MARK.unpack(data)[1])
    if len(data) < 4 + 4 * n:
        raise ValueError(f"a datagram of {len(data)} bytes declares {n} frames")
    lens = struct.unpack_from(f"<{n}I", data, 4)
    at = _aligned(4 + 4 * n)
    if at + sum(_aligned(x) for x in lens) != len(data):
        raise ValueError(f"a datagram of {len(data)} bytes declares frames of {sum(lens)} bytes")
    view, frames = memoryview(data), []
    for size in lens:
        frames.append(view[at : at + size])
        at += _aligned(size)
    return frames


def _aligned(n: int) -> int:
    return n + -n % ALIGN


class DirectOut:
    """The producer's end of one direct edge: a datagram socket connected to the consumer's path."""

    def __init__(self, path: str):
        self.path = path
        self.sock: socket.socket | None = None

    def connect(self) -> bool:
        """Connect to the consumer's socket (again, after it was made anew); False while it is not there."""
        self.close()
        s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, BUFFER_BYTES)
        s.setblocking(False)
        try:
            s.connect(self.path)
        except OSError:  # not bound yet (or any more)
            s.close()
            return False
        self.sock = s
        return True

    def send(self, buffers: list[Any]) -> str:
        """SENT; FULL when the consumer's socket has no room (or the kernel no buffer, for a moment); ABSENT
        when it is not there (not bound yet, or its process has exited); TOO_BIG when the message does not fit in
        one datagram. Never waits."""
        for _ in range(2):
            if self.sock is None and not self.connect():
                return ABSENT
            assert self.sock is not None
            try:
                self.sock.sendmsg(buffers)
                return SENT
            except BlockingIOError:
                return FULL
            except OSError as e:
                if e.errno == errno.EMSGSIZE:
                    return TOO_BIG
                if e.errno == errno.ENOBUFS:  # the kernel short of memory for a moment
                    return FULL
                if e.errno not in (errno.ECONNREFUSED, errno.ENOENT, errno.ENOTCONN):
                    raise
                self.close()  # the consumer's socket was made anew (a restart) or is gone: connect again once
        return ABSENT

    def wait_room(self, timeout: float) -> bool:
        """Wait until the consumer's socket has room (or `timeout` s); False when it did not get any."""
        if self.sock is None:
            return False
        p = select.poll()
        p.register(self.sock.fileno(), select.POLLOUT)
        return bool(p.poll(int(timeout * 1000)))

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None


class DirectIn:
    """The consumer's end of one direct edge: a datagram socket bound at its path (a stale one removed first)."""

    def __init__(self, path: str):
        self.path = path
        try:
            os.unlink(path)  # left by this input's previous process (a restart)
        except FileNotFoundError:
            pass
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, BUFFER_BYTES)
        self.sock.setblocking(False)
        self.sock.bind(path)
        self._size = bytearray(1)

    def fileno(self) -> int:
        return self.sock.fileno()

    def recv(self) -> bytes | None:
        """The next datagram, or None when there is none."""
        try:
            # The exact size first (Linux: MSG_TRUNC returns the datagram's length), so that the bytes the
            # arrays will view are allocated once, at their size.
            size = self.sock.recv_into(self._size, 1, socket.MSG_PEEK | socket.MSG_TRUNC)
            return self.sock.recv(max(size, 1))
        except BlockingIOError:
            return None

    def close(self) -> None:
        self.sock.close()
        try:
            os.unlink(self.path)
        except FileNotFoundError:
            pass
