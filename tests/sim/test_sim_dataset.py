import json

import numpy as np
import pytest

from ar_perception.errors import ArpError
from ar_perception.sim import CLASS_NAMES, SimDataset, SimSource, read_dataset, write_dataset
from ar_perception.sim.dataset import scene_seed

pytest.importorskip("open3d", reason="the sim needs open3d: pip install 'ar-perception[vision]'")


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("sim") / "ds"
    write_dataset(root, scenes=3, frames=2, seed=9, size=(96, 72), progress=False)
    return root


def test_layout_and_meta(dataset) -> None:
    meta = json.loads((dataset / "meta.json").read_text())
    assert meta["format"] == "arp-sim" and meta["version"] == 1
    assert meta["classes"] == list(CLASS_NAMES)
    assert meta["size"] == [96, 72] and meta["seed"] == 9
    assert meta["splits"] == {"train": ["scene_0000", "scene_0001"], "val": ["scene_0002"]}
    assert meta["depth"] == {"unit": "millimetre", "scale": 0.001, "invalid": 0}
    names = sorted(p.name for p in (dataset / "scene_0001").iterdir())
    assert names == ["cameras.json"] + [
        f"frame_{j:04d}_{kind}.png" for j in range(2) for kind in ("class", "depth", "instance", "rgb")
    ] + ["scene.json"]
    scene = json.loads((dataset / "scene_0001" / "scene.json").read_text())
    assert scene["seed"] == scene_seed(9, 1) and scene["trajectory"] == "walk"
    assert {o["class"] for o in scene["objects"]} <= set(CLASS_NAMES)


def test_round_trip_matches_the_source(dataset) -> None:
    ds = SimDataset(dataset)
    assert len(ds) == 6 and ds.class_names == CLASS_NAMES
    sample = ds[3]  # scene_0001, frame 1
    assert (sample.scene, sample.index) == ("scene_0001", 1)
    src = SimSource(scene_seed(9, 1), size=(96, 72), trajectory="walk")
    f = src.frame_at(src.trajectory.period / 2)
    np.testing.assert_array_equal(sample.image, f.image)
    np.testing.assert_array_equal(sample.labels, f.labels)
    np.testing.assert_array_equal(sample.instances, f.instances)
    assert sample.depth.dtype == np.float32
    np.testing.assert_allclose(sample.depth, f.depth, atol=0.0005 + 1e-6)  # millimetre PNG
    np.testing.assert_allclose(sample.pose, f.pose)
    assert sample.intrinsics == f.intrinsics


def test_splits_and_reader(dataset) -> None:
    assert {s.scene for s in SimDataset(dataset, "val")} == {"scene_0002"}
    assert len(SimDataset(dataset, "train")) == 4
    assert [(s.scene, s.index) for s in read_dataset(dataset)][:3] == [
        ("scene_0000", 0),
        ("scene_0000", 1),
        ("scene_0001", 0),
    ]
    with pytest.raises(ArpError, match="no split 'test' \\(it has: train, val\\)"):
        SimDataset(dataset, "test")


def test_writer_refuses_a_non_empty_folder_unless_told(dataset, tmp_path) -> None:
    with pytest.raises(ArpError, match="is not empty"):
        write_dataset(dataset, scenes=1, frames=1, progress=False)
    root = tmp_path / "again"
    write_dataset(root, scenes=2, frames=1, size=(32, 24), progress=False)
    write_dataset(root, scenes=1, frames=1, size=(32, 24), progress=False, overwrite=True)
    assert sorted(p.name for p in root.iterdir()) == ["meta.json", "scene_0000"]
    assert json.loads((root / "meta.json").read_text())["splits"] == {"train": ["scene_0000"], "val": []}


def test_reader_errors(tmp_path) -> None:
    with pytest.raises(ArpError, match="no meta.json"):
        SimDataset(tmp_path)
    (tmp_path / "meta.json").write_text('{"format": "other", "version": 3}')
    with pytest.raises(ArpError, match="expected format 'arp-sim' version 1, got 'other' version 3"):
        SimDataset(tmp_path)
    with pytest.raises(ArpError, match="scenes and frames must be >= 1"):
        write_dataset(tmp_path / "x", scenes=0, frames=1)


def test_progress_bar(tmp_path, capsys) -> None:
    write_dataset(tmp_path / "p", scenes=1, frames=2, size=(32, 24), progress=True)
    assert "sim-dataset" in capsys.readouterr().err
