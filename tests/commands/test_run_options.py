"""The run options are declared once, as RunOptions' fields, and `@with_run_options` puts them on a command."""

import dataclasses
from pathlib import Path

import pytest
import typer
from typer.core import TyperGroup
from typer.testing import CliRunner

from ar_perception.cli import app
from ar_perception.commands.run_options import LogLevel, RunOptions, with_run_options

runner = CliRunner()


def _probe() -> tuple[typer.Typer, list[tuple[str, RunOptions, int]]]:
    """A one-command app whose command has its own argument and option around the run options."""
    got: list[tuple[str, RunOptions, int]] = []
    probe = typer.Typer()

    @probe.command()
    @with_run_options
    def go(name: str = typer.Argument(...), *, opts: RunOptions, extra: int = typer.Option(0)) -> None:
        got.append((name, opts, extra))

    return probe, got


@pytest.mark.parametrize("command", ["run", "record", "replay", "demo"])
def test_every_command_that_runs_a_graph_has_every_run_option(command):
    group = typer.main.get_command(app)
    assert isinstance(group, TyperGroup)
    params = [p.name for p in group.commands[command].params]
    fields = [f.name for f in dataclasses.fields(RunOptions)]
    assert set(fields) <= set(params), f"arp {command} lacks {set(fields) - set(params)}"
    at = params.index(fields[0])
    assert params[at : at + len(fields)] == fields  # together, in the order they are declared


def test_the_options_arrive_as_one_run_options():
    probe, got = _probe()
    args = ["x", "--for", "2.5", "--set", "a.b=1", "--set", "c.d=2", "--strict", "--stats", "s.json"]
    r = runner.invoke(probe, [*args, "--log-level", "debug", "-q", "--extra", "3"])
    assert r.exit_code == 0, r.output
    assert got == [("x", RunOptions(2.5, ["a.b=1", "c.d=2"], True, Path("s.json"), LogLevel.DEBUG, True), 3)]
    got.clear()
    r = runner.invoke(probe, ["y"])
    assert r.exit_code == 0, r.output
    assert got == [("y", RunOptions(), 0)]


def test_a_command_without_opts_or_with_a_clashing_name_is_refused():
    def no_opts(graph: str) -> None: ...

    def clash(quiet: bool, *, opts: RunOptions) -> None: ...

    with pytest.raises(TypeError, match=r"no_opts: a command with the run options takes `opts: RunOptions`"):
        with_run_options(no_opts)
    with pytest.raises(TypeError, match=r"clash: parameter\(s\) quiet clash with the run options"):
        with_run_options(clash)
