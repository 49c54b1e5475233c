"""`arp record`, `arp replay` and `arp recording info|export|repair`."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.progress import Progress, TaskID
from rich.table import Table

from ar_perception.commands import fail, progress_bar, run_options
from ar_perception.commands.run_options import RunOptions, exit_if_failed, report, with_run_options
from ar_perception.errors import ArpError, GraphError

__all__ = ["register", "info_dict"]

console = Console(soft_wrap=True)
err_console = Console(stderr=True, soft_wrap=True)
recording_app = typer.Typer(no_args_is_help=True, help="Inspect, export and repair recordings.")


def _run_with_progress(
    g: Any,
    opts: RunOptions,
    description: str,
    total: float | None,
    note: str,
    update: Callable[[Progress, TaskID, dict[str, Any]], None],
) -> Any:
    """Run the graph under a progress bar on stderr (none with --quiet) that `update` moves from the
    supervisor's statistics, every half second and once at the end."""
    if opts.quiet:
        return run_options.run(g, opts)
    with progress_bar() as bar:
        task = bar.add_task(description, total=total, note=note)
        result = run_options.run(g, opts, on_stats=lambda reports: update(bar, task, reports))
        update(bar, task, result.nodes)
    return result


def _recorder_id(g: Any) -> str:
    """The recorder that with_recorder or for_replay added: the graph's last."""
    return next(n.id for n in reversed(g.spec.nodes) if n.node == "recorder")


def _recorder_outcome(g: Any, result: Any, out: Path) -> None:
    """Exit 1, loudly, when the recorder failed; otherwise print what the file holds."""
    from ar_perception.recording.reader import RecordingReader

    recorder_id = _recorder_id(g)
    rep = result.nodes.get(recorder_id)
    errors = [e for e in (rep.errors if rep else []) if "RecordingError" in e or "setup" in e]
    if errors or (rep and rep.exit_code not in (0, None)):
        for e in errors or [f"recorder exited with code {rep.exit_code}"]:
            err_console.print(f"recording failed: {e}", markup=False, highlight=False, soft_wrap=True)
        if out.exists():
            try:
                r = RecordingReader(out)
                err_console.print(f"{out} keeps {r.message_count} messages ({r.duration_s:.1f} s)", markup=False)
            except ArpError as e:
                err_console.print(str(e), markup=False, highlight=False, soft_wrap=True)
        raise typer.Exit(1)
    blocked = {n: r.stats.get("blocked_s", 0.0) for n, r in result.nodes.items() if n != recorder_id and r.stats}
    slow = {n: b for n, b in blocked.items() if b > 0.5}
    try:
        r = RecordingReader(out)
    except ArpError as e:
        fail(e)
    console.print(
        f"recorded {r.message_count} messages on {len(r.topics)} topics, {r.duration_s:.1f} s, "
        f"{r.size / 1e6:.1f} MB -> {out}",
        highlight=False,
    )
    if slow:
        err_console.print(
            "the recorder could not keep up in real time: it held back "
            + ", ".join(f"{n} for {b:.1f} s" for n, b in slow.items())
            + " (backpressure: nothing was dropped, but the sources ran slower)",
            markup=False,
        )


@with_run_options
def record(
    graph: Path = typer.Argument(..., help="graph YAML file"),
    out: Path = typer.Option(..., "-o", "--out", help="the .mcap file to write"),
    topics: list[str] = typer.Option([], "--topics", help="topics to record (glob patterns; default: all)"),
    compression: str = typer.Option("lz4", help="chunk compression: lz4 (fastest), zstd (smallest) or none"),
    *,
    opts: RunOptions,
) -> None:
    """Run a graph and record its topics (reliable queues: nothing is dropped) to an MCAP file."""
    from ar_perception.graph.load import read_graph_text
    from ar_perception.recording.graphs import with_recorder

    try:
        if compression not in ("zstd", "lz4", "none"):
            raise GraphError(f"--compression: expected zstd, lz4 or none (got {compression!r})")
        g, chosen = with_recorder(
            read_graph_text(graph),
            str(graph),
            out,
            topics=topics or None,
            sets=opts.sets,
            compression=compression,
        )
    except ArpError as e:
        fail(e)
    rid = _recorder_id(g)
    err_console.print(f"recording {len(chosen)} topics: {', '.join(chosen)}", markup=False, highlight=False)
    t0 = time.monotonic()

    def update(bar: Progress, task: TaskID, reports: dict[str, Any]) -> None:
        got = sum((reports[rid].stats.get("in") or {}).values()) if reports[rid].stats else 0
        elapsed = min(opts.for_s, time.monotonic() - t0) if opts.for_s else None
        bar.update(task, completed=elapsed, note=f"{got} messages")

    result = _run_with_progress(g, opts, "recording", opts.for_s, "", update)
    report(result, opts)
    _recorder_outcome(g, result, out)


