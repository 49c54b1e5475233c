"""The options of every command that runs a graph (`arp run`, `arp record`, `arp replay`, `arp demo`), defined
once as the fields of RunOptions and put on a command by `@with_run_options`, and what they do: logging, the live
table, the per-node table at the end, the statistics JSON and the exit status. Ctrl-C is handled once, by
`run_graph` (ar_perception.runtime.launch)."""

from __future__ import annotations

import dataclasses
import functools
import inspect
import json
import logging
import time
import typing
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from ar_perception.commands import fail
from ar_perception.errors import ArpError

if TYPE_CHECKING:
    from ar_perception.graph.load import Graph
    from ar_perception.runtime.launch import NodeReport, RunResult

__all__ = [
    "LogLevel",
    "RunOptions",
    "with_run_options",
    "LiveTable",
    "live_table",
    "run",
    "configure_logging",
    "report",
    "exit_if_failed",
    "stats_table",
]

console = Console()
err_console = Console(stderr=True)
R = TypeVar("R")


class LogLevel(StrEnum):
    DEBUG = "DEBUG"
    INFO = "INFO"
    WARNING = "WARNING"
    ERROR = "ERROR"


@dataclass(frozen=True)
class RunOptions:
    """What the run options of a command were set to. Each field is one option of every command that runs a
    graph, declared by its annotation; a new field is a new option on all of them (see `with_run_options`)."""

    for_s: Annotated[float | None, typer.Option("--for", help="stop after this many seconds")] = None
    sets: Annotated[list[str], typer.Option("--set", help="override a parameter: ID.PARAM=VALUE (repeatable)")] = field(
        default_factory=list
    )
    strict: Annotated[bool, typer.Option(help="raise on malformed messages instead of dropping them")] = False
    stats: Annotated[Path | None, typer.Option(help="write the per-node statistics as JSON here at exit")] = None
    log_level: Annotated[
        LogLevel,
        typer.Option(
            case_sensitive=False, help="log level of the node processes (debug: also a failed setup's traceback)"
        ),
    ] = LogLevel.WARNING
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="no live table or progress bar while running")] = False


def _option_parameters() -> list[inspect.Parameter]:
    """RunOptions' fields as the keyword parameters typer reads (each annotation carries its typer.Option)."""
    hints = typing.get_type_hints(RunOptions, include_extras=True)
    return [
        inspect.Parameter(
            f.name,
            inspect.Parameter.KEYWORD_ONLY,
            annotation=hints[f.name],
            default=f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default,
        )
        for f in dataclasses.fields(RunOptions)
    ]


def with_run_options(command: Callable[..., R]) -> Callable[..., R]:
    """Put the run options on a command. The command takes `opts: RunOptions`; typer sees the options in its
    place instead (so `--help` lists them there), and the command gets them back as one RunOptions."""
    sig = inspect.signature(command, eval_str=True)
    options = _option_parameters()
    names = [p.name for p in options]
    if "opts" not in sig.parameters:
        raise TypeError(f"{command.__qualname__}: a command with the run options takes `opts: RunOptions`")
    if clash := sorted(set(names) & set(sig.parameters)):
        raise TypeError(f"{command.__qualname__}: parameter(s) {', '.join(clash)} clash with the run options")
    params = [
        q.replace(kind=inspect.Parameter.KEYWORD_ONLY)  # typer passes all by keyword: any order is then valid
        for p in sig.parameters.values()
        for q in (options if p.name == "opts" else [p])
    ]

    @functools.wraps(command)
    def wrapper(**kwargs: Any) -> R:
        if "opts" not in kwargs:  # from typer: the options one by one
            kwargs["opts"] = RunOptions(**{n: kwargs.pop(n) for n in names if n in kwargs})
        return command(**kwargs)

    wrapper.__signature__ = sig.replace(parameters=params)  # type: ignore[attr-defined]
    wrapper.__annotations__ = {p.name: p.annotation for p in params} | {"return": sig.return_annotation}
    return wrapper


def run(
    graph: Graph,
    opts: RunOptions,
    *,
    on_stats: Callable[[dict[str, NodeReport]], None] | None = None,
    only: set[str] | None = None,
) -> RunResult:
    """Run a loaded graph under the options (Ctrl-C stops it cleanly); an ArpError is printed and exits."""
    from ar_perception.runtime.launch import run_graph

    configure_logging(opts)
    try:
        return run_graph(graph, opts.for_s, strict=opts.strict, log_level=opts.log_level, on_stats=on_stats, only=only)
    except ArpError as e:
        fail(e)


def configure_logging(opts: RunOptions) -> None:
    logging.basicConfig(
        level=opts.log_level, format="%(asctime)s %(name)s %(levelname)s: %(message)s", datefmt="%H:%M:%S"
    )


