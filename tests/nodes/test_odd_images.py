"""Images, depth maps, masks and camera infos of odd sizes, channel counts, dtypes and values: what the kind check
refuses (with its exact message), what the sources convert, and what each consumer does with the rest."""

from __future__ import annotations

import logging
import math
import re
from pathlib import Path

import numpy as np
import pytest

from ar_perception import kinds
from ar_perception.errors import NodeError
from ar_perception.images import to_rgb
from ar_perception.nodes.invert import Invert
from ar_perception.runtime.harness import NodeHarness, run_node
from ar_perception.runtime.msg import Msg

CAM = {"fx": 50.0, "fy": 50.0, "cx": 31.5, "cy": 23.5, "width": 64, "height": 48}


def exactly(text: str) -> str:
    return f"^{re.escape(text)}$"


def image(shape: tuple[int, ...], dtype: str = "uint8") -> np.ndarray:
    return np.random.default_rng(0).integers(0, 255, shape).astype(dtype)


def read_only(a: np.ndarray) -> np.ndarray:
    a = a.copy()
    a.flags.writeable = False
    return a


# -- the kind check ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "data, problem",
    [
        (image((240, 320)), "Image.data must be 3-D with last axis 3 (got shape (240, 320))"),
        (image((240, 320, 1)), "Image.data must be 3-D with last axis 3 (got shape (240, 320, 1))"),
        (image((240, 320, 4)), "Image.data must be 3-D with last axis 3 (got shape (240, 320, 4))"),
        (image((240, 320, 3), "float64") / 255, "Image.data must be uint8 (got float64)"),
        (image((240, 320, 3), "float32"), "Image.data must be uint8 (got float32)"),
        (image((240, 320, 3), "uint16"), "Image.data must be uint8 (got uint16)"),
        (image((0, 320, 3)), "Image.data is empty (got shape (0, 320, 3))"),
        (image((240, 0, 3)), "Image.data is empty (got shape (240, 0, 3))"),
        (image((0, 0, 3)), "Image.data is empty (got shape (0, 0, 3))"),
    ],
)
def test_images_the_kind_refuses(data, problem):
    assert kinds.check("Image", {"data": data}, {}) == problem


@pytest.mark.parametrize(
    "data",
    [
        image((1, 1, 3)),
        image((5, 7, 3)),
        image((239, 321, 3)),
        image((480, 640, 3))[::2, ::2],  # non-contiguous
        image((240, 320, 3))[:, ::-1],  # negative strides
        image((240, 320, 3))[..., ::-1],  # a BGR view: not detectable, an RGB image as far as anyone can tell
        np.asfortranarray(image((240, 320, 3))),
        read_only(image((240, 320, 3))),  # as received from the wire
    ],
    ids=["1x1", "7x5", "321x239", "strided", "flipped", "bgr-view", "fortran", "read-only"],
)
def test_images_the_kind_takes(data):
    assert kinds.check("Image", {"data": data}, {}) is None


@pytest.mark.parametrize(
    "kind, arrays, meta, problem",
    [
        ("Depth", {"data": np.zeros((0, 64), np.float32)}, {}, "Depth.data is empty (got shape (0, 64))"),
        ("Depth", {"data": np.zeros((48, 64), np.uint16)}, {}, "Depth.data must be float32 (got uint16)"),
        ("Depth", {"data": np.zeros((48, 64), np.float64)}, {}, "Depth.data must be float32 (got float64)"),
        ("Depth", {"data": np.zeros((48, 64, 1), np.float32)}, {}, "Depth.data must be 2-D (got shape (48, 64, 1))"),
        ("Mask", {"data": np.zeros((48, 0), np.uint8)}, {"classes": []}, "Mask.data is empty (got shape (48, 0))"),
        (
            "Mask",
            {"data": np.zeros((48, 64), np.float32)},
            {"classes": []},
            "Mask.data must be uint8/int32/int64/uint16 (got float32)",
        ),
        (
            "Features",
            {"cls": np.zeros(384, np.float32), "patches": np.zeros((0, 0, 384), np.float32)},
            {},
            "Features.patches is empty (got shape (0, 0, 384))",
        ),
    ],
)
def test_depth_masks_and_features_the_kind_refuses(kind, arrays, meta, problem):
    assert kinds.check(kind, arrays, meta) == problem


