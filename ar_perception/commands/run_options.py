"""The options of every command that runs a graph (`arp run`, `arp record`, `arp replay`, `arp demo`), defined
once, and what they do: logging, the live table, the per-node table at the end, the statistics JSON and the
exit status. Ctrl-C is handled once, by `run_graph` (ar_perception.runtime.launch)."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from ar_perception.commands import fail
from ar_perception.errors import ArpError

if TYPE_CHECKING:
    from ar_perception.graph.load import Graph
    from ar_perception.runtime.launch import NodeReport, RunResult

__all__ = [
    "ForOpt",
    "SetOpt",
    "StrictOpt",
    "StatsOpt",
    "LogLevelOpt",
    "QuietOpt",
    "LogLevel",
    "RunOptions",
    "LiveTable",
    "live_table",
    "run",
    "report",
    "exit_if_failed",
    "stats_table",
]

console = Console()
err_console = Console(stderr=True)


class LogLevel(StrEnum):
    DEBUG = "DEBUG"
    INFO = "INFO"
    WARNING = "WARNING"
    ERROR = "ERROR"


ForOpt = Annotated[float | None, typer.Option("--for", help="stop after this many seconds")]
SetOpt = Annotated[list[str] | None, typer.Option("--set", help="override a parameter: ID.PARAM=VALUE (repeatable)")]
StrictOpt = Annotated[bool, typer.Option(help="raise on malformed messages instead of dropping them")]
StatsOpt = Annotated[Path | None, typer.Option(help="write the per-node statistics as JSON here at exit")]
LogLevelOpt = Annotated[
    LogLevel,
    typer.Option(case_sensitive=False, help="log level of the node processes (debug: also a failed setup's traceback)"),
]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="no live table or progress bar while running")]


@dataclass(frozen=True)
class RunOptions:
    """What the run options of a command were set to."""

    for_s: float | None = None
    sets: tuple[str, ...] = ()
    strict: bool = False
    stats: Path | None = None
    log_level: str = "WARNING"
    quiet: bool = False

    @classmethod
    def of(
        cls,
        for_: float | None,
        set_: list[str] | None,
        strict: bool,
        stats: Path | None,
        log_level: LogLevel | str,
        quiet: bool,
    ) -> RunOptions:
        level = log_level.value if isinstance(log_level, LogLevel) else str(log_level).upper()
        return cls(for_, tuple(set_ or ()), strict, stats, level, quiet)


def run(
    graph: Graph,
    opts: RunOptions,
    *,
    on_stats: Callable[[dict[str, NodeReport]], None] | None = None,
    only: set[str] | None = None,
) -> RunResult:
    """Run a loaded graph under the options (Ctrl-C stops it cleanly); an ArpError is printed and exits."""
    from ar_perception.runtime.launch import run_graph

    logging.basicConfig(
        level=opts.log_level, format="%(asctime)s %(name)s %(levelname)s: %(message)s", datefmt="%H:%M:%S"
    )
    try:
        return run_graph(graph, opts.for_s, strict=opts.strict, log_level=opts.log_level, on_stats=on_stats, only=only)
    except ArpError as e:
        fail(e)


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
    data = {
        "reason": result.reason,
        "duration_s": result.duration_s,
        "nodes": {
            r.id: {
                "node": r.node,
                "stats": r.stats,
                "restarts": r.restarts,
                "hangs": r.hangs,
                "exit_code": r.exit_code,
                "killed": r.killed,
                "started": r.started,
                "errors": r.errors,
                "peak_rss_mb": r.peak_rss_mb,
            }
            for r in result.nodes.values()
        },
    }
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
    for col in (
        "node",
        "in",
        "out",
        "drops (per input)",
        "p50 ms",
        "p99 ms",
        "compute p50 ms",
        "peak MB",
        "restarts",
        "exit",
    ):
        t.add_column(col, justify="left" if col in ("node", "drops (per input)") else "right")
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
            str(sum((s.get("in") or {}).values())),
            str(sum((s.get("out") or {}).values())),
            _drops(s),
            _fmt(s.get("lat_p50_ms")),
            _fmt(s.get("lat_p99_ms")),
            _fmt(s.get("compute_p50_ms")),
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
        for col in ("node", "msgs/s", "p50 ms", "p99 ms", "queued", "drops", "CPU %", "MB", "restarts"):
            t.add_column(col, justify="left" if col in ("node", "drops") else "right")
        now = time.monotonic()
        for r in reports.values():
            s = r.stats or {}
            count = sum((s.get("out") or {}).values()) or sum((s.get("in") or {}).values())
            t0, c0 = self._last.get(r.id, (now, count))
            rate = (count - c0) / (now - t0) if now > t0 else 0.0
            self._last[r.id] = (now, count)
            t.add_row(
                r.id,
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
