import threading
import time

import numpy as np
import pytest
from pydantic import ValidationError

cv2 = pytest.importorskip("cv2")

from ar_perception.errors import NodeError  # noqa: E402
from ar_perception.nodes import camera as camera_mod  # noqa: E402
from ar_perception.nodes._calibration import Calibration, read_calibration  # noqa: E402
from ar_perception.nodes._latest_frame import LatestFrame  # noqa: E402
from ar_perception.nodes.camera import Camera  # noqa: E402
from ar_perception.runtime.harness import run_source  # noqa: E402

W, H, FPS, N = 64, 48, 20.0, 10


@pytest.fixture(scope="module")
def video(tmp_path_factory):
    """10 frames at 20 fps: red everywhere (BGR (0, 0, 200)), green rising 20 per frame."""
    path = tmp_path_factory.mktemp("video") / "clip.mp4"
    w = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), FPS, (W, H))
    assert w.isOpened()
    for i in range(N):
        frame = np.zeros((H, W, 3), np.uint8)
        frame[..., 2] = 200
        frame[..., 1] = 20 * i
        w.write(frame)
    w.release()
    return path


def images(out):
    return [m for name, m in out if name == "image"]


def cameras(out):
    return [m for name, m in out if name == "camera"]


def test_a_video_file_plays_every_frame_as_rgb_with_intrinsics(video):
    out = run_source(Camera, {"source": str(video), "realtime": False})
    imgs, cams = images(out), cameras(out)
    assert len(imgs) == len(cams) == N
    for i, (img, cam) in enumerate(zip(imgs, cams, strict=True)):
        assert img.kind == "Image" and img.data.shape == (H, W, 3) and img.data.dtype == np.uint8
        r, g, b = img.data.reshape(-1, 3).mean(axis=0)
        assert r > 180 and b < 20 and abs(g - 20 * i) < 12  # RGB, not OpenCV's BGR; frames in order
        assert img.meta["frame"] == i and img.meta["video_time"] == pytest.approx(i / FPS)
        assert cam.capture_ns == img.capture_ns
    m = cams[0].meta
    fx = (W / 2) / np.tan(np.radians(65.0) / 2)  # the default field of view
    assert (m["width"], m["height"]) == (W, H)
    assert m["fx"] == pytest.approx(fx) and m["fy"] == pytest.approx(fx)
    assert (m["cx"], m["cy"]) == ((W - 1) / 2, (H - 1) / 2)


def test_size_resizes_frames_and_scales_the_intrinsics(video):
    out = run_source(Camera, {"source": str(video), "realtime": False, "size": [32, 24], "hfov_deg": 90})
    assert images(out)[0].data.shape == (24, 32, 3)
    m = cameras(out)[0].meta
    assert (m["width"], m["height"], m["fx"], m["cx"], m["cy"]) == (32, 24, pytest.approx(16.0), 15.5, 11.5)


def test_realtime_plays_at_the_file_rate_and_false_as_fast_as_taken(video):
    t = time.monotonic()
    run_source(Camera, {"source": str(video), "realtime": False})
    fast = time.monotonic() - t
    t = time.monotonic()
    out = run_source(Camera, {"source": str(video), "frames": 6})
    paced = time.monotonic() - t
    assert len(images(out)) == 6
    assert paced >= 5 / FPS - 0.01  # frame 5 is due 0.25 s in
    assert fast < paced


def test_fps_skips_file_frames_and_frames_and_loop(video):
    out = run_source(Camera, {"source": str(video), "realtime": False, "fps": 10})
    assert [m.meta["video_time"] for m in images(out)] == pytest.approx([0.0, 0.1, 0.2, 0.3, 0.4])
    out = run_source(Camera, {"source": str(video), "realtime": False, "loop": True, "frames": 25})
    times = [m.meta["video_time"] for m in images(out)]
    assert len(times) == 25 and times == pytest.approx([i / FPS for i in range(25)])


