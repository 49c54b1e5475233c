"""`arp recording info|export|repair` and the bundled sample session."""

import json
import wave

import numpy as np
import pytest
from typer.testing import CliRunner

from ar_perception import Msg
from ar_perception.cli import app
from ar_perception.recording import RecordingReader, RecordingWriter

from .conftest import SAMPLE

runner = CliRunner()
cv2 = pytest.importorskip("cv2")


def test_sample_session(sample):
    r = RecordingReader(sample)
    assert {t: (i.kind, i.count) for t, i in r.topics.items()} == {
        "cam/image": ("Image", 35),
        "cam/depth_gt": ("Depth", 35),
        "cam/labels_gt": ("Mask", 35),
        "cam/instances_gt": ("Mask", 35),
        "cam/camera": ("CameraInfo", 35),
        "mic/audio": ("Audio", 70),
    }
    assert r.duration_s == pytest.approx(7.0, abs=0.11) and r.size < 5e6
    assert "node: sim" in r.graph and r.meta["question"] == "how far is the table"
    image = r.read_topic("cam/image")[20]
    assert image.data.shape == (240, 320, 3) and image.meta == {"frame": 20, "sim_time": 4.0, "seed": 7}
    labels = r.read_topic("cam/labels_gt")
    table = labels[0].meta["classes"].index("table")
    assert all((m.data == table).mean() > 0.01 for m in labels)  # the table stays in view: the question fits
    audio = r.read_topic("mic/audio")
    rms = np.array([np.sqrt(np.mean(m.data**2)) for m in audio])
    speaking = np.flatnonzero(rms > 0.01)
    assert 19 <= speaking[0] <= 21 and 8 <= len(speaking) <= 25  # the question starts at 2.0 s
    assert audio[-1].meta["last"] and audio[0].meta == {"sample_rate": 16000, "offset_s": 0.0, "last": False}


def test_sample_is_deterministic(sample_script, tmp_path):
    if not SAMPLE.exists():
        pytest.skip("no bundled recordings/sample.mcap to compare with")
    import subprocess
    import sys

    out = tmp_path / "again.mcap"
    subprocess.run([sys.executable, sample_script.__file__, "-o", str(out)], check=True, capture_output=True)
    assert out.read_bytes() == SAMPLE.read_bytes()


def test_info(sample):
    r = runner.invoke(app, ["recording", "info", str(sample), "--json"])
    assert r.exit_code == 0, r.output
    d = json.loads(r.output)
    assert d["complete"] and not d["repaired"] and d["messages"] == 245 and d["format_version"] == 1
    assert d["topics"]["cam/image"] == {
        "kind": "Image",
        "schema": "foxglove.RawImage",
        "count": 35,
        "rate_hz": pytest.approx(5.0),
        "bytes": d["topics"]["cam/image"]["bytes"],
        "lost": 0,
    }
    table = runner.invoke(app, ["recording", "info", str(sample)])
    assert table.exit_code == 0 and "245 messages, 7.00 s, format 1" in table.output


def test_export_frames_depth_video_audio(sample, tmp_path):
    r = runner.invoke(app, ["recording", "export", str(sample), "--topic", "cam/image", "-o", str(tmp_path / "png")])
    assert r.exit_code == 0, r.output
    pngs = sorted((tmp_path / "png").glob("*.png"))
    first = RecordingReader(sample).read_topic("cam/image")[0]
    assert len(pngs) == 35 and (cv2.imread(str(pngs[0]))[..., ::-1] == first.data).all()
    r = runner.invoke(
        app, ["recording", "export", str(sample), "--topic", "cam/image", "-o", str(tmp_path / "v"), "--format", "mp4"]
    )
    assert r.exit_code == 0, r.output
    video = cv2.VideoCapture(str(tmp_path / "v" / "cam_image.mp4"))
    assert int(video.get(cv2.CAP_PROP_FRAME_COUNT)) == 35 and video.get(cv2.CAP_PROP_FPS) == pytest.approx(5.0)
    runner.invoke(app, ["recording", "export", str(sample), "--topic", "cam/depth_gt", "-o", str(tmp_path / "d")])
    depth_mm = cv2.imread(str(tmp_path / "d" / "cam_depth_gt_000000.png"), cv2.IMREAD_UNCHANGED)
    depth = RecordingReader(sample).read_topic("cam/depth_gt")[0].data
    assert depth_mm.dtype == np.uint16 and np.abs(depth_mm / 1000.0 - depth).max() <= 0.0005 + 1e-6
    runner.invoke(app, ["recording", "export", str(sample), "--topic", "mic/audio", "-o", str(tmp_path / "a")])
    with wave.open(str(tmp_path / "a" / "mic_audio.wav")) as w:
        assert (w.getframerate(), w.getnchannels(), w.getnframes()) == (16000, 1, 7 * 16000)


def test_export_point_clouds_to_ply_and_bad_requests(tmp_path):
    o3d = pytest.importorskip("open3d")
    path = tmp_path / "pc.mcap"
    pts = np.random.default_rng(0).normal(size=(100, 3)).astype(np.float32)
    with RecordingWriter(path) as w:
        for i in range(3):
            w.write(
                Msg(
                    "PointCloud",
                    {"points": pts[: 50 + 20 * i], "colors": np.full((50 + 20 * i, 3), 200, np.uint8)},
                    {"frame": "world"},
                    capture_ns=i,
                    topic="pc/cloud",
                    seq=i,
                    publish_ns=i,
                )
            )
    r = runner.invoke(app, ["recording", "export", str(path), "--topic", "pc/cloud", "-o", str(tmp_path / "ply")])
    assert r.exit_code == 0, r.output
    cloud = o3d.io.read_point_cloud(str(tmp_path / "ply" / "pc_cloud_000002.ply"))
    assert np.allclose(np.asarray(cloud.points), pts[:90]) and np.allclose(np.asarray(cloud.colors), 200 / 255)
    r = runner.invoke(
        app, ["recording", "export", str(path), "--topic", "pc/cloud", "-o", str(tmp_path), "--format", "mp4"]
    )
    assert r.exit_code == 1
    assert r.output.strip() == "topic 'pc/cloud' holds PointCloud messages, which export to ply, npz (got --format mp4)"


def test_repair_of_an_intact_file_and_of_a_missing_one(sample, tmp_path):
    r = runner.invoke(app, ["recording", "repair", str(sample)])
    assert r.exit_code == 0 and r.output.strip() == f"{sample}: complete and intact; nothing to repair"
    r = runner.invoke(app, ["recording", "info", str(tmp_path / "x.mcap")])
    assert r.exit_code == 1 and r.output.strip() == f"{tmp_path}/x.mcap: no such recording"
