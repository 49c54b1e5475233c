"""The receive path of a node's process (runtime/receive.py) over real ZeroMQ sockets: the node loop reads its
sockets itself while it has nothing to do, and the receive thread reads them while the node is busy."""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

import numpy as np
import pytest
import zmq

from ar_perception.graph.spec import QueueSpec
from ar_perception.runtime import protocol as pr
from ar_perception.runtime.msg import Msg, encode
from ar_perception.runtime.receive import Receiver
from ar_perception.runtime.state import NodeState

WAIT_S = 20.0  # a bound for conditions that do come; never reached when the code works


def _until(cond, what: str) -> None:
    t_end = time.monotonic() + WAIT_S
    while not cond():
        if time.monotonic() > t_end:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.005)


@pytest.fixture
def node(tmp_path):
    """A receive thread for one `latest` input, with the supervisor's control socket and the producer's XPUB."""
    ctx = zmq.Context()
    ctl = ctx.socket(zmq.PUB)
    ctl.bind(f"ipc://{tmp_path}/ctl")
    up = ctx.socket(zmq.PULL)
    up.bind(f"ipc://{tmp_path}/up")
    data = ctx.socket(zmq.XPUB)
    data.bind(f"ipc://{tmp_path}/data")
    plan = pr.InputPlan(source="src/out", queue=QueueSpec(), endpoint=f"ipc://{tmp_path}/data")
    cfg = pr.WorkerConfig(
        node_id="dst", ref="x:Y", params={}, inputs={"a": plan}, ctl=f"ipc://{tmp_path}/ctl", up=f"ipc://{tmp_path}/up"
    )
    state = NodeState(cfg.inputs, [], None)
    readers: list[str] = []
    receiver = Receiver(cfg, ctx, None, state, lambda port: None, lambda: None, logging.getLogger("test"))
    accept = receiver.accept

    def spy(port: str, frames: list[Any], only: int | None = None) -> int | None:  # which thread read it
        readers.append(threading.current_thread().name)
        return accept(port, frames, only)

    receiver.accept = spy  # type: ignore[method-assign]
    receiver.start()
    assert receiver.ready.wait(WAIT_S)
    assert data.poll(int(WAIT_S * 1000)), "the receive thread did not subscribe"
    data.recv()

    def start():
        pr.send(ctl, pr.Start(nodes=["dst"]))
        return state.started.is_set()

    _until(start, "the start to be heard")  # (a PUB drops what it sends before the SUB has joined)
    seen = -1
    while seen != state.changes:  # let the extra Starts in flight arrive: each would end a wait early
        seen = state.changes
        receiver.receive_here(0.3, seen)

    def send(seq: int) -> None:
        msg = Msg(kind="Any", arrays={"data": np.full(4, seq, np.uint8)}, topic="src/out", seq=seq, publish_ns=1)
        data.send_multipart(encode(msg), copy=False)

    yield receiver, state, send, readers, ctl
    state.stop.set()
    state.poke()
    receiver.join(WAIT_S)
    assert not receiver.is_alive()
    for s in (ctl, up, data):
        s.close(0)
    ctx.term()


def _in_step(receiver: Receiver, thread_name: str) -> threading.Event:
    """An event set when `thread_name` is inside a poll of the sockets (it holds them then)."""
    inside = threading.Event()
    step = receiver.step

    def spy(max_wait):
        if threading.current_thread().name == thread_name:
            inside.set()
        step(max_wait)

    receiver.step = spy  # type: ignore[method-assign]
    return inside


def test_an_idle_node_loop_reads_the_message_itself_and_the_receive_thread_reads_while_it_is_busy(node):
    receiver, state, send, readers, _ = node
    inside = _in_step(receiver, threading.current_thread().name)

    def send_while_it_reads() -> None:
        if inside.wait(WAIT_S):
            send(0)

    threading.Thread(target=send_while_it_reads).start()
    receiver.receive_here(WAIT_S, state.changes)
    assert state.queued("a") == 1
    assert readers == [threading.current_thread().name]  # no other thread between the socket and the handler
    port, msg = state.next_message(receiver.receive_here)
    assert port == "a" and msg is not None and int(msg.data[0]) == 0

    # Busy (not in next_message): the receive thread has the sockets back and keeps the queue filled.
    send(1)
    _until(lambda: state.queued("a") == 1, "the receive thread to queue a message while the node is busy")
    assert readers[1:] == ["arp-recv"]
    port, msg = state.next_message(receiver.receive_here)
    assert port == "a" and msg is not None and int(msg.data[0]) == 1


def test_a_stop_ends_the_node_loops_wait_on_the_sockets_at_once(node):
    receiver, state, _, _, ctl = node
    inside = _in_step(receiver, threading.current_thread().name)

    def stop() -> None:
        if inside.wait(WAIT_S):
            pr.send(ctl, pr.Stop())

    threading.Thread(target=stop).start()
    t0 = time.monotonic()
    while not state.stop.is_set() and time.monotonic() - t0 < WAIT_S:
        receiver.receive_here(2 * WAIT_S, state.changes)  # (a Start sent twice by the fixture also ends a wait)
    assert state.stop.is_set()
    assert time.monotonic() - t0 < WAIT_S  # it returned on the stop, not at the end of a wait
    assert state.next_message(receiver.receive_here) is None


@pytest.mark.parametrize("reader", ["node loop", "receive thread"])
def test_a_control_message_it_cannot_read_stops_the_node_with_the_reason_whichever_thread_read_it(node, reader):
    receiver, state, _, _, ctl = node
    if reader == "node loop":
        inside = _in_step(receiver, threading.current_thread().name)

        def garble() -> None:
            if inside.wait(WAIT_S):
                ctl.send(b"not a control message")

        threading.Thread(target=garble).start()
        receiver.receive_here(WAIT_S, state.changes)
    else:
        ctl.send(b"not a control message")
        _until(state.stop.is_set, "the receive thread to stop the node")
    assert state.stop.is_set()
    assert "node 'dst': receiving failed: TransportError" in str(state.fatal)
    assert state.next_message(receiver.receive_here) is None
