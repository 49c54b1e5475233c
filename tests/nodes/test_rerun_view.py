import socket
import sys
import time

import numpy as np
import pytest
from pydantic import ValidationError

pytest.importorskip("rerun")

from rerun.chunk import RrdReader

from ar_perception.errors import NodeError
from ar_perception.nodes.rerun_view import RerunView, _resize_nearest, class_colors
from ar_perception.runtime.harness import NodeHarness, run_node
from ar_perception.runtime.msg import Msg

T0 = time.time_ns()
MS = 1_000_000


def rrd_rows(path):
    """{entity path: rows} of an .rrd file, and {entity path: component names}."""
    rows: dict[str, int] = {}
    components: dict[str, set[str]] = {}
    for c in RrdReader(path).stream().to_chunks():
        rows[c.entity_path] = rows.get(c.entity_path, 0) + c.num_rows
        components.setdefault(c.entity_path, set()).update(c.to_record_batch().schema.names)
    return rows, components


def frame(t, *, w=64, h=48):
    pose = np.eye(4)
    pose[:3, 3] = [1.0, 2.0, 1.5]
    return [
        (
            "camera",
            Msg(
                "CameraInfo",
                {"pose": pose},
                {"fx": 50.0, "fy": 50.0, "cx": 31.5, "cy": 23.5, "width": w, "height": h},
                t,
            ),
        ),
        ("image", Msg("Image", {"data": np.full((h, w, 3), 128, np.uint8)}, {}, t)),
        ("depth", Msg("Depth", {"data": np.ones((h // 2, w // 2), np.float32)}, {}, t)),  # half resolution
        ("labels", Msg("Mask", {"data": np.ones((h, w), np.int32)}, {"classes": ["floor", "wall"]}, t)),
        (
            "cloud",
            Msg(
                "PointCloud",
                {"points": np.random.rand(500, 3).astype(np.float32), "colors": np.zeros((500, 3), np.uint8)},
                {"frame": "world"},
                t,
            ),
        ),
        ("local", Msg("PointCloud", {"points": np.zeros((5, 3), np.float32)}, {"frame": "camera"}, t)),
    ]


def test_save_logs_every_kind_in_the_layout(tmp_path):
    out = tmp_path / "view.rrd"
    msgs = [m for i in range(3) for m in frame(T0 + i * 200 * MS)]
    msgs += [
        ("question", Msg("Text", {}, {"text": "what is on the table?"}, T0)),
        ("answer", Msg("Answer", {}, {"text": "a m", "done": False}, T0)),
        ("answer", Msg("Answer", {}, {"text": "a mug", "done": True}, T0)),
    ]
    assert run_node(RerunView, msgs, {"mode": "save", "path": str(out), "max_points": 100}) == []
    assert out.stat().st_size > 0
    rows, comps = rrd_rows(out)
    assert {p: rows[p] for p in rows if p != "/__properties"} == {
        "/world": 1,  # z-up view coordinates, static
        "/world/camera": 3,  # the pose, every frame
        "/world/camera/image": 1,  # the pinhole, logged when it changes
        "/world/camera/image/image": 3,
        "/world/camera/image/depth": 3,
        "/world/camera/image/labels": 4,  # + the class labels (annotation context)
        "/world/cloud": 3,
        "/world/camera/local": 3,
        "/text/question": 1,
        "/text/answer": 1,  # the complete answer only
    }
    assert {"Transform3D:translation", "Transform3D:mat3x3"} <= comps["/world/camera"]
    assert "Pinhole:image_from_camera" in comps["/world/camera/image"]
    assert {"DepthImage:buffer", "DepthImage:meter"} <= comps["/world/camera/image/depth"]
    assert {"SegmentationImage:buffer", "AnnotationContext:context"} <= comps["/world/camera/image/labels"]
    assert {"Points3D:positions", "Points3D:colors"} <= comps["/world/cloud"]
    assert "TextLog:text" in comps["/text/answer"]
    # one timeline: capture time (no log_time, no log_tick)
    for c in RrdReader(out).stream().to_chunks():
        assert set(c.timeline_names) <= {"capture"}, (c.entity_path, c.timeline_names)


def test_2d_layers_are_fitted_to_the_pinhole_and_labels_carry_names(tmp_path):
    out = tmp_path / "view.rrd"
    run_node(RerunView, frame(T0), {"mode": "save", "path": str(out)})
    for c in RrdReader(out).stream().to_chunks():
        batch = c.to_record_batch()
        if c.entity_path == "/world/camera/image/depth":
            fmt = batch.column("DepthImage:format").to_pylist()[0][0]
            assert (fmt["width"], fmt["height"]) == (64, 48)
            assert batch.column("DepthImage:meter").to_pylist()[0] == [1.0]
        if "AnnotationContext:context" in batch.schema.names:
            ctx = batch.column("AnnotationContext:context").to_pylist()[0][0]
            assert [(e["class_id"], e["class_description"]["info"]["label"]) for e in ctx] == [
                (0, "floor"),
                (1, "wall"),
            ]


def test_rate_limit_drops_frames_per_entity(tmp_path):
    # 30 frames 10 ms apart (100 Hz): 10 Hz keeps one in ten of each heavy entity, every pose.
    msgs = [m for i in range(30) for m in frame(T0 + i * 10 * MS)]
    limited = tmp_path / "limited.rrd"
    h = NodeHarness(RerunView, {"mode": "save", "path": str(limited)})
    for name, msg in msgs:
        h.feed(name, msg)
    layout = h.node.layout
    h.close()
    assert layout.logged["world/camera/image/image"] == 3
    assert layout.dropped["world/camera/image/image"] == 27
    rows, _ = rrd_rows(limited)
    assert rows["/world/camera/image/image"] == rows["/world/cloud"] == 3
    assert rows["/world/camera"] == 30
    everything = tmp_path / "all.rrd"
    run_node(RerunView, msgs, {"mode": "save", "path": str(everything), "max_hz": 0})
    rows, _ = rrd_rows(everything)
    assert rows["/world/camera/image/image"] == 30


def test_unshown_kinds_are_skipped_with_one_warning(tmp_path, caplog):
    feats = Msg("Features", {"cls": np.zeros(4, np.float32), "patches": np.zeros((2, 2, 4), np.float32)})
    run_node(RerunView, [("features", feats)] * 3, {"mode": "save", "path": str(tmp_path / "v.rrd")})
    warnings = [r.getMessage() for r in caplog.records if "Features" in r.getMessage()]
    assert warnings == [
        "node 'node': input 'features' carries Features messages, which a Rerun view does not "
        "show (it shows: Image, Depth, Mask, PointCloud, CameraInfo, Text, Answer)"
    ]


def test_params():
    with pytest.raises(ValidationError, match="mode 'save' needs path: the .rrd file to write"):
        RerunView.Params(mode="save")
    with pytest.raises(ValidationError, match="path is only used by mode 'save' \\(mode is 'spawn'\\)"):
        RerunView.Params(path="x.rrd")
    with pytest.raises(ValidationError, match="max_fps"):
        RerunView.Params.model_validate({"mode": "connect", "max_fps": 3})


def test_save_into_a_folder_that_cannot_be_made(tmp_path):
    (tmp_path / "no").write_text("a file where the folder should be")  # a missing folder is made (test_output_folders)
    with pytest.raises(NodeError) as e:
        run_node(RerunView, [], {"mode": "save", "path": str(tmp_path / "no" / "v.rrd")})
    assert str(e.value) == (
        f"node 'node': params.path: cannot create the folder '{tmp_path / 'no'}' for '{tmp_path / 'no' / 'v.rrd'}' "
        "(File exists); give a path in a folder that can be written"
    )


def test_helpers():
    a = np.arange(6).reshape(2, 3)
    assert _resize_nearest(a, 6, 4).tolist() == [[0, 0, 1, 1, 2, 2]] * 2 + [[3, 3, 4, 4, 5, 5]] * 2
    colors = class_colors(50)
    assert colors.shape == (50, 3) and colors.dtype == np.uint8 and len({tuple(c) for c in colors}) == 50


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_serve_and_connect_to_it(caplog):
    port, web_port = _free_port(), _free_port()
    with caplog.at_level("WARNING"):
        server = NodeHarness(RerunView, {"mode": "serve", "port": port, "web_port": web_port})
    # Rerun's servers cannot be bound to loopback, so the node says who can watch.
    assert (
        f"ports {port} and {web_port} listen on all network interfaces, so anyone who can reach this machine "
        "can watch (use mode save or spawn on untrusted networks)"
    ) in caplog.text
    try:
        client = NodeHarness(RerunView, {"mode": "connect", "url": f"rerun+http://127.0.0.1:{port}/proxy"})
        client.feed("question", Msg("Text", {}, {"text": "hello"}))
        client.close()
    finally:
        server.close()


def test_connect_and_spawn_fail_early(monkeypatch):
    port = _free_port()
    with pytest.raises(NodeError) as e:
        run_node(RerunView, [], {"mode": "connect", "url": f"rerun+http://127.0.0.1:{port}/proxy"})
    assert str(e.value) == (
        f"node 'node': params.url: no Rerun viewer listens at rerun+http://127.0.0.1:{port}/proxy "
        f"(Connection refused); start one first with: rerun --port {port}"
    )
    monkeypatch.setattr(sys, "platform", "linux")
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    with pytest.raises(NodeError) as e:
        run_node(RerunView, [], {"mode": "spawn"})
    assert str(e.value) == (
        "node 'node': params.mode: mode 'spawn' opens a viewer window, but this machine has no "
        "screen (neither DISPLAY nor WAYLAND_DISPLAY is set); save an .rrd file to open "
        "elsewhere, or serve the web viewer"
    )


def test_malformed_messages_are_dropped_counted_and_warned_once(tmp_path, caplog):
    bad = Msg("CameraInfo", {}, {"fx": 1.0})
    h = NodeHarness(RerunView, {"mode": "save", "path": str(tmp_path / "v.rrd")}, strict=False)
    for _ in range(3):
        h.node.on_input("camera", bad)  # as the runtime would hand it over outside strict mode
    h.close()
    assert h.node.layout.malformed == {"camera": 3}
    assert [r.getMessage() for r in caplog.records if "malformed" in r.getMessage()] == [
        "node 'node': input 'camera': dropped a malformed message: CameraInfo needs metadata fy, cx, cy, width, "
        "height (got: fx)"
    ]
