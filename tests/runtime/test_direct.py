"""Direct edges (runtime/direct.py): the datagram format, the two ends on real Unix sockets (room, absence, a
consumer made anew, a message too large for a datagram), and graphs that use them, in order, to the end."""

import json
import os
import socket
from pathlib import Path

import numpy as np
import pytest

from ar_perception.graph.load import parse_graph
from ar_perception.runtime import direct as dr
from ar_perception.runtime.launch import run_graph
from ar_perception.runtime.msg import Msg, decode, encode
from ar_perception.runtime.plan import plan

HERE = Path(__file__).resolve().parent


def test_a_message_packs_into_one_datagram_and_back():
    msg = Msg(kind="Image", arrays={"data": np.arange(24, dtype=np.float32).reshape(2, 3, 4)}, seq=7, topic="a/b")
    frames = encode(msg)
    data = b"".join(bytes(b) for b in dr.pack(frames))
    got = dr.unpack(data)
    assert isinstance(got, list)
    back = decode(got)
    assert back.seq == 7 and back.kind == "Image" and np.array_equal(back.data, msg.data)
    assert dr.unpack(dr.marker(2**40 + 3)) == 2**40 + 3


@pytest.mark.parametrize(
    "data, says",
    [
        (b"\x01\x00", "shorter than its header"),
        (b"\x02\x00\x00\x00\x05\x00\x00\x00", "declares 2 frames"),
        (b"\x01\x00\x00\x00\x05\x00\x00\x00" + bytes(8) + b"abc", "declares frames of 5 bytes"),
        (b"\x00\x00\x00\x00\x01", "a marker of 5 bytes"),
    ],
)
def test_a_malformed_datagram_is_refused_with_what_is_wrong(data, says):
    with pytest.raises(ValueError, match=says):
        dr.unpack(data)


@pytest.fixture
def edge(tmp_path):
    """A consumer's socket and a producer's end connected to it, closed after the test."""
    path = str(tmp_path / "d0")
    into, out = dr.DirectIn(path), dr.DirectOut(path)
    yield into, out
    out.close()
    into.close()


def received(into: dr.DirectIn) -> list[memoryview] | int:
    data = into.recv()
    assert data is not None, "nothing arrived"
    return dr.unpack(data)


def test_a_consumer_not_there_yet_is_absent_then_gets_what_is_sent(tmp_path):
    path = str(tmp_path / "d0")
    out = dr.DirectOut(path)
    assert out.send(dr.pack([b"before"])) == dr.ABSENT
    into = dr.DirectIn(path)
    assert out.send(dr.pack([b"hello", np.arange(3, dtype=np.uint8).data])) == dr.SENT
    got = received(into)
    assert isinstance(got, list) and [bytes(f) for f in got] == [b"hello", b"\x00\x01\x02"]
    assert into.recv() is None  # nothing more
    msg = Msg(kind="Image", arrays={"a": np.ones(3, np.uint8), "b": np.ones((5, 3), np.float64)}, topic="x/y")
    assert out.send(dr.pack(encode(msg))) == dr.SENT
    frames = received(into)
    assert isinstance(frames, list)
    back = decode(frames)
    for a in back.arrays.values():  # each array at an aligned address (Arrow refuses less, numpy is slower)
        assert a.ctypes.data % dr.ALIGN == 0 and a.flags.aligned
    assert np.array_equal(back.arrays["b"], msg.arrays["b"])
    out.close()
    into.close()
    assert not os.path.exists(path)  # the consumer removes its socket file


def test_a_full_consumer_socket_refuses_at_once_and_has_room_after_a_read(edge):
    into, out = edge
    chunk = dr.pack([bytes(64 * 1024)])
    sent = 0
    while (got := out.send(chunk)) == dr.SENT:
        sent += 1
        assert sent < 100_000
    assert got == dr.FULL and sent >= 1
    assert not out.wait_room(0.05)  # nobody reads: no room comes
    while into.recv() is not None:  # (Linux reports room once most of the send buffer is read: read it all)
        sent -= 1
    assert sent == 0 and out.wait_room(1.0) and out.send(chunk) == dr.SENT


def test_a_consumer_made_anew_at_its_path_is_reconnected(edge):
    into, out = edge
    assert out.send(dr.pack([b"one"])) == dr.SENT
    into.close()
    assert out.send(dr.pack([b"lost"])) == dr.ABSENT  # its process exited
    again = dr.DirectIn(into.path)  # restarted: binds the same path
    assert out.send(dr.pack([b"two"])) == dr.SENT
    got = received(again)
    again.close()
    assert isinstance(got, list) and [bytes(f) for f in got] == [b"two"]


