"""The raw pyzmq contender of the transport benchmark: one sender or one receiver process, nothing else.

    python benchmarks/raw_peer.py send ENDPOINT pubsub|pushpull NBYTES COUNT PERIOD_MS
    python benchmarks/raw_peer.py recv ENDPOINT pubsub|pushpull COUNT OUT.npy

The sender binds (XPUB, to see the subscriber join before the first message, or PUSH) and sends
`[seq + publish_ns, payload]` with `copy=False`; the receiver connects (SUB or PULL), receives with
`copy=False`, views the payload with `np.frombuffer` and writes rows (seq, publish_ns, recv_ns, nbytes).
High-water marks are the runtime's (16), so both contenders buffer alike.
"""

from __future__ import annotations

import struct
import sys
import time

import numpy as np
import zmq

HWM = 16
FRAME_BYTES = 640 * 480 * 3
HEAD = struct.Struct("<qq")  # seq, publish_ns


def payload(nbytes: int) -> np.ndarray:
    """A payload of exactly `nbytes`; a 640x480 RGB frame for 921,600 B. Pages are touched once here."""
    a = np.empty((480, 640, 3) if nbytes == FRAME_BYTES else (nbytes,), np.uint8)  # (H, W, 3) or (N,)
    a.fill(7)
    return a


def send(endpoint: str, pattern: str, nbytes: int, count: int, period_ms: float) -> None:
    ctx = zmq.Context()
    if pattern == "pubsub":
        s = ctx.socket(zmq.XPUB)  # XPUB only to see the subscriber join; the data path is PUB's
        s.setsockopt(zmq.XPUB_VERBOSE, 1)
    else:
        s = ctx.socket(zmq.PUSH)
    s.setsockopt(zmq.SNDHWM, HWM)
    s.setsockopt(zmq.LINGER, -1)
    s.bind(endpoint)
    if pattern == "pubsub":
        if not s.poll(30_000):
            raise SystemExit("raw subscriber did not join within 30 s")
        s.recv()
    data = payload(nbytes)
    data.flags.writeable = False  # sent zero-copy
    period = period_ms / 1000.0
    for i in range(count):
        s.send_multipart([HEAD.pack(i, time.time_ns()), data.data], copy=False)
        if period:
            time.sleep(period)
    s.close()
    ctx.term()


def recv(endpoint: str, pattern: str, count: int, out: str) -> None:
    ctx = zmq.Context()
    s = ctx.socket(zmq.SUB if pattern == "pubsub" else zmq.PULL)
    s.setsockopt(zmq.RCVHWM, HWM)
    s.setsockopt(zmq.LINGER, 0)
    if pattern == "pubsub":
        s.setsockopt(zmq.SUBSCRIBE, b"")
    s.connect(endpoint)
    rows: list[tuple[int, int, int, int]] = []  # seq, publish ns, receipt ns, bytes
    while len(rows) < count and s.poll(10_000):
        frames = s.recv_multipart(copy=False)
        now = time.time_ns()
        seq, pub_ns = HEAD.unpack(frames[0].bytes)
        data = np.frombuffer(frames[1].buffer, np.uint8)
        rows.append((seq, pub_ns, now, data.nbytes))
        del frames, data  # a consumer is done with the message here; release it before waiting again
    np.save(out, np.array(rows, dtype=np.int64).reshape(-1, 4))
    s.close()
    ctx.term()


def main(argv: list[str]) -> int:
    role, endpoint, pattern, *rest = argv
    if role == "send":
        send(endpoint, pattern, int(rest[0]), int(rest[1]), float(rest[2]))
    else:
        recv(endpoint, pattern, int(rest[0]), rest[1])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
