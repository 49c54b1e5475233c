"""ZeroMQ sockets of the runtime: lossy outputs on XPUB/SUB, reliable edges on PUSH/PULL.

Nodes never touch these: the worker loop does. XPUB (verbose) lets a producer count its subscribers
before the first frame, so no early frame is lost to ZeroMQ's slow-joiner effect.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Callable

import zmq

from ar_perception.errors import TransportError
from ar_perception.keys import CurveKeys

__all__ = [
    "LOSSY_HWM",
    "pub_socket",
    "push_socket",
    "sub_socket",
    "pull_socket",
    "wait_subscribers",
    "free_tcp_port",
    "send_frames",
    "Gatekeeper",
]

LOSSY_HWM = 16  # messages; a 40 MiB stream must not buffer gigabytes behind a slow consumer


def _secure(sock: zmq.Socket, endpoint: str, curve: CurveKeys | None, server: bool) -> None:
    """CurveZMQ on tcp: the binding side is the server, the connecting side proves its key."""
    if curve is None or not endpoint.startswith("tcp://"):
        return
    sock.curve_secretkey = curve.secret
    sock.curve_publickey = curve.public
    if server:
        sock.curve_server = True
        sock.zap_domain = b"arp"
    else:
        sock.curve_serverkey = curve.server_for(endpoint)


def _bind(sock: zmq.Socket, endpoint: str, curve: CurveKeys | None = None) -> zmq.Socket:
    _secure(sock, endpoint, curve, server=True)
    try:
        sock.bind(endpoint)
    except zmq.ZMQError as e:
        sock.close(0)
        raise TransportError(f"cannot bind {endpoint}: {e}") from None
    return sock


def pub_socket(ctx: zmq.Context, endpoint: str, curve: CurveKeys | None = None) -> zmq.Socket:
    s = ctx.socket(zmq.XPUB)
    s.setsockopt(zmq.XPUB_VERBOSE, 1)
    s.setsockopt(zmq.SNDHWM, LOSSY_HWM)
    s.setsockopt(zmq.LINGER, 1000)
    return _bind(s, endpoint, curve)


def push_socket(ctx: zmq.Context, endpoint: str, bound: int, curve: CurveKeys | None = None) -> zmq.Socket:
    s = ctx.socket(zmq.PUSH)
    s.setsockopt(zmq.SNDHWM, bound)
    s.setsockopt(zmq.LINGER, -1)  # a reliable edge delivers everything it accepted
    return _bind(s, endpoint, curve)


def sub_socket(ctx: zmq.Context, endpoint: str, curve: CurveKeys | None = None) -> zmq.Socket:
    s = ctx.socket(zmq.SUB)
    s.setsockopt(zmq.RCVHWM, LOSSY_HWM)
    s.setsockopt(zmq.LINGER, 0)
    s.setsockopt(zmq.SUBSCRIBE, b"")
    _secure(s, endpoint, curve, server=False)
    s.connect(endpoint)
    return s


def pull_socket(ctx: zmq.Context, endpoint: str, bound: int, curve: CurveKeys | None = None) -> zmq.Socket:
    s = ctx.socket(zmq.PULL)
    s.setsockopt(zmq.RCVHWM, bound)
    s.setsockopt(zmq.LINGER, 0)
    _secure(s, endpoint, curve, server=False)
    s.connect(endpoint)
    return s


class Gatekeeper:
    """The ZAP handler of one process: admits CurveZMQ clients whose public key is authorised.

    It must run before any curve-server socket binds; libzmq admits everyone when no handler exists.
    Refusals are counted and logged once per key.
    """

    def __init__(self, ctx: zmq.Context, curve: CurveKeys, log: logging.Logger):
        from zmq.auth.thread import ThreadAuthenticator

        self.curve, self.log = curve, log
        self.refused = 0
        self._seen: set[bytes] = set()
        self._lock = threading.Lock()
        self._auth = ThreadAuthenticator(ctx, log=logging.getLogger("arp.zap"))
        self._auth.start()
        self._auth.configure_curve_callback("arp", credentials_provider=self)

    def callback(self, domain: str, key: bytes) -> bool:
        if key in self.curve.authorized or key == self.curve.public:  # this machine's own nodes are in
            return True
        with self._lock:
            self.refused += 1
            first = key not in self._seen
            self._seen.add(key)
        if first:
            self.log.warning(
                "refused a connection from public key %s: it is not among the authorised keys",
                key.decode("ascii", "replace"),
            )
        return False

    def stop(self) -> None:
        self._auth.stop()


def wait_subscribers(
    sock: zmq.Socket, expected: int, timeout: float, should_stop: Callable[[], bool] = lambda: False
) -> int:
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
