"""`arp view FILE.mcap`: a recording in Rerun, in the layout of the live `rerun_view` node."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from ar_perception.commands import fail
from ar_perception.errors import ArpError

__all__ = ["register", "entity_names"]

console = Console(soft_wrap=True)
err_console = Console(stderr=True, soft_wrap=True)


def _view_inputs(graph_text: str) -> dict[str, str]:
    """topic -> input name, from the rerun_view nodes of the recorded graph (empty when there are none, or
    when the graph does not read as one)."""
    from ar_perception.graph.load import parse_spec

    try:
        nodes = parse_spec(graph_text, "<recorded graph>").nodes if graph_text else []
    except ArpError:
        return {}
    names: dict[str, str] = {}
    for node in nodes:
        if node.node.rpartition(":")[2] in ("rerun_view", "RerunView"):
            for name, inp in node.inputs.items():
                names.setdefault(inp.source, name)
    return names


def entity_names(topics: Iterable[str], graph_text: str = "") -> dict[str, str]:
    """The input name each recorded topic gets in the view: the one the recorded graph's rerun_view gave
    it, else the topic's output name (`cam/image` -> `image`), else, when two topics share that, the topic
    with `_` for `/` (`cam/image` -> `cam_image`)."""
    topics = list(topics)
    names = {t: n for t, n in _view_inputs(graph_text).items() if t in topics}
    rest = [t for t in topics if t not in names]
    short = [t.rpartition("/")[2] for t in rest]
    taken = set(names.values())
    for t, s in zip(rest, short, strict=True):
        names[t] = s if short.count(s) == 1 and s not in taken else t.replace("/", "_")
    return names


def view(
    recording: Path = typer.Argument(..., help="the .mcap recording to show"),
    save: Path | None = typer.Option(None, "--save", help="write this .rrd file instead of spawning a viewer"),
    max_hz: float = typer.Option(
        10.0,
        "--max-hz",
        min=0,
        help="images, masks, depth and clouds per second per entity (by capture time); 0 = every message",
    ),
    max_points: int = typer.Option(
        100_000, "--max-points", min=0, help="thin point clouds to this many points; 0 = all"
    ),
) -> None:
    """Show a recording in Rerun (a spawned viewer, or an .rrd file with --save), laid out as `rerun_view`."""
    from ar_perception.nodes.rerun_view import SHOWN_KINDS, RerunLayout, open_stream
    from ar_perception.recording.reader import RecordingReader

    try:
        reader = RecordingReader(recording)
        shown = [t for t, info in reader.topics.items() if info.kind in SHOWN_KINDS]
        names = entity_names(shown, reader.graph)
        if save is not None:
            rec, where = open_stream("save", path=str(save))
        else:
            rec, where = open_stream("spawn")
    except ArpError as e:
        fail(e)
    except Exception as e:  # rerun raises plain RuntimeErrors (no viewer binary, port taken)
        err_console.print(f"cannot start Rerun: {type(e).__name__}: {e}", markup=False, highlight=False)
        raise typer.Exit(1) from None
    layout = RerunLayout(rec, max_hz=max_hz, max_points=max_points, owner="view")
    total = sum(reader.topics[t].count for t in shown)
    n = sent = 0
    try:
        with Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=err_console,
            transient=True,
        ) as bar:
            task = bar.add_task(f"{recording.name} -> Rerun", total=total)
            for msg in reader.messages(shown) if shown else ():
                sent += layout.add(names[msg.topic], msg)
                n += 1
                bar.advance(task)
    except ArpError as e:
        fail(e)
    finally:
        rec.flush()
        rec.disconnect()
    dropped = sum(layout.dropped.values())
    note = f" ({dropped} left out by --max-hz {max_hz:g})" if dropped else ""
    skipped = sorted({info.kind for t, info in reader.topics.items() if t not in shown})
    console.print(
        f"sent {sent} of {n} messages on {len(shown)} topics to {where}{note}"
        + (f"; not shown: {', '.join(skipped)}" if skipped else ""),
        highlight=False,
        markup=False,
    )


def register(app: Any) -> None:
    app.command("view")(view)
