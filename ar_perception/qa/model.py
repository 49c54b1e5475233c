"""The typed scene model: the objects perception found, not pixels.

Built from one frame's Mask + Depth (+ Image for colour, + CameraInfo; with a pose in CameraInfo the objects
get world coordinates). Regions of one class become separate instances where they are not connected or
where depth jumps between them. Structure classes (wall, floor, ceiling) are in the model too, flagged, so
that "how far is the wall?" has an answer; classes that are no surface (background, unknown, void) are not.

Coordinates: camera frame x right, y down, z forward (metres), or the world frame of the camera pose when
`frame == "world"`. `direction` is always relative to the camera at the time of the model.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

__all__ = ["STRUCTURE", "NOT_SURFACES", "SceneObject", "SceneModel"]

STRUCTURE = ("wall", "floor", "ceiling")  # in the model, flagged `structure`, not counted as "objects"
NOT_SURFACES = ("background", "unknown", "void")  # never in the model

Direction = Literal["left", "ahead", "right"]


@dataclass(frozen=True)
class SceneObject:
    name: str  # "chair" when it is the only one of its class in the model, else "chair 2" (2nd nearest)
    cls: str
    instance: int  # 1-based within its class, nearest first
    structure: bool  # wall, floor, ceiling
    area_px: int  # pixels of the mask (at the mask's resolution)
    area: float  # share of the image
    centroid_m: tuple[float, float, float]  # in `SceneModel.frame`
    extent_m: tuple[float, float, float]  # width (x), height (y), depth (z) of the visible part, metres
    distance_m: float  # median depth of its pixels, from the camera
    bearing_deg: float  # + to the right of the optical axis
    elevation_deg: float  # + above the optical axis
    direction: Direction  # left / ahead / right of the camera (|bearing| <= 10 degrees: ahead)
    colour: str | None  # a palette name measured from the image, None without an image
    first_seen_s: float  # capture time (seconds, graph clock) it was first seen; the model's time for one frame
    last_seen_s: float

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> SceneObject:
        return cls(**{**d, "centroid_m": tuple(d["centroid_m"]), "extent_m": tuple(d["extent_m"])})


@dataclass
class SceneModel:
    objects: list[SceneObject]  # nearest first
    classes: list[str]  # every class perception can name (the vocabulary questions are checked against)
    frame: Literal["camera", "world"] = "camera"
    time_s: float = 0.0  # capture time of the newest frame it holds
    in_view: list[str] = field(default_factory=list)  # names of the objects in the current frame (memory: subset)

    def of_class(self, cls: str) -> list[SceneObject]:
        return [o for o in self.objects if o.cls == cls]

    def visible(self) -> list[SceneObject]:
        names = set(self.in_view)
        return [o for o in self.objects if o.name in names] if self.in_view else list(self.objects)

    def as_dict(self) -> dict[str, Any]:
        return {
            "objects": [o.as_dict() for o in self.objects],
            "classes": list(self.classes),
            "frame": self.frame,
            "time_s": self.time_s,
            "in_view": list(self.in_view),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> SceneModel:
        return cls(
            objects=[SceneObject.from_dict(o) for o in d.get("objects", [])],
            classes=list(d.get("classes", [])),
            frame=d.get("frame", "camera"),
            time_s=float(d.get("time_s", 0.0)),
            in_view=list(d.get("in_view", [])),
        )
