"""`arp import rgbd` -> a recording that replays through graphs/rgbd.yaml with the sensor's depth, and
`arp eval depth --recording` against that depth. Folders written by the tests from simulated frames, whose depth
and intrinsics are known exactly."""

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from ar_perception.cli import app
from ar_perception.geometry import open3d_module
from ar_perception.models.training.metrics import DepthMetrics
from ar_perception.recording import RecordingReader

from ..rgbd_folders import T0, sim_frames, write_tum

REPO = Path(__file__).resolve().parents[2]
runner = CliRunner()


@pytest.fixture(scope="module")
def imported(tmp_path_factory):
    """A 3-frame TUM folder and its import."""
    tmp = tmp_path_factory.mktemp("rgbd")
    frames = sim_frames(3)
    folder = write_tum(tmp / "seq", frames)
    out = tmp / "rgbd.mcap"
    r = runner.invoke(app, ["import", "rgbd", str(folder), "--out", str(out), "--json"])
    assert r.exit_code == 0, r.output
    return frames, out, json.loads(r.stdout)


def test_the_import_keeps_every_pair_on_the_folders_clock_with_depth_in_metres(imported):
    frames, out, summary = imported
    assert (summary["frames"], summary["unpaired_depth"], summary["skipped"]) == (3, 1, [])
    rec = RecordingReader(out)
    assert {t: i.kind for t, i in rec.topics.items()} == {
        "cam/image": "Image",
        "cam/depth": "Depth",
        "cam/camera": "CameraInfo",
    }
    depth = rec.read_topic("cam/depth")
    assert [m.capture_ns for m in depth] == [round((T0 + 0.5 * k) * 1e9) for k in range(3)]
    for m, f in zip(depth, frames, strict=True):
        seen = f.depth > 0
        assert np.abs(m.data[seen] - f.depth[seen]).max() <= 0.5 / 5000 + 1e-6
        assert m.meta["source"] == "sensor"
    camera = rec.read_topic("cam/camera")[0].meta
    assert camera["fx"] == pytest.approx(frames[0].intrinsics["fx"]) and camera["width"] == 160
    assert "rgbd_folder" in rec.graph  # graphs/rgbd.yaml goes with it: `arp replay` needs no graph argument


def test_a_pair_that_cannot_be_read_is_skipped_and_named_the_rest_kept(tmp_path):
    folder = write_tum(tmp_path / "seq", sim_frames(3))
    broken = sorted((folder / "rgb").glob("*.png"))[1]
    broken.write_bytes(b"not a png")
    r = runner.invoke(app, ["import", "rgbd", str(folder), "--out", str(tmp_path / "r.mcap"), "--json"])
    assert r.exit_code == 0, r.output
    summary = json.loads(r.stdout)
    assert summary["frames"] == 2 and len(summary["skipped"]) == 1 and broken.name in summary["skipped"][0]
    assert RecordingReader(tmp_path / "r.mcap").topics["cam/depth"].count == 2


def test_a_folder_that_is_no_rgbd_folder_is_a_clear_error(tmp_path):
    r = runner.invoke(app, ["import", "rgbd", str(tmp_path), "--out", str(tmp_path / "r.mcap")])
    assert r.exit_code == 1 and "no RGB-D layout found" in r.output
    assert not (tmp_path / "r.mcap").exists()


@pytest.mark.slow
def test_the_recording_replays_through_the_rgbd_graph_and_its_point_cloud_is_the_sensor_depth(
    imported, tmp_path, monkeypatch
):
    frames, out, _ = imported
    monkeypatch.setenv("ARP_OUT", str(tmp_path))
    r = runner.invoke(app, ["replay", str(out), "--graph", str(REPO / "graphs" / "rgbd.yaml"), "--speed", "0"])
    assert r.exit_code == 0, r.output
    o3d = open3d_module()
    cloud = np.asarray(o3d.io.read_point_cloud(str(tmp_path / "rgbd.ply")).points)
    # the truth, by hand: the last frame's depth through its pinhole intrinsics, camera frame
    f = frames[-1]
    k = f.intrinsics
    v, u = np.nonzero((f.depth > 0) & (f.depth <= 8.0))
    z = f.depth[v, u]
    truth = np.stack([(u - k["cx"]) / k["fx"] * z, (v - k["cy"]) / k["fy"] * z, z], axis=1)
    a, b = o3d.geometry.PointCloud(), o3d.geometry.PointCloud()
    a.points, b.points = o3d.utility.Vector3dVector(cloud), o3d.utility.Vector3dVector(truth)
    voxel = 0.02
    assert np.max(a.compute_point_cloud_distance(b)) <= voxel * 3**0.5  # every point where the sensor saw one
    assert np.max(b.compute_point_cloud_distance(a)) <= voxel * 3**0.5  # and the whole view covered
    facts = [json.loads(line) for line in (tmp_path / "scene.jsonl").read_text().splitlines()]
    assert facts  # the scene node ran on the sensor's depth