def report(result: RunResult, opts: RunOptions) -> None:
    """The per-node table, and the statistics JSON with --stats."""
    console.print(stats_table(result))
    if opts.stats:
        _write_stats(result, opts.stats)


def exit_if_failed(result: RunResult) -> None:
    """Exit 1, naming them, when nodes failed (a node killed at the stop did not fail)."""
    failed = [r.id for r in result.nodes.values() if r.exit_code not in (0, None) and not r.killed]
    if failed:
        err_console.print(f"node(s) failed: {', '.join(failed)}")
        raise typer.Exit(1)


def _write_stats(result: RunResult, path: Path) -> None:
    data = result.as_dict()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(data, indent=2))
    except OSError as e:
        fail(ArpError(f"--stats {path}: cannot write the statistics ({e.strerror or e})"))


def _fmt(v: float | None) -> str:
    return "-" if v is None else f"{v:.1f}"


def _drops(s: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in (s.get("drops") or {}).items()) or "-"


def _restarts(r: NodeReport) -> str:
    return f"{r.restarts} ({r.hangs} hung)" if r.hangs else str(r.restarts)


def stats_table(result: RunResult) -> Table:
    """One row per node: messages in and out, drops per input, latency, compute, memory, restarts, exit."""
    t = Table(title=f"arp run: {result.reason} after {result.duration_s:.1f} s")
    hosts = any(r.host for r in result.nodes.values())  # under --cluster: the machine of each node
    for col in (
        "node",
        *(["machine"] if hosts else []),
        "in",
        "out",
        "drops (per input)",
        "p50 ms",
        "p99 ms",
        "compute p50 ms",
        "CPU s",
        "peak MB",
        "restarts",
        "exit",
    ):
        t.add_column(col, justify="left" if col in ("node", "machine", "drops (per input)") else "right")
    for r in result.nodes.values():
        s = r.stats or {}
        if r.killed:
            exit_ = "killed"
        elif not r.started and r.exit_code in (0, None):
            exit_ = "not started"  # the run stopped while it was loading
        else:
            exit_ = "-" if r.exit_code is None else str(r.exit_code)
        t.add_row(
            r.id,
            *([r.host or "-"] if hosts else []),
            str(sum((s.get("in") or {}).values())),
            str(sum((s.get("out") or {}).values())),
            _drops(s),
            _fmt(s.get("lat_p50_ms")),
            _fmt(s.get("lat_p99_ms")),
            _fmt(s.get("compute_p50_ms")),
            _fmt(s.get("cpu_s")),
            f"{r.peak_rss_mb:.0f}",
            _restarts(r),
            exit_,
        )
    return t


class LiveTable:
    """The table `arp run` redraws while it runs: rates, latency, queues, drops, CPU, memory, restarts."""

    def __init__(self) -> None:
        self._last: dict[str, tuple[float, int]] = {}
        self.table = Table(title="arp run (live)")

    def update(self, reports: dict[str, NodeReport]) -> Table:
        t = Table(title="arp run (live; Ctrl-C stops)")
        hosts = any(r.host for r in reports.values())
        for col in (
            "node",
            *(["machine"] if hosts else []),
            "msgs/s",
            "p50 ms",
            "p99 ms",
            "queued",
            "drops",
            "CPU %",
            "MB",
            "restarts",
        ):
            t.add_column(col, justify="left" if col in ("node", "machine", "drops") else "right")
        now = time.monotonic()
        for r in reports.values():
            s = r.stats or {}
            count = sum((s.get("out") or {}).values()) or sum((s.get("in") or {}).values())
            t0, c0 = self._last.get(r.id, (now, count))
            rate = (count - c0) / (now - t0) if now > t0 else 0.0
            self._last[r.id] = (now, count)
            t.add_row(
                r.id,
                *([r.host or "-"] if hosts else []),
                f"{rate:.1f}",
                _fmt(s.get("lat_p50_ms")),
                _fmt(s.get("lat_p99_ms")),
                str(sum((s.get("queue") or {}).values())),
                _drops(s),
                f"{r.cpu_percent:.0f}",
                f"{r.rss_mb:.0f}",
                _restarts(r),
            )
        self.table = t
        return t


@contextmanager
def live_table(opts: RunOptions) -> Iterator[Callable[[dict[str, NodeReport]], None] | None]:
    """The live table in a terminal (not with --quiet): yields the statistics callback that redraws it."""
    if opts.quiet or not console.is_terminal:
        yield None
        return
    from rich.live import Live

    view = LiveTable()
    live = Live(view.table, console=console, refresh_per_second=2, transient=True)
    live.start()
    try:
        yield lambda reports: live.update(view.update(reports))
    finally:
        live.stop()
