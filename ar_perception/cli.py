"""The `arp` command line."""

from __future__ import annotations

import json
import logging
import sys
import time
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from ar_perception.commands import fail
from ar_perception.errors import ArpError, GraphError

__all__ = ["app", "main"]

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="ar-perception: run, inspect and record AR perception graphs.",
)
console = Console()
err_console = Console(stderr=True)
REPO_ROOT = Path(__file__).resolve().parents[1]


def _load(path: Path, sets: list[str] | None = None):  # type: ignore[no-untyped-def]
    from ar_perception.graph.load import load_graph

    try:
        return load_graph(path, sets)
    except ArpError as e:
        fail(e)


@app.command()
def validate(graph: Path = typer.Argument(..., help="graph YAML file")) -> None:
    """Check a graph file; exit 0 when valid, 2 with one line per problem otherwise."""
    g = _load(graph)
    console.print(f"{graph}: valid ({len(g.spec.nodes)} nodes, {len(g.wires)} wires)", highlight=False)


def _fmt(v: float | None) -> str:
    return "-" if v is None else f"{v:.1f}"


def _drops(s: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in (s.get("drops") or {}).items()) or "-"


def _restarts(r: Any) -> str:
    return f"{r.restarts} ({r.hangs} hung)" if r.hangs else str(r.restarts)


def stats_table(result: Any) -> Table:
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
        exit_ = "killed" if r.killed else ("-" if r.exit_code is None else str(r.exit_code))
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


def _report(result: Any, stats_file: Path | None) -> None:
    console.print(stats_table(result))
    if stats_file:
        stats_file.write_text(
            json.dumps(
                {
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
                            "errors": r.errors,
                            "peak_rss_mb": r.peak_rss_mb,
                        }
                        for r in result.nodes.values()
                    },
                },
                indent=2,
            )
        )


class LiveTable:
    """The table `arp run` redraws while it runs: rates, latency, queues, drops, CPU, memory, restarts."""

    def __init__(self) -> None:
        self._last: dict[str, tuple[float, int]] = {}
        self.table = Table(title="arp run (live)")

    def update(self, reports: dict[str, Any]) -> Table:
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


@app.command()
def run(
    graph: Path = typer.Argument(..., help="graph YAML file"),
    for_: float | None = typer.Option(None, "--for", help="stop after this many seconds"),
    set_: list[str] = typer.Option([], "--set", help="override a parameter: ID.PARAM=VALUE (repeatable)"),
    strict: bool = typer.Option(False, help="raise on malformed messages instead of dropping them"),
    stats: Path | None = typer.Option(None, help="write the per-node statistics as JSON here at exit"),
    log_level: str = typer.Option("WARNING", help="log level of the node processes"),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="no live table while running"),
    only: str | None = typer.Option(
        None,
        help="start only these nodes (comma-separated ids); the others "
        "run elsewhere under their own `arp run --only` (tcp, fixed ports)",
    ),
) -> None:
    """Run a graph: one process per node; stops on Ctrl-C, on --for, or when every source has ended."""
    from rich.live import Live

    from ar_perception.runtime.launch import run_graph

    g = _load(graph, set_)
    selected = {s.strip() for s in only.split(",") if s.strip()} if only else None
    unknown = sorted((selected or set()) - {n.id for n in g.spec.nodes})
    if unknown:
        fail(GraphError(f"{graph}: --only names unknown node(s): {', '.join(unknown)}"))
    logging.basicConfig(level=log_level, format="%(asctime)s %(name)s %(levelname)s: %(message)s", datefmt="%H:%M:%S")
    view = LiveTable()
    live = (
        Live(view.table, console=console, refresh_per_second=2, transient=True)
        if not quiet and console.is_terminal
        else None
    )
    try:
        if live is not None:
            live.start()
        result = run_graph(
            g,
            for_,
            strict=strict,
            log_level=log_level,
            only=selected,
            on_stats=(lambda reports: live.update(view.update(reports))) if live else None,
        )
    except ArpError as e:
        fail(e)
    finally:
        if live is not None:
            live.stop()
    _report(result, stats)
    failed = [r.id for r in result.nodes.values() if r.exit_code not in (0, None) and not r.killed]
    if failed:
        err_console.print(f"node(s) failed: {', '.join(failed)}")
        raise typer.Exit(1)


def _type_name(ann: Any) -> str:
    import typing

    if typing.get_origin(ann) is typing.Literal:
        return " | ".join(repr(a) for a in typing.get_args(ann))
    return getattr(ann, "__name__", str(ann)).replace("typing.", "")