def test_a_live_source_always_gives_the_newest_frame():
    class FastCamera:  # a driver that produces frames faster than its reader takes them
        def __init__(self):
            self.n = 0

        def grab(self):
            time.sleep(0.001)
            self.n += 1
            return True

        def retrieve(self):
            return True, np.full((2, 2, 3), self.n % 256, np.uint8)

    cam = FastCamera()
    grabber = LatestFrame(cam)
    try:
        seen = 0
        for _ in range(3):
            time.sleep(0.03)  # a slow consumer
            got = grabber.newer(seen, 1.0)
            assert got is not None
            frame, _, seen_now = got
            assert seen_now - seen > 5  # frames in between were passed over, not queued
            assert abs(int(frame[0, 0, 0]) - cam.n % 256) <= 2  # and what it got is the newest
            seen = seen_now
    finally:
        assert grabber.close()


def test_a_stream_is_drained_and_ends_with_its_source(video):
    # An FFmpeg URL behaves as a live stream: a grab thread decodes at full speed, the node takes the newest.
    out = run_source(Camera, {"source": f"file://{video}", "timeout_s": 0.2})
    assert 1 <= len(images(out)) <= N


def test_a_stalled_live_source_fails_the_node():
    class Stalled:
        def grab(self):
            return False

        def retrieve(self):
            return False, None

    grabber = LatestFrame(Stalled(), fail_after_s=0.05)
    assert grabber.newer(0, 1.0) is None and grabber.ended
    assert grabber.close()


def test_missing_device_index_lists_the_devices(monkeypatch):
    monkeypatch.setattr(camera_mod.sys, "platform", "linux")
    monkeypatch.setattr(camera_mod, "video_devices", lambda: [])
    with pytest.raises(NodeError) as e:
        run_source(Camera, {"source": 3})
    assert str(e.value) == (
        "node 'source': params.source: no camera device 3 (video devices found: none); "
        "give the index of a connected camera, a video file or a stream URL"
    )
    monkeypatch.setattr(camera_mod, "video_devices", lambda: ["/dev/video0", "/dev/video2"])
    with pytest.raises(NodeError) as e:
        run_source(Camera, {"source": "1"})
    assert str(e.value) == (
        "node 'source': params.source: no camera device 1 (video devices found: /dev/video0, "
        "/dev/video2); give the index of a connected camera, a video file or a stream URL"
    )


def test_missing_and_undecodable_files(tmp_path):
    with pytest.raises(NodeError) as e:
        run_source(Camera, {"source": str(tmp_path / "nope.mp4")})
    assert str(e.value) == (
        f"node 'source': params.source: no such video file '{tmp_path / 'nope.mp4'}' "
        "(expected a camera index, a video file or a stream URL such as rtsp://host/stream)"
    )
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"not a video" * 10)
    with pytest.raises(NodeError) as e:
        run_source(Camera, {"source": str(junk)})
    assert str(e.value) == (
        f"node 'source': params.source: cannot decode video file '{junk}' (none of "
        "OpenCV's video backends could open it)"
    )


def _write_opencv(path, **values):
    fs = cv2.FileStorage(str(path), cv2.FILE_STORAGE_WRITE)
    for k, v in values.items():
        fs.write(k, v)
    fs.release()


K = np.array([[500.0, 0, 319.5], [0, 510.0, 239.5], [0, 0, 1]])


@pytest.mark.parametrize("ext", ["yml", "xml"])
def test_opencv_calibration_files(tmp_path, ext):
    path = tmp_path / f"cam.{ext}"
    _write_opencv(
        path,
        camera_matrix=K,
        distortion_coefficients=np.array([[0.1, -0.05, 0, 0, 0.01]]),
        image_width=640,
        image_height=480,
    )
    cal = read_calibration(path)
    assert (cal.fx, cal.fy, cal.cx, cal.cy, cal.width, cal.height) == (500, 510, 319.5, 239.5, 640, 480)
    assert cal.distortion == pytest.approx((0.1, -0.05, 0, 0, 0.01))