@pytest.mark.slow
def test_eval_depth_on_a_recording_gives_metric_and_median_scaled_errors(imported):
    frames, out, _ = imported
    r = runner.invoke(app, ["eval", "depth", "--recording", str(out), "--json", "--quiet"])
    assert r.exit_code == 0, r.output
    got = json.loads(r.stdout)
    assert got["images"] == 3 and got["truth"] == "cam/depth"
    for key in ("rmse", "absrel", "delta1"):
        assert np.isfinite(got["metric"][key]) and np.isfinite(got["median_scaled"][key])
    assert got["median_scaled"]["median_scale"] > 0


def test_median_scaling_removes_a_wrong_scale_and_keeps_shape_error():
    gt = np.random.default_rng(0).uniform(1, 5, (20, 20)).astype(np.float32)
    raw, scaled = DepthMetrics(), DepthMetrics(median_scale=True)
    for m in (raw, scaled):
        m.update(2 * gt, gt)  # right shape, twice too far
    assert raw.result()["absrel"] == pytest.approx(1.0) and scaled.result()["absrel"] == pytest.approx(0.0, abs=1e-9)
    assert scaled.result()["median_scale"] == pytest.approx(0.5)
    bent = DepthMetrics(median_scale=True)
    bent.update(gt**1.5, gt)  # wrong shape: scaling cannot remove it
    assert bent.result()["absrel"] > 0.1


def test_eval_needs_data_or_a_recording_not_both():
    r = runner.invoke(app, ["eval", "depth"])
    assert r.exit_code == 1 and "either --data" in r.output
    r = runner.invoke(app, ["eval", "seg", "--recording", "x.mcap"])
    assert r.exit_code == 1 and "x.mcap: no such recording" in r.output
    r = runner.invoke(app, ["eval", "seg", "--recording", "x.mcap", "--data", "d"])
    assert r.exit_code == 1 and "either --data" in r.output


@pytest.mark.slow
def test_eval_seg_on_a_recording_with_masks_matches_classes_by_name(tmp_path):
    """A recording of the simulator's images and masks (its classes, in another order than the head's would be
    fine too): the shipped head scores as on the simulator, well above chance."""
    rec = tmp_path / "sim.mcap"
    graph = tmp_path / "g.yaml"
    graph.write_text("nodes:\n  - {id: cam, node: sim, params: {seed: 4242, fps: 2, frames: 3, realtime: false}}\n")
    r = runner.invoke(app, ["record", str(graph), "-o", str(rec), "--topics", "cam/image", "--topics", "cam/labels_gt"])
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, ["eval", "seg", "--recording", str(rec), "--truth-topic", "cam/labels_gt", "--json"])
    assert r.exit_code == 0, r.output
    got = json.loads(r.stdout)
    assert got["images"] == 3 and 0.3 < got["miou"] <= 1.0 and got["pixel_acc"] > 0.6


def test_a_video_file_imports_as_image_and_camera_on_its_own_clock(tmp_path):
    import cv2

    frames = sim_frames(4)
    path = tmp_path / "walk.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"MJPG"), 10.0, (160, 120))
    for f in frames:
        writer.write(np.ascontiguousarray(f.image[..., ::-1]))
    writer.release()
    out = tmp_path / "video.mcap"
    r = runner.invoke(app, ["import", "video", str(path), "--out", str(out), "--hfov-deg", "60", "--json"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["frames"] == 4
    rec = RecordingReader(out)
    images, cams = rec.read_topic("cam/image"), rec.read_topic("cam/camera")
    assert [m.capture_ns for m in images] == [round(k * 0.1 * 1e9) for k in range(4)]  # 10 fps, from 0
    assert np.abs(images[2].data.astype(int) - frames[2].image).mean() < 12  # MJPG is lossy
    fx = 160 / 2 / np.tan(np.radians(30))
    assert cams[0].meta["fx"] == pytest.approx(fx, rel=1e-3) and "camera" in rec.graph
    r = runner.invoke(app, ["import", "video", str(tmp_path / "none.mp4"), "--out", str(tmp_path / "x.mcap")])
    assert r.exit_code == 1 and "no such video file" in r.output
