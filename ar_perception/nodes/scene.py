"""Scene facts: the latest segmentation and depth (+ image for colours, + camera pose for memory) turned into the
typed scene model (`meta.model`, see qa/model.py) and into short, precomputed sentences a small language model can
repeat rather than reason out (what is there, where, how far, which is nearest)."""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from ar_perception.qa.memory import SceneMemory
from ar_perception.qa.model import NOT_SURFACES, STRUCTURE, SceneModel, SceneObject, build_scene_model
from ar_perception.runtime.msg import Msg
from ar_perception.runtime.node import Node, Outputs

__all__ = ["Scene", "describe", "direction_phrase", "legacy_object", "plural"]

IGNORED = NOT_SURFACES + STRUCTURE  # not objects in the text facts and `meta.objects`
_DIRECTION_PHRASES = {
    "left": "on the left",
    "right": "on the right",
    "centre": "straight ahead",
    "ahead": "straight ahead",
}
_LEVEL_DEG = 12.0


def direction_phrase(direction: str) -> str:
    """How a sentence says an object's `direction` (left, right, centre or ahead): "on the left", "straight ahead"."""
    return _DIRECTION_PHRASES.get(direction, direction)


def plural(noun: str, n: int) -> str:
    """`noun` as said of `n` things: "box" for one, "boxes" for two."""
    if n == 1:
        return noun
    return noun + "es" if noun.endswith(("s", "x", "sh", "ch")) else noun + "s"


def _legacy_direction(o: SceneObject) -> str:
    return "centre" if o.direction == "ahead" else o.direction


def _vertical(o: SceneObject) -> str:
    return "up" if o.elevation_deg > _LEVEL_DEG else "down" if o.elevation_deg < -_LEVEL_DEG else "level"


def legacy_object(o: SceneObject) -> dict[str, Any]:
    """An object as `meta.objects` has always listed it (direction left / centre / right)."""
    return {
        "name": o.name,
        "class": o.cls,
        "distance_m": round(o.distance_m, 2),
        "direction": _legacy_direction(o),
        "vertical": _vertical(o),
        "bearing_deg": round(o.bearing_deg, 1),
        "elevation_deg": round(o.elevation_deg, 1),
        "width_m": round(o.extent_m[0], 2),
        "height_m": round(o.extent_m[1], 2),
        "area": round(o.area, 4),
        "box": list(o.box) if o.box is not None else None,
        "colour": o.colour,
        "sentence": f"The {o.name} is {o.distance_m:.1f} metres away, {direction_phrase(o.direction)}.",
    }


def describe(model: SceneModel, ignore: Sequence[str] = IGNORED) -> str:
    """The facts, one per line: what is in view, the nearest, each object, left-to-right order, what is not, and
    (with memory) what was seen before and is out of view now. Classes in `ignore` are left out."""
    objects = [o for o in model.visible() if o.cls not in ignore]
    if not objects:
        lines = ["No objects in view."]
    else:
        counts: dict[str, int] = {}
        for o in objects:
            counts[o.cls] = counts.get(o.cls, 0) + 1
        near = objects[0]
        lines = [
            "In view: " + ", ".join(f"{n} {plural(c, n)}" for c, n in counts.items()) + ".",
            f"Nearest: the {near.name}, {near.distance_m:.1f} m, {_legacy_direction(near)}.",
        ]
        for o in objects:
            colour = f", {o.colour}" if o.colour else ""
            lines.append(
                f"{o.name}: {o.distance_m:.1f} m away, {_legacy_direction(o)}, {_vertical(o)}, "
                f"{o.extent_m[0]:.1f} m wide, {o.extent_m[1]:.1f} m tall{colour}."
            )
        order = sorted(objects, key=lambda o: o.bearing_deg)
        lines.append("Left to right: " + ", ".join(o.name for o in order) + ".")
        absent = [c for c in model.classes if c not in counts and c not in ignore]
        if absent:
            lines.append("Not in view: " + ", ".join(absent) + ".")
    names = set(model.in_view)
    before = [o for o in model.objects if o.name not in names and o.cls not in ignore]
    if before:
        lines.append(
            "Seen before, out of view: "
            + ", ".join(f"{o.name} ({model.time_s - o.last_seen_s:.0f} s ago)" for o in before)
            + "."
        )
    return "\n".join(lines)


def _nearest_in_time(msgs: Sequence[Msg], capture_ns: int, within_ns: float) -> Msg | None:
    best = min(msgs, key=lambda m: abs(m.capture_ns - capture_ns), default=None)
    return best if best is not None and abs(best.capture_ns - capture_ns) <= within_ns else None


