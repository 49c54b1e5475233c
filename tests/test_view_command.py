import time

import numpy as np
import pytest
from typer.testing import CliRunner

pytest.importorskip("rerun")
pytest.importorskip("mcap")

from rerun.chunk import RrdReader

from ar_perception.cli import app
from ar_perception.commands.view import entity_names
from ar_perception.recording.writer import RecordingWriter
from ar_perception.runtime.msg import Msg

runner = CliRunner()
GRAPH = """\
nodes:
  - {id: cam, node: sim, outputs: [image, camera]}
  - id: view
    node: rerun_view
    params: {mode: save, path: out.rrd}
    inputs: {labels: {source: seg/mask}, rgb: cam/image}
"""


def _msg(kind, topic, seq, t, arrays=None, **meta):
    return Msg(kind, arrays or {}, meta, t, topic=topic, seq=seq, publish_ns=t + 1000)


@pytest.fixture
def recording(tmp_path):
    path = tmp_path / "session.mcap"
    t0 = time.time_ns()
    with RecordingWriter(path, graph=GRAPH) as w:
        for i in range(20):  # 20 frames at 20 Hz
            t = t0 + i * 50_000_000
            w.write(_msg("Image", "cam/image", i, t, {"data": np.full((24, 32, 3), i, np.uint8)}))
            w.write(
                _msg(
                    "CameraInfo",
                    "cam/camera",
                    i,
                    t,
                    {"pose": np.eye(4)},
                    fx=30.0,
                    fy=30.0,
                    cx=15.5,
                    cy=11.5,
                    width=32,
                    height=24,
                )
            )
            w.write(_msg("Mask", "seg/mask", i, t, {"data": np.zeros((24, 32), np.uint8)}, classes=["floor"]))
            w.write(
                _msg(
                    "Features",
                    "enc/features",
                    i,
                    t,
                    {"cls": np.zeros(4, np.float32), "patches": np.zeros((2, 2, 4), np.float32)},
                )
            )
        w.write(_msg("Text", "speech/text", 0, t0, text="where is the mug?"))
        w.write(_msg("Answer", "vqa/answer", 0, t0 + 1, text="on the table", done=True))
    return path


def test_view_save_writes_the_live_layout(recording, tmp_path):
    out = tmp_path / "session.rrd"
    r = runner.invoke(app, ["view", str(recording), "--save", str(out)])
    assert r.exit_code == 0, r.output
    rows: dict[str, int] = {}
    for c in RrdReader(out).stream().to_chunks():
        rows[c.entity_path] = rows.get(c.entity_path, 0) + c.num_rows
    # names from the recorded graph's rerun_view inputs (rgb, labels), else the topic's output name
    assert rows["/world/camera/image/rgb"] == 10  # 20 Hz thinned to 10 Hz
    assert rows["/world/camera/image/labels"] == 10 + 1  # + class labels
    assert rows["/world/camera"] == 20
    assert rows["/text/text"] == rows["/text/answer"] == 1
    assert not [p for p in rows if "features" in p]
    assert (
        f"sent 42 of 62 messages on 5 topics to the file {out} (20 left out by --max-hz 10); "
        "not shown: Features" in r.output.replace("\n", "")
    )


def test_view_every_message(recording, tmp_path):
    out = tmp_path / "all.rrd"
    r = runner.invoke(app, ["view", str(recording), "--save", str(out), "--max-hz", "0"])
    assert r.exit_code == 0, r.output
    rows: dict[str, int] = {}
    for c in RrdReader(out).stream().to_chunks():
        rows[c.entity_path] = rows.get(c.entity_path, 0) + c.num_rows
    assert rows["/world/camera/image/rgb"] == 20


def test_view_missing_recording(tmp_path):
    r = runner.invoke(app, ["view", str(tmp_path / "nope.mcap"), "--save", str(tmp_path / "x.rrd")])
    assert r.exit_code == 1
    assert f"{tmp_path / 'nope.mcap'}: no such recording" in r.output.replace("\n", "")
    assert not (tmp_path / "x.rrd").exists()


def test_entity_names():
    topics = ["cam/image", "sim/image", "seg/mask", "depth/depth"]
    assert entity_names(topics) == {
        "cam/image": "cam_image",
        "sim/image": "sim_image",
        "seg/mask": "mask",
        "depth/depth": "depth",
    }
    graph = "nodes:\n  - {id: v, node: rerun_view, inputs: {mask: cam/image}}\n"
    assert entity_names(["cam/image", "seg/mask"], graph) == {"cam/image": "mask", "seg/mask": "seg_mask"}


def test_view_without_a_screen_says_to_save(recording, monkeypatch):
    monkeypatch.setattr("sys.platform", "linux")
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    r = runner.invoke(app, ["view", str(recording)])
    assert r.exit_code == 1
    assert "this machine has no screen" in r.output.replace("\n", " ")
