"""The fixed class list of the simulated scenes: a class id is an index into CLASS_NAMES."""

from __future__ import annotations

__all__ = ["CLASS_NAMES", "CLASS_IDS"]

CLASS_NAMES: tuple[str, ...] = (
    "background",  # 0: no surface hit / unknown
    "floor",
    "wall",
    "ceiling",
    "table",
    "chair",
    "box",
    "ball",
    "shelf",
    "lamp",
    "plant",
    "person",
)

CLASS_IDS: dict[str, int] = {name: i for i, name in enumerate(CLASS_NAMES)}
