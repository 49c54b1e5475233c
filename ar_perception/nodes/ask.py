"""The bridge between a running graph and `arp ask`: typed questions come in, streamed answers go out.

Two nodes, because a question's answer comes back through the graph (ask -> vqa -> ask_reply) and a
graph has no cycles. Like a camera or microphone node, they own an outside connection: `ask` binds a
ZeroMQ REP endpoint that `arp ask` sends {"text", "id"} to, `ask_reply` a PUB endpoint it publishes the
Answer messages on (the envelope codec of the runtime). Defaults are ipc paths in a per-user folder
of mode 0700, so `arp ask` finds a graph on this machine without options and nobody else can ask.
tcp:// endpoints must be loopback: these sockets carry no keys, so reach them from another host through
an SSH tunnel.
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Iterator
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from ar_perception.errors import NodeError
from ar_perception.runtime.msg import Msg, encode
from ar_perception.runtime.node import Node, Outputs

__all__ = ["Ask", "AskReply", "ASK_ENDPOINT", "ANSWER_ENDPOINT"]

_UID = os.getuid() if hasattr(os, "getuid") else 0
USER_DIR = os.path.join(tempfile.gettempdir(), f".arp-{_UID}")  # 0700: only this user reaches the sockets
ASK_ENDPOINT = f"ipc://{USER_DIR}/ask"
ANSWER_ENDPOINT = f"ipc://{USER_DIR}/answers"
MAX_QUESTION = 2000  # characters


def _bind(node_id: str, kind: int, endpoint: str) -> tuple[Any, Any]:
    import zmq

    from ar_perception.keys import endpoint_host, is_loopback

    if endpoint.startswith("tcp://") and not is_loopback(endpoint_host(endpoint)):
        raise NodeError(
            f"node '{node_id}': {endpoint} can be reached from other machines and this socket has no "
            "keys (expected ipc:// or tcp://127.0.0.1:PORT; ask from elsewhere through an SSH tunnel)"
        )
    if endpoint == ASK_ENDPOINT or endpoint == ANSWER_ENDPOINT:
        _private_dir(node_id, USER_DIR)
    ctx = zmq.Context()
    sock = ctx.socket(kind)
    sock.setsockopt(zmq.LINGER, 0)
    try:
        sock.bind(endpoint)
    except zmq.ZMQError as e:
        sock.close(0)
        ctx.term()
        raise NodeError(
            f"node '{node_id}': cannot bind {endpoint} ({e}); another graph may already use it: "
            "give this node another params.endpoint"
        ) from None
    if endpoint.startswith("ipc://"):
        os.chmod(endpoint[len("ipc://") :], 0o600)  # only this user may ask
    return ctx, sock


def _private_dir(node_id: str, path: str) -> None:
    """Create the per-user socket folder 0700, and refuse one that another user could have prepared."""
    os.makedirs(path, mode=0o700, exist_ok=True)
    st = os.lstat(path)
    if st.st_uid != _UID or (st.st_mode & 0o077) or not os.path.isdir(path) or os.path.islink(path):
        raise NodeError(
            f"node '{node_id}': {path} must be a folder owned by this user with mode 0700 "
            f"(got uid {st.st_uid}, mode {oct(st.st_mode & 0o777)}); remove it and run again"
        )


def _unlink(endpoint: str) -> None:
    if endpoint.startswith("ipc://"):
        try:
            os.unlink(endpoint[len("ipc://") :])
        except OSError:
            pass


class Ask(Node):
    """Questions typed with `arp ask`, as Text (`meta.text`, `meta.id`; capture time = when it arrived)."""

    outputs = {"question": "Text"}

    class Params(BaseModel):
        model_config = ConfigDict(extra="forbid")
        endpoint: str = Field(
            ASK_ENDPOINT, description="where `arp ask` sends questions (ipc:// or tcp://127.0.0.1:PORT)"
        )

    params: Params

    def setup(self) -> None:
        import zmq

        self._zmq = zmq
        self._ctx, self._sock = _bind(self.id, zmq.REP, self.params.endpoint)

    def produce(self) -> Iterator[Outputs]:
        while not self.stopping:
            if not self._sock.poll(100):
                yield None  # waiting for a question is progress, not a hang
                continue
            arrived = time.time_ns()
            try:
                req = self._sock.recv_json()
                text = str(req["text"]).strip()[:MAX_QUESTION]
                qid = str(req.get("id", ""))[:100]
            except (ValueError, KeyError, TypeError) as e:
                self._sock.send_json(
                    {
                        "ok": False,
                        "error": f"malformed question ({type(e).__name__}: {e}); "
                        'expected JSON {"text": ..., "id": ...}',
                    }
                )
                continue
            self._sock.send_json({"ok": True, "id": qid})
            if text:
                yield {
                    "question": Msg(kind="Text", meta={"text": text, "id": qid, "source": "typed"}, capture_ns=arrived)
                }

    def teardown(self) -> None:
        if getattr(self, "_sock", None) is not None:
            self._sock.close(0)
            self._ctx.term()
            _unlink(self.params.endpoint)


class AskReply(Node):
    """Publishes Answer messages to `arp ask` clients."""

    inputs = {"answer": "Answer"}

    class Params(BaseModel):
        model_config = ConfigDict(extra="forbid")
        endpoint: str = Field(ANSWER_ENDPOINT, description="where `arp ask` listens for answers")

    params: Params

    def setup(self) -> None:
        import zmq

        self._zmq = zmq
        self._ctx, self._sock = _bind(self.id, zmq.PUB, self.params.endpoint)

    def on_input(self, name: str, msg: Msg) -> Outputs:
        try:
            self._sock.send_multipart(encode(msg), self._zmq.NOBLOCK, copy=False)
        except self._zmq.Again:  # no client keeps up: answers are for whoever listens now
            pass
        return None

    def teardown(self) -> None:
        if getattr(self, "_sock", None) is not None:
            self._sock.close(0)
            self._ctx.term()
            _unlink(self.params.endpoint)
