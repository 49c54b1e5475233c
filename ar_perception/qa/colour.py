"""Colour names measured from pixels: the nearest of a small named palette in CIELAB, a perceptual colour space.

The pixels' colour is the median in Lab of the pixels left after the darkest and brightest tenth are set aside
(shadows, grout, highlights). Each name has a few reference colours (dark, mid and light shades), and the
nearest reference names the colour. Lightness counts half as much as hue and chroma in the distance: the same
surface is lighter or darker with the light on it, its hue much less so.

sRGB -> Lab is written out here (about 15 lines of numpy) because the package's core needs numpy only; opencv
is an optional extra.
"""

from __future__ import annotations

import numpy as np

__all__ = ["PALETTE", "srgb_to_linear", "srgb_to_lab", "colour_name"]

# name -> reference sRGB colours (0-255): shades a person would still call by that name
PALETTE: dict[str, tuple[tuple[int, int, int], ...]] = {
    "black": ((20, 20, 20), (40, 38, 36)),  # the second: black in warm light
    "grey": ((80, 80, 80), (128, 128, 128), (180, 180, 180)),
    "white": ((245, 245, 245),),
    "red": ((90, 20, 15), (140, 20, 20), (200, 30, 30), (230, 60, 50)),  # the first: red in shade
    "orange": ((210, 100, 20), (240, 130, 30)),
    "yellow": ((240, 210, 40), (250, 235, 110)),
    "green": ((30, 90, 40), (40, 150, 60), (120, 190, 90), (15, 70, 70)),  # the last: dark teal
    "blue": ((20, 40, 110), (40, 80, 200), (100, 160, 220), (30, 130, 150)),  # the last: teal
    "purple": ((80, 30, 100), (130, 50, 160), (170, 120, 200)),
    "pink": ((230, 80, 150), (240, 130, 180), (250, 190, 210)),
    "brown": ((80, 50, 30), (120, 70, 35), (160, 110, 70)),
    "beige": ((220, 200, 160), (235, 220, 190)),
}
_L_WEIGHT = 0.5
_MOST = 4096
_WHITE_D65 = np.array([0.95047, 1.0, 1.08883])
_SRGB_TO_XYZ = np.array(
    [[0.4124564, 0.3575761, 0.1804375], [0.2126729, 0.7151522, 0.0721750], [0.0193339, 0.1191920, 0.9503041]]
)


def srgb_to_linear(rgb: np.ndarray) -> np.ndarray:
    """(..., 3) sRGB uint8 (or floats 0-255) -> (..., 3) linear light, 0-1 (the sRGB transfer curve undone)."""
    c = np.asarray(rgb, np.float64) / 255.0
    return np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)


def srgb_to_lab(rgb: np.ndarray) -> np.ndarray:
    """(..., 3) sRGB uint8 (or floats 0-255) -> (..., 3) CIELAB (D65): L 0-100, a and b about -128..127."""
    t = (srgb_to_linear(rgb) @ _SRGB_TO_XYZ.T) / _WHITE_D65
    eps = (6 / 29) ** 3
    f = np.where(t > eps, np.cbrt(t), t / (3 * (6 / 29) ** 2) + 4 / 29)
    return np.stack([116 * f[..., 1] - 16, 500 * (f[..., 0] - f[..., 1]), 200 * (f[..., 1] - f[..., 2])], axis=-1)


_NAMES = [name for name, refs in PALETTE.items() for _ in refs]
_REFS = srgb_to_lab(np.array([ref for refs in PALETTE.values() for ref in refs]))


def colour_name(rgb_pixels: np.ndarray, min_pixels: int = 16) -> str | None:
    """The palette name of `rgb_pixels` ((N, 3) or (..., 3) uint8 RGB), or None for fewer than `min_pixels`."""
    px = np.asarray(rgb_pixels).reshape(-1, 3)
    if len(px) < min_pixels:
        return None
    px = px[:: max(1, len(px) // _MOST)]  # an even sample is enough for a median
    lab = srgb_to_lab(px)
    lo, hi = np.percentile(lab[:, 0], [10, 90])
    kept = lab[(lab[:, 0] >= lo) & (lab[:, 0] <= hi)]
    centre = np.median(kept if len(kept) >= min_pixels else lab, axis=0)
    d = _REFS - centre
    d[:, 0] *= _L_WEIGHT
    return _NAMES[int(np.argmin((d * d).sum(axis=1)))]
