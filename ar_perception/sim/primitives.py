"""Scene parts: boxes, ellipsoids and cylinders, as placed triangle meshes built from open3d primitives."""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from functools import cache

import numpy as np

from ar_perception.geometry import open3d_module
from ar_perception.sim.materials import Material

__all__ = ["Part", "BOX", "SPHERE", "CYLINDER", "part_mesh", "open3d_module"]

BOX, SPHERE, CYLINDER = 0, 1, 2  # part shapes; SPHERE is an ellipsoid when its size is not uniform


@dataclass(frozen=True)
class Part:
    """One primitive: `center` and full extents `size` (x, y, z) in metres, turned by `yaw` about z."""

    shape: int
    center: tuple[float, float, float]
    size: tuple[float, float, float]
    material: Material
    yaw: float = 0.0
    class_id: int = 0
    instance_id: int = 0

    def placed(self, x: float, y: float, yaw: float, z: float = 0.0) -> Part:
        """This part (in object coordinates) moved by an object pose: turn by `yaw`, then shift."""
        c, s = math.cos(yaw), math.sin(yaw)
        px, py, pz = self.center
        center = (x + c * px - s * py, y + s * px + c * py, z + pz)
        return replace(self, center=center, yaw=self.yaw + yaw)


@cache
def _unit_mesh(shape: int) -> tuple[np.ndarray, np.ndarray]:
    """Unit-extent mesh centred at the origin: (vertices (V, 3) float64, triangles (F, 3) int64)."""
    o3d = open3d_module()
    if shape == BOX:
        mesh = o3d.geometry.TriangleMesh.create_box(1.0, 1.0, 1.0)
        mesh.translate((-0.5, -0.5, -0.5))
    elif shape == SPHERE:
        mesh = o3d.geometry.TriangleMesh.create_sphere(radius=0.5, resolution=16)
    else:
        mesh = o3d.geometry.TriangleMesh.create_cylinder(radius=0.5, height=1.0, resolution=24, split=1)
    verts = np.asarray(mesh.vertices, dtype=np.float64).copy()
    tris = np.asarray(mesh.triangles, dtype=np.int64).copy()
    verts.setflags(write=False)
    tris.setflags(write=False)
    return verts, tris


def part_mesh(part: Part) -> tuple[np.ndarray, np.ndarray]:
    """World-space mesh of a part: (vertices (V, 3) float32, triangles (F, 3) uint32)."""
    verts, tris = _unit_mesh(part.shape)
    v = verts * np.asarray(part.size, dtype=np.float64)
    c, s = math.cos(part.yaw), math.sin(part.yaw)
    rot = np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])
    v = v @ rot.T + np.asarray(part.center, dtype=np.float64)
    return v.astype(np.float32), tris.astype(np.uint32)