@with_run_options
def replay(
    file: Path = typer.Argument(..., help="the .mcap recording"),
    graph: Path | None = typer.Option(None, "--graph", help="graph to feed (default: the recorded graph)"),
    speed: float = typer.Option(1.0, help="1 = original timing; 0 = as fast as possible, nothing dropped"),
    loop: bool = typer.Option(False, help="start again at the end"),
    start: float = typer.Option(0.0, help="seconds into the recording to start at"),
    end: float | None = typer.Option(None, help="seconds into the recording to stop at"),
    record_: Path | None = typer.Option(None, "--record", help="record the graph's outputs to this .mcap file"),
    record_topics: list[str] = typer.Option([], "--record-topics", help="with --record: topics to record"),
    restamp: bool = typer.Option(False, help="shift capture times so that the replay starts now"),
    *,
    opts: RunOptions,
) -> None:
    """Replay a recording into a graph whose source nodes are replaced by the recorded topics."""
    from ar_perception.graph.load import read_graph_text
    from ar_perception.recording.graphs import for_replay
    from ar_perception.recording.reader import RecordingReader

    try:
        if speed < 0:
            raise GraphError(f"--speed: expected 0 (as fast as possible) or a positive factor (got {speed:g})")
        reader = RecordingReader(file)
        if record_ is not None and record_.resolve() == file.resolve():
            raise GraphError(f"--record {record_}: that is the recording being replayed; record to another file")
        if graph is not None:
            text, gpath = read_graph_text(graph), str(graph)
        elif reader.graph:
            text, gpath = reader.graph, f"{file} (recorded graph)"
        else:
            raise GraphError(f"{file}: the recording stores no graph; pass one with --graph GRAPH.yaml")
        g, plan = for_replay(
            text,
            gpath,
            file,
            {t: i.kind for t, i in reader.topics.items()},
            speed=speed,
            loop=loop,
            start=start,
            end=end,
            restamp=restamp,
            record=record_,
            record_topics=record_topics or None,
            sets=opts.sets,
        )
    except ArpError as e:
        fail(e)
    for nid, ts in plan["replaced"].items():
        err_console.print(f"{nid}: replaying {', '.join(ts)}", markup=False, highlight=False)
    if plan.get("made_reliable"):
        err_console.print(
            f"speed 0: {len(plan['made_reliable'])} queues made reliable so that nothing is dropped", markup=False
        )
    if not restamp:
        err_console.print(
            "capture times are the recorded ones, so latency since capture counts from the original "
            "capture (--restamp: from now)",
            markup=False,
            highlight=False,
        )
    replayers = list(plan["replaced"])
    lo = reader.start_ns + int(start * 1e9)
    hi = reader.start_ns + int(end * 1e9) if end is not None else reader.end_ns
    total = (
        None
        if loop or opts.quiet
        else sum(1 for _ in _counts(reader, [t for ts in plan["replaced"].values() for t in ts], lo, hi))
    )

    def update(bar: Progress, task: TaskID, reports: dict[str, Any]) -> None:
        done = sum(sum((reports[n].stats.get("out") or {}).values()) for n in replayers if reports[n].stats)
        bar.update(task, completed=done)

    note = f"speed {speed:g}" if speed else "as fast as possible"
    result = _run_with_progress(g, opts, "replaying", total, note, update)
    report(result, opts)
    if record_ is not None:
        _recorder_outcome(g, result, record_)
    exit_if_failed(result)


def _counts(reader: Any, topics: list[str], lo: int, hi: int) -> Any:
    """One item per message of `topics` in [lo, hi] (from the per-topic statistics when the range is all)."""
    if lo <= reader.start_ns and hi >= reader.end_ns:
        return range(sum(reader.topics[t].count for t in topics))
    return reader.timed_messages(topics, lo, hi + 1)


