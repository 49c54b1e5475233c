"""Security of the runtime: private ipc by default, CurveZMQ on tcp, refusal of unknown keys."""

import os
import stat
import threading
import time

import pytest
import zmq
import zmq.utils.monitor

from ar_perception.errors import GraphError, NodeError
from ar_perception.keys import create_keypair, load_public
from ar_perception.runtime.launch import RunResult, Supervisor
from ar_perception.runtime.msg import decode
from ar_perception.runtime.plan import plan
from ar_perception.runtime.transport import free_tcp_port

from .test_launch import graph, lines


@pytest.fixture
def keys(tmp_path):
    """Key pairs for machines 'a' (runs the producer), 'b' (allowed in) and 'eve' (not allowed)."""
    d = tmp_path / "keys"
    pairs = {n: create_keypair(d, n) for n in ("a", "b", "eve")}
    allowed = tmp_path / "allowed"
    allowed.mkdir()
    (allowed / "b.key").write_bytes(pairs["b"][0].read_bytes())
    return {"dir": d, "allowed": allowed, **{n: p for n, p in pairs.items()}}


def secured(keys, me: str, body: str, port: int) -> str:
    return f"""
transport: tcp
host: 127.0.0.1
security:
  secret_key: {keys[me][1]}
  authorized_keys: {keys["allowed"]}
  server_keys: {{127.0.0.1: {keys["a"][0]}}}
nodes:
  - {{id: cam, node: pattern, port: {port}, params: {{fps: 40, size: [16, 12]}}}}
{body}"""


def test_default_endpoints_are_ipc_in_a_private_run_directory(tmp_path):
    g = graph("""
nodes:
  - {id: cam, node: pattern, params: {frames: 2}}
  - {id: out, node: sink, inputs: {in: {source: cam/image, queue: reliable}}}
""")
    sup = Supervisor(g)
    try:
        assert stat.S_IMODE(os.stat(sup.run_dir).st_mode) == 0o700
        eps = [
            sup.cfgs["cam"].outputs["image"].pub,
            *sup.cfgs["cam"].outputs["image"].reliable,
            sup.cfgs["cam"].ctl,
            sup.cfgs["cam"].up,
        ]
        assert all(e.startswith(f"ipc://{sup.run_dir}/") for e in eps), eps
    finally:
        sup.run(10)
    assert not os.path.exists(sup.run_dir)
    tcp, _, _ = plan(graph("transport: tcp\nnodes:\n  - {id: cam, node: pattern}\n"), str(tmp_path), False, "INFO")
    assert tcp["cam"].outputs["image"].pub.startswith("tcp://127.0.0.1:")


def test_tcp_beyond_this_machine_needs_curve_keys():
    with pytest.raises(GraphError) as e:
        graph("transport: tcp\nhost: 10.0.0.5\nnodes:\n  - {id: cam, node: pattern}\n")
    assert e.value.problems == [
        "test.yaml: host: tcp on 10.0.0.5 can be reached from other machines, so it needs CurveZMQ (expected a "
        "'security:' section with keys from `arp keys create`, or host 127.0.0.1)"
    ]


def test_a_public_key_where_the_secret_key_belongs_is_refused(keys):
    with pytest.raises(GraphError) as e:
        graph(
            f"transport: tcp\nsecurity: {{secret_key: {keys['a'][0]}, authorized_keys: {keys['allowed']}}}\n"
            "nodes:\n  - {id: cam, node: pattern}\n"
        )
    assert e.value.problems == [
        f"test.yaml: security.secret_key: {keys['a'][0]}: has no secret-key "
        "(expected the NAME.key_secret file `arp keys create` wrote, got a public key file)"
    ]


def _client(ctx, endpoint, public=None, secret=None, server=None):
    s = ctx.socket(zmq.SUB)
    s.setsockopt(zmq.LINGER, 0)
    s.setsockopt(zmq.SUBSCRIBE, b"")
    mon = s.get_monitor_socket()
    if public:
        s.curve_publickey, s.curve_secretkey, s.curve_serverkey = public, secret, server
    s.connect(endpoint)
    return s, mon


