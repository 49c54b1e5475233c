from typer.testing import CliRunner

from ar_perception.cli import app

runner = CliRunner()


def test_weights_list_shows_all_six_models(tmp_path, monkeypatch):
    monkeypatch.setenv("ARP_CACHE", str(tmp_path))
    r = runner.invoke(app, ["weights", "list"], terminal_width=200)
    assert r.exit_code == 0
    for name in (
        "eupe-vit-t",
        "eupe-vit-s",
        "eupe-vit-b",
        "eupe-convnext-tiny",
        "eupe-convnext-small",
        "eupe-convnext-base",
    ):
        assert name in r.output


def test_weights_fetch_offline_says_how_to_get_the_file(tmp_path, monkeypatch):
    monkeypatch.setenv("ARP_CACHE", str(tmp_path))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    r = runner.invoke(app, ["weights", "fetch", "eupe-vit-s"])
    assert r.exit_code == 1
    assert "EUPE-ViT-S.pt" in r.output


def test_export_random_vit_t_runs_under_onnxruntime(tmp_path):
    import numpy as np
    import onnxruntime as ort

    out = tmp_path / "enc.onnx"
    r = runner.invoke(app, ["export", "eupe-vit-t", "--resolution", "64", "-o", str(out), "--weights", "none"])
    assert r.exit_code == 0, r.output
    sess = ort.InferenceSession(str(out))
    res = sess.run(None, {sess.get_inputs()[0].name: np.zeros((2, 3, 64, 64), np.float32)})
    shapes = {o.name: v.shape for o, v in zip(sess.get_outputs(), res, strict=True)}
    assert shapes["cls"] == (2, 192) and shapes["patch_tokens"] == (2, 16, 192)