def info_dict(reader: Any) -> dict[str, Any]:
    return {
        "file": str(reader.path),
        "size_bytes": reader.size,
        "format_version": reader.format_version,
        "arp_version": reader.meta.get("arp_version"),
        "created": reader.meta.get("created"),
        "complete": reader.complete and reader.indexed,
        "repaired": bool(reader.repair_meta),
        "messages": reader.message_count,
        "duration_s": reader.duration_s,
        "chunks": reader.chunks,
        "compression": sorted(reader.compression),
        "graph": bool(reader.graph),
        "topics": {
            t: {
                "kind": i.kind,
                "schema": i.schema,
                "count": i.count,
                "rate_hz": i.rate_hz,
                "bytes": i.bytes,
                "lost": i.lost,
            }
            for t, i in sorted(reader.topics.items())
        },
        "problems": reader.problems,
    }


@recording_app.command("info")
def info(
    file: Path = typer.Argument(..., help="the .mcap recording"),
    as_json: bool = typer.Option(False, "--json", help="print JSON"),
) -> None:
    """Topics, kinds, counts, rates, duration and size of a recording."""
    from ar_perception.recording.reader import RecordingReader

    try:
        d = info_dict(RecordingReader(file))
    except ArpError as e:
        fail(e)
    if as_json:
        print(json.dumps(d, indent=2))
        return
    state = "complete" if d["complete"] else "no summary (read by scanning)"
    console.print(
        f"{file}: {d['size_bytes'] / 1e6:.2f} MB, {d['messages']} messages, {d['duration_s']:.2f} s, "
        f"format {d['format_version']} (arp {d['arp_version']}), created {d['created']}, {state}"
        + (", repaired" if d["repaired"] else ""),
        highlight=False,
    )
    t = Table()
    for col in ("topic", "kind", "schema", "messages", "rate Hz", "raw MB", "lost"):
        t.add_column(col, justify="left" if col in ("topic", "kind", "schema") else "right")
    for topic, i in d["topics"].items():
        t.add_row(
            topic,
            i["kind"],
            i["schema"],
            str(i["count"]),
            "-" if i["rate_hz"] is None else f"{i['rate_hz']:.1f}",
            f"{i['bytes'] / 1e6:.2f}",
            str(i["lost"]),
        )
    console.print(t)
    for p in d["problems"]:
        err_console.print(f"note: {p}", markup=False)


@recording_app.command("export")
def export(
    file: Path = typer.Argument(..., help="the .mcap recording"),
    topic: str = typer.Option(..., "--topic", help="the topic to export"),
    out: Path = typer.Option(..., "-o", "--out", help="output folder"),
    fmt: str | None = typer.Option(None, "--format", help="png, mp4, ply, wav, jsonl or npz (default: by kind)"),
) -> None:
    """Export a topic: frames to PNG or MP4, point clouds to PLY, audio to WAV, text to JSON lines."""
    from ar_perception.recording.export import check_request, export_topic
    from ar_perception.recording.reader import RecordingReader

    try:
        r = RecordingReader(file)
        check_request(r, topic, fmt)
        total = r.topics[topic].count
        with progress_bar() as bar:
            task = bar.add_task(f"exporting {topic}", total=total, note="")
            res = export_topic(file, topic, out, fmt, progress=lambda n: bar.advance(task, n))
    except ArpError as e:
        fail(e)
    console.print(
        f"{res.messages} messages of {topic} -> {len(res.files)} {res.format} file(s) in {out}", highlight=False
    )


@recording_app.command("repair")
def repair_cmd(
    file: Path = typer.Argument(..., help="the .mcap recording"),
    out: Path | None = typer.Option(
        None, "-o", "--out", help="write here (default: in place, the original kept as FILE.bak)"
    ),
    backup: bool = typer.Option(True, help="keep the original as FILE.bak when repairing in place"),
    force: bool = typer.Option(False, help="rewrite even a file that reads back intact"),
) -> None:
    """Recover a truncated or damaged recording: keep every intact message, rewrite a complete file."""
    from ar_perception.recording.repair import repair

    try:
        res = repair(file, out, backup=backup, force=force)
    except ArpError as e:
        fail(e)
    if not res.needed:
        console.print(f"{file}: complete and intact; nothing to repair", highlight=False)
        return
    for p in res.problems:
        err_console.print(f"{file}: {p}", markup=False, highlight=False)
    console.print(
        f"recovered {res.messages} messages ({res.duration_s:.1f} s) on {len(res.topics)} topics -> "
        f"{res.path}" + (f" (original kept as {res.backup})" if res.backup else ""),
        highlight=False,
    )


def register(app: typer.Typer) -> None:
    app.command("record")(record)
    app.command("replay")(replay)
    app.add_typer(recording_app, name="recording")
