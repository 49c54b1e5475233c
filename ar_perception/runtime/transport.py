"""ZeroMQ sockets of the runtime: lossy outputs on XPUB/SUB, reliable edges on PUSH/PULL.

Nodes never touch these: the worker loop does. XPUB (verbose) lets a producer count its subscribers
before the first frame, so no early frame is lost to ZeroMQ's slow-joiner effect.
"""

from __future__ import annotations

import socket
import time
from typing import Callable

import zmq

from ar_perception.errors import TransportError

__all__ = [
    "LOSSY_HWM", "pub_socket", "push_socket", "sub_socket", "pull_socket", "wait_subscribers",
    "free_tcp_port", "send_frames",
]

LOSSY_HWM = 16  # messages; a 40 MiB stream must not buffer gigabytes behind a slow consumer


def _bind(sock: zmq.Socket, endpoint: str) -> zmq.Socket:
    try:
        sock.bind(endpoint)
    except zmq.ZMQError as e:
        sock.close(0)
        raise TransportError(f"cannot bind {endpoint}: {e}") from None
    return sock


def pub_socket(ctx: zmq.Context, endpoint: str) -> zmq.Socket:
    s = ctx.socket(zmq.XPUB)
    s.setsockopt(zmq.XPUB_VERBOSE, 1)
    s.setsockopt(zmq.SNDHWM, LOSSY_HWM)
    s.setsockopt(zmq.LINGER, 1000)
    return _bind(s, endpoint)


def push_socket(ctx: zmq.Context, endpoint: str, bound: int) -> zmq.Socket:
    s = ctx.socket(zmq.PUSH)
    s.setsockopt(zmq.SNDHWM, bound)
    s.setsockopt(zmq.LINGER, -1)  # a reliable edge delivers everything it accepted
    return _bind(s, endpoint)


def sub_socket(ctx: zmq.Context, endpoint: str) -> zmq.Socket:
    s = ctx.socket(zmq.SUB)
    s.setsockopt(zmq.RCVHWM, LOSSY_HWM)
    s.setsockopt(zmq.LINGER, 0)
    s.setsockopt(zmq.SUBSCRIBE, b"")
    s.connect(endpoint)
    return s


def pull_socket(ctx: zmq.Context, endpoint: str, bound: int) -> zmq.Socket:
    s = ctx.socket(zmq.PULL)
    s.setsockopt(zmq.RCVHWM, bound)
    s.setsockopt(zmq.LINGER, 0)
    s.connect(endpoint)
    return s


def wait_subscribers(sock: zmq.Socket, expected: int, timeout: float,
                     should_stop: Callable[[], bool] = lambda: False) -> int:
    """Read subscription frames off an XPUB until `expected` subscribers joined; return how many did."""
    joined = 0
    deadline = time.monotonic() + timeout
    while joined < expected and not should_stop():
        left = deadline - time.monotonic()
        if left <= 0:
            break
        if not sock.poll(int(min(left, 0.1) * 1000)):
            continue
        frame = sock.recv()
        if frame[:1] == b"\x01":
            joined += 1
    return joined


def drain_subscriptions(sock: zmq.Socket) -> None:
    while sock.poll(0):
        sock.recv()


def send_frames(sock: zmq.Socket, frames: list, flags: int = 0) -> None:
    sock.send_multipart(frames, flags=flags, copy=False)


def free_tcp_port(host: str) -> int:
    with socket.socket() as s:
        s.bind((host if host not in ("*", "0.0.0.0") else "", 0))
        return s.getsockname()[1]
