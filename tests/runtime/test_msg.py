import json
import math
from typing import Any

import numpy as np
import pytest
import zmq

from ar_perception.errors import TransportError
from ar_perception.runtime.msg import Msg, _meta_json, decode, encode, wire_msg


def test_roundtrip_over_a_real_socket_keeps_arrays_meta_and_times():
    depth = np.random.default_rng(0).random((480, 640), dtype=np.float32)
    small = np.arange(6, dtype=np.int16).reshape(2, 3)
    msg = Msg(
        kind="Depth",
        arrays={"data": depth, "small": small},
        meta={"k": [1, "x"]},
        capture_ns=123,
        topic="cam/depth",
        seq=7,
        publish_ns=456,
    )
    ctx = zmq.Context()
    a, b = ctx.socket(zmq.PAIR), ctx.socket(zmq.PAIR)
    for s in (a, b):
        s.setsockopt(zmq.LINGER, 0)
        s.setsockopt(zmq.RCVTIMEO, 2000)
    port = a.bind_to_random_port("tcp://127.0.0.1")
    b.connect(f"tcp://127.0.0.1:{port}")
    a.send_multipart(encode(msg), copy=False)
    got = decode(b.recv_multipart(copy=False))
    a.close()
    b.close()
    ctx.term()
    assert (got.kind, got.topic, got.seq, got.capture_ns, got.publish_ns) == ("Depth", "cam/depth", 7, 123, 456)
    assert got.meta == {"k": [1, "x"]}
    np.testing.assert_array_equal(got.data, depth)
    np.testing.assert_array_equal(got.arrays["small"], small)
    assert not got.data.flags.writeable  # a view of the wire buffer, not a copy


def test_large_arrays_are_sent_without_copy():
    big = np.ones((1024, 1024), np.float32)
    frames = encode(Msg(kind="Depth", arrays={"data": big}))
    assert isinstance(frames[1], memoryview) and np.shares_memory(np.asarray(frames[1]), big)


def test_non_contiguous_and_replace_derive():
    img = np.zeros((4, 6, 3), np.uint8)[:, ::2]
    m = Msg(kind="Image", arrays={"data": img}, capture_ns=5)
    back = decode([bytes(f) for f in encode(m)])
    np.testing.assert_array_equal(back.data, img)
    r = m.replace(data=img + 1, meta={"a": 1})
    assert r.capture_ns == 5 and r.kind == "Image" and r.meta == {"a": 1}
    d = m.derive("Text", {"text": "hi"})
    assert d.capture_ns == 5 and d.arrays == {} and d.kind == "Text"


def _head(**over) -> bytes:
    h = {
        "v": 1,
        "kind": "Image",
        "topic": "c/i",
        "seq": 0,
        "capture_ns": 0,
        "publish_ns": 0,
        "meta": {},
        "arrays": [["data", "|u1", [2, 2]]],
        **over,
    }
    return json.dumps({k: v for k, v in h.items() if v is not ...}).encode()


@pytest.mark.parametrize(
    "frames, error",
    [
        ([], "empty multipart message"),
        ([b"not json"], "malformed message header: not JSON (Expecting value: line 1 column 1 (char 0))"),
        ([b"[1, 2]"], "malformed message header: expected a JSON object, got list"),
        ([b'{"v": 99, "arrays": []}'], "wire version 99 is not supported (expected 1)"),
        ([_head(seq="7"), b"abcd"], "malformed message header: Expected `int`, got `str` - at `$.seq`"),
        ([_head(capture_ns=True), b"abcd"], "malformed message header: Expected `int`, got `bool` - at `$.capture_ns`"),
        ([_head(meta=...), b"abcd"], "malformed message header: Object missing required field `meta`"),
        ([_head(topic=5), b"abcd"], "malformed message header: Expected `str`, got `int` - at `$.topic`"),
        ([_head(meta=[1]), b"abcd"], "malformed message header: Expected `object`, got `array` - at `$.meta`"),
        ([_head(v=True), b"abcd"], "wire version True is not supported (expected 1)"),
        (
            [_head(meta={"x": float("nan")}, seq=-0.5), b"abcd"],
            "malformed message header: Expected `int`, got `float` - at `$.seq`",
        ),
        ([_head()], "message on 'c/i' declares 1 arrays but carries 0"),
        ([_head(), b"abcd", b"extra"], "message on 'c/i' declares 1 arrays but carries 2"),
        ([_head(), b"abc"], "array 'data' on 'c/i' declares |u1(2, 2) = 4 bytes but carries 3"),
        (
            [_head(arrays=[["data", "|u1", [-1]]]), b"abcd"],
            'malformed array spec on \'c/i\': expected [name, dtype, [dims >= 0]], got ["data", "|u1", [-1]]',
        ),
        (
            [_head(arrays=[["data", "|u1"]]), b"abcd"],
            'malformed array spec on \'c/i\': expected [name, dtype, [dims >= 0]], got ["data", "|u1"]',
        ),
        (
            [_head(arrays=[["data", "|O", [1]]]), b"abcdefgh"],
            "array 'data' on 'c/i' has dtype '|O' (expected a plain numeric dtype such as '|u1' or '<f4')",
        ),
        (
            [_head(arrays=[["data", "<U1", [1]]]), b"abcd"],
            "array 'data' on 'c/i' has dtype '<U1' (expected a plain numeric dtype such as '|u1' or '<f4')",
        ),
        (
            [_head(arrays=[["data", "no such type", [1]]]), b"abcd"],
            "array 'data' on 'c/i' has dtype 'no such type' (expected a plain numeric dtype such as '|u1' or '<f4')",
        ),
        (
            [_head(arrays=[["data", "<f4", [2, 2]]]), b"abcd"],
            "array 'data' on 'c/i' declares <f4(2, 2) = 16 bytes but carries 4",
        ),
    ],
)
def test_malformed_frames_raise_transport_error(frames, error):
    with pytest.raises(TransportError) as e:
        decode(frames)
    assert str(e.value) == error


