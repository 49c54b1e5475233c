"""Frame preprocessing for the encoders: RGB uint8 (H, W, 3) -> ImageNet-normalised NCHW float32.

Sizing rule (ARCH_SPEC section 1, adapted to frames of any aspect ratio): the frame is scaled so that
its SHORT side equals `resolution`, keeping the aspect ratio; each side is then snapped DOWN to a
multiple of the encoder stride (16 for the EUPE ViTs, 32 for the ConvNeXts, 14 for the DINOv2
stand-in), and the frame is resized straight to that size, so nothing is cropped and the aspect
ratio changes by less than one patch. A 640x480 frame at resolution 256 becomes 336x256 (a 21x16
ViT grid). Models with a fixed input size get exactly that size instead.
"""

from __future__ import annotations

import numpy as np

__all__ = ["IMAGENET_MEAN", "IMAGENET_STD", "target_size", "preprocess"]

IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
IMAGENET_STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)


def target_size(height: int, width: int, resolution: int, multiple: int) -> tuple[int, int]:
    """(H, W) for a height x width frame: short side -> resolution, both sides floored to `multiple`."""
    scale = resolution / min(height, width)
    H = max(multiple, int(round(height * scale)) // multiple * multiple)
    W = max(multiple, int(round(width * scale)) // multiple * multiple)
    return H, W


def preprocess(
    rgb: np.ndarray,
    resolution: int | None = None,
    multiple: int = 16,
    size: tuple[int, int] | None = None,
) -> np.ndarray:
    """(H, W, 3) uint8 RGB -> (1, 3, H', W') float32, ImageNet-normalised.

    Give either `resolution` (short-side rule above, snapped to `multiple`) or a fixed `size` (H', W').
    Downscaling uses area interpolation, upscaling bicubic.
    """
    import cv2

    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise ValueError(f"expected an RGB uint8 image of shape (H, W, 3), got {rgb.dtype} {rgb.shape}")
    h, w = rgb.shape[:2]
    if size is None:
        if resolution is None:
            raise ValueError("preprocess needs a resolution or a fixed size")
        size = target_size(h, w, resolution, multiple)
    H, W = size
    if (H, W) != (h, w):
        shrinking = H * W < h * w
        interp = cv2.INTER_AREA if shrinking else cv2.INTER_CUBIC
        rgb = cv2.resize(rgb, (W, H), interpolation=interp)  # cv2 takes (width, height)
    x = rgb.astype(np.float32) * np.float32(1 / 255)
    x = (x - IMAGENET_MEAN) / IMAGENET_STD  # (H', W', 3)
    return np.ascontiguousarray(x.transpose(2, 0, 1)[None])  # (H', W', 3) -> (1, 3, H', W')
