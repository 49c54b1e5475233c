"""`arp keys`: key pairs on disk, their modes, and clear errors for bad key files."""

import stat

from typer.testing import CliRunner

from ar_perception.cli import app
from ar_perception.keys import load_public, load_secret

runner = CliRunner()


def test_create_writes_a_pair_with_a_private_secret_and_show_prints_only_the_public_key(tmp_path):
    r = runner.invoke(app, ["keys", "create", "headset", "--dir", str(tmp_path / "k")])
    assert r.exit_code == 0, r.output
    public, secret = tmp_path / "k" / "headset.key", tmp_path / "k" / "headset.key_secret"
    assert stat.S_IMODE(secret.stat().st_mode) == 0o600 and stat.S_IMODE(public.parent.stat().st_mode) == 0o700
    pub, sec = load_secret(secret)
    assert pub == load_public(public) and len(sec) == 40
    shown = runner.invoke(app, ["keys", "show", str(secret)])
    assert shown.output.strip() == pub.decode() and sec.decode() not in shown.output

    again = runner.invoke(app, ["keys", "create", "headset", "--dir", str(tmp_path / "k")])
    assert again.exit_code == 1
    assert again.output.replace("\n", "") == (
        f"{public}: a key pair named 'headset' already exists (use --force to replace it)"
    )
    assert runner.invoke(app, ["keys", "create", "headset", "--dir", str(tmp_path / "k"), "--force"]).exit_code == 0
    assert load_public(public) != pub


def test_show_refuses_missing_and_foreign_files(tmp_path):
    r = runner.invoke(app, ["keys", "show", str(tmp_path / "nope.key")])
    assert r.exit_code == 1
    assert (
        r.output.replace("\n", "") == f"{tmp_path}/nope.key: no such key file (create one with `arp keys create NAME`)"
    )
    junk = tmp_path / "junk.key"
    junk.write_text("just some text\n")
    r = runner.invoke(app, ["keys", "show", str(junk)])
    assert r.exit_code == 1
    assert r.output.replace("\n", "") == (
        f"{junk}: not a CurveZMQ key file (expected the public-key line `arp keys create` writes)"
    )
