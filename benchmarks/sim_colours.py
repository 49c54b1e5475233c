"""Names a person gives the base colours of the simulator's materials: a table written by hand for every base colour
of sim/furniture.py's palettes, shared by the benchmarks that judge colour answers (scene_model.py, qa_truth.py).
No code from ar_perception.qa: this is the benchmarks' truth, not the system's palette."""

from __future__ import annotations

import numpy as np

__all__ = ["NAMES", "names_of"]

# Every base colour of sim/furniture.py's palettes (RGB 0-1), with the names a person would give it: the first is
# the most likely, the rest are also right (pale and in-between shades have several).
NAMES: list[tuple[tuple[float, float, float], tuple[str, ...]]] = [
    # woods
    ((0.62, 0.45, 0.28), ("brown",)),
    ((0.48, 0.32, 0.18), ("brown",)),
    ((0.75, 0.58, 0.38), ("brown", "beige")),
    ((0.36, 0.22, 0.13), ("brown",)),
    ((0.68, 0.52, 0.36), ("brown", "beige")),
    # floor tiles (pairs: a tiled floor is left out, its colours are named for completeness)
    ((0.82, 0.8, 0.76), ("grey", "beige", "white")),
    ((0.62, 0.6, 0.57), ("grey",)),
    ((0.9, 0.9, 0.9), ("white", "grey")),
    ((0.15, 0.15, 0.17), ("black", "grey")),
    ((0.72, 0.62, 0.5), ("beige", "brown")),
    ((0.55, 0.45, 0.36), ("brown", "grey")),
    ((0.55, 0.58, 0.6), ("grey",)),
    ((0.42, 0.45, 0.48), ("grey",)),
    # carpets
    ((0.45, 0.47, 0.5), ("grey",)),
    ((0.32, 0.38, 0.52), ("blue", "grey")),
    ((0.6, 0.55, 0.47), ("grey", "beige", "brown")),
    ((0.5, 0.32, 0.3), ("brown", "red")),
    # paints
    ((0.93, 0.92, 0.88), ("white", "beige", "grey")),
    ((0.95, 0.9, 0.8), ("beige", "white")),
    ((0.8, 0.82, 0.84), ("grey", "white")),
    ((0.74, 0.82, 0.9), ("blue", "grey", "white")),
    ((0.76, 0.86, 0.76), ("green", "grey")),
    ((0.94, 0.8, 0.74), ("pink", "beige")),
    ((0.88, 0.84, 0.94), ("purple", "white", "pink")),
    # ceilings
    ((0.96, 0.96, 0.95), ("white",)),
    ((0.92, 0.91, 0.88), ("white", "beige")),
    # laminates
    ((0.92, 0.92, 0.9), ("white",)),
    ((0.12, 0.12, 0.13), ("black",)),
    ((0.55, 0.56, 0.58), ("grey",)),
    # plastics
    ((0.8, 0.15, 0.12), ("red",)),
    ((0.12, 0.3, 0.75), ("blue",)),
    ((0.15, 0.6, 0.3), ("green",)),
    ((0.95, 0.75, 0.1), ("yellow", "orange")),
    ((0.95, 0.45, 0.1), ("orange",)),
    ((0.1, 0.55, 0.6), ("blue", "green")),
    ((0.2, 0.2, 0.22), ("black", "grey")),
    ((0.6, 0.2, 0.55), ("purple", "pink")),
    # cardboards, tape
    ((0.72, 0.55, 0.36), ("brown", "beige")),
    ((0.65, 0.48, 0.3), ("brown",)),
    ((0.78, 0.62, 0.42), ("brown", "beige")),
    ((0.85, 0.75, 0.55), ("beige",)),
    ((0.9, 0.9, 0.88), ("white",)),
    # balls
    ((0.9, 0.1, 0.1), ("red",)),
    ((0.95, 0.95, 0.95), ("white",)),
    ((0.1, 0.3, 0.9), ("blue",)),
    ((0.98, 0.85, 0.1), ("yellow",)),
    ((0.1, 0.7, 0.2), ("green",)),
    ((0.95, 0.4, 0.05), ("orange",)),
    ((0.15, 0.1, 0.08), ("black", "brown")),
    ((0.9, 0.2, 0.6), ("pink", "purple")),
    ((0.2, 0.8, 0.9), ("blue",)),
    # shelves
    ((0.93, 0.93, 0.91), ("white",)),
    ((0.15, 0.14, 0.14), ("black",)),
    ((0.45, 0.45, 0.47), ("grey",)),
    # books
    ((0.7, 0.1, 0.1), ("red",)),
    ((0.1, 0.2, 0.55), ("blue",)),
    ((0.1, 0.45, 0.2), ("green",)),
    ((0.85, 0.7, 0.2), ("yellow", "orange", "brown")),
    ((0.9, 0.9, 0.85), ("white", "beige")),
    ((0.15, 0.15, 0.15), ("black",)),
    ((0.5, 0.25, 0.55), ("purple",)),
    ((0.9, 0.45, 0.2), ("orange",)),
    ((0.3, 0.6, 0.75), ("blue",)),
    # metals
    ((0.7, 0.7, 0.72), ("grey", "white")),
    ((0.7, 0.55, 0.25), ("brown", "yellow", "orange")),
    # lamp shades
    ((1.0, 0.96, 0.86), ("white", "beige")),
    ((1.0, 0.9, 0.7), ("beige", "yellow")),
    ((0.98, 0.98, 0.95), ("white",)),
    ((1.0, 0.85, 0.75), ("beige", "pink", "orange")),
    # pots, soil, trunk
    ((0.72, 0.38, 0.24), ("brown", "orange", "red")),
    ((0.35, 0.36, 0.4), ("grey", "black")),
    ((0.3, 0.45, 0.65), ("blue",)),
    ((0.25, 0.17, 0.1), ("brown",)),
    ((0.35, 0.25, 0.15), ("brown",)),
    # leaves
    ((0.2, 0.5, 0.15), ("green",)),
    ((0.1, 0.3, 0.08), ("green",)),
    ((0.3, 0.6, 0.2), ("green",)),
    ((0.15, 0.38, 0.1), ("green",)),
    ((0.15, 0.42, 0.25), ("green",)),
    ((0.06, 0.24, 0.12), ("green",)),
    # skins, hairs
    ((0.96, 0.8, 0.69), ("beige", "pink")),
    ((0.87, 0.67, 0.52), ("beige", "brown")),
    ((0.68, 0.47, 0.33), ("brown",)),
    ((0.45, 0.3, 0.2), ("brown",)),
    ((0.32, 0.2, 0.13), ("brown",)),
    ((0.08, 0.06, 0.05), ("black",)),
    ((0.3, 0.18, 0.1), ("brown",)),
    ((0.75, 0.6, 0.35), ("beige", "brown", "yellow")),
    ((0.55, 0.55, 0.55), ("grey",)),
    # shirts, trousers
    ((0.85, 0.15, 0.15), ("red",)),
    ((0.2, 0.35, 0.7), ("blue",)),
    ((0.15, 0.15, 0.17), ("black", "grey")),
    ((0.3, 0.6, 0.35), ("green",)),
    ((0.95, 0.8, 0.2), ("yellow",)),
    ((0.55, 0.3, 0.6), ("purple",)),
    ((0.15, 0.22, 0.4), ("blue",)),
    ((0.1, 0.1, 0.12), ("black",)),
    ((0.65, 0.57, 0.42), ("beige", "brown")),
    ((0.4, 0.4, 0.42), ("grey",)),
]
_TABLE = np.array([rgb for rgb, _ in NAMES])