def test_a_message_larger_than_a_datagram_is_too_big(edge):
    into, out = edge
    assert out.connect() and out.sock is not None
    limit = out.sock.getsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF)  # the kernel's bound, doubled
    assert out.send(dr.pack([bytes(limit + 1)])) == dr.TOO_BIG
    assert into.recv() is None


GRAPH = """
shm: {shm}
nodes:
  - {{id: cam, node: pattern, params: {{fps: 200, size: [64, 48], frames: 40}}}}
  - {{id: inv, node: invert, inputs: {{image: {{source: cam/image, queue: reliable}}}}}}
  - id: rec
    node: sink
    params: {{log: "{log}"}}
    inputs: {{in: {{source: inv/image, queue: reliable}}}}
  - {{id: glance, node: sink, inputs: {{in: cam/image}}}}
"""


def test_outlets_send_on_direct_edges_through_the_datagram_sockets_only(tmp_path):
    import logging
    import threading

    import zmq

    from ar_perception.runtime.protocol import DirectPlan, OutputPlan
    from ar_perception.runtime.publish import Outlets, Stats

    ctx = zmq.Context()
    pub = f"ipc://{tmp_path}/o0"
    plans = [DirectPlan(path=str(tmp_path / f"d{k}"), to=f"c{k}", reliable=False) for k in range(2)]
    outlets = Outlets(
        ctx,
        "p",
        {"out": OutputPlan(kind="Any", pub=pub, subscribers=1, direct=plans)},
        None,
        stats=Stats([], ["out"]),
        stop=threading.Event(),
        gone=set(),
        heartbeat=lambda: None,
        log=logging.getLogger("test"),
    )
    sub = ctx.socket(zmq.SUB)
    sub.setsockopt(zmq.SUBSCRIBE, b"")
    sub.connect(pub)
    ins = [dr.DirectIn(p.path) for p in plans]
    try:
        outlets.wait_subscribers(5.0)
        outlets.send("out", Msg(kind="Any", arrays={"x": np.arange(5)}, topic="p/out", seq=3))
        for into in ins:
            got = received(into)
            assert isinstance(got, list) and decode(got).seq == 3
        outlets.socks["out"][0].send(b"probe")  # the SUB is there: what the XPUB sent, it would have had
        assert sub.poll(5000) and sub.recv() == b"probe"  # (and the message was not sent over ZeroMQ first)
    finally:
        for into in ins:
            into.close()
        sub.close(0)
        outlets.close()
        ctx.term()


def test_edges_between_nodes_of_this_machine_are_direct_and_only_those(tmp_path):
    text = GRAPH.format(shm="true", log=tmp_path / "a")
    cfgs, _, _ = plan(parse_graph(text, "g.yaml"), str(tmp_path / "run1"), False, "WARNING")
    (d,) = cfgs["inv"].outputs["image"].direct
    assert (d.to, d.reliable, d.path) == ("rec", True, cfgs["rec"].inputs["in"].direct)
    assert d.path.startswith(str(tmp_path / "run1") + "/")
    assert [x.reliable for x in cfgs["cam"].outputs["image"].direct] == [True, False]
    for off in (text.replace("shm: true", "shm: false"), text.replace("shm: true", "shm: true\ntransport: tcp")):
        cfgs, _, _ = plan(parse_graph(off, "g.yaml"), str(tmp_path / "run2"), False, "WARNING")
        assert not any(o.direct for c in cfgs.values() for o in c.outputs.values())
        assert all(i.direct is None for c in cfgs.values() for i in c.inputs.values())


def test_a_graph_on_direct_edges_delivers_everything_in_order(tmp_path):
    log = tmp_path / "out.jsonl"
    cfgs, _, _ = plan(parse_graph(GRAPH.format(shm="true", log=log), "g.yaml"), str(tmp_path / "r"), False, "INFO")
    assert all(o.direct for c in cfgs.values() for o in c.outputs.values())  # every edge here is direct
    r = run_graph(parse_graph(GRAPH.format(shm="true", log=log), str(tmp_path / "g.yaml")), 60)
    assert r.reason == "all sources ended" and all(n.exit_code == 0 for n in r.nodes.values())
    frames = [json.loads(x)["meta"]["frame"] for x in log.read_text().splitlines()]
    assert frames == list(range(40))  # reliable edges: all, in order, then the end
    glance = r.nodes["glance"].stats
    assert glance["in"]["in"] >= 1 and glance["in"]["in"] + glance["drops"]["in"] == 40  # latest: gaps counted


