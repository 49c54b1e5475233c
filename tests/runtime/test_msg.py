import numpy as np
import pytest
import zmq

from ar_perception.errors import TransportError
from ar_perception.runtime.msg import Msg, decode, encode


def test_roundtrip_over_a_real_socket_keeps_arrays_meta_and_times():
    depth = np.random.default_rng(0).random((480, 640), dtype=np.float32)
    small = np.arange(6, dtype=np.int16).reshape(2, 3)
    msg = Msg(kind="Depth", arrays={"data": depth, "small": small}, meta={"k": [1, "x"]}, capture_ns=123,
              topic="cam/depth", seq=7, publish_ns=456)
    ctx = zmq.Context()
    a, b = ctx.socket(zmq.PAIR), ctx.socket(zmq.PAIR)
    for s in (a, b):
        s.setsockopt(zmq.LINGER, 0)
        s.setsockopt(zmq.RCVTIMEO, 2000)
    port = a.bind_to_random_port("tcp://127.0.0.1")
    b.connect(f"tcp://127.0.0.1:{port}")
    a.send_multipart(encode(msg), copy=False)
    got = decode(b.recv_multipart(copy=False))
    a.close(); b.close(); ctx.term()
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


@pytest.mark.parametrize("frames, error", [
    ([], "empty multipart message"),
    ([b"not json"], "malformed message header"),
    ([b'{"v": 99, "arrays": []}'], "wire version 99 is not supported (expected 1)"),
    ([b'{"v": 1, "kind": "Image", "topic": "c/i", "seq": 0, "capture_ns": 0, "publish_ns": 0, '
      b'"arrays": [["data", "|u1", [2, 2]]]}'], "message on 'c/i' declares 1 arrays but carries 0"),
    ([b'{"v": 1, "kind": "Image", "topic": "c/i", "seq": 0, "capture_ns": 0, "publish_ns": 0, '
      b'"arrays": [["data", "|u1", [2, 2]]]}', b"abc"], "array 'data' on 'c/i' does not match its declared"),
])
def test_malformed_frames_raise_transport_error(frames, error):
    with pytest.raises(TransportError) as e:
        decode(frames)
    assert str(e.value).startswith(error)


def test_unencodable_payloads():
    with pytest.raises(TransportError, match="not a numpy array"):
        encode(Msg(arrays={"data": [1, 2]}))  # type: ignore[dict-item]
    with pytest.raises(TransportError, match="not JSON-serialisable"):
        encode(Msg(meta={"x": object()}))