_SCALE = (0.88, 1.08)  # sim/furniture.py's jitter: each base colour scaled by this much, then each channel moved
_SHIFT = 0.05  # ... by up to this much


def names_of(rgb: tuple[float, float, float] | np.ndarray, strict: bool = False) -> tuple[str, ...]:
    """The names of a (jittered) material colour: those of the nearest palette entry in RGB first, then those of
    entries nearly as near (within 0.05: the jitter may have moved it from any of them). `strict`: only entries
    the sim's jitter (`_SCALE`, then `_SHIFT` per channel) can have made it from, () when none (a blend of two
    colours, or light, not one of the table's base colours)."""
    rgb = np.asarray(rgb, np.float64)
    d = np.sqrt(((_TABLE - rgb) ** 2).sum(axis=1))
    if strict:
        scale = np.clip((_TABLE @ rgb) / np.maximum((_TABLE**2).sum(axis=1), 1e-9), *_SCALE)
        reach = np.abs(rgb[None, :] - scale[:, None] * _TABLE).max(axis=1)  # the per-channel shift it needs
        made = np.flatnonzero(reach <= _SHIFT + 1e-6)
        if made.size == 0:
            return ()
        d = np.where(reach <= _SHIFT + 1e-6, d, np.inf)
    names = list(NAMES[int(np.argmin(d))][1])
    for k in np.flatnonzero(d <= d.min() + 0.05):
        names += [n for n in NAMES[k][1] if n not in names]
    return tuple(names)