def _events(mon, seconds: float) -> set[int]:
    seen, deadline = set(), time.monotonic() + seconds
    while time.monotonic() < deadline:
        if mon.poll(100):
            seen.add(zmq.utils.monitor.recv_monitor_message(mon)["event"])
    return seen


def test_curve_admits_authorised_keys_and_refuses_others(keys):
    """A real producer node on tcp with CurveZMQ; raw clients with three identities try to subscribe."""
    import zmq.auth

    port = free_tcp_port("127.0.0.1")
    g = graph(secured(keys, "a", "", port))
    sup = Supervisor(g)
    result: dict[str, RunResult] = {}
    t = threading.Thread(target=lambda: result.setdefault("r", sup.run(8)))
    t.start()
    ctx = zmq.Context()
    try:
        server = load_public(keys["a"][0])
        ep = f"tcp://127.0.0.1:{port}"
        good = _client(ctx, ep, *zmq.auth.load_certificate(str(keys["b"][1])), server)
        eve = _client(ctx, ep, *zmq.auth.load_certificate(str(keys["eve"][1])), server)
        plain = _client(ctx, ep)
        assert good[0].poll(6000), "the authorised client got nothing"
        msg = decode(good[0].recv_multipart())
        assert msg.kind == "Image" and msg.topic == "cam/image"
        assert zmq.EVENT_HANDSHAKE_FAILED_AUTH in _events(eve[1], 1.0)
        assert not eve[0].poll(500) and not plain[0].poll(100)
        assert zmq.EVENT_HANDSHAKE_SUCCEEDED not in _events(plain[1], 0.5)
    finally:
        ctx.destroy(0)
        t.join(30)
    stats = result["r"].nodes["cam"].stats
    assert stats["refused"] >= 1, stats


def test_two_supervisors_over_curve_and_an_unauthorised_one(keys, tmp_path, caplog):
    """`arp run --only` on machine a (producer) and machine b (consumer); then eve tries the same."""
    port = free_tcp_port("127.0.0.1")
    log = tmp_path / "b.jsonl"
    body = f"  - {{id: out, node: sink, params: {{log: '{log}'}}, inputs: {{in: cam/image}}}}\n"
    g_a, g_b = graph(secured(keys, "a", body, port)), graph(secured(keys, "b", body, port))
    res: dict[str, RunResult] = {}
    t = threading.Thread(target=lambda: res.setdefault("a", Supervisor(g_a, only={"cam"}).run(4)))
    t.start()
    res["b"] = Supervisor(g_b, only={"out"}).run(3)
    t.join(30)
    assert len(lines(log)) > 10  # b was admitted and received frames

    log.unlink()
    g_eve = graph(secured(keys, "eve", body, port))
    res = {}
    t = threading.Thread(target=lambda: res.setdefault("a", Supervisor(g_a, only={"cam"}).run(4)))
    t.start()
    res["eve"] = Supervisor(g_eve, only={"out"}).run(3)
    t.join(30)
    assert lines(log) == []  # eve got nothing
    assert res["a"].nodes["cam"].stats["refused"] >= 1


def test_a_consumer_of_another_machine_needs_its_server_key(keys, tmp_path):
    port = free_tcp_port("127.0.0.1")
    text = secured(keys, "b", "  - {id: out, node: sink, inputs: {in: cam/image}}\n", port)
    text = text.replace(f"  server_keys: {{127.0.0.1: {keys['a'][0]}}}\n", "")
    with pytest.raises(
        NodeError,
        match=r"^node 'out' input 'in' connects to 'cam' on 127.0.0.1, which this "
        r"supervisor does not run: security.server_keys needs the public key of "
        r"the machine at 127.0.0.1$",
    ):
        Supervisor(graph(text), only={"out"})