def test_metadata_with_nan_and_infinity_round_trips():
    # json.dumps writes NaN and Infinity (not strict JSON): the header still decodes, the values intact
    meta = {"gap": float("nan"), "far": float("inf"), "near": -float("inf"), "n": 2}
    got = decode(encode(Msg(kind="Image", arrays={"data": np.zeros((2, 2), np.uint8)}, meta=meta, topic="c/i")))
    assert math.isnan(got.meta["gap"]) and got.meta["far"] == math.inf and got.meta["near"] == -math.inf
    assert got.meta["n"] == 2 and got.data.shape == (2, 2)


def test_a_message_over_the_size_limit_is_refused():
    frames = encode(Msg(kind="Image", arrays={"data": np.zeros((64, 64, 3), np.uint8)}, topic="c/i"))
    assert decode(frames, max_bytes=20_000).data.shape == (64, 64, 3)
    size = sum(len(f) if isinstance(f, bytes) else memoryview(f).nbytes for f in frames)
    with pytest.raises(TransportError) as e:
        decode(frames, max_bytes=10_000)
    assert str(e.value) == f"message of {size} bytes is over the limit of 10000 bytes"


def test_unencodable_payloads():
    with pytest.raises(TransportError, match="not a numpy array"):
        encode(Msg(arrays={"data": [1, 2]}))  # type: ignore[dict-item]
    with pytest.raises(TransportError, match="not JSON-serialisable"):
        encode(Msg(meta={"x": object()}))


def test_metadata_is_written_as_json_dumps_writes_it():
    # The header's metadata goes through the json module's C encoder, made once (runtime/msg.py _meta_json):
    # the same text as json.dumps, which the wire's earlier readers and the slow path of `decode` expect.
    metas: list[dict[Any, Any]] = [
        {"i": 3},
        {"a": [1, 2.5, None, True, False, (4, 5)], "b": {"c": 'é\n"x', "d": {}}, 1: "int key", 2.5: "f", None: 0},
        {"nan": float("nan"), "inf": float("inf"), "-inf": -float("inf"), "big": 10**30, "tiny": 1e-300},
    ]
    for meta in metas:
        head = json.loads(encode(Msg(meta=meta))[0], parse_constant=str)
        assert json.dumps(head["meta"]) == json.dumps(json.loads(json.dumps(meta), parse_constant=str))
        assert _meta_json(meta) == json.dumps(meta, separators=(",", ":")).encode()
    loop: dict = {}
    loop["self"] = loop
    with pytest.raises(ValueError, match="Circular reference"):
        encode(Msg(meta=loop))
    with pytest.raises(TransportError, match="not JSON-serialisable"):
        encode(Msg(meta={"s": {1, 2}}))


def test_the_runtime_builds_the_same_message_as_the_constructor():
    arrays, meta = {"data": np.arange(3)}, {"k": 1}
    fast = wire_msg("Image", arrays, meta, 11, "cam/image", 4, 12, 13)
    slow = Msg(
        kind="Image",
        arrays=arrays,
        meta=meta,
        capture_ns=11,
        topic="cam/image",
        seq=4,
        publish_ns=12,
        clock_offset_ns=13,
    )
    assert fast == slow and type(fast) is Msg
    with pytest.raises(AttributeError):
        fast.seq = 5  # type: ignore[misc]  # still frozen


def test_metadata_that_is_not_an_object_is_still_refused_on_receipt():
    bad: tuple[Any, ...] = (None, [])
    for meta in bad:
        with pytest.raises(TransportError, match="malformed message header"):
            decode(encode(Msg(meta=meta)))
