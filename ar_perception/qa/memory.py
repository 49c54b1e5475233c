"""Objects kept across frames in world coordinates, when there is a camera pose.

Each frame's objects are put into the world frame with the camera-to-world pose and matched to what was seen
before. A perceived centroid is the middle of the visible part, which moves as the view changes (a table seen
from its side or from above, a shelf from the front or at a slant): on the simulator's orbits one object's
sightings lie up to about 0.7 m apart, mostly vertically. So a sighting is an object of its class seen again when
its centroid lies within the remembered object's box, or the remembered centroid within the sighting's box (along
the floor, `SLACK_M` to spare; and the boxes at most `GAP_UP_M` apart vertically: a lamp's shade and its base
seen in different frames, the pole between them too thin to see), or the two centroids are
within `merge_m`. Two neighbours (chairs 0.6 m apart round a table) stay two: neither's middle is in the other's
box. The remembered box is the largest seen of each side (the most complete views), the colour that of the view
with the most pixels (a glimpse in shadow does not rename it); the place and other measurements are the newest,
`first_seen_s` the first. One matched to nothing is new; a remembered object that a sighting matches but that
another took (an earlier view split the object in two) is absorbed into it. A sighting straight above or below
another that took its object is part of that one (a lamp's shade and base), and so is one inside the remembered
object's box (of one object's size), if it is a fragment of it and something nearer covers the image between
the two (a chair behind a chair, seen in two pieces); neither for stackable classes (boxes: a box on a box is
two, though an earlier view saw the pile as one). Memory is bounded: beyond `max_objects` the least recently
seen are forgotten. Room structure (wall, floor, ceiling) is
not remembered: a wall's visible part moves with the view, so its centroid does not identify it; the current
frame's structure is kept as it is.

Distances and bearings are relative to the newest camera: the current measurement for what is in view, the
straight-line distance and the direction from the camera for what is remembered, taken on the floor's plane from
the way the camera faces (a bearing beyond +-90 degrees is behind the wearer, whatever the camera's pitch).
`extent_m` stays as measured when last seen (sizes, not turned into the world
frame). Without a pose nothing can be placed in the world: the frame's model comes back as it is, in the
camera frame, and the memory is left alone.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

from ar_perception.errors import ArpError
from ar_perception.qa.model import SceneModel, SceneObject, direction_of, named
from ar_perception.qa.stacks import STACKABLE

__all__ = ["SceneMemory", "SLACK_M"]

SLACK_M = 0.1  # metres: a centroid this far outside a box along the floor still matches it
GAP_UP_M = 0.5  # metres: boxes this far apart vertically still match (a lamp's base, and its shade seen apart)
FRAGMENT = 0.35  # a piece of at most this share of an object's best view's pixels may be a fragment of it


@dataclass(frozen=True)
class Entry:
    """What memory keeps of an object beside its SceneObject: its world box's half sizes along the world axes,
    and the pixels and colour of its best view."""

    half: np.ndarray
    area_px: int
    colour: str | None


class SceneMemory:
    """The objects seen so far, in world coordinates. `update` each frame with its model and camera pose."""

    def __init__(self, max_objects: int = 64, merge_m: float = 0.5) -> None:
        if max_objects < 1:
            raise ArpError(f"SceneMemory: max_objects must be at least 1 (got {max_objects})")
        if merge_m <= 0:
            raise ArpError(f"SceneMemory: merge_m must be > 0 metres (got {merge_m})")
        self.max_objects, self.merge_m = int(max_objects), float(merge_m)
        self.objects: list[SceneObject] = []  # world frame, non-structure, any order
        self._entries: list[Entry] = []  # one for each of `objects`
        self.time_s: float | None = None

    def clear(self) -> None:
        self.objects, self._entries, self.time_s = [], [], None

    def _same(self, a: SceneObject, half_a: np.ndarray, b: SceneObject, half_b: np.ndarray) -> bool:
        """Whether `a` and `b` (world frame, boxes of half sizes `half_a`, `half_b`) are one object: see above."""
        d = np.abs(np.subtract(a.centroid_m, b.centroid_m))
        if float(np.sqrt((d * d).sum())) <= self.merge_m:
            return True
        up = _UP_AXIS
        across = [i for i in range(3) if i != up]
        if d[up] - half_a[up] - half_b[up] > GAP_UP_M:
            return False
        return bool(
            all(d[i] <= half_a[i] + SLACK_M for i in across) or all(d[i] <= half_b[i] + SLACK_M for i in across)
        )

    def update(self, model: SceneModel, pose: np.ndarray | None) -> SceneModel:
        """The scene model with memory: the current frame's objects merged into what was seen before, in the
        world frame (`in_view` names the current frame's objects). With no pose (None, or not a finite 4x4
        matrix): `model` itself, `frame == "camera"`."""
        if model.frame != "camera":
            raise ArpError(f"SceneMemory.update: the frame's model must be in the camera frame (got {model.frame})")
        if pose is None:
            return model
        pose = np.asarray(pose, np.float64)
        if pose.shape != (4, 4) or not np.isfinite(pose).all():
            return model
        if self.time_s is not None and model.time_s < self.time_s:
            self.clear()  # time went back (a replay started again): what was seen belongs to another run
        self.time_s = model.time_s
        rot, origin = pose[:3, :3], pose[:3, 3]

        def to_world(o: SceneObject) -> SceneObject:
            c = rot @ np.asarray(o.centroid_m) + origin
            return replace(o, centroid_m=(float(c[0]), float(c[1]), float(c[2])))

        current = [to_world(o) for o in model.objects]
        structure = [o for o in current if o.structure]
        seen = [o for o in current if not o.structure]
        halves = [np.abs(rot) @ (np.asarray(o.extent_m) / 2) for o in seen]  # world box of each sighting
        # Match each sighting to a remembered object of its class that is the same thing (`_same`), horizontally
        # closest pairs first, one to one (two chairs seen at once stay two chairs).
        pairs = sorted(
            (_horizontal(s, m), i, j)
            for i, s in enumerate(seen)
            for j, m in enumerate(self.objects)
            if s.cls == m.cls and self._same(s, halves[i], m, self._entries[j].half)
        )
        matched: dict[int, int] = {}
        taken: set[int] = set()
        for _, i, j in pairs:
            if i not in matched and j not in taken:
                matched[i], taken = j, taken | {j}
        # A sighting left over whose object another took, straight above or below that one, is a part of it that
        # this frame saw apart (a lamp's shade over its base, the pole between them hidden): not a new object. Not
        # for a stackable class: there the frame's model parted the objects of a pile on purpose (stacks.py), and
        # a pile seen as one earlier is remembered as one object that both its boxes match.
        # So is a fragment (at most `FRAGMENT` of the pixels of the remembered object's best view) that lies inside
        # its box, where that box is one object's size (`at_least` 1) and something nearer covers the image between
        # the two pieces: a chair behind another, seen whole before, now in two pieces (the top of its back above
        # the nearer chair, a leg beside it). Without an occluder between them two seen at once stay two.
        by_entry = {j: i for i, j in matched.items()}
        parts = {
            i
            for _, i, j in pairs
            if i not in matched
            and j in by_entry
            and seen[i].cls not in STACKABLE
            and (
                _stacked(seen[i], seen[by_entry[j]], halves[by_entry[j]])
                or (
                    self.objects[j].at_least == 1
                    and seen[i].area_px <= FRAGMENT * self._entries[j].area_px
                    and _inside(seen[i], self.objects[j], self._entries[j].half)
                    and _occluded(seen[i], seen[by_entry[j]], current)
                )
            )
        }
        owner: dict[int, int] = {}  # a part -> the sighting that took its object
        for _, i, j in pairs:
            if i in parts and i not in owner:
                owner[i] = by_entry[j]
        now: list[tuple[SceneObject, bool, Entry]] = []
        for i, s in enumerate(seen):
            if i in parts:
                continue
            s = _widened(
                s, [seen[k] for k, o in owner.items() if o == i] + ([self.objects[matched[i]]] if i in matched else [])
            )
            entry = Entry(halves[i], s.area_px, s.colour)
            if i in matched:  # seen again: the newest place; the box and colour of the best view so far
                j = matched[i]
                old = self._entries[j]
                entry = Entry(
                    np.maximum(old.half, halves[i]),
                    max(old.area_px, s.area_px),
                    s.colour if s.area_px >= old.area_px or old.colour is None else old.colour,
                )
                s = replace(s, first_seen_s=self.objects[j].first_seen_s, colour=entry.colour)
            now.append((s, True, entry))
        kept = [(m, False, self._entries[j]) for j, m in enumerate(self.objects) if j not in taken]
        # a remembered object that is one seen now (an earlier view split it, or placed it too far to match) is it
        for k, (s, _, e) in enumerate(now):
            absorbed = [t for t in kept if t[0].cls == s.cls and self._same(s, e.half, t[0], t[2].half)]
            if absorbed:
                first = min([s.first_seen_s] + [t[0].first_seen_s for t in absorbed])
                now[k] = (replace(s, first_seen_s=first), True, e)
                kept = [t for t in kept if not any(t is a for a in absorbed)]
        memory = kept + now
        if len(memory) > self.max_objects:  # forget the least recently seen (this frame's last of all)
            memory = sorted(memory, key=lambda e: (-e[0].last_seen_s, e[0].distance_m))[: self.max_objects]
        self.objects = [o for o, _, _ in memory]
        self._entries = [e for _, _, e in memory]
        here = [(o, True) for o in structure] + [
            (o if visible else _from_camera(o, rot, origin), visible) for o, visible, _ in memory
        ]
        here.sort(key=lambda e: e[0].distance_m)
        objects = named([o for o, _ in here])
        return SceneModel(
            objects=objects,
            classes=list(model.classes),
            frame="world",
            time_s=model.time_s,
            in_view=[o.name for o, (_, visible) in zip(objects, here, strict=True) if visible],
        )


_UP_AXIS = 2  # world z is up (the convention of the camera poses; relations.UP)


def _widened(s: SceneObject, others: list[SceneObject]) -> SceneObject:
    """`s` (in the world frame, z up) with its lowest and highest points the lowest and highest of it and `others`
    (its earlier sightings, and parts of it seen apart: a lamp seen whole before, its foot now below the image), and
    its bottom hidden only if it is hidden in all of them."""
    if not others:
        return s

    def heights(o: SceneObject) -> tuple[float, float]:
        below, above = o.span_up_m if o.span_up_m is not None else (o.extent_m[1] / 2, o.extent_m[1] / 2)
        return o.centroid_m[_UP_AXIS] - below, o.centroid_m[_UP_AXIS] + above

    lows, highs = zip(*(heights(o) for o in [s, *others]), strict=True)
    z = s.centroid_m[_UP_AXIS]
    return replace(
        s,
        span_up_m=(max(0.0, z - min(lows)), max(0.0, max(highs) - z)),
        bottom_hidden=all(o.bottom_hidden for o in [s, *others]),
    )


def _stacked(part: SceneObject, whole: SceneObject, half: np.ndarray) -> bool:
    """Whether `part` lies straight above or below `whole` (box of half sizes `half`): its centroid within the box
    along the floor, beyond it vertically."""
    d = np.abs(np.subtract(part.centroid_m, whole.centroid_m))
    across = [i for i in range(3) if i != _UP_AXIS]
    return bool(d[_UP_AXIS] > half[_UP_AXIS] and all(d[i] <= half[i] + SLACK_M for i in across))


def _inside(part: SceneObject, whole: SceneObject, half: np.ndarray) -> bool:
    """Whether `part`'s centroid lies within `whole`'s box (half sizes `half`), `SLACK_M` to spare each way."""
    d = np.abs(np.subtract(part.centroid_m, whole.centroid_m))
    return bool((d <= half + SLACK_M).all())


def _occluded(a: SceneObject, b: SceneObject, others: list[SceneObject], margin_m: float = 0.1) -> bool:
    """Whether another object of the frame, nearer than both `a` and `b` by `margin_m`, covers the middle of the
    image between them (pixel boxes as measured in the frame: along each axis the gap between the two boxes, or
    their overlap where they overlap): what may have parted one object into the two."""
    if a.box is None or b.box is None:
        return False
    mid = [(min(a.box[k + 2], b.box[k + 2]) + max(a.box[k], b.box[k])) / 2 for k in (0, 1)]  # gap or overlap
    nearest = min(a.distance_m, b.distance_m) - margin_m
    return any(
        o.box is not None
        and not o.structure
        and o.distance_m < nearest
        and o.box[0] <= mid[0] < o.box[2]
        and o.box[1] <= mid[1] < o.box[3]
        for o in others
        if o is not a and o is not b
    )


def _horizontal(a: SceneObject, b: SceneObject) -> float:
    """The distance between two centroids along the floor."""
    return math.dist(
        [c for i, c in enumerate(a.centroid_m) if i != _UP_AXIS],
        [c for i, c in enumerate(b.centroid_m) if i != _UP_AXIS],
    )


def _from_camera(o: SceneObject, rot: np.ndarray, origin: np.ndarray) -> SceneObject:
    """A remembered object's distance and direction from the camera at `rot`, `origin` (camera-to-world). Bearing
    and elevation are measured against the floor's plane, from the way the camera faces: "behind me" is about
    where the wearer faces, not the optical axis (a camera pitched down has things behind the wearer, low down,
    in front of its image plane)."""
    to = np.asarray(o.centroid_m, np.float64) - origin
    up = np.zeros(3)
    up[_UP_AXIS] = 1.0
    ahead = rot[:, 2] - (rot[:, 2] @ up) * up  # the optical axis along the floor
    if np.linalg.norm(ahead) < 0.1:  # looking (nearly) straight down or up: the image's top or bottom is ahead
        image_up = -rot[:, 1] if rot[:, 2] @ up < 0 else rot[:, 1]
        ahead = image_up - (image_up @ up) * up
    ahead /= np.linalg.norm(ahead)
    right = np.cross(ahead, up)  # a head tilted sideways (roll) does not turn what is right
    level = to - (to @ up) * up
    bearing = math.degrees(math.atan2(float(to @ right), float(to @ ahead)))
    return replace(
        o,
        distance_m=float(np.linalg.norm(to)),
        bearing_deg=bearing,
        elevation_deg=math.degrees(math.atan2(float(to @ up), float(np.linalg.norm(level)))),
        direction=direction_of(bearing),
        box=None,
    )