def _params_doc(cls: Any) -> str:
    out = []
    for name, f in cls.Params.model_fields.items():
        default = "required" if f.is_required() else repr(f.default)
        ann = _type_name(f.annotation)
        out.append(f"{name}: {ann} = {default}" + (f"  ({f.description})" if f.description else ""))
    return "\n".join(out) or "-"


def node_catalog(plugins_dir: Path) -> list[tuple[str, Any]]:
    from ar_perception.registry import NodeRefError, available_builtins, discover_plugins, resolve

    rows: list[tuple[str, Any]] = []
    for name in available_builtins():
        try:
            rows.append((name, resolve(name)))
        except NodeRefError as e:
            rows.append((name, e))
    rows.extend(sorted(discover_plugins(plugins_dir).items()))
    return rows


def nodes_markdown(plugins_dir: Path | None = None) -> str:
    """The README's node reference, generated from the nodes' own declarations and schemas."""
    out = []
    for name, cls in node_catalog(plugins_dir or Path("/nonexistent")):
        if isinstance(cls, Exception):
            continue
        doc = (cls.__doc__ or "").strip().splitlines()[0] if cls.__doc__ else ""
        ins = ", ".join(f"`{k}`: {v}" for k, v in cls.input_kinds().items()) or "none (a source)"
        outs = ", ".join(f"`{k}`: {v}" for k, v in cls.output_kinds().items()) or "none (a sink)"
        out.append(f"### `{name}`\n\n{doc}\n\n- inputs: {ins}\n- outputs: {outs}\n")
        fields = cls.Params.model_fields
        if fields:
            out.append("| parameter | type | default | meaning |\n|---|---|---|---|")
            for pname, f in fields.items():
                ann = _type_name(f.annotation)
                default = "required" if f.is_required() else f"`{f.default!r}`"
                desc = (f.description or "").replace("|", "\\|")
                out.append(f"| `{pname}` | {ann.replace('|', chr(92) + '|')} | {default} | {desc} |")
            out.append("")
    return "\n".join(out).rstrip() + "\n"


@app.command()
def nodes(
    plugins: Path = typer.Option(Path("plugins"), help="plugins folder to scan"),
    markdown: bool = typer.Option(False, "--markdown", help="print the README's node reference"),
) -> None:
    """List built-in and plugin nodes with their inputs, outputs and parameters."""
    if markdown:
        print(nodes_markdown(), end="")
        return
    t = Table(show_lines=True)
    t.add_column("node", no_wrap=True)
    for col in ("inputs", "outputs", "parameters", "about"):
        t.add_column(col)
    for name, cls in node_catalog(plugins):
        if isinstance(cls, Exception):
            t.add_row(name, "", "", "", f"[red]cannot import: {cls}[/red]")
            continue
        ports = lambda d: "\n".join(f"{k}: {v}" for k, v in d.items()) or "-"  # noqa: E731
        t.add_row(
            name,
            ports(cls.input_kinds()),
            ports(cls.output_kinds()),
            _params_doc(cls),
            (cls.__doc__ or "").strip().splitlines()[0] if cls.__doc__ else "",
        )
    console.print(t)


def mermaid(g: Any) -> str:
    lines = ["flowchart LR"]
    for n in g.spec.nodes:
        lines.append(f'    {n.id}["{n.id}<br/><small>{n.node}</small>"]')
    for w in g.wires:
        q = g.node(w.dst_node).inputs[w.dst_input].queue
        label = f"{w.src_output} → {w.dst_input}" + ("" if q.policy == "latest" else f" ({q.policy})")
        if w.src_node is None:
            tid = "t_" + w.src_output.replace("/", "_").replace(".", "_")
            lines.append(f'    {tid}(("{w.src_output}")) -->|"{w.dst_input}"| {w.dst_node}')
        else:
            lines.append(f'    {w.src_node} -->|"{label}"| {w.dst_node}')
    return "\n".join(lines)


@app.command()
def graph(path: Path = typer.Argument(..., help="graph YAML file")) -> None:
    """Print the graph as a Mermaid flowchart."""
    print(mermaid(_load(path)))


# Command groups that live in their own modules (ar_perception/commands/NAME.py, each with `register(app)`).
COMMAND_MODULES = ("weights", "vision", "recording", "voice", "doctor", "view", "demo", "keys")


def _register_commands() -> None:
    import importlib
    import importlib.util

    for name in COMMAND_MODULES:
        module = f"ar_perception.commands.{name}"
        if importlib.util.find_spec(module) is not None:
            importlib.import_module(module).register(app)


_register_commands()


def main() -> None:
    try:
        app()
    except ArpError as e:  # anything a command did not catch itself: still no traceback for the user
        err_console.print(str(e), markup=False)
        sys.exit(1)


if __name__ == "__main__":
    main()
