"""RGB-D folders (ar_perception/rgbd.py): TUM and plain layouts, pairing by time, depth in metres, intrinsics,
and the errors a wrong folder gets."""

import shutil

import cv2
import numpy as np
import pytest

from ar_perception.errors import ArpError
from ar_perception.rgbd import FREIBURG, open_rgbd_folder, read_intrinsics

from .rgbd_folders import sim_frames, write_tum


def test_a_tum_folder_pairs_colour_and_depth_by_time_and_reads_metres(tmp_path):
    frames = sim_frames(3)
    folder = open_rgbd_folder(write_tum(tmp_path / "seq", frames))
    assert folder.layout == "tum" and len(folder.pairs) == 3
    assert (folder.unpaired_rgb, folder.unpaired_depth) == (0, 1)  # the lone depth frame, 0.2 s from any colour
    assert all(p.dt_s == pytest.approx(0.005, abs=1e-6) for p in folder.pairs)
    k = frames[0].intrinsics
    assert {key: folder.intrinsics[key] for key in ("fx", "fy", "cx", "cy")} == pytest.approx(
        {key: float(k[key]) for key in ("fx", "fy", "cx", "cy")}
    )
    assert (folder.intrinsics["width"], folder.intrinsics["height"]) == (160, 120)  # from the frames
    for pair, f in zip(folder.pairs, frames, strict=True):
        rgb, depth = folder.load(pair)
        assert np.array_equal(rgb, f.image)
        seen = f.depth > 0
        assert np.abs(depth[seen] - f.depth[seen]).max() <= 0.5 / 5000 + 1e-6  # 16-bit at 1/5000 m
        assert (depth[~seen] == 0).all()


def test_pairs_further_apart_than_the_tolerance_are_not_made(tmp_path):
    folder = write_tum(tmp_path / "seq", sim_frames(2))
    with pytest.raises(ArpError, match=r"no colour frame has a depth frame within 4 ms \(2 colour, 3 depth"):
        open_rgbd_folder(folder, max_dt_s=0.004)


def test_a_tum_folder_named_after_its_camera_gets_the_published_intrinsics(tmp_path):
    folder = write_tum(tmp_path / "rgbd_dataset_freiburg1_xyz", sim_frames(1), intrinsics=False)
    got = open_rgbd_folder(folder)
    assert got.intrinsics == FREIBURG["freiburg1"] and "freiburg1" in got.notes[0]
    other = write_tum(tmp_path / "mine", sim_frames(1), intrinsics=False)
    with pytest.raises(ArpError, match="no intrinsics: put intrinsics.yaml"):
        open_rgbd_folder(other)
    assert open_rgbd_folder(other, intrinsics={"fx": 100, "fy": 100, "cx": 80, "cy": 60}).intrinsics["fx"] == 100


def test_plain_file_names_that_are_frame_numbers_are_timed_by_fps_and_timestamps_by_themselves(tmp_path):
    f = sim_frames(1)[0]
    for folder, stems in (("numbered", ["000000", "000001", "000002"]), ("stamped", ["1.25", "1.5", "1.75"])):
        root = tmp_path / folder
        (root / "rgb").mkdir(parents=True)
        (root / "depth").mkdir()
        for stem in stems:
            cv2.imwrite(str(root / "rgb" / f"{stem}.png"), f.image[..., ::-1])
            cv2.imwrite(str(root / "depth" / f"{stem}.png"), np.round(f.depth * 1000).astype(np.uint16))
        (root / "intrinsics.yaml").write_text("{fx: 100, fy: 100, cx: 80, cy: 60}")
    assert [p.time_s for p in open_rgbd_folder(tmp_path / "numbered", fps=20).pairs] == [0.0, 0.05, 0.1]
    assert [p.time_s for p in open_rgbd_folder(tmp_path / "stamped").pairs] == [1.25, 1.5, 1.75]
    (tmp_path / "numbered" / "rgb" / "000001.png").unlink()  # a colour frame missing: the others keep their pairs
    got = open_rgbd_folder(tmp_path / "numbered", fps=20)
    assert [(p.rgb.stem, p.depth.stem) for p in got.pairs] == [("000000", "000000"), ("000002", "000002")]
    assert (got.unpaired_rgb, got.unpaired_depth) == (0, 1)


def test_a_plain_folder_with_numbered_frames_and_millimetre_depth(tmp_path):
    frames = sim_frames(2)
    (tmp_path / "color").mkdir()
    (tmp_path / "depth").mkdir()
    for k, f in enumerate(frames):
        cv2.imwrite(str(tmp_path / "color" / f"frame{k:03d}.jpg"), f.image[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, 100])
        cv2.imwrite(str(tmp_path / "depth" / f"frame{k:03d}.png"), np.round(f.depth * 1000).astype(np.uint16))
    (tmp_path / "camera.json").write_text('{"K": [100, 0, 79.5, 0, 100, 59.5, 0, 0, 1]}')
    folder = open_rgbd_folder(tmp_path, fps=10)
    assert folder.layout == "plain" and [p.time_s for p in folder.pairs] == [0.0, 0.1]
    assert folder.intrinsics["fx"] == 100 and folder.intrinsics["cx"] == 79.5
    _, depth = folder.load(folder.pairs[1])
    seen = frames[1].depth > 0
    assert np.abs(depth[seen] - frames[1].depth[seen]).max() <= 0.0005 + 1e-6


def _without_depth(folder):
    (folder / "depth.txt").unlink()
    shutil.rmtree(folder / "depth")


@pytest.mark.parametrize(
    "broken,message",
    [
        (lambda d: _without_depth(d), "no RGB-D layout found"),
        (lambda d: (d / "rgb.txt").write_text("1305031102.1 \n"), "a timestamp without a file name"),
        (lambda d: (d / "rgb.txt").write_text("soon rgb/x.png\n"), "rgb.txt:1: expected 'timestamp filename'"),
        (lambda d: (d / "intrinsics.yaml").write_text("fx: 1\n"), "missing fy, cx, cy"),
    ],
)
def test_a_broken_folder_is_an_error_that_says_what_and_where(tmp_path, broken, message):
    folder = write_tum(tmp_path / "seq", sim_frames(1))
    broken(folder)
    with pytest.raises(ArpError, match=message):
        open_rgbd_folder(folder)


def test_a_depth_scale_of_zero_is_an_error_not_the_default(tmp_path):
    with pytest.raises(ArpError, match="depth_scale must be a positive number, got 0"):
        open_rgbd_folder(write_tum(tmp_path / "seq", sim_frames(1)), depth_scale=0)


def test_depth_not_registered_to_colour_is_an_error_when_read(tmp_path):
    got = open_rgbd_folder(write_tum(tmp_path / "seq", sim_frames(1)))
    cv2.imwrite(str(got.pairs[0].depth), np.zeros((60, 80), np.uint16))
    with pytest.raises(ArpError, match="depth is 80x60 but its colour frame .* is 160x120; register depth"):
        got.load(got.pairs[0])


def test_intrinsics_from_opencv_style_files(tmp_path):
    path = tmp_path / "k.yaml"
    path.write_text("camera_matrix: {rows: 3, cols: 3, data: [500, 0, 320, 0, 510, 240, 0, 0, 1]}\nimage_width: 640\n")
    assert read_intrinsics(path) == {"fx": 500, "fy": 510, "cx": 320, "cy": 240, "width": 640}
    with pytest.raises(ArpError, match="fx and fy must be positive"):
        read_intrinsics({"fx": 0, "fy": 1, "cx": 1, "cy": 1})
