"""`arp batch GRAPH RECORDINGS... --out DIR`: replay many recordings through one graph, one Ray task each
(ar_perception.cluster), with a progress bar, a manifest that a second run resumes from, and a summary."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.console import Console
from rich.table import Table

from ar_perception.commands import fail, progress_bar
from ar_perception.errors import ArpError

if TYPE_CHECKING:
    from ar_perception.cluster.batch import Job, Outcome
    from ar_perception.cluster.manifest import Manifest

__all__ = ["register"]

console = Console(soft_wrap=True)
err_console = Console(stderr=True, soft_wrap=True)


def batch(
    graph: Path = typer.Argument(..., help="the graph to replay every recording through"),
    recordings: list[Path] = typer.Argument(..., help="the .mcap recordings"),
    out: Path = typer.Option(..., "--out", "-o", help="folder for NAME.mcap per recording and manifest.json"),
    cluster: str | None = typer.Option(
        None,
        help="none (no Ray), local (a Ray cluster on this machine), auto (join `ray start`'s) or HOST:PORT "
        "(default: local with Ray installed, else none)",
    ),
    parallel: int | None = typer.Option(None, min=1, help="at most this many recordings at once (default: CPUs)"),
    retries: int = typer.Option(1, min=0, help="run a failed recording again this many times"),
    stats: bool = typer.Option(False, "--stats", help="also write NAME.stats.json, the per-node statistics"),
    record_topics: list[str] = typer.Option([], "--record-topics", help="topics to record (default: all outputs)"),
    sets: list[str] = typer.Option([], "--set", help="override a parameter: ID.PARAM=VALUE (repeatable)"),
    force: bool = typer.Option(False, help="run again recordings the manifest has as done"),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="no progress bar"),
) -> None:
    """Replay recordings through GRAPH at speed 0 (lossless), each one Ray task, and record the outputs of
    each in OUT. OUT/manifest.json records what succeeded and failed and why; the same command again skips
    what is done. Exit 1 when a recording failed."""
    import os

    from ar_perception.cluster.batch import entry_for, prepare_jobs, run_jobs
    from ar_perception.cluster.connect import check_address, connected, default_cluster
    from ar_perception.cluster.manifest import load_manifest, save_manifest
    from ar_perception.graph.load import read_graph_text

    try:
        address = check_address(cluster or default_cluster())
        text = read_graph_text(graph)
        manifest = load_manifest(out)
        jobs, skipped = prepare_jobs(
            text,
            str(graph.resolve()),  # the Ray workers' folder is not this one: plugins are found next to it
            recordings,
            out,
            manifest,
            sets=sets,
            record_topics=record_topics,
            stats=stats,
            force=force,
        )
        out.mkdir(parents=True, exist_ok=True)
    except (ArpError, OSError) as e:
        fail(e if isinstance(e, ArpError) else ArpError(f"--out {out}: {e}"))
    if skipped:
        err_console.print(f"skipping {len(skipped)} recording(s) done before (--force runs them again)", markup=False)
    failures = 0

    with progress_bar(disable=quiet) as bar:
        task = bar.add_task("replaying", total=len(jobs), note=f"on {address}")

        def on_done(job: Job, outcome: Outcome, attempts: int) -> None:
            nonlocal failures
            manifest.entries[job.name] = entry_for(job, outcome, attempts)
            save_manifest(out, manifest)
            failures += not outcome.ok
            bar.update(task, advance=1, note=f"on {address}" + (f", {failures} failed" if failures else ""))

        def on_retry(job: Job, outcome: Outcome, attempt: int) -> None:
            bar.console.print(f"{job.name}: attempt {attempt} failed ({outcome.error}); trying again", markup=False)

        try:
            if address == "none":
                run_jobs(jobs, ray=None, parallel=1, retries=retries, on_done=on_done, on_retry=on_retry)
            else:
                with connected(address) as ray:
                    k = parallel or max(1, int(ray.cluster_resources().get("CPU", os.cpu_count() or 1)))
                    run_jobs(jobs, ray=ray, parallel=k, retries=retries, on_done=on_done, on_retry=on_retry)
        except ArpError as e:
            fail(e)
        except KeyboardInterrupt:
            err_console.print(f"interrupted; {out / 'manifest.json'} keeps what finished", markup=False)
            raise typer.Exit(130) from None
    order = {str(p.resolve()): i for i, p in enumerate(recordings)}
    names = sorted([j.name for j in jobs] + skipped, key=lambda n: order.get(manifest.entries[n].recording, 0))
    console.print(summary_table(manifest, names))
    for j in jobs:
        if error := manifest.entries[j.name].error:
            err_console.print(f"{j.name} failed: {error}", markup=False, highlight=False)
    done = sum(1 for j in jobs if manifest.entries[j.name].status == "done")
    console.print(f"{done} done, {failures} failed, {len(skipped)} done before -> {out}", highlight=False)
    if failures:
        raise typer.Exit(1)


def summary_table(manifest: Manifest, names: list[str]) -> Table:
    """One row per recording: status, attempts, frames, drops, the slowest stage's compute, time, host."""
    t = Table(title="arp batch")
    for col in ("recording", "status", "attempts", "frames", "drops", "slowest stage (p50 ms)", "s", "host"):
        t.add_column(col, justify="right" if col in ("attempts", "frames", "drops", "s") else "left")
    for name in names:
        e = manifest.entries[name]
        slow = max(e.compute_p50_ms.items(), key=lambda kv: kv[1], default=None)
        t.add_row(
            name,
            e.status,
            str(e.attempts),
            str(e.frames),
            str(e.drops),
            f"{slow[0]} {slow[1]:.1f}" if slow else "-",
            f"{e.seconds:.1f}",
            e.host or "-",
        )
    return t


def register(app: typer.Typer) -> None:
    app.command("batch")(batch)