class Scene(Node):
    """Mask + Depth (+ Image, + CameraInfo) -> Text facts about the objects in view, and the scene model.

    `meta.model` is the typed scene model (qa/model.py `SceneModel.as_dict()`): every object and room structure
    (wall, floor, ceiling) with class, instance, size, place, colour (with an `image`) and times. With a camera
    pose (CameraInfo `pose`) and `memory` on, objects are in world coordinates and kept across frames
    (`frame: world`); otherwise the model is of this frame, in the camera frame (`frame: camera`).
    `meta.text` holds one fact per line; `meta.objects` the objects in view as data (name, class, distance_m,
    direction left / centre / right, vertical, bearing_deg, width_m, height_m, colour, sentence), nearest first;
    `meta.classes` the classes that can be objects. It answers when it holds a mask and a depth captured within
    `max_skew_ms` of each other; the image and camera pose used are those captured nearest the mask, within
    `max_skew_ms` (none: no colours, no memory for that frame). `image` and `camera` may be left unwired.
    """

    inputs = {"mask": "Mask", "depth": "Depth", "camera": "CameraInfo", "image": "Image"}
    outputs = {"facts": "Text"}

    class Params(BaseModel):
        model_config = ConfigDict(extra="forbid")
        ignore: list[str] = Field(
            list(IGNORED), description="classes that are not objects in the text facts and `objects` (room structure)"
        )
        min_area: float = Field(0.002, ge=0, lt=1, description="smaller regions (share of the image) are noise")
        max_skew_ms: float = Field(150.0, ge=0, description="mask and depth must be this close in capture time")
        grid: int = Field(128, ge=16, le=2048, description="regions are found on a grid this wide, at most")
        memory: bool = Field(True, description="with a camera pose, keep objects across frames in world coordinates")
        memory_objects: int = Field(64, ge=1, description="remember at most this many objects (least recent go)")
        merge_m: float = Field(0.5, gt=0, description="a sighting this close to a remembered one of its class is it")

    params: Params

    def setup(self) -> None:
        self._latest: dict[str, Msg] = {}
        self._recent: dict[str, deque[Msg]] = {"camera": deque(maxlen=32), "image": deque(maxlen=8)}
        self._last_pair: tuple[int, int] | None = None
        self._memory = SceneMemory(self.params.memory_objects, self.params.merge_m) if self.params.memory else None

    def on_input(self, name: str, msg: Msg) -> Outputs:
        if name in self._recent:
            self._recent[name].append(msg)
            return None
        self._latest[name] = msg
        mask, depth = self._latest.get("mask"), self._latest.get("depth")
        if mask is None or depth is None:
            return None
        pair = (mask.capture_ns, depth.capture_ns)
        if pair == self._last_pair or abs(pair[0] - pair[1]) > self.params.max_skew_ms * 1e6:
            return None
        self._last_pair = pair
        return self.facts(mask, depth, self._camera(mask), self._image(mask))

    def on_sync(self, msgs: dict[str, Msg]) -> Outputs:
        for name in self._recent:
            if name in msgs:
                self._recent[name].append(msgs[name])
        mask = msgs["mask"]
        return self.facts(
            mask, msgs["depth"], msgs.get("camera") or self._camera(mask), msgs.get("image") or self._image(mask)
        )

    def _camera(self, mask: Msg) -> Msg | None:
        """The camera captured nearest the mask (its pose); else the newest (intrinsics do not move)."""
        recent = self._recent["camera"]
        near = _nearest_in_time(recent, mask.capture_ns, self.params.max_skew_ms * 1e6)
        if near is not None or not recent:
            return near
        latest = recent[-1]
        return latest.derive("CameraInfo", latest.meta)  # without its pose: it belongs to another moment

    def _image(self, mask: Msg) -> Msg | None:
        return _nearest_in_time(self._recent["image"], mask.capture_ns, self.params.max_skew_ms * 1e6)

    def facts(self, mask: Msg, depth: Msg, camera: Msg | None, image: Msg | None = None) -> dict[str, Msg]:
        classes = list(mask.meta.get("classes") or [])
        newer = mask if mask.capture_ns >= depth.capture_ns else depth
        pose = camera.arrays.get("pose") if camera is not None else None
        model = build_scene_model(
            np.asarray(mask.data),
            np.asarray(depth.data, np.float32),
            classes,
            dict(camera.meta) if camera is not None else None,
            np.asarray(image.data) if image is not None else None,
            (newer.capture_ns + newer.clock_offset_ns) / 1e9,
            up=_up(pose),
            min_area=self.params.min_area,
            grid=self.params.grid,
        )
        if self._memory is not None:
            model = self._memory.update(model, pose)
        ignore = self.params.ignore
        return {
            "facts": newer.derive(
                "Text",
                {
                    "text": describe(model, ignore),
                    "objects": [legacy_object(o) for o in model.visible() if o.cls not in ignore],
                    "classes": [c for c in classes if c not in ignore],
                    "model": model.as_dict(),
                },
            )
        }


def _up(pose: object) -> np.ndarray | None:
    """World up (+z of the camera-to-world pose) in the camera frame; None without a usable pose (the scene
    model then takes the camera to be level). A bad pose is reported by the memory, which needs it too."""
    if pose is None:
        return None
    p = np.asarray(pose, np.float64)
    if p.shape != (4, 4) or not np.isfinite(p).all() or np.linalg.norm(p[2, :3]) < 1e-6:
        return None
    return p[2, :3]
