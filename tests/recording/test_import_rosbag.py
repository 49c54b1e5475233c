"""`arp import rosbag`: ROS 1 and ROS 2 (sqlite3 and MCAP) bags written here with rosbags, from simulated frames
(exact depth and intrinsics), into recordings that replay; what cannot be converted is named, the rest kept."""

import json
import struct
from pathlib import Path

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

from ar_perception.cli import app
from ar_perception.errors import RecordingError
from ar_perception.recording import RecordingReader
from ar_perception.recording.import_rosbag import RosbagImport, _reading, depth_array

from ..rgbd_folders import sim_frames

rosbags = pytest.importorskip("rosbags", reason="the 'ros' extra (rosbags) is not installed")
from rosbags.rosbag1 import Writer as Writer1  # noqa: E402
from rosbags.rosbag2 import StoragePlugin  # noqa: E402
from rosbags.rosbag2 import Writer as Writer2  # noqa: E402
from rosbags.typesys import Stores, get_typestore  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
runner = CliRunner()
T0_NS = 1_700_000_000_000_000_000
DEPTH_LAG_NS = 4_000_000  # depth stamped 4 ms after its colour frame, as a real camera's two streams are


def write_bag(path: Path, kind: str, frames, *, compressed_colour: bool = False, bad_depth_at: int | None = None):
    """Colour (rgb8, or JPEG), depth (16UC1 mm) and camera info per frame, one stamp each; an IMU-free extra
    topic of another type; frame `bad_depth_at`'s depth with an encoding that does not convert."""
    store = get_typestore(Stores.ROS1_NOETIC if kind == "ros1" else Stores.ROS2_HUMBLE)
    Image = store.types["sensor_msgs/msg/Image"]
    Compressed = store.types["sensor_msgs/msg/CompressedImage"]
    Info = store.types["sensor_msgs/msg/CameraInfo"]
    Header = store.types["std_msgs/msg/Header"]
    Time = store.types["builtin_interfaces/msg/Time"]
    Roi = store.types["sensor_msgs/msg/RegionOfInterest"]
    String = store.types["std_msgs/msg/String"]
    writer: Writer1 | Writer2
    if kind == "ros1":
        writer = Writer1(path)
        ser = store.serialize_ros1
    else:
        writer = Writer2(
            path, version=9, storage_plugin=StoragePlugin.MCAP if kind == "ros2-mcap" else StoragePlugin.SQLITE3
        )
        ser = store.serialize_cdr

    def header(ns, frame_id):
        h = {"stamp": Time(sec=ns // 1_000_000_000, nanosec=ns % 1_000_000_000), "frame_id": frame_id}
        return Header(seq=0, **h) if kind == "ros1" else Header(**h)

    with writer as w:
        colour_type = Compressed.__msgtype__ if compressed_colour else Image.__msgtype__
        c_img = w.add_connection("/camera/color/image_raw", colour_type, typestore=store)
        c_dep = w.add_connection("/camera/aligned_depth_to_color/image_raw", Image.__msgtype__, typestore=store)
        c_inf = w.add_connection("/camera/color/camera_info", Info.__msgtype__, typestore=store)
        c_log = w.add_connection("/rosout_note", String.__msgtype__, typestore=store)
        Cloud, Field = store.types["sensor_msgs/msg/PointCloud2"], store.types["sensor_msgs/msg/PointField"]
        c_pts = w.add_connection("/camera/depth/points", Cloud.__msgtype__, typestore=store)
        for k, f in enumerate(frames):
            ns = T0_NS + k * 100_000_000
            h, wd = f.depth.shape
            if compressed_colour:
                ok, jpg = cv2.imencode(".png", f.image[..., ::-1])
                img = Compressed(header=header(ns, "color"), format="png", data=np.frombuffer(jpg.tobytes(), np.uint8))
            else:
                img = Image(
                    header=header(ns, "color"),
                    height=h,
                    width=wd,
                    encoding="rgb8",
                    is_bigendian=0,
                    step=wd * 3,
                    data=f.image.reshape(-1).copy(),
                )
            mm = np.round(f.depth * 1000).astype("<u2")
            enc = "yuv422" if k == bad_depth_at else "16UC1"
            dep = Image(
                header=header(ns + DEPTH_LAG_NS, "color"),
                height=h,
                width=wd,
                encoding=enc,
                is_bigendian=0,
                step=wd * 2,
                data=mm.view(np.uint8).reshape(-1).copy(),
            )
            kk = f.intrinsics
            kmat = np.array([kk["fx"], 0, kk["cx"], 0, kk["fy"], kk["cy"], 0, 0, 1], float)
            zero9, zero12 = np.zeros(9), np.zeros(12)
            names = ("D", "K", "R", "P") if kind == "ros1" else ("d", "k", "r", "p")
            info = Info(
                header=header(ns, "color"),
                height=h,
                width=wd,
                distortion_model="plumb_bob",
                **dict(zip(names, (np.zeros(5), kmat, zero9, zero12), strict=True)),
                binning_x=0,
                binning_y=0,
                roi=Roi(x_offset=0, y_offset=0, height=0, width=0, do_rectify=False),
            )
            pts = np.array([[0.5, -0.2, 2.0 + k], [np.nan, 0.0, 1.0], [1.0, 0.3, 3.5]], "<f4")  # a no-return
            rgb = np.array([0xFF0000, 0x00FF00, 0x0000FF], "<u4").view("<f4")
            packed = np.concatenate([pts, rgb[:, None], np.zeros((3, 1), "<f4")], axis=1)  # 20 bytes + 4 padding
            fields = [Field(name=n, offset=4 * i, datatype=7, count=1) for i, n in enumerate(("x", "y", "z", "rgb"))]
            cloud = Cloud(
                header=header(ns, "depth"),
                height=1,
                width=3,
                fields=fields,
                is_bigendian=False,
                point_step=20,
                row_step=60,
                data=packed[:, :5].copy().view(np.uint8).reshape(-1),
                is_dense=False,
            )
            for conn, m in ((c_img, img), (c_dep, dep), (c_inf, info), (c_log, String(data="x")), (c_pts, cloud)):
                w.write(conn, ns, ser(m, conn.msgtype))
    return path


@pytest.mark.parametrize("kind", ["ros1", "ros2-sqlite", "ros2-mcap"])
def test_a_bag_imports_colour_depth_and_camera_on_its_stamps(tmp_path, kind):
    frames = sim_frames(3)
    bag = write_bag(
        tmp_path / ("in.bag" if kind == "ros1" else "in_bag"), kind, frames, compressed_colour=kind == "ros2-mcap"
    )
    out = tmp_path / "out.mcap"
    r = runner.invoke(app, ["import", "rosbag", str(bag), "--out", str(out), "--json"])
    assert r.exit_code == 0, r.output
    summary = json.loads(r.stdout)
    assert summary["messages"] == {"image": 3, "depth": 3, "camera": 3, "points": 3} and summary["skipped"] == []
    assert summary["not_imported"] == ["/rosout_note [std_msgs/msg/String]"]
    rec = RecordingReader(out)
    images, depths, cams = (rec.read_topic(f"cam/{t}") for t in ("image", "depth", "camera"))
    assert [m.capture_ns for m in depths] == [T0_NS + k * 100_000_000 + DEPTH_LAG_NS for k in range(3)]
    for img, dep, f in zip(images, depths, frames, strict=True):
        assert np.array_equal(img.data, f.image)
        seen = f.depth > 0
        assert np.abs(dep.data[seen] - f.depth[seen]).max() <= 0.0005 + 1e-6 and dep.meta["source"] == "sensor"
    assert cams[0].meta["fx"] == pytest.approx(frames[0].intrinsics["fx"]) and cams[0].meta["width"] == 160
    cloud = rec.read_topic("cam/points")[2]
    assert np.array_equal(cloud.arrays["points"], np.array([[0.5, -0.2, 4.0], [1.0, 0.3, 3.5]], np.float32))
    assert cloud.arrays["colors"].tolist() == [[255, 0, 0], [0, 0, 255]] and cloud.meta["frame"] == "depth"


def test_a_message_that_does_not_convert_is_named_and_the_rest_kept(tmp_path):
    bag = write_bag(tmp_path / "in.bag", "ros1", sim_frames(3), bad_depth_at=1)
    r = runner.invoke(app, ["import", "rosbag", str(bag), "--out", str(tmp_path / "o.mcap"), "--json"])
    assert r.exit_code == 0, r.output
    summary = json.loads(r.stdout)
    assert summary["messages"] == {"image": 3, "depth": 2, "camera": 3, "points": 3}
    (line,) = summary["skipped"]
    assert line.startswith("/camera/aligned_depth_to_color/image_raw #1: encoding: 'yuv422' is not converted")


def test_a_bag_cut_short_is_refused_and_one_that_breaks_while_read_says_what_it_kept(tmp_path):
    bag = write_bag(tmp_path / "in.bag", "ros1", sim_frames(6))
    data = bag.read_bytes()
    bag.write_bytes(data[: len(data) * 2 // 3])  # a copy that stopped two thirds in: its index is gone
    r = runner.invoke(app, ["import", "rosbag", str(bag), "--out", str(tmp_path / "o.mcap")])
    assert r.exit_code == 1 and "in.bag: not a readable ROS bag" in r.output, r.output

    def breaking():  # a reader that fails on the third message, as rosbags does on a damaged chunk
        yield "a"
        yield "b"
        raise ValueError("chunk 7: bad compression")

    result = RosbagImport(tmp_path / "o.mcap", {"image": 2, "depth": 1})
    got: list[str] = []
    with pytest.raises(RecordingError, match=r"past this point \(ValueError: chunk 7.*the 3 messages converted"):
        got.extend(_reading(breaking(), "x.bag", "o.mcap", result))
    assert got == ["a", "b"]


def test_a_bag_without_images_or_not_a_bag_is_a_clear_error(tmp_path):
    r = runner.invoke(app, ["import", "rosbag", str(tmp_path / "none.bag"), "--out", str(tmp_path / "o.mcap")])
    assert r.exit_code == 1 and "no such bag" in r.output
    (tmp_path / "junk.bag").write_bytes(b"not a bag at all")
    r = runner.invoke(app, ["import", "rosbag", str(tmp_path / "junk.bag"), "--out", str(tmp_path / "o.mcap")])
    assert r.exit_code == 1 and "not a readable ROS bag" in r.output


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["ros1", "ros2-mcap"])
def test_an_imported_bag_replays_through_the_rgbd_graph(tmp_path, monkeypatch, kind):
    bag = write_bag(tmp_path / ("in.bag" if kind == "ros1" else "in_bag"), kind, sim_frames(2))
    out = tmp_path / "out.mcap"
    assert runner.invoke(app, ["import", "rosbag", str(bag), "--out", str(out), "--quiet"]).exit_code == 0
    monkeypatch.setenv("ARP_OUT", str(tmp_path))
    r = runner.invoke(app, ["replay", str(out), "--speed", "0"])  # the recording's own graph: graphs/rgbd.yaml
    assert r.exit_code == 0, r.output
    assert (tmp_path / "rgbd.ply").stat().st_size > 1000 and (tmp_path / "scene.jsonl").read_text().strip()
    r = runner.invoke(app, ["eval", "depth", "--recording", str(out), "--json", "--quiet"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["images"] == 2  # each image with the depth stamped 4 ms after it


def test_compressed_depth_in_millimetres_and_as_quantised_inverse_depth():
    from types import SimpleNamespace

    metres = np.array([[0.5, 1.0], [2.0, 0.0]], np.float32)  # 0: no depth
    mm = cv2.imencode(".png", np.round(metres * 1000).astype(np.uint16))[1].tobytes()
    header = struct.pack("<iff", 0, 0.0, 0.0)  # compressedDepth's 12-byte config header
    msg = SimpleNamespace(format="16UC1; compressedDepth png", data=np.frombuffer(header + mm, np.uint8))
    assert np.array_equal(depth_array(msg, True), metres)
    quant_a, quant_b = 100.0, 10.0  # depth = a / (v - b): v = a / depth + b
    v = np.where(metres > 0, quant_a / np.where(metres > 0, metres, 1) + quant_b, 0).round().astype(np.uint16)
    png = cv2.imencode(".png", v)[1].tobytes()
    msg = SimpleNamespace(
        format="32FC1; compressedDepth png",
        data=np.frombuffer(struct.pack("<iff", 0, quant_a, quant_b) + png, np.uint8),
    )
    assert np.allclose(depth_array(msg, True), metres, atol=1e-6)
    with pytest.raises(ValueError, match="RVL"):
        depth_array(SimpleNamespace(format="16UC1; compressedDepth rvl", data=np.zeros(4, np.uint8)), True)