def test_ros_camera_info_yaml(tmp_path):
    path = tmp_path / "ros.yaml"
    path.write_text(
        "image_width: 640\nimage_height: 480\ncamera_name: cam\ncamera_matrix:\n  rows: 3\n  cols: 3\n"
        "  data: [500.0, 0.0, 319.5, 0.0, 510.0, 239.5, 0.0, 0.0, 1.0]\ndistortion_model: plumb_bob\n"
        "distortion_coefficients:\n  rows: 1\n  cols: 5\n  data: [0.0, 0.0, 0.0, 0.0, 0.0]\n"
    )
    cal = read_calibration(path)
    assert (cal.fx, cal.fy, cal.cx, cal.cy, cal.width, cal.height) == (500, 510, 319.5, 239.5, 640, 480)
    assert not cal.distorted


def test_calibration_is_scaled_to_the_output_size(tmp_path, video):
    path = tmp_path / "cam.yml"
    _write_opencv(path, camera_matrix=K, image_width=640, image_height=480)
    out = run_source(Camera, {"source": str(video), "realtime": False, "frames": 1, "calibration": str(path)})
    m = cameras(out)[0].meta  # the 64x48 clip is the 640x480 camera at a tenth
    assert (m["fx"], m["fy"], m["cx"], m["cy"]) == pytest.approx((50.0, 51.0, 31.5, 23.5))  # centre stays centre
    assert Calibration(100, 100, 49.5, 49.5, 100, 100).scaled(200, 200).cx == pytest.approx(99.5)


def test_distortion_is_removed_or_sent(tmp_path, video):
    path = tmp_path / "cam.yml"
    _write_opencv(
        path,
        camera_matrix=K / 10 * np.array([[1], [1], [10]]),
        distortion_coefficients=np.array([[-0.3, 0.1, 0, 0, 0]]),
    )
    params = {"source": str(video), "realtime": False, "frames": 1, "calibration": str(path)}
    undistorted = run_source(Camera, params)
    assert "distortion" not in cameras(undistorted)[0].meta
    raw = run_source(Camera, {**params, "undistort": False})
    assert cameras(raw)[0].meta["distortion"] == pytest.approx([-0.3, 0.1, 0, 0, 0])
    assert images(undistorted)[0].data.shape == images(raw)[0].data.shape == (H, W, 3)


def test_bad_calibration_files(tmp_path, video):
    missing = tmp_path / "nope.yml"
    with pytest.raises(NodeError) as e:
        run_source(Camera, {"source": str(video), "calibration": str(missing)})
    assert str(e.value) == f"node 'source': params.calibration: no such calibration file '{missing}'"
    path = tmp_path / "other.yml"
    _write_opencv(path, focal=3.0)
    with pytest.raises(NodeError) as e:
        read_calibration(path)
    assert str(e.value) == (
        f"'{path}' has no camera matrix (expected one of the keys camera_matrix, cameraMatrix, K; it has: focal)"
    )
    _write_opencv(path, camera_matrix=np.eye(2))
    with pytest.raises(NodeError, match="camera_matrix must be a 3x3 matrix \\(got 4 numbers\\)"):
        read_calibration(path)
    path.write_text("hello")
    with pytest.raises(NodeError, match="is not an OpenCV calibration file"):
        read_calibration(path)


def test_params_take_one_source_of_intrinsics():
    with pytest.raises(ValidationError, match="give either calibration or hfov_deg, not both"):
        Camera.Params(calibration="cam.yml", hfov_deg=60)
    with pytest.raises(ValidationError, match="hfv"):
        Camera.Params.model_validate({"hfv": 60})


def test_importing_opens_no_device():
    assert not [t for t in threading.enumerate() if t.name.startswith("arp-") and t.name.endswith("-grab")]
