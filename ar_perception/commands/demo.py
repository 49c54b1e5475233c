"""`arp demo`: the main job. Runs graphs/demo.yaml on the sample session and prints what happened."""

from __future__ import annotations

import json
import os
import time
from contextlib import nullcontext
from dataclasses import replace
from pathlib import Path
from typing import Any

import typer
from rich.console import Console

from ar_perception.commands import fail, run_options
from ar_perception.commands.run_options import RunOptions, exit_if_failed, report, with_run_options
from ar_perception.errors import ArpError

__all__ = ["register", "summarize"]

REPO_ROOT = Path(__file__).resolve().parents[2]
STAGES = ("enc", "seg", "depth", "cloud", "speech", "scene", "vqa")


def _lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(x) for x in path.read_text().splitlines() if x.strip()] if path.exists() else []


def summarize(result: Any, out: Path) -> list[str]:
    """The short summary: encoder, frames, fps, latency per stage, drops, question and answer, files."""
    nodes = result.nodes
    enc = _lines(out / "encoder.jsonl")
    name = enc[-1]["meta"].get("encoder") if enc else "?"
    which = "EUPE" if name.startswith("eupe") else "offline stand-in (EUPE weights not cached: arp weights fetch)"
    frames = sum((nodes["enc"].stats.get("in") or {}).values()) if "enc" in nodes else 0
    lines = [
        f"encoder: {name} — {which}",
        f"frames processed: {frames} in {result.duration_s:.1f} s ({frames / max(result.duration_s, 1e-9):.1f} fps)",
    ]
    lat = []
    for s in STAGES:
        st = nodes[s].stats if s in nodes else {}
        if st.get("compute_p50_ms") is not None:
            lat.append(f"{s} {st['compute_p50_ms']:.0f} ms")
    lines.append("compute p50 per stage: " + ", ".join(lat))
    cloud = nodes.get("cloud")
    if cloud and cloud.stats.get("lat_p50_ms") is not None:
        lines.append(
            f"capture -> point cloud latency: p50 {cloud.stats['lat_p50_ms']:.0f} ms, "
            f"p99 {cloud.stats['lat_p99_ms']:.0f} ms"
        )
    cpu = sorted(((r.stats.get("cpu_s") or 0.0, n) for n, r in nodes.items()), reverse=True)
    lines.append("CPU time while the graph ran: " + ", ".join(f"{n} {s:.1f} s" for s, n in cpu if s >= 0.05))
    drops = {n: sum((r.stats.get("drops") or {}).values()) for n, r in nodes.items()}
    lines.append("drops: " + (", ".join(f"{n}={d}" for n, d in drops.items() if d) or "none"))
    heard = [x["meta"].get("text", "") for x in _lines(out / "transcript.jsonl")]
    answers = [x["meta"] for x in _lines(out / "answers.jsonl")]
    final = [a for a in answers if a.get("done")] or answers
    lines.append(f"question heard: {' / '.join(heard) if heard else '(none)'}")
    lines.append(f"answer: {final[-1].get('text', '') if final else '(none)'}")
    for f in ("demo.rrd", "demo.ply"):
        p = out / f
        lines.append(f"wrote {p} ({p.stat().st_size / 1024:.0f} KiB)" if p.exists() else f"missing: {p}")
    return lines


@with_run_options
def demo(
    out: Path = typer.Option(Path("out"), help="folder for the Rerun file, the PLY and the logs"),
    *,
    opts: RunOptions,
) -> None:
    """The main job: the sample session through encoder, heads, point cloud and the voice loop."""
    from ar_perception.graph.load import load_graph

    console = Console()
    # Paths given relative to where the command was started, before the change of folder below.
    out = out.resolve()
    opts = replace(opts, stats=opts.stats.resolve() if opts.stats else None)
    out.mkdir(parents=True, exist_ok=True)
    for f in ("transcript.jsonl", "answers.jsonl", "encoder.jsonl"):
        (out / f).unlink(missing_ok=True)
    os.environ["ARP_OUT"] = str(out)
    os.chdir(REPO_ROOT)  # the graph names the sample session relative to the repository
    t0 = time.monotonic()
    try:
        graph = load_graph(REPO_ROOT / "graphs" / "demo.yaml", opts.sets)
    except ArpError as e:
        fail(e)
    status = "running graphs/demo.yaml (models load first, then the 7 s session plays)"
    with nullcontext() if opts.quiet else console.status(status):
        result = run_options.run(graph, opts)
    report(result, opts)
    for line in summarize(result, out):
        console.print(line, highlight=False, markup=False)
    console.print(f"total {time.monotonic() - t0:.1f} s", highlight=False)
    exit_if_failed(result)


def register(app: typer.Typer) -> None:
    app.command()(demo)