def test_depth_without_a_value_is_well_formed():
    depth = np.array([[np.nan, np.inf], [-np.inf, -1.0]], np.float32)  # all "no depth"
    assert kinds.check("Depth", {"data": depth}, {}) is None
    assert kinds.check("Depth", {"data": np.ones((1, 1), np.float32)}, {}) is None


@pytest.mark.parametrize(
    "key, value, problem",
    [
        ("fx", 0, "CameraInfo meta.fx must be a positive number of pixels (got 0)"),
        ("fy", -1.0, "CameraInfo meta.fy must be a positive number of pixels (got -1.0)"),
        ("fx", float("inf"), "CameraInfo meta.fx must be a positive number of pixels (got inf)"),
        ("cx", float("nan"), "CameraInfo meta.cx must be a finite number of pixels (got nan)"),
        ("cy", "23.5", "CameraInfo meta.cy must be a finite number of pixels (got '23.5')"),
        ("width", 0, "CameraInfo meta.width must be a positive whole number of pixels (got 0)"),
        ("height", 48.5, "CameraInfo meta.height must be a positive whole number of pixels (got 48.5)"),
        ("width", True, "CameraInfo meta.width must be a positive whole number of pixels (got True)"),
        ("height", None, "CameraInfo meta.height must be a positive whole number of pixels (got None)"),
    ],
)
def test_camera_infos_the_kind_refuses(key, value, problem):
    assert kinds.check("CameraInfo", {}, {**CAM, key: value}) == problem


@pytest.mark.parametrize("key, value", [("width", 64.0), ("width", np.int64(64)), ("cx", -3.0), ("fx", np.float32(9))])
def test_camera_infos_the_kind_takes(key, value):
    assert kinds.check("CameraInfo", {}, {**CAM, key: value}) is None


# -- the runtime: dropped and counted, or raised in strict mode -----------------------------------------------


@pytest.mark.parametrize(
    "data, problem",
    [
        (image((48, 64)), "Image.data must be 3-D with last axis 3 (got shape (48, 64))"),
        (image((0, 64, 3)), "Image.data is empty (got shape (0, 64, 3))"),
        (image((48, 64, 3), "uint16"), "Image.data must be uint8 (got uint16)"),
    ],
)
def test_a_bad_image_is_dropped_and_counted_and_the_node_goes_on(data, problem):
    good = Msg("Image", {"data": image((48, 64, 3))})
    h = NodeHarness(Invert, strict=False)
    out = [
        o for m in (good, Msg("Image", {"data": data}), Msg("Image", {"data": data}), good) for o in h.feed("image", m)
    ]
    assert len(out) == 2 and h.dropped == {"image": 2}
    with pytest.raises(NodeError, match=exactly(f"strict mode: node 'node' input 'image': {problem}")):
        run_node(Invert, [("image", Msg("Image", {"data": data}))])


# -- sources: what devices and files give, made RGB -----------------------------------------------------------

