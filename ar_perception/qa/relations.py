"""Spatial relations between scene objects, judged from where perception placed them.

Left/right of by bearing; in front of/behind by distance along much the same line of sight; on by vertical
stacking (the subject higher up, its bottom between the middle and the top of the other, footprints
overlapping; on the floor: its bottom at the floor's level, the floor being flat and under everything); next
to by the gap between their boxes; between by bearing; nearer/farther than by distance from the camera, by a
margin (about as far away is neither). Up is -y in the camera frame (which assumes a roughly
level camera) and +z in the world frame (the convention of the camera poses: the simulator's rooms are z up).

An object's box is its centroid (the median of its points) and `extent_m`; its bottom and top are where its
lowest and highest visible points are (`span_up_m`; half its height from the centroid where that is not known).
The centroid leans to where most pixels are (a table's top, not the middle of its legs; a lamp's shade, high above
its foot), so the bottom of a thing on the other must lie between the other's centroid and the top of its box.
`extent_m` is width, height, depth along the camera's axes as the object was seen; in the world frame, where
those axes are turned by an unknown yaw, the footprint is taken as the larger of width and depth along both
horizontal world axes. A yes/no "in front of"/"behind" between two objects not in line is answered by their
distances from the camera (`holds(..., in_line=False)`), saying that they are not in line.
"""

from __future__ import annotations

import math

from ar_perception.qa.model import SceneObject
from ar_perception.qa.query import RELATIONS

__all__ = ["UP", "holds", "gap", "under_it"]

SIDE_MARGIN_DEG = 5.0  # left/right of: bearings closer than this are neither
DEPTH_MARGIN_M = 0.3  # in front of/behind: distances closer than this are neither
IN_LINE_DEG = 20.0  # in front of/behind: at most this far off the other's line of sight
ON_GAP_M = 0.15  # on: the subject's bottom at most this far from the other's top
ON_FLOOR_M = 0.3  # on the floor: the subject's bottom at most this far above the floor's level (the middle of
# its visible part; on the simulator's orbits a table's or chair's bottom is measured up to 0.25 m above it)
OVERLAP_SLACK_M = 0.05  # on: footprints that miss each other by less than this still overlap
NEXT_TO_GAP_M = 0.5  # next to: boxes at most this far apart
FARTHER_M, FARTHER_SHARE = 0.15, 0.05  # nearer/farther than: distances must differ by the larger of these

UP = {"camera": (1, -1.0), "world": (2, 1.0)}  # frame -> (axis, sign) of up


def holds(relation: str, o: SceneObject, refs: list[SceneObject], frame: str, *, in_line: bool = True) -> bool:
    """Whether `o` stands in `relation` to `refs` (one object; two for "between"), in a model of `frame`; with
    `in_line` False, in front of/behind are by distance alone (the depth order as seen from here)."""
    ref = refs[0]
    if relation == "left_of":
        return o.bearing_deg < ref.bearing_deg - SIDE_MARGIN_DEG
    if relation == "right_of":
        return o.bearing_deg > ref.bearing_deg + SIDE_MARGIN_DEG
    lined_up = not in_line or abs(o.bearing_deg - ref.bearing_deg) <= IN_LINE_DEG
    if relation == "in_front_of":
        return lined_up and o.distance_m < ref.distance_m - DEPTH_MARGIN_M
    if relation == "behind":
        return lined_up and o.distance_m > ref.distance_m + DEPTH_MARGIN_M
    if relation == "on":
        return _on(o, ref, frame)
    if relation == "next_to":
        return gap(o, ref, frame) <= NEXT_TO_GAP_M
    if relation == "between":
        low, high = sorted((refs[0].bearing_deg, refs[1].bearing_deg))
        return low < o.bearing_deg < high
    if relation in ("nearer_than", "farther_than"):
        margin = max(FARTHER_M, FARTHER_SHARE * min(o.distance_m, ref.distance_m))
        if relation == "nearer_than":
            return o.distance_m < ref.distance_m - margin
        return o.distance_m > ref.distance_m + margin
    raise ValueError(f"relation {relation!r}: expected one of {', '.join(RELATIONS)}")


def _on(o: SceneObject, ref: SceneObject, frame: str) -> bool:
    axis, up = UP[frame]
    half_o, half_ref = _half_sizes(o, frame), _half_sizes(ref, frame)
    height, ref_height = up * o.centroid_m[axis], up * ref.centroid_m[axis]
    bottom = height - (o.span_up_m[0] if o.span_up_m is not None else half_o[axis])
    if ref.cls == "floor":  # the floor is under everything: what has its bottom at the floor's level is on it
        return bottom <= ref_height + ON_FLOOR_M
    if o.bottom_hidden:  # where it stands is unseen: it may stand behind the other, lower down
        return False
    top = ref_height + (ref.span_up_m[1] if ref.span_up_m is not None else half_ref[axis])
    if height <= ref_height or not ref_height - ON_GAP_M <= bottom <= top + ON_GAP_M:
        return False
    return under_it(o, ref, frame)


def under_it(o: SceneObject, ref: SceneObject, frame: str) -> bool:
    """Whether `ref` lies under `o` (their footprints overlap, across the frame's up; the floor is under all)."""
    if ref.cls == "floor":
        return True
    axis = UP[frame][0]
    half_o, half_ref = _half_sizes(o, frame), _half_sizes(ref, frame)
    return all(
        abs(o.centroid_m[i] - ref.centroid_m[i]) <= half_o[i] + half_ref[i] + OVERLAP_SLACK_M
        for i in range(3)
        if i != axis
    )


def gap(a: SceneObject, b: SceneObject, frame: str) -> float:
    """The distance in metres between two objects' boxes (0 when they touch or overlap)."""
    half_a, half_b = _half_sizes(a, frame), _half_sizes(b, frame)
    per_axis = [max(0.0, abs(a.centroid_m[i] - b.centroid_m[i]) - half_a[i] - half_b[i]) for i in range(3)]
    return math.sqrt(sum(g * g for g in per_axis))


def _half_sizes(o: SceneObject, frame: str) -> tuple[float, float, float]:
    """Half the box along the frame's x, y, z axes."""
    width, height, depth = (e / 2 for e in o.extent_m)
    if frame == "camera":
        return width, height, depth
    footprint = max(width, depth)
    return footprint, footprint, height
