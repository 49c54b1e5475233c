import numpy as np
import pytest

from ar_perception.errors import ArpError
from ar_perception.sim import CLASS_NAMES, SCENE_PRESETS, TRAJECTORIES, SimSource, make_scene

pytest.importorskip("open3d", reason="the sim needs open3d: pip install 'ar-perception[vision]'")

SMALL = (160, 120)


@pytest.fixture(scope="module")
def orbit() -> SimSource:
    return SimSource(7, size=SMALL, trajectory="orbit")


def test_frame_shapes_and_dtypes(orbit: SimSource) -> None:
    f = orbit.frame(3)
    assert f.image.shape == (120, 160, 3) and f.image.dtype == np.uint8
    assert f.depth.shape == (120, 160) and f.depth.dtype == np.float32
    assert f.labels.shape == (120, 160) and f.labels.dtype == np.uint8
    assert f.instances.shape == (120, 160) and f.instances.dtype == np.uint16
    assert f.pose.shape == (4, 4) and f.pose.dtype == np.float64
    assert set(f.intrinsics) == {"fx", "fy", "cx", "cy", "width", "height"}
    assert (f.intrinsics["width"], f.intrinsics["height"]) == SMALL
    assert f.class_names == CLASS_NAMES and CLASS_NAMES[0] == "background"
    assert f.index == 3 and f.time == pytest.approx(0.3)
    np.testing.assert_allclose(f.K, orbit.intrinsics.K)


def test_pose_is_rigid_and_inside_the_room(orbit: SimSource) -> None:
    w, d, h = orbit.scene.size
    for i in range(0, 240, 30):
        pose = orbit.frame(i).pose
        rot = pose[:3, :3]
        np.testing.assert_allclose(rot.T @ rot, np.eye(3), atol=1e-9)
        assert np.linalg.det(rot) == pytest.approx(1.0)
        np.testing.assert_array_equal(pose[3], [0, 0, 0, 1])
        x, y, z = pose[:3, 3]
        assert abs(x) < w / 2 - 0.3 and abs(y) < d / 2 - 0.3 and 0.5 < z < h - 0.3


@pytest.mark.parametrize("trajectory", TRAJECTORIES)
def test_same_seed_gives_identical_frames(trajectory: str) -> None:
    a = SimSource(11, size=SMALL, trajectory=trajectory).frame(5)
    b = SimSource(11, size=SMALL, trajectory=trajectory).frame(5)
    for name in ("image", "depth", "labels", "instances", "pose"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)


def test_different_seed_gives_different_frames() -> None:
    a = SimSource(1, size=SMALL).frame(0)
    b = SimSource(2, size=SMALL).frame(0)
    assert not np.array_equal(a.image, b.image)
    assert not np.array_equal(a.depth, b.depth)
    assert make_scene(1).as_dict() != make_scene(2).as_dict()


def test_scene_does_not_depend_on_trajectory() -> None:
    scenes = [SimSource(5, size=SMALL, trajectory=t).scene for t in TRAJECTORIES]
    assert scenes[0].as_dict() == scenes[1].as_dict() == scenes[2].as_dict()


def test_frames_are_random_access(orbit: SimSource) -> None:
    later = orbit.frame(17)
    orbit.frame(2)
    again = orbit.frame(17)
    np.testing.assert_array_equal(later.image, again.image)
    np.testing.assert_array_equal(later.pose, orbit.frame_at(1.7).pose)


@pytest.mark.parametrize("trajectory", TRAJECTORIES)
def test_depth_is_realistic_for_a_room(trajectory: str) -> None:
    src = SimSource(3, size=SMALL, trajectory=trajectory)
    w, d, h = src.scene.size
    far = float(np.sqrt(w * w + d * d + h * h))
    for i in range(0, 300, 50):
        f = src.frame(i)
        assert np.isfinite(f.depth).all()
        # A closed room: every ray hits something, no nearer than 0.3 m, no farther than the diagonal.
        assert (f.depth > 0.3).all() and f.depth.max() < far
        assert (f.labels > 0).all() and (f.instances > 0).all()


def test_labels_and_instances_agree_with_the_scene() -> None:
    src = SimSource(4, size=SMALL, trajectory="handheld")
    by_instance = {o.instance_id: o.class_id for o in src.scene.objects}
    by_instance.update({1: 1, 2: 3, 3: 2, 4: 2, 5: 2, 6: 2})  # floor, ceiling, four walls
    f = src.frame(0)
    for inst in np.unique(f.instances):
        assert set(np.unique(f.labels[f.instances == inst])) == {by_instance[int(inst)]}


def test_every_class_appears_across_a_few_scenes() -> None:
    seen: set[int] = set()
    for seed in range(4):
        for trajectory in TRAJECTORIES:
            src = SimSource(seed, size=(96, 72), trajectory=trajectory)
            for k in range(6):
                seen.update(np.unique(src.frame_at(k * src.trajectory.period / 6).labels).tolist())
    assert seen == set(range(1, len(CLASS_NAMES))), [CLASS_NAMES[i] for i in set(range(1, len(CLASS_NAMES))) - seen]


def test_every_object_class_is_placed_in_most_scenes() -> None:
    counts = {name: 0 for name in CLASS_NAMES[4:]}
    for seed in range(10):
        for name in {o.class_name for o in make_scene(seed).objects}:
            counts[name] += 1
    assert min(counts.values()) >= 5, counts


def test_presets_and_variety() -> None:
    sizes = {make_scene(seed).size for seed in range(5)}
    assert len(sizes) == 5
    assert not make_scene(0, "empty").objects
    for preset in SCENE_PRESETS:
        make_scene(1, preset)


def test_bad_arguments_say_what_was_expected() -> None:
    with pytest.raises(ArpError, match="unknown sim trajectory 'spin'.*orbit, walk, handheld"):
        SimSource(0, trajectory="spin")
    with pytest.raises(ArpError, match="unknown sim scene 'castle'.*room"):
        SimSource(0, scene="castle")
    with pytest.raises(ArpError, match="at least 8x8"):
        SimSource(0, size=(4, 4))
