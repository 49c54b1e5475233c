"""Camera calibration files: pinhole intrinsics and lens distortion from OpenCV's own files (cv2.FileStorage
YAML/XML, as written by OpenCV's calibration sample) or a ROS camera_info YAML, and their scaling to another
image size."""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from ar_perception.errors import NodeError
from ar_perception.images import cv2_module

__all__ = ["Calibration", "read_calibration", "cv2_module"]


_MATRIX_KEYS = ("camera_matrix", "cameraMatrix", "K")
_DISTORTION_KEYS = ("distortion_coefficients", "distortion", "dist_coeffs", "distCoeffs", "D")


@dataclass(frozen=True)
class Calibration:
    """Pinhole intrinsics in pixels (OpenCV: pixel centres at integer coordinates) and distortion.

    `width`, `height` are the resolution the intrinsics belong to, or None when a calibration file
    does not say (then they are taken to belong to the resolution the camera delivers).
    """

    fx: float
    fy: float
    cx: float
    cy: float
    width: int | None = None
    height: int | None = None
    distortion: tuple[float, ...] = ()

    @classmethod
    def from_hfov(cls, width: int, height: int, hfov_deg: float) -> Calibration:
        fx = (width / 2.0) / math.tan(math.radians(hfov_deg) / 2.0)
        return cls(fx, fx, (width - 1) / 2.0, (height - 1) / 2.0, width, height)

    def scaled(self, width: int, height: int) -> Calibration:
        """The same camera seen through an image resized to width x height."""
        w0, h0 = self.width or width, self.height or height
        sx, sy = width / w0, height / h0
        # Pixel centres sit at integer coordinates, so the image edge is at -0.5: scale about it.
        return replace(
            self,
            fx=self.fx * sx,
            fy=self.fy * sy,
            cx=(self.cx + 0.5) * sx - 0.5,
            cy=(self.cy + 0.5) * sy - 0.5,
            width=width,
            height=height,
        )

    @property
    def matrix(self) -> np.ndarray:
        return np.array([[self.fx, 0.0, self.cx], [0.0, self.fy, self.cy], [0.0, 0.0, 1.0]])

    @property
    def distorted(self) -> bool:
        return any(abs(k) > 0 for k in self.distortion)

    def meta(self) -> dict[str, Any]:
        """CameraInfo metadata (fx, fy, cx, cy, width, height)."""
        return {"fx": self.fx, "fy": self.fy, "cx": self.cx, "cy": self.cy, "width": self.width, "height": self.height}


def _numbers(node: Any) -> list[float] | None:
    """The numbers of a FileStorage node: an opencv-matrix, a ROS {rows, cols, data} map or a sequence."""
    if node.empty() or node.isNone():
        return None
    if node.isMap():
        keys = node.keys()
        if "dt" in keys:
            return [float(v) for v in np.asarray(node.mat(), dtype=np.float64).ravel()]
        if "data" in keys:
            return _numbers(node.getNode("data"))
        return None
    if node.isSeq():
        values = [node.at(i) for i in range(node.size())]
        return [float(v.real()) for v in values] if all(v.isReal() or v.isInt() for v in values) else None
    if node.isReal() or node.isInt():
        return [float(node.real())]
    return None


def _first(fs: Any, keys: tuple[str, ...]) -> tuple[str, Any] | None:
    for k in keys:
        node = fs.getNode(k)
        if not node.empty() and not node.isNone():
            return k, node
    return None


def read_calibration(path: str | Path) -> Calibration:
    """Intrinsics from an OpenCV calibration file (YAML or XML, `camera_matrix` + optional
    `distortion_coefficients`, `image_width`, `image_height`) or a ROS camera_info YAML."""
    cv2 = cv2_module()
    path = Path(path)
    if not path.is_file():
        raise NodeError(f"no such calibration file '{path}'")
    try:
        fs = cv2.FileStorage(str(path), cv2.FILE_STORAGE_READ)
        opened = fs.isOpened()
    except (cv2.error, SystemError):
        opened = False
    if not opened:
        raise NodeError(f"'{path}' is not an OpenCV calibration file (cv2.FileStorage cannot parse it as YAML or XML)")
    try:
        found = _first(fs, _MATRIX_KEYS)
        if found is None:
            raise NodeError(
                f"'{path}' has no camera matrix (expected one of the keys {', '.join(_MATRIX_KEYS)}; "
                f"it has: {', '.join(fs.root().keys()) or 'none'})"
            )
        key, node = found
        k = _numbers(node)
        if k is None or len(k) != 9:
            raise NodeError(
                f"'{path}': {key} must be a 3x3 matrix (got {'something else' if k is None else f'{len(k)} numbers'})"
            )
        dist: tuple[float, ...] = ()
        found = _first(fs, _DISTORTION_KEYS)
        if found is not None:
            dkey, dnode = found
            d = _numbers(dnode)
            if d is None or len(d) not in (4, 5, 8, 12, 14):
                raise NodeError(
                    f"'{path}': {dkey} must hold 4, 5, 8, 12 or 14 coefficients (got "
                    f"{'something else' if d is None else len(d)})"
                )
            dist = tuple(d)
        size: list[int | None] = [None, None]
        for i, names in enumerate((("image_width", "width"), ("image_height", "height"))):
            hit = _first(fs, names)
            if hit is not None and (v := _numbers(hit[1])):
                size[i] = int(v[0])
        res = _first(fs, ("cameraResolution", "image_size", "imageSize"))
        if res is not None and (v := _numbers(res[1])) and len(v) == 2:
            size = [int(v[0]), int(v[1])]
    finally:
        fs.release()
    fx, fy, cx, cy = k[0], k[4], k[2], k[5]
    if fx <= 0 or fy <= 0:
        raise NodeError(f"'{path}': {key} has non-positive focal lengths fx={fx}, fy={fy}")
    if (size[0] is None) != (size[1] is None):
        raise NodeError(f"'{path}' gives only one of image_width and image_height")
    return Calibration(fx, fy, cx, cy, size[0], size[1], dist)