GRAY = np.array([[0, 128], [255, 7]], np.uint8)
BGR = np.dstack([GRAY, GRAY // 2, GRAY // 3])  # blue, green, red planes


@pytest.mark.parametrize(
    "frame, order, want",
    [
        (GRAY, "bgr", np.dstack([GRAY] * 3)),
        (GRAY[..., None], "rgb", np.dstack([GRAY] * 3)),
        (BGR, "bgr", BGR[..., ::-1]),
        (BGR, "rgb", BGR),
        (np.dstack([BGR, np.full_like(GRAY, 9)]), "bgr", BGR[..., ::-1]),  # BGRA: alpha dropped
        (np.dstack([BGR, np.full_like(GRAY, 9)]), "rgb", BGR),  # RGBA
        (GRAY.astype(np.uint16) * 257, "rgb", np.dstack([GRAY] * 3)),  # 16-bit: 65535 -> 255
        (GRAY.astype(np.float32) / 255, "rgb", np.dstack([GRAY] * 3)),  # float in [0, 1]
        (BGR[:, ::-1], "bgr", BGR[:, ::-1, ::-1]),  # non-contiguous
    ],
    ids=["gray", "gray-1", "bgr", "rgb", "bgra", "rgba", "uint16", "float", "strided"],
)
def test_to_rgb_converts_what_devices_and_files_give(frame, order, want):
    rgb = to_rgb(frame, order)
    assert rgb.dtype == np.uint8 and rgb.flags.c_contiguous and kinds.check("Image", {"data": rgb}, {}) is None
    np.testing.assert_array_equal(rgb, want)


@pytest.mark.parametrize(
    "frame, problem",
    [
        (np.zeros((4, 4, 2), np.uint8), "a frame must be (H, W) gray or (H, W, 1|3|4) channels, got shape (4, 4, 2)"),
        (np.zeros((4, 4, 5), np.uint8), "a frame must be (H, W) gray or (H, W, 1|3|4) channels, got shape (4, 4, 5)"),
        (np.zeros((4,), np.uint8), "a frame must be (H, W) gray or (H, W, 1|3|4) channels, got shape (4,)"),
        (np.zeros((0, 4, 3), np.uint8), "a frame must be at least 1x1 pixels, got shape (0, 4, 3)"),
        (np.zeros((4, 4, 3), np.int32), "a frame must be uint8, uint16 or float in [0, 1], got int32"),
        (np.full((4, 4, 3), 255.0, np.float32), "a float frame must hold values in [0, 1], got 255 to 255"),
        (np.full((4, 4), np.nan, np.float32), "a float frame must be finite, got 16 NaN/inf values"),
    ],
)
def test_to_rgb_refuses_what_it_cannot_read(frame, problem):
    with pytest.raises(ValueError, match=exactly(problem)):
        to_rgb(frame)


class FakeCapture:
    """An OpenCV capture that delivers the given frames (as a camera driver or a decoder would)."""

    def __init__(self, frames: list[np.ndarray]):
        self.frames = list(frames)

    def get(self, prop: int) -> float:
        return 20.0

    def grab(self) -> bool:
        return bool(self.frames)

    def retrieve(self) -> tuple[bool, np.ndarray]:
        return True, self.frames.pop(0)

    def set(self, *args: object) -> bool:
        return True

    def release(self) -> None:
        pass


@pytest.fixture
def camera(tmp_path):
    """A camera node set up on a real video file, whose capture the test then replaces."""
    cv2 = pytest.importorskip("cv2")
    from ar_perception.nodes.camera import Camera

    path = tmp_path / "clip.mp4"
    w = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 20, (64, 48))
    w.write(np.zeros((48, 64, 3), np.uint8))
    w.release()
    node = Camera(Camera.Params(source=str(path), realtime=False), node_id="cam")
    node.setup()
    node.cap.release()
    yield node
    node.teardown()


def test_the_camera_sends_rgb_whatever_the_capture_delivers(camera):
    frames: list[np.ndarray] = [BGR, GRAY, GRAY[..., None], np.dstack([BGR, GRAY]), BGR.astype(np.uint16) * 257]
    camera.cap = FakeCapture(frames)
    out = list(camera.produce())
    assert len(out) == 5
    for o in out:
        assert kinds.check("Image", dict(o["image"].arrays), {}) is None
    np.testing.assert_array_equal(out[0]["image"].data, BGR[..., ::-1])
    np.testing.assert_array_equal(out[1]["image"].data, np.dstack([GRAY] * 3))
    np.testing.assert_array_equal(out[3]["image"].data, BGR[..., ::-1])
    np.testing.assert_array_equal(out[4]["image"].data, BGR[..., ::-1])


def test_a_capture_with_frames_it_cannot_convert_fails_the_camera(camera):
    camera.cap = FakeCapture([np.zeros((48, 64, 2), np.uint8)])
    with pytest.raises(
        NodeError,
        match=exactly(
            f"node 'cam': params.source: '{camera.params.source}' gives frames that cannot be made RGB: a frame must "
            "be (H, W) gray or (H, W, 1|3|4) channels, got shape (48, 64, 2)"
        ),
    ):
        list(camera.produce())


def test_replay_makes_recorded_images_rgb_and_drops_what_it_cannot(tmp_path, caplog):
    pytest.importorskip("mcap")
    from ar_perception.nodes.replay import Replay
    from ar_perception.recording import RecordingWriter
    from ar_perception.runtime.harness import run_source

    recorded: dict[str, np.ndarray] = {
        "gray": GRAY,
        "rgba": np.dstack([BGR, GRAY]),
        "wide": BGR.astype(np.uint16) * 257,
        "unit": BGR.astype(np.float32) / 255,
        "rgb": BGR,
        "two": np.zeros((2, 2, 2), np.uint8),
    }
    path = tmp_path / "old.mcap"
    with RecordingWriter(path) as w:
        for i, (topic, data) in enumerate(recorded.items()):
            w.write(Msg("Image", {"data": data}, {}, capture_ns=i, topic=topic, seq=0, publish_ns=i))
    with caplog.at_level(logging.WARNING):
        out = dict(run_source(Replay, {"file": str(path), "speed": 0}, strict=False))
    assert sorted(out) == ["gray", "rgb", "rgba", "unit", "wide"]
    np.testing.assert_array_equal(out["gray"].data, np.dstack([GRAY] * 3))
    for name in ("rgba", "wide", "unit", "rgb"):
        np.testing.assert_array_equal(out[name].data, BGR)
    assert [r.getMessage() for r in caplog.records if "dropped" in r.getMessage()] == [
        "node 'source' output 'two': Image.data must be 3-D with last axis 3 (got shape (2, 2, 2)); dropped (warned "
        "once)"
    ]


# -- the encoder: any size in, features out -------------------------------------------------------------------


@pytest.fixture(scope="module")
def encoder():
    pytest.importorskip("torch")
    from ar_perception.nodes.encoder import Encoder

    h = NodeHarness(Encoder, {"model": "eupe-vit-t", "weights": None, "backend": "torch"}, node_id="enc")
    yield h
    h.close()


@pytest.mark.parametrize(
    "hw, grid",
    [
        ((1, 1), (16, 16)),  # upscaled to the 256 short side
        ((5, 7), (16, 22)),  # 7x5: 358 -> 352 wide
        ((239, 321), (16, 21)),
        ((100, 700), (16, 112)),  # 7:1
        ((8000, 8000), (16, 16)),  # 64 megapixels: scaled down
    ],
)
def test_the_encoder_takes_frames_of_any_size(encoder, hw, grid):
    ((_, out),) = encoder.feed("image", Msg("Image", {"data": np.zeros((*hw, 3), np.uint8)}))
    assert out.arrays["patches"].shape == (*grid, 192) and out.meta["image_size"] == [hw[1], hw[0]]
    assert np.isfinite(out.arrays["patches"]).all()


@pytest.mark.parametrize("hw, seen", [((10, 4000), "102400x256"), ((4000, 10), "256x102400"), ((30, 300), "2560x256")])
def test_frames_too_elongated_for_the_encoder_are_refused(encoder, hw, seen):
    h, w = hw
    with pytest.raises(
        NodeError,
        match=exactly(
            f"node 'enc': input 'image': a {w}x{h} frame is too elongated for the encoder (it would take {seen} "
            "pixels; at most 8:1); crop it in the source"
        ),
    ):
        encoder.feed("image", Msg("Image", {"data": np.zeros((h, w, 3), np.uint8)}))


def test_strided_flipped_and_read_only_frames_encode_as_their_copies(encoder):
    frame = image((96, 128, 3))
    for view in (frame[::2, ::2], frame[:, ::-1], read_only(frame), np.asfortranarray(frame)):
        ((_, a),) = encoder.feed("image", Msg("Image", {"data": view}))
        ((_, b),) = encoder.feed("image", Msg("Image", {"data": np.ascontiguousarray(view)}))
        np.testing.assert_array_equal(a.arrays["patches"], b.arrays["patches"])


# -- the heads: the image size they are asked for ------------------------------------------------------------

D = 8


@pytest.fixture(scope="module")
def heads(tmp_path_factory) -> tuple[Path, Path]:
    pytest.importorskip("safetensors")
    from ar_perception.models.heads import BN_EPS, DEPTH_BINS, HeadInfo, LinearHead

    def state(k: int, seed: int) -> dict[str, np.ndarray]:
        rng = np.random.default_rng(seed)
        return {
            "bn.weight": rng.uniform(0.5, 1.5, D),
            "bn.bias": rng.normal(size=D),
            "bn.running_mean": rng.normal(size=D),
            "bn.running_var": rng.uniform(0.5, 2, D) - BN_EPS,
            "conv.weight": rng.normal(size=(k, D, 1, 1)),
            "conv.bias": rng.normal(size=k),
        }

    folder = tmp_path_factory.mktemp("heads")
    seg = LinearHead(
        HeadInfo("seg", "fake-enc", D, classes=["none", "floor", "wall", "box"], ignore_index=0), state(4, 0)
    )
    depth = LinearHead(
        HeadInfo("depth", "fake-enc", D, bins={"n": DEPTH_BINS, "min": 0.001, "max": 10.0}), state(DEPTH_BINS, 1)
    )
    return seg.save(folder / "seg.safetensors"), depth.save(folder / "depth.safetensors")


def features(image_size: object, patches: np.ndarray | None = None) -> Msg:
    rng = np.random.default_rng(3)
    if patches is None:
        patches = rng.normal(size=(4, 6, D)).astype(np.float32)
    return Msg(
        "Features",
        {"cls": rng.normal(size=D).astype(np.float32), "patches": patches},
        {"encoder": "fake-enc", "image_size": image_size},
    )


@pytest.mark.parametrize("image_size", [[0, 40], [60, -1], [60.5, 40], [60], "60x40", [True, 40]])
@pytest.mark.parametrize("task", ["seg", "depth"])
def test_heads_refuse_an_image_size_that_is_not_one(heads, task, image_size):
    from ar_perception.nodes.depth import DepthHead
    from ar_perception.nodes.segment import Segment

    cls, path = (Segment, heads[0]) if task == "seg" else (DepthHead, heads[1])
    with pytest.raises(
        NodeError,
        match=exactly(
            "node 'node': Features meta.image_size must be [width, height] in whole pixels, at least 1 "
            f"(got {image_size!r})"
        ),
    ):
        run_node(cls, [("features", features(image_size))], {"head": str(path)})


@pytest.mark.parametrize("image_size", [[1, 1], [7, 5], [321, 239]])
def test_heads_answer_at_tiny_and_odd_image_sizes(heads, image_size):
    from ar_perception.nodes.depth import DepthHead
    from ar_perception.nodes.segment import Segment

    w, h = image_size
    patches = read_only(np.random.default_rng(1).normal(size=(4, 6, D)).astype(np.float32)[:, ::-1])
    ((_, mask),) = run_node(Segment, [("features", features(image_size, patches))], {"head": str(heads[0])})
    ((_, depth),) = run_node(DepthHead, [("features", features(image_size, patches))], {"head": str(heads[1])})
    assert mask.data.shape == depth.data.shape == (h, w)
    assert kinds.check("Mask", dict(mask.arrays), dict(mask.meta)) is None
    assert kinds.check("Depth", dict(depth.arrays), dict(depth.meta)) is None and np.isfinite(depth.data).all()


def test_a_huge_mask_is_computed_in_bounded_memory(heads, monkeypatch):
    from ar_perception.models.heads import load_head
    from ar_perception.nodes import segment
    from ar_perception.nodes.segment import Segment

    cv2 = pytest.importorskip("cv2")
    head = load_head(heads[0], "seg")
    monkeypatch.setattr(segment, "_MAX_LOGITS_BYTES", 4 << 20)  # 512 MiB in use; 4 MiB keeps the test small
    msg = features([8000, 8000])
    ((_, mask),) = run_node(Segment, [("features", msg)], {"head": str(heads[0])})
    assert mask.data.shape == (8000, 8000) and mask.data.dtype == np.uint8
    # 4 classes x 4 bytes: about 512 x 512 logits fill 4 MiB; computed there and scaled up, nearest-neighbour
    n = int(8000 * math.sqrt((4 << 20) / (4 * 4 * 8000 * 8000)))
    assert n in (511, 512)
    small = head.predict(msg.arrays["patches"], (n, n)).astype(np.uint8)
    np.testing.assert_array_equal(mask.data, cv2.resize(small, (8000, 8000), interpolation=cv2.INTER_NEAREST))
    # what it gives is close to the mask at full size: they differ along class borders only
    monkeypatch.setattr(segment, "_MAX_LOGITS_BYTES", 1 << 20)
    ((_, bounded),) = run_node(Segment, [("features", features([800, 600]))], {"head": str(heads[0])})
    full = head.predict(msg.arrays["patches"], (800, 600))
    assert bounded.data.shape == full.shape == (600, 800) and (bounded.data == full).mean() > 0.97


# -- the point cloud: depth, image and camera that do not fit together ------------------------------------------


def cloud_inputs(depth: np.ndarray, rgb: np.ndarray | None = None, cam: dict | None = None) -> list[tuple[str, Msg]]:
    msgs = [("camera", Msg("CameraInfo", {}, cam or CAM, 1))]
    if rgb is not None:
        msgs.append(("image", Msg("Image", {"data": rgb}, {}, 1)))
    return msgs + [("depth", Msg("Depth", {"data": depth}, {}, 1))]


def test_pixels_without_depth_give_no_points():
    from ar_perception.nodes.pointcloud import PointCloud

    depth = np.full((48, 64), 2.0, np.float32)
    depth[0, :4] = [np.nan, np.inf, -np.inf, -1.0]
    depth[1, 0] = 0.0
    ((_, cloud),) = run_node(PointCloud, cloud_inputs(read_only(depth), image((48, 64, 3))))
    assert cloud.arrays["points"].shape == (48 * 64 - 5, 3) and np.isfinite(cloud.arrays["points"]).all()
    assert (cloud.arrays["points"][:, 2] == 2.0).all()


@pytest.mark.parametrize(
    "depth_hw, image_hw", [((24, 32), (48, 64)), ((23, 33), None), ((49, 63), (240, 320)), ((96, 128), (47, 65))]
)
def test_sizes_that_differ_by_a_scale_are_handled(depth_hw, image_hw):
    from ar_perception.nodes.pointcloud import PointCloud

    depth = np.full(depth_hw, 2.0, np.float32)[:, ::-1]  # strided too
    rgb = image((*image_hw, 3)) if image_hw else None
    ((_, cloud),) = run_node(PointCloud, cloud_inputs(depth, rgb))
    assert len(cloud.arrays["points"]) == depth.size


@pytest.mark.parametrize(
    "depth_hw, image_hw, problem",
    [
        (
            (64, 48),
            None,
            "input 'depth' is 48x64 but input 'camera' is for 64x48 (width x height): another aspect "
            "ratio, so the intrinsics cannot be scaled to the depth map",
        ),
        (
            (48, 80),
            None,
            "input 'depth' is 80x48 but input 'camera' is for 64x48 (width x height): another aspect "
            "ratio, so the intrinsics cannot be scaled to the depth map",
        ),
        (
            (48, 64),
            (40, 64),
            "input 'image' is 64x40 but input 'depth' is 64x48 (width x height): another aspect "
            "ratio, so the colours would not line up with the points",
        ),
        (
            (24, 32),
            (64, 48),
            "input 'image' is 48x64 but input 'depth' is 32x24 (width x height): another aspect "
            "ratio, so the colours would not line up with the points",
        ),
    ],
)
def test_sizes_of_another_aspect_ratio_are_refused(depth_hw, image_hw, problem):
    from ar_perception.nodes.pointcloud import PointCloud

    rgb = image((*image_hw, 3)) if image_hw else None
    with pytest.raises(NodeError, match=exactly(f"node 'node': {problem}")):
        run_node(PointCloud, cloud_inputs(np.ones(depth_hw, np.float32), rgb))


def test_a_camera_info_without_a_size_is_dropped_before_the_point_cloud():
    from ar_perception.nodes.pointcloud import PointCloud

    h = NodeHarness(PointCloud, strict=False)
    for port, msg in cloud_inputs(np.ones((48, 64), np.float32), cam={**CAM, "width": 0}):
        assert h.feed(port, msg) == []
    assert h.dropped == {"camera": 1}
    with pytest.raises(
        NodeError,
        match=exactly(
            "strict mode: node 'node' input 'camera': CameraInfo meta.width must be a positive whole number of "
            "pixels (got 0)"
        ),
    ):
        run_node(PointCloud, cloud_inputs(np.ones((48, 64), np.float32), cam={**CAM, "width": 0}))


# -- the recorder and the Rerun view ------------------------------------------------------------------------------


def test_the_recorder_keeps_odd_but_valid_arrays_and_drops_malformed_ones(tmp_path):
    pytest.importorskip("mcap")
    from ar_perception.nodes.recorder import Recorder
    from ar_perception.recording import RecordingReader

    depth = np.full((3, 5), np.nan, np.float32)
    depth[1, 1] = 1.5
    sent = {
        "strided": image((10, 12, 3))[::2, ::-3],
        "ro": read_only(image((4, 4, 3))),
        "one": image((1, 1, 3)),
        "fortran": np.asfortranarray(image((5, 7, 3))),
    }
    h = NodeHarness(Recorder, {"file": str(tmp_path / "r.mcap")}, strict=False)
    for i, (name, data) in enumerate(sent.items()):
        h.feed(name, Msg("Image", {"data": data}, {}, capture_ns=i, topic=f"cam/{name}", seq=0, publish_ns=i + 1))
    h.feed("depth", Msg("Depth", {"data": depth}, {}, capture_ns=9, topic="cam/depth", seq=0, publish_ns=9))
    h.feed("gray", Msg("Image", {"data": image((4, 4))}, {}, capture_ns=9, topic="cam/gray", seq=0, publish_ns=9))
    h.close()
    assert h.dropped == {"gray": 1}
    r = RecordingReader(tmp_path / "r.mcap")
    assert sorted(r.topics) == ["cam/depth", "cam/fortran", "cam/one", "cam/ro", "cam/strided"]
    for name, data in sent.items():
        np.testing.assert_array_equal(r.read_topic(f"cam/{name}")[0].data, data)
    np.testing.assert_array_equal(r.read_topic("cam/depth")[0].data, depth)


def test_the_rerun_view_drops_an_empty_image_and_shows_odd_valid_ones(tmp_path, caplog):
    pytest.importorskip("rerun")
    from ar_perception.nodes.rerun_view import RerunView

    h = NodeHarness(RerunView, {"mode": "save", "path": str(tmp_path / "v.rrd"), "max_hz": 0}, strict=False)
    depth = np.full((48, 64), np.nan, np.float32)
    depth[10:20, 10:20] = 2.0
    with caplog.at_level(logging.WARNING):
        for i, data in enumerate((image((0, 64, 3)), image((0, 64, 3)))):
            h.node.on_input("image", Msg("Image", {"data": data}, {}, i))  # as the runtime hands it outside strict mode
        h.feed("camera", Msg("CameraInfo", {}, CAM, 1))
        h.feed("image", Msg("Image", {"data": image((96, 128, 3))[::2, ::-2]}, {}, 2))
        h.feed("image", Msg("Image", {"data": read_only(image((1, 1, 3)))}, {}, 3))
        h.feed("depth", Msg("Depth", {"data": depth}, {}, 4))
    h.close()
    assert h.node.layout.malformed == {"image": 2}
    assert h.node.layout.logged["world/camera/image/image"] == 2
    assert h.node.layout.logged["world/camera/image/depth"] == 1
    assert [r.getMessage() for r in caplog.records if "malformed" in r.getMessage()] == [
        "node 'node': input 'image': dropped a malformed message: Image.data is empty (got shape (0, 64, 3))"
    ]