def test_messages_too_large_for_a_datagram_come_over_zeromq_in_their_place(tmp_path):
    # The consumer keeps every message, so its producer's shared-memory slots stay pinned and the 9.4 MB frames
    # go as frames: larger than any datagram (the send buffer asked for is 4 MiB, which the kernel doubles).
    assert 2048 * 1536 * 3 > 2 * dr.BUFFER_BYTES
    log, slow = tmp_path / "hoard.jsonl", tmp_path / "slow.jsonl"
    text = f"""
nodes:
  - {{id: cam, node: pattern, params: {{fps: 50, size: [2048, 1536], frames: 10}}}}
  - id: hoard
    node: "direct_nodes:Hoard"
    params: {{log: "{log}"}}
    inputs: {{in: {{source: cam/image, queue: reliable}}}}
  - id: slow
    node: "direct_nodes:Hoard"
    params: {{log: "{slow}", delay_s: 0.2}}
    inputs: {{in: {{source: cam/image, queue: {{policy: reliable, size: 1}}}}}}
  - {{id: last, node: sink, inputs: {{in: {{source: cam/image, queue: "fifo:10"}}}}}}
"""
    r = run_graph(parse_graph(text, str(tmp_path / "g.yaml"), search_paths=[str(HERE)]), 120)
    assert r.reason == "all sources ended" and all(n.exit_code == 0 for n in r.nodes.values()), r.nodes
    for each in (log, slow):  # two reliable consumers, one slow (backpressure): everything, in order
        got = [json.loads(x) for x in each.read_text().splitlines()]
        assert [x["frame"] for x in got] == list(range(10)) and {x["bytes"] for x in got} == {2048 * 1536 * 3}
    stats = r.nodes["cam"].stats
    assert stats["direct_fallback"]["image"] >= 10 - 4  # all but the first few (shared memory's 4 slots)
    assert stats["shm_fallback"]["image"] == stats["direct_fallback"]["image"]
    last = r.nodes["last"].stats  # the lossy consumer: whatever it missed is counted
    assert last["in"]["in"] >= 1 and last["in"]["in"] + last["drops"]["in"] == 10


def test_a_reliable_direct_edge_holds_its_queue_and_the_datagram_socket_then_blocks(tmp_path):
    # The consumer takes nothing until its producer has stood blocked for a second (faulty.open_when_blocked):
    # what is in flight then is the message in its handler, its queue (`size`), what its datagram socket holds
    # (Linux: max_dgram_qlen + 1) and the message the producer is blocked on. Over ZeroMQ (shm: false) it would
    # be 3 x size and more.
    from .faulty import open_when_blocked

    size = 16
    qlen = int(Path("/proc/sys/net/unix/max_dgram_qlen").read_text())
    log, gate = tmp_path / "slow.jsonl", tmp_path / "gate"
    frames = size + qlen + 30
    text = f"""
nodes:
  - {{id: cam, node: "faulty:Fill", params: {{frames: {frames}, size: [64, 48]}}}}
  - id: slow
    node: "faulty:Gated"
    params: {{gate: "{gate}", log: "{log}"}}
    inputs: {{in: {{source: cam/image, queue: {{policy: reliable, size: {size}}}}}}}
"""
    opener = open_when_blocked(gate, "cam")
    in_flight: list[int] = []

    def on_stats(reports):
        opened = gate.exists()
        opener(reports)
        if gate.exists() and not opened:  # the moment the producer was found blocked
            handled = (reports["slow"].stats or {}).get("in", {}).get("in", 0)
            in_flight.append(reports["cam"].stats["out"]["image"] - handled)

    r = run_graph(parse_graph(text, str(tmp_path / "g.yaml"), search_paths=[str(HERE)]), 60, on_stats=on_stats)
    assert [json.loads(x)["seq"] for x in log.read_text().splitlines()] == list(range(frames))  # nothing lost
    assert r.nodes["cam"].stats["blocked_s"] > 0.2 and len(in_flight) == 1
    assert size <= in_flight[0] <= size + qlen + 3, (in_flight, size, qlen)
