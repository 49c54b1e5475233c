"""The `arp` command line."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.console import Console
from rich.table import Table

from ar_perception.commands import fail, run_options
from ar_perception.commands.run_options import RunOptions, exit_if_failed, live_table, report, with_run_options
from ar_perception.errors import ArpError, GraphError

if TYPE_CHECKING:
    from ar_perception.graph.load import Graph

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


def _load(path: Path, sets: list[str] | None = None) -> Graph:
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


@app.command()
@with_run_options
def run(
    graph: Path = typer.Argument(..., help="graph YAML file"),
    *,
    opts: RunOptions,
    only: str | None = typer.Option(
        None,
        help="start only these nodes (comma-separated ids); the others "
        "run elsewhere under their own `arp run --only` (tcp, fixed ports)",
    ),
    cluster: str | None = typer.Option(
        None,
        help="place the nodes on a Ray cluster by their `placement`: local (this machine), auto (the cluster "
        "`ray start` runs here) or HOST:PORT (its head); needs the cluster extra",
    ),
) -> None:
    """Run a graph: one process per node; stops on Ctrl-C, on --for, or when every source has ended."""
    g = _load(graph, opts.sets)
    selected = {s.strip() for s in only.split(",") if s.strip()} if only else None
    unknown = sorted((selected or set()) - {n.id for n in g.spec.nodes})
    if unknown:
        fail(GraphError(f"{graph}: --only names unknown node(s): {', '.join(unknown)}"))
    if cluster is not None:
        if selected:
            fail(GraphError("--only and --cluster: choose one (--cluster places every node itself)"))
        result = _run_on_cluster(g, cluster, opts)
    else:
        with live_table(opts) as show:
            result = run_options.run(g, opts, on_stats=show, only=selected)
    report(result, opts)
    exit_if_failed(result)


def _run_on_cluster(g: Graph, address: str, opts: RunOptions) -> Any:
    from ar_perception.cluster.connect import check_address, connected
    from ar_perception.cluster.live import run_on_cluster

    run_options.configure_logging(opts)
    try:
        if check_address(address) == "none":
            raise GraphError("--cluster none: leave --cluster out to run on this machine alone")
        with connected(address) as ray, live_table(opts) as show:
            return run_on_cluster(ray, g, opts.for_s, strict=opts.strict, log_level=opts.log_level, on_stats=show)
    except ArpError as e:
        fail(e)


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
COMMAND_MODULES = ("weights", "vision", "recording", "importing", "batch", "voice", "doctor", "view", "demo", "keys")


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
