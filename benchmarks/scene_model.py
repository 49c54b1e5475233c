"""How well the scene model (ar_perception/qa) matches the simulator's ground truth: instances and colour names.

Usage: python benchmarks/scene_model.py [--seeds 100-129] [--json]

Frames: the `room` preset, `walk` trajectory (or `--scene`, `--trajectory`), 320x240, at 0, 2, 4 and 6 s of each
seed. The defaults were set on seeds 0-11; report on others (the default 100-129 were never used for tuning).

Instances: the scene model built as the scene node builds it, from the ground-truth mask and depth, the rendered
image and the world's up from the camera pose; per frame and class, the number of objects it finds is compared
with the number of simulated instances covering at least `--min-area` of the image
(room structure left out; the model drops regions below the same share). Reported: the share of (frame, class)
pairs counted right, too many, too few; and the same with depth splitting off (connectivity only), for comparison;
and, apart, the (frame, class) pairs where two instances of the class overlap in the image (one hides part of the
other), where depth splitting matters.

Colours: for each simulated instance covering at least 0.5% of the image, `colour_name` of its interior pixels in the
rendered image is compared with the name of the colour of the material that covers most of those pixels. That
expected name comes from code separate from qa/colour.py: a table, written by hand, of names for every base
colour in the simulator's palettes (sim/furniture.py), with the other names a person would also accept for pale
or in-between shades; a material's (jittered) colour is matched to the nearest table entry in RGB. An instance
whose pixels no one material name covers 60% of (a person of shirt, trousers and skin; a shelf of books), or
whose material has two differently named colours in its pattern (floor tiles, two-coloured balls), is left out
and counted. The renderer lights surfaces (a white wall in shade renders grey): the figure measures naming
rendered pixels against the paint's name, not a lighting-corrected estimate.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from sim_colours import names_of  # noqa: E402

from ar_perception.geometry import open3d_module, pixel_rays  # noqa: E402
from ar_perception.qa.colour import colour_name  # noqa: E402
from ar_perception.qa.model import build_scene_model  # noqa: E402
from ar_perception.sim import SimSource  # noqa: E402
from ar_perception.sim.materials import SEGMENTS, TILES  # noqa: E402
from ar_perception.sim.primitives import part_mesh  # noqa: E402

TIMES = (0.0, 2.0, 4.0, 6.0)
COLOUR_AREA = 0.005  # colours are named of instances covering at least this share of the image
FIRST_OBJECT_INSTANCE = 7  # below: floor 1, ceiling 2, walls 3-6 (sim.scene)


def part_ids(src: SimSource, pose: np.ndarray) -> np.ndarray:
    """(H, W) index into `src.scene.parts` of the part each pixel sees (len(parts) where nothing is hit)."""
    o3d = open3d_module()
    parts = src.scene.parts
    meshes = [part_mesh(p) for p in parts]
    offsets = np.cumsum([0] + [len(v) for v, _ in meshes])[:-1]
    verts = np.concatenate([v for v, _ in meshes])
    tris = np.concatenate([f + np.uint32(o) for (_, f), o in zip(meshes, offsets, strict=True)])
    tri_part = np.concatenate([np.full(len(f), i) for i, (_, f) in enumerate(meshes)] + [np.array([len(parts)])])
    rc = o3d.t.geometry.RaycastingScene()
    rc.add_triangles(o3d.core.Tensor(verts), o3d.core.Tensor(tris))
    k = src.intrinsics
    dirs = pixel_rays(k.width, k.height, k.fx, k.fy, k.cx, k.cy).reshape(-1, 3) @ pose[:3, :3].T
    rays = np.concatenate([np.broadcast_to(pose[:3, 3], dirs.shape), dirs], axis=1).astype(np.float32)
    prim = rc.cast_rays(o3d.core.Tensor(rays))["primitive_ids"].numpy().astype(np.int64)
    prim[prim < 0] = len(tri_part) - 1  # open3d marks a miss with an invalid id (2**32 - 1 or -1)
    prim[prim >= len(tri_part)] = len(tri_part) - 1
    return tri_part[prim].reshape(k.height, k.width)


def _interior(sel: np.ndarray) -> np.ndarray:
    inner = sel.copy()
    inner[1:] &= sel[:-1]
    inner[:-1] &= sel[1:]
    inner[:, 1:] &= sel[:, :-1]
    inner[:, :-1] &= sel[:, 1:]
    return inner if inner.sum() >= 16 else sel


def expected_colour(src: SimSource, parts: np.ndarray, sel: np.ndarray) -> tuple[str, ...] | None:
    """The names of the colour covering most of `sel`, or None where no one name covers 60% of it."""
    ids, counts = np.unique(parts[sel], return_counts=True)
    share: Counter[str] = Counter()
    accepted: dict[str, set[str]] = {}
    for i, n in zip(ids.tolist(), counts.tolist(), strict=True):
        if i >= len(src.scene.parts):
            continue
        m = src.scene.parts[i].material
        names = names_of(m.color_a)
        if m.pattern in (SEGMENTS, TILES) and names_of(m.color_b)[0] != names[0]:
            return None  # two differently named colours in one pattern
        share[names[0]] += n
        accepted.setdefault(names[0], set()).update(names)
    if not share:
        return None
    top, n = share.most_common(1)[0]
    return tuple(sorted(accepted[top])) if n >= 0.6 * sel.sum() else None


def touching(f: Any) -> set[str]:
    """Classes of which two object instances touch in the image (one in front of the other, or side by side)."""
    out = set()
    inst, lab = f.instances.astype(np.int64), f.labels
    for a, b, la, lb in (
        (inst[:, :-1], inst[:, 1:], lab[:, :-1], lab[:, 1:]),
        (inst[:-1], inst[1:], lab[:-1], lab[1:]),
    ):
        both = (a >= FIRST_OBJECT_INSTANCE) & (b >= FIRST_OBJECT_INSTANCE) & (a != b) & (la == lb)
        out |= {f.class_names[c] for c in np.unique(la[both]).tolist()}
    return out


def _counts(model: Any) -> Counter[str]:
    return Counter(o.cls for o in model.objects if not o.structure)


def run(seeds: list[int], min_area: float, scene: str = "room", trajectory: str = "walk") -> dict[str, Any]:
    inst: dict[str, Counter[str]] = {"split": Counter(), "connectivity only": Counter()}
    overlap: dict[str, Counter[str]] = {"split": Counter(), "connectivity only": Counter()}
    by_class: Counter[tuple[str, str]] = Counter()
    colours: Counter[str] = Counter()
    confusion: Counter[tuple[str, str]] = Counter()
    consistent = 0
    total_px = 0
    for seed in seeds:
        src = SimSource(seed, (320, 240), scene, trajectory)
        for t in TIMES:
            f = src.frame_at(t)
            parts = part_ids(src, f.pose)
            owner = np.array([p.instance_id for p in src.scene.parts] + [0])[parts]
            consistent += int((owner == f.instances).sum())
            total_px += f.instances.size
            truth: Counter[str] = Counter()
            touch = touching(f)
            for iid in np.unique(f.instances):
                sel = f.instances == iid
                if iid == 0 or sel.mean() < min_area:
                    continue
                cls = f.class_names[int(np.bincount(f.labels[sel]).argmax())]
                if iid >= FIRST_OBJECT_INSTANCE:
                    truth[cls] += 1
                if sel.mean() < COLOUR_AREA:
                    continue
                want = expected_colour(src, parts, sel)
                if want is None:
                    colours["left out (mixed)"] += 1
                    continue
                got = colour_name(f.image[_interior(sel)])
                ok = got in want
                colours["right" if ok else "wrong"] += 1
                colours[
                    ("right" if ok else "wrong") + (" (objects)" if iid >= FIRST_OBJECT_INSTANCE else " (room)")
                ] += 1
                if not ok:
                    confusion[("/".join(want), str(got))] += 1
            for mode, jump_rel in (("split", 0.1), ("connectivity only", 1e9)):
                model = build_scene_model(  # as the scene node builds it: with the image, up from the pose
                    f.labels,
                    f.depth,
                    f.class_names,
                    f.intrinsics,
                    f.image,
                    up=np.asarray(f.pose)[2, :3],
                    min_area=min_area,
                    jump_rel=jump_rel,
                )
                got_counts = _counts(model)
                for cls in set(truth) | set(got_counts):
                    a, b = got_counts[cls], truth[cls]
                    verdict = "right" if a == b else "too many" if a > b else "too few"
                    inst[mode][verdict] += 1
                    if cls in touch:
                        overlap[mode][verdict] += 1
                    if mode == "split":
                        by_class[(cls, verdict)] += 1
    return {
        "seeds": f"{seeds[0]}-{seeds[-1]}",
        "scene": scene,
        "trajectory": trajectory,
        "frames": len(seeds) * len(TIMES),
        "part_ray_cast_agrees_with_instances": consistent / total_px,
        "instances": {m: dict(c) for m, c in inst.items()},
        "instances_touching": {m: dict(c) for m, c in overlap.items()},
        "instances_by_class": {f"{c} {v}": n for (c, v), n in sorted(by_class.items())},
        "colours": dict(colours),
        "colour_confusions": {f"{w} -> {g}": n for (w, g), n in confusion.most_common(12)},
    }


def _seeds(text: str) -> list[int]:
    lo, _, hi = text.partition("-")
    return list(range(int(lo), int(hi or lo) + 1))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", default="100-129", help="a seed range, e.g. 100-129 (defaults set on 0-11)")
    ap.add_argument(
        "--min-area",
        type=float,
        default=0.002,
        help="instances (and regions) covering less of the image are not counted",
    )
    ap.add_argument("--scene", default="room", help="sim scene preset (room, kitchen, ...)")
    ap.add_argument("--trajectory", default="walk", help="sim trajectory (orbit, walk, ...)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    out = run(_seeds(args.seeds), args.min_area, args.scene, args.trajectory)
    if args.json:
        print(json.dumps(out, indent=1))
        return 0
    print(
        f"scene model vs simulator ground truth: seeds {out['seeds']}, {out['frames']} frames "
        f"({out['scene']}, {out['trajectory']}, 320x240)"
    )
    print(
        f"(part ray cast agrees with the renderer's instance ids on {out['part_ray_cast_agrees_with_instances']:.2%})"
    )
    for what, mode, c in [("all", m, c) for m, c in out["instances"].items()] + [
        ("two touch", m, c) for m, c in out["instances_touching"].items()
    ]:
        n, right = max(sum(c.values()), 1), c.get("right", 0)
        print(
            f"instances per (frame, class), {what}, {mode}: right {right}/{n} ({right / n:.1%}), "
            f"too many {c.get('too many', 0)}, too few {c.get('too few', 0)}"
        )
    c = out["colours"]
    scored = c.get("right", 0) + c.get("wrong", 0)
    print(
        f"colour names: right {c.get('right', 0)}/{scored} ({c.get('right', 0) / max(scored, 1):.1%}); "
        f"objects {c.get('right (objects)', 0)}/{c.get('right (objects)', 0) + c.get('wrong (objects)', 0)}, "
        f"room structure {c.get('right (room)', 0)}/{c.get('right (room)', 0) + c.get('wrong (room)', 0)}; "
        f"left out (mixed colours) {c.get('left out (mixed)', 0)}"
    )
    print("most frequent misnamings (accepted names -> named):")
    for k, n in out["colour_confusions"].items():
        print(f"  {k}: {n}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
