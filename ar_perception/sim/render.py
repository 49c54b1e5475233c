"""Ray-cast renderer for a SimScene: RGB, z-depth, class ids and instance ids from one open3d ray cast.

One primary ray per pixel through the pixel centre (open3d.t.geometry.RaycastingScene.cast_rays);
shading is Lambert from the scene's point light with distance falloff, a hemispheric ambient term
and a weak headlight, on procedural albedo (sim/materials.py); optional hard shadows come from a
second cast (test_occlusions) towards the light, one ray per 2x2 pixel block plus one per pixel where
a block straddles two parts. Spheres and cylinder sides get analytic normals.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ar_perception.geometry import pixel_rays
from ar_perception.sim.camera import Intrinsics
from ar_perception.sim.materials import noise3, pattern_blend
from ar_perception.sim.primitives import CYLINDER, SPHERE, open3d_module, part_mesh
from ar_perception.sim.scene import SimScene

__all__ = ["Renderer", "RenderOutput"]

_CHUNK = 16384  # pixels shaded per pass
_SHADOW_KEEP = 0.3  # fraction of direct light left in shadow (stands in for indirect light)
# Rows of the per-geometry parameter table.
_CA, _CB, _CENTER, _COS, _SIN, _SCALE, _NAMP, _NFREQ, _K = 0, 3, 6, 9, 10, 11, 12, 13, 14


@dataclass(frozen=True)
class RenderOutput:
    image: np.ndarray  # (H, W, 3) uint8 RGB
    depth: np.ndarray  # (H, W) float32 z-depth in metres, 0 = no hit
    labels: np.ndarray  # (H, W) uint8 class ids
    instances: np.ndarray  # (H, W) uint16 instance ids, 0 = no hit


class Renderer:
    """Renders one SimScene at fixed intrinsics; build once, call `render(pose)` per frame."""

    def __init__(self, scene: SimScene, intrinsics: Intrinsics, shadows: bool = True):
        o3d = open3d_module()
        self.scene, self.intrinsics, self.shadows = scene, intrinsics, shadows
        self._o3d = o3d
        # All parts in one mesh (a flat BVH casts faster than one geometry per part); a per-triangle
        # table maps the hit triangle back to its part.
        parts = scene.parts
        meshes = [part_mesh(part) for part in parts]
        offsets = np.cumsum([0] + [len(v) for v, _ in meshes])[:-1]
        verts = np.concatenate([v for v, _ in meshes])
        tris = np.concatenate([f + np.uint32(o) for (_, f), o in zip(meshes, offsets, strict=True)])
        self._tri_part = np.concatenate(
            [np.full(len(f), i, dtype=np.intp) for i, (_, f) in enumerate(meshes)] + [np.array([len(parts)])]
        )
        self._rc = o3d.t.geometry.RaycastingScene()
        self._rc.add_triangles(o3d.core.Tensor(verts), o3d.core.Tensor(tris))
        n = len(parts)
        self._miss = n
        self._miss_tri = len(tris)  # index of the "no hit" entry of _tri_part

        def table(values: list, dtype: type, fill: object = 0) -> np.ndarray:
            return np.array(list(values) + [fill], dtype=dtype)

        self._class = table([p.class_id for p in parts], np.uint8)
        self._instance = table([p.instance_id for p in parts], np.uint16)
        self._pattern = table([p.material.pattern for p in parts], np.int16, -1)
        self._patterns = sorted({p.material.pattern for p in parts} - {0})
        self._emissive = table([p.material.emissive for p in parts], bool, False)
        self._shape = table([p.shape for p in parts], np.int8, -1)
        self._smooth = (self._shape == SPHERE) | (self._shape == CYLINDER)
        self._has_emissive = bool(self._emissive.any())
        # Float parameters per part as columns of one (G + 1, K) table, gathered once per frame.
        prm = np.zeros((n + 1, _K), dtype=np.float32)
        for i, part in enumerate(parts):
            m = part.material
            prm[i, _CA : _CA + 3] = m.color_a
            prm[i, _CB : _CB + 3] = m.color_b
            prm[i, _CENTER : _CENTER + 3] = part.center
            prm[i, _COS], prm[i, _SIN] = math.cos(part.yaw), math.sin(part.yaw)
            prm[i, _SCALE], prm[i, _NAMP], prm[i, _NFREQ] = m.scale, m.noise_amp, m.noise_freq
        prm[n, _COS], prm[n, _SCALE] = 1.0, 1.0
        self._params = np.ascontiguousarray(prm.T)  # (K, G + 1): one contiguous row per parameter
        self._radius2 = np.array([np.asarray(p.size) / 2 for p in parts] + [(1, 1, 1)], dtype=np.float32).T ** 2
        light = scene.light
        self._light_pos = np.asarray(light.position, dtype=np.float32)[:, None]
        self._light_color = np.asarray(light.color, dtype=np.float32)[:, None]

        k = intrinsics
        dirs = pixel_rays(k.width, k.height, k.fx, k.fy, k.cx, k.cy).reshape(-1, 3)
        self._dirs = np.ascontiguousarray(dirs.T)  # (3, N), camera frame, z = 1
        self._inv_dir_norm = 1.0 / np.sqrt((dirs * dirs).sum(axis=1))  # rotation keeps it per pixel
        self._rays = np.empty((k.width * k.height, 6), dtype=np.float32)

    def render(self, pose: np.ndarray) -> RenderOutput:
        """Render from a 4x4 camera-to-world pose."""
        k = self.intrinsics
        h, w = k.height, k.width
        pose32 = np.asarray(pose, dtype=np.float32)
        origin = pose32[:3, 3]
        # Directions keep camera z = 1, so the ray parameter t of a hit is its z-depth.
        d = pose32[:3, :3] @ self._dirs  # (3, N), world frame
        rays = self._rays
        rays[:, :3] = origin
        rays[:, 3:] = d.T
        hits = self._rc.cast_rays(self._o3d.core.Tensor.from_numpy(rays))
        t = hits["t_hit"].numpy()
        hit = np.isfinite(t)
        tri = hits["primitive_ids"].numpy().astype(np.intp)
        if not hit.all():
            tri[~hit] = self._miss_tri
            t = np.where(hit, t, np.float32(0.0))
        g = np.take(self._tri_part, tri)
        labels = np.take(self._class, g)
        instances = np.take(self._instance, g)
        normals = hits["primitive_normals"].numpy()
        image = np.empty((h * w, 3), dtype=np.uint8)
        # Shade in chunks that stay in cache (the shading is many cheap, memory-bound array passes);
        # a chunk is an even number of whole rows, for the half-resolution shadow pass.
        rows = max(2, (_CHUNK // w) // 2 * 2)
        for r0 in range(0, h, rows):
            sl = slice(r0 * w, min(r0 + rows, h) * w)
            rgb = self._shade(g[sl], t[sl], origin, d[:, sl], normals[sl], self._inv_dir_norm[sl], w)
            rgb *= 255.0
            rgb += 0.5
            np.minimum(rgb, 255.0, out=rgb)
            image[sl] = rgb.T
        return RenderOutput(image.reshape(h, w, 3), t.reshape(h, w), labels.reshape(h, w), instances.reshape(h, w))

    def _occlusion_test(self, start: np.ndarray, to_light: np.ndarray) -> np.ndarray:
        rays = np.empty((start.shape[1], 6), dtype=np.float32)
        rays[:, :3] = start.T
        rays[:, 3:] = to_light.T
        return self._rc.test_occlusions(self._o3d.core.Tensor.from_numpy(rays), tfar=0.999).numpy()

    def _occluded(self, g: np.ndarray, start: np.ndarray, to_light: np.ndarray, width: int) -> np.ndarray:
        """Whether the light is blocked, for pixels of whole rows: one shadow ray per 2x2 block, whose
        answer its pixels share, plus an exact ray for every pixel on another part than its block's."""
        rows = g.shape[0] // width
        grid = np.arange(g.shape[0]).reshape(rows, width)
        reps = grid[::2, ::2]  # (ceil(rows / 2), ceil(width / 2)) block representatives
        blocked_reps = self._occlusion_test(start[:, reps.ravel()], to_light[:, reps.ravel()])
        # Each pixel's representative, by repeating the block grid 2x along both axes.
        rep_of = np.repeat(np.repeat(reps, 2, axis=0), 2, axis=1)[:rows, :width].ravel()
        occluded = np.repeat(np.repeat(blocked_reps.reshape(reps.shape), 2, axis=0), 2, axis=1)
        occluded = occluded[:rows, :width].ravel()
        edge = np.flatnonzero(np.take(g, rep_of) != g)
        if edge.size:
            occluded[edge] = self._occlusion_test(start[:, edge], to_light[:, edge])
        return occluded

    def _shade(
        self,
        g: np.ndarray,
        t: np.ndarray,
        origin: np.ndarray,
        d: np.ndarray,
        face_normals: np.ndarray,
        inv_dir_norm: np.ndarray,
        width: int,
    ) -> np.ndarray:
        """RGB (3, N) >= 0 of N pixels (whole image rows); pixels with no hit come out black."""
        prm = self._params

        def gather(row: int) -> np.ndarray:
            return np.take(prm[row], g)

        p = d * t  # (3, N) hit points
        p += origin[:, None]
        cos, sin = gather(_COS), gather(_SIN)
        # Local coordinates in each part's frame (origin at its centre, turned by its yaw).
        rx, ry = p[0] - gather(_CENTER), p[1] - gather(_CENTER + 1)
        lx = cos * rx + sin * ry
        ly = cos * ry - sin * rx
        lz = p[2] - gather(_CENTER + 2)
        n = np.ascontiguousarray(face_normals.T)  # (3, N)

        smooth = np.flatnonzero(np.take(self._smooth, g))
        if smooth.size:
            gs = np.take(g, smooth)
            r2 = np.take(self._radius2, gs, axis=1)
            nx, ny, nz = np.take(lx, smooth) / r2[0], np.take(ly, smooth) / r2[1], np.take(lz, smooth) / r2[2]
            cyl = np.take(self._shape, gs) == CYLINDER
            side = cyl & (np.abs(np.take(n[2], smooth)) < 0.5)
            nz[side] = 0.0
            use = ~cyl | side
            keep = smooth[use]
            nx, ny, nz = nx[use], ny[use], nz[use]
            c, s = np.take(cos, keep), np.take(sin, keep)
            wx, wy = c * nx - s * ny, s * nx + c * ny
            inv = 1.0 / (np.sqrt(wx * wx + wy * wy + nz * nz) + 1e-12)
            n[0, keep], n[1, keep], n[2, keep] = wx * inv, wy * inv, nz * inv

        # Face the normal towards the camera (walls and slabs are seen from inside).
        dn = n[0] * d[0] + n[1] * d[1] + n[2] * d[2]
        n *= np.where(dn > 0, np.float32(-1.0), np.float32(1.0))

        # Albedo: two colours blended by the part's pattern, modulated by smooth noise.
        f = np.zeros(g.shape[0], dtype=np.float32)
        if self._patterns:
            pattern = np.take(self._pattern, g)
            scale = prm[_SCALE]
            for k in self._patterns:
                sel = np.flatnonzero(pattern == k)
                if sel.size:
                    f[sel] = pattern_blend(
                        k, np.take(lx, sel), np.take(ly, sel), np.take(lz, sel), np.take(scale, np.take(g, sel))
                    )
        shade_mul = noise3(p[0], p[1], p[2], gather(_NFREQ))
        shade_mul *= gather(_NAMP)
        shade_mul += 1.0
        shade_mul *= 1.0 - np.clip(f - 1.0, 0.0, 1.0)  # weights past 1 darken (grout, seams)
        np.clip(f, 0.0, 1.0, out=f)
        albedo = np.empty_like(p)
        for c in range(3):
            ca = gather(_CA + c)
            albedo[c] = (gather(_CB + c) - ca) * f
            albedo[c] += ca
        albedo *= shade_mul
        em = np.flatnonzero(np.take(self._emissive, g)) if self._has_emissive else None
        if em is not None:
            glow = albedo[:, em]

        # Light: ambient (a little brighter on up-facing surfaces) + point light + headlight.
        light = self.scene.light
        to_light = self._light_pos - p
        dist = np.sqrt(to_light[0] * to_light[0] + to_light[1] * to_light[1] + to_light[2] * to_light[2])
        direct = np.maximum(n[0] * to_light[0] + n[1] * to_light[1] + n[2] * to_light[2], 0.0)
        direct *= light.gain / (dist * (1.0 + (dist * (1.0 / light.falloff)) ** 2))
        if self.shadows:
            start = p + 2e-3 * n  # off the surface, so a ray does not hit its own triangle
            occluded = self._occluded(g, start, to_light, width)
            direct *= np.where(occluded, np.float32(_SHADOW_KEEP), np.float32(1.0))
        view = np.abs(dn) * inv_dir_norm
        light_sum = light.ambient * (0.85 + 0.15 * n[2]) + direct + 0.12 * view
        albedo *= light_sum
        albedo *= self._light_color
        if em is not None:
            albedo[:, em] = glow
        return albedo
