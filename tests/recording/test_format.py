"""The MCAP layout: every kind comes back bit for bit, Foxglove schemas decode with the standard libraries."""

import json

import numpy as np
import pytest
from mcap.reader import make_reader
from mcap_protobuf.decoder import DecoderFactory

from ar_perception import Msg
from ar_perception.recording import FORMAT_VERSION, RecordingReader, RecordingWriter
from ar_perception.recording.codec import decode_message, encode_message, schema_for

from .conftest import same

rng = np.random.default_rng(7)


def every_kind() -> list[Msg]:
    msgs = [
        Msg("Image", {"data": rng.integers(0, 256, (24, 32, 3), dtype=np.uint8)}, {"frame": 3, "x": [1.5, None]}),
        Msg("Depth", {"data": rng.random((24, 32), dtype=np.float32) * 9}, {"frame_id": "cam"}),
        Msg("Mask", {"data": rng.integers(0, 12, (24, 32), dtype=np.uint8)}, {"classes": ["a", "b"]}),
        Msg("Mask", {"data": rng.integers(0, 900, (24, 32)).astype(np.int32)}, {"classes": []}),
        Msg(
            "Features",
            {
                "cls": rng.random(16, dtype=np.float32),
                "patches": rng.random((2, 3, 16), dtype=np.float32),
                "layer3": rng.random((2, 3, 16), dtype=np.float32),
            },
            {"encoder": "eupe-vit-s", "image_size": [32, 24]},
        ),
        Msg(
            "PointCloud",
            {
                "points": rng.normal(size=(500, 3)).astype(np.float32),
                "colors": rng.integers(0, 256, (500, 3), dtype=np.uint8),
            },
            {"frame": "world"},
        ),
        Msg("PointCloud", {"points": rng.normal(size=(7, 3)).astype(np.float32)}, {"frame": "camera"}),
        Msg("PointCloud", {"points": np.zeros((0, 3), np.float32), "colors": np.zeros((0, 3), np.uint8)}, {}),
        Msg("Audio", {"data": rng.uniform(-1, 1, 1600).astype(np.float32)}, {"sample_rate": 16000, "last": False}),
        Msg("Text", {}, {"text": "how far is the table", "start": 1.25, "confidence": 0.9}),
        Msg("Answer", {}, {"text": "about 2.1 m", "done": True, "tokens_per_s": 31.5}),
        Msg(
            "CameraInfo",
            {"pose": rng.normal(size=(4, 4))},
            {"fx": 251.14969233879845, "fy": 251.1, "cx": 159.5, "cy": 119.5, "width": 320, "height": 240},
        ),
        Msg("Tick", {}, {"tick": 4}),
        # Awkward arrays: 0-d, big-endian, bool, empty; nested metadata.
        Msg(
            "Any",
            {
                "s": np.array(3.25),
                "be": np.arange(5, dtype=">i4"),
                "b": np.array([True, False]),
                "e": np.zeros((0, 4), np.float64),
            },
            {"none": None, "nested": {"k": [1]}},
        ),
        # An Image whose data a RawImage cannot carry still comes back exactly (in the envelope).
        Msg("Image", {"data": np.zeros((4, 4, 3), np.uint8)[:, ::2], "extra": np.ones(3, np.int16)}, {}),
    ]
    return [
        Msg(
            m.kind,
            m.arrays,
            m.meta,
            capture_ns=1_700_000_000_000_000_000 + i * 1000,
            topic=f"n{i}/out",
            seq=i,
            publish_ns=1_700_000_000_000_000_000 + i * 1000 + 17,
        )
        for i, m in enumerate(msgs)
    ]


@pytest.mark.parametrize("msg", every_kind(), ids=lambda m: f"{m.topic}-{m.kind}")
def test_codec_gives_back_every_kind_exactly(msg):
    name, _ = schema_for(msg.kind)
    same(msg, decode_message(name, encode_message(msg), msg.topic))


def test_file_roundtrip_and_metadata(tmp_path):
    path = tmp_path / "all.mcap"
    msgs = every_kind()
    with RecordingWriter(path, graph="nodes: [{id: a, node: pattern}]\n") as w:
        for m in msgs:
            w.write(m)
    r = RecordingReader(path)
    assert r.complete and r.indexed and r.format_version == FORMAT_VERSION
    assert r.meta["format_version"] == "1" and r.meta["arp_version"] == "0.1.0"
    assert r.graph == "nodes: [{id: a, node: pattern}]\n"
    got = list(r.messages())
    assert len(got) == len(msgs)
    for a, b in zip(msgs, got, strict=True):
        same(a, b)
    assert r.topics["n0/out"].kind == "Image" and r.topics["n0/out"].schema == "foxglove.RawImage"
    assert r.topics["n8/out"].schema == "arp.Envelope" and r.message_count == len(msgs)
    assert r.stats["topics"]["n0/out"]["count"] == 1


def test_standard_mcap_and_protobuf_libraries_decode_the_foxglove_channels(tmp_path):
    path = tmp_path / "fox.mcap"
    msgs = every_kind()
    with RecordingWriter(path) as w:
        for m in msgs:
            w.write(m)
    with open(path, "rb") as f:
        reader = make_reader(f, decoder_factories=[DecoderFactory()])
        assert reader.get_header().profile == ""
        meta = {m.name: m.metadata for m in reader.iter_metadata()}
        decoded = {c.topic: (s.name if s else None, d) for s, c, _, d in reader.iter_decoded_messages()}
    assert meta["arp"]["format_version"] == str(FORMAT_VERSION) and "graph" in meta["arp"]
    name, img = decoded["n0/out"]
    assert name == "foxglove.RawImage" and (img.width, img.height, img.encoding, img.step) == (32, 24, "rgb8", 96)
    assert img.data == msgs[0].data.tobytes()
    assert img.timestamp.seconds * 10**9 + img.timestamp.nanos == msgs[0].capture_ns
    _, depth = decoded["n1/out"]
    assert (depth.encoding, depth.step) == ("32FC1", 128) and depth.frame_id == "cam"
    _, pc = decoded["n5/out"]
    assert pc.point_stride == 15 and [(f.name, f.offset) for f in pc.fields] == [
        ("x", 0),
        ("y", 4),
        ("z", 8),
        ("r", 12),
        ("g", 13),
        ("b", 14),
    ]
    assert pc.frame_id == "world" and len(pc.data) == 500 * 15
    _, cal = decoded["n11/out"]
    assert (cal.width, cal.height) == (320, 240) and list(cal.K)[0] == 251.14969233879845
    name, env = decoded["n8/out"]
    assert name == "arp.Envelope" and json.loads(env.header)["meta"]["sample_rate"] == 16000
    assert env.arrays[0] == msgs[8].data.tobytes()


def test_time_range_and_topic_selection(tmp_path):
    path = tmp_path / "t.mcap"
    with RecordingWriter(path) as w:
        for i in range(20):
            w.write(
                Msg("Tick", {}, {"tick": i}, capture_ns=i * 10**8, topic=f"t/{i % 2}", seq=i // 2, publish_ns=i * 10**8)
            )
    r = RecordingReader(path)
    assert {t: i.count for t, i in r.topics.items()} == {"t/0": 10, "t/1": 10}
    assert r.topics["t/0"].rate_hz == pytest.approx(5.0) and r.duration_s == pytest.approx(1.9)
    assert [m.meta["tick"] for m in r.messages(["t/1"], start_ns=5 * 10**8, end_ns=12 * 10**8)] == [5, 7, 9, 11]
