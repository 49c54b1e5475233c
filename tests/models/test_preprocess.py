"""Frame sizing (short side -> resolution, snapped down to the stride) and normalisation."""

from __future__ import annotations

import numpy as np
import pytest

from ar_perception.models.preprocess import IMAGENET_MEAN, preprocess, target_size


@pytest.mark.parametrize(
    "hw, res, mult, expect",
    [
        ((480, 640), 256, 16, (256, 336)),  # 341.3 -> 336
        ((640, 480), 256, 16, (336, 256)),  # portrait
        ((480, 640), 256, 32, (256, 320)),
        ((1080, 1920), 224, 14, (224, 392)),  # 398.2 -> 392
        ((256, 256), 250, 16, (240, 240)),  # resolution not a multiple: floors
        ((10, 2000), 16, 16, (16, 3200)),
    ],
)
def test_target_size(hw, res, mult, expect):
    h, w = hw
    assert target_size(h, w, res, mult) == expect


def test_preprocess_shape_dtype_and_normalisation():
    rgb = np.empty((480, 640, 3), np.uint8)
    rgb[:] = np.round(IMAGENET_MEAN * 255).astype(np.uint8)
    x = preprocess(rgb, 256, 16)
    assert x.shape == (1, 3, 256, 336) and x.dtype == np.float32 and x.flags.c_contiguous
    assert np.abs(x).max() < 0.01  # the mean colour maps to ~0
    y = preprocess(rgb, size=(224, 224))
    assert y.shape == (1, 3, 224, 224)


def test_channel_order_is_rgb():
    rgb = np.zeros((32, 32, 3), np.uint8)
    rgb[..., 0] = 255  # pure red
    x = preprocess(rgb, 32, 16)
    assert x[0, 0].mean() > 2 and x[0, 1].mean() < -1.5 and x[0, 2].mean() < -1.5


def test_rejects_non_rgb():
    with pytest.raises(ValueError, match=r"RGB uint8 image of shape \(H, W, 3\)"):
        preprocess(np.zeros((32, 32), np.uint8), 32)
    with pytest.raises(ValueError, match="RGB uint8"):
        preprocess(np.zeros((32, 32, 3), np.float32), 32)
