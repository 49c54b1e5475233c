"""`arp import rgbd`: an RGB-D folder (TUM RGB-D, or rgb/ + depth/) into an arp recording for `arp replay`."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from ar_perception.commands import fail
from ar_perception.errors import ArpError

__all__ = ["register"]

console = Console(soft_wrap=True)
err_console = Console(stderr=True, soft_wrap=True)
import_app = typer.Typer(no_args_is_help=True, help="Import sensor data into arp recordings.")
DEFAULT_GRAPH = Path(__file__).resolve().parents[2] / "graphs" / "rgbd.yaml"


def rgbd(
    folder: Path = typer.Argument(..., help="TUM RGB-D folder (rgb.txt, depth.txt) or rgb/ + depth/ folders"),
    out: Path = typer.Option(..., "--out", "-o", help="the recording to write (.mcap)"),
    layout: str = typer.Option("auto", help="auto, tum or plain"),
    node: str = typer.Option("cam", help="the source node id the topics belong to (<node>/image, /depth, /camera)"),
    depth_scale: float | None = typer.Option(None, help="PNG depth units per metre (default 5000 TUM, 1000 plain)"),
    intrinsics: Path | None = typer.Option(None, help="YAML/JSON with fx, fy, cx, cy (default: the folder's)"),
    max_dt_ms: float = typer.Option(20.0, help="colour and depth frames further apart in time are not paired"),
    frames: int = typer.Option(0, min=0, help="import only the first N pairs (0: all)"),
    graph: Path | None = typer.Option(None, help="graph stored in the recording (default: graphs/rgbd.yaml)"),
    as_json: bool = typer.Option(False, "--json", help="print the result as one JSON object"),
    quiet: bool = typer.Option(False, help="no progress bar"),
) -> None:
    """Import an RGB-D folder: colour, depth in metres and intrinsics as `<node>/image`, `<node>/depth`
    and `<node>/camera`, on the folder's timestamps; `arp replay` plays it through graphs/rgbd.yaml."""
    from ar_perception.recording.import_rgbd import import_rgbd
    from ar_perception.rgbd import open_rgbd_folder

    if layout not in ("auto", "tum", "plain"):
        fail(ArpError(f"--layout must be auto, tum or plain (got {layout!r})"))
    graph_path = graph or DEFAULT_GRAPH
    try:
        text = graph_path.read_text() if graph_path.is_file() else ""
    except OSError as e:
        fail(ArpError(f"{graph_path}: cannot read the graph ({e.strerror or e})"))
    if graph is not None and not text:
        fail(ArpError(f"{graph}: no such graph file"))
    try:
        src = open_rgbd_folder(
            folder,
            layout=layout,  # type: ignore[arg-type]
            depth_scale=depth_scale,
            intrinsics=intrinsics,
            max_dt_s=max_dt_ms / 1000,
        )
        with Progress(
            TextColumn("importing"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=err_console,
            disable=quiet or as_json,
        ) as bar:
            task = bar.add_task("import", total=min(len(src.pairs), frames or len(src.pairs)))
            result = import_rgbd(
                src,
                out,
                node=node,
                graph=text,
                frames=frames,
                progress=lambda done, _: bar.update(task, completed=done),
            )
    except ArpError as e:
        fail(e)
    summary = {
        "recording": str(result.path),
        "layout": src.layout,
        "frames": result.frames,
        "skipped": result.skipped,
        "unpaired_rgb": result.unpaired_rgb,
        "unpaired_depth": result.unpaired_depth,
        "intrinsics": src.intrinsics,
        "notes": src.notes,
        "topics": [f"{node}/image", f"{node}/depth", f"{node}/camera"],
    }
    if as_json:
        print(json.dumps(summary, indent=1))
        return
    console.print(
        f"{result.path}: {result.frames} frames ({src.layout} layout) on {node}/image, /depth and /camera; "
        f"{result.unpaired_rgb} colour and {result.unpaired_depth} depth frames had no partner within "
        f"{max_dt_ms:g} ms; {'; '.join(src.notes)}",
        highlight=False,
    )
    for line in result.skipped:
        err_console.print(f"skipped {line}", markup=False, highlight=False)


def register(app: typer.Typer) -> None:
    import_app.command("rgbd")(rgbd)
    app.add_typer(import_app, name="import")
