"""Many recordings through one graph: each is one job that replays it at speed 0 (lossless) and records the
graph's outputs to `OUT/NAME.mcap` (and with `stats`, `OUT/NAME.stats.json`). `run_jobs` runs the jobs as Ray
tasks, at most `parallel` at once, or one after another in this process (no Ray); a failed job is tried again
up to `retries` times. A job's failure is its outcome, never an exception: the batch goes on."""

from __future__ import annotations

import json
import os
import socket
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ar_perception.cluster.connect import first_line
from ar_perception.errors import ArpError

__all__ = ["Job", "Outcome", "job_names", "replay_one", "run_jobs", "prepare_jobs", "entry_for"]


@dataclass(frozen=True)
class Job:
    name: str  # the recording's name in OUT
    recording: str  # absolute path
    graph_text: str
    graph_path: str
    out_dir: str  # absolute path
    sets: tuple[str, ...] = ()
    record_topics: tuple[str, ...] = ()
    stats: bool = False

    @property
    def output(self) -> Path:
        return Path(self.out_dir) / f"{self.name}.mcap"

    @property
    def stats_path(self) -> Path:
        return Path(self.out_dir) / f"{self.name}.stats.json"


@dataclass
class Outcome:
    name: str
    ok: bool
    error: str | None = None
    seconds: float = 0.0
    host: str = ""
    frames: int = 0
    drops: int = 0
    compute_p50_ms: dict[str, float] = field(default_factory=dict)
    retry: bool = True  # False: it failed before running (the recording or graph is bad), so again would too
    node_errors: list[str] = field(default_factory=list)  # errors of messages a node skipped (on_error: skip)
    earlier_errors: list[str] = field(default_factory=list)  # why the attempts before this one failed


def job_names(paths: Sequence[Path]) -> list[str]:
    """A name per recording for its outputs: the file's stem, or where stems repeat (day1/s.mcap, day2/s.mcap)
    its path below the folder all share, with `__` for each `/`."""
    stems = [p.stem for p in paths]
    if len(set(stems)) == len(stems):
        return stems
    root = Path(os.path.commonpath([str(p.parent) for p in paths]))
    return [str(p.relative_to(root).with_suffix("")).replace(os.sep, "__") for p in paths]


def _host() -> str:
    host = socket.gethostname()
    try:
        import ray

        if ray.is_initialized():
            return f"{host}/{ray.get_runtime_context().get_node_id()[:8]}"
    except ImportError:
        pass
    return host


def _failed_nodes(result: Any) -> list[str]:
    return [
        f"{r.id}: {r.errors[-1] if r.errors else f'exit code {r.exit_code}'}"
        for r in result.nodes.values()
        if r.exit_code not in (0, None) and not r.killed
    ]


def replay_one(job: Job) -> Outcome:
    """Replay one recording through the graph at speed 0 and record its outputs. Runs in a Ray worker or here.
    The output is written as NAME.mcap.partial and renamed when the replay succeeded, so a NAME.mcap is always
    a whole one; after a failure neither is left. Ctrl-C (this process's, so `--cluster none`) is raised as
    KeyboardInterrupt, not counted as a failure of the recording."""
    partial = job.output.with_name(job.output.name + ".partial")
    t0 = time.monotonic()
    try:
        outcome = _replay(job, partial)
    except KeyboardInterrupt:
        raise
    except Exception as e:  # anything else unforeseen is this recording's failure, not the batch's
        outcome = Outcome(job.name, False, f"{type(e).__name__}: {e}", time.monotonic() - t0, _host())
    if not outcome.ok:
        partial.unlink(missing_ok=True)
        job.output.unlink(missing_ok=True)  # an output of an earlier run would no longer match the manifest
    return outcome


def _replay(job: Job, partial: Path) -> Outcome:
    from ar_perception.recording.graphs import for_replay
    from ar_perception.recording.reader import RecordingReader
    from ar_perception.runtime.launch import run_graph

    t0 = time.monotonic()
    host = _host()
    try:
        reader = RecordingReader(job.recording)
        g, plan = for_replay(
            job.graph_text,
            job.graph_path,
            job.recording,
            {t: i.kind for t, i in reader.topics.items()},
            speed=0.0,
            record=partial,
            record_topics=list(job.record_topics) or None,
            sets=list(job.sets),
        )
    except ArpError as e:
        return Outcome(job.name, False, str(e), time.monotonic() - t0, host, retry=False)
    try:
        result = run_graph(g, log_level="ERROR")
    except ArpError as e:  # a node failed to start: perhaps for a reason of this moment or machine
        return Outcome(job.name, False, str(e), time.monotonic() - t0, host)
    if result.reason == "interrupted":
        raise KeyboardInterrupt
    seconds = time.monotonic() - t0
    stats = result.as_dict()
    if job.stats:
        job.stats_path.write_text(json.dumps(stats, indent=2))
    nodes = stats["nodes"]
    frames = sum(sum((nodes[n]["stats"].get("out") or {}).values()) for n in plan["replaced"] if n in nodes)
    drops = sum(sum((r["stats"].get("drops") or {}).values()) for r in nodes.values())
    compute = {n: r["stats"]["compute_p50_ms"] for n, r in nodes.items() if r["stats"].get("compute_p50_ms")}
    skipped = [f"{r.id}: {e}" for r in result.nodes.values() for e in r.errors][:5]
    failed = _failed_nodes(result)
    if failed or result.reason != "all sources ended":
        why = "; ".join(failed) or f"the run stopped: {result.reason}"
        return Outcome(job.name, False, why, seconds, host, frames, drops, compute, node_errors=skipped)
    os.replace(partial, job.output)
    return Outcome(job.name, True, None, seconds, host, frames, drops, compute, node_errors=skipped)


def _ray_failure(job: Job, e: Exception) -> Outcome:
    return Outcome(job.name, False, f"the Ray task failed: {type(e).__name__}: {first_line(e)}")


def run_jobs(
    jobs: Sequence[Job],
    *,
    ray: Any | None,
    parallel: int,
    retries: int,
    on_done: Callable[[Job, Outcome, int], None],
    on_retry: Callable[[Job, Outcome, int], None] | None = None,
) -> None:
    """Run every job, at most `parallel` at once (Ray tasks; without `ray` here, one by one), each tried up to
    1 + `retries` times (not one whose recording or graph was refused before it ran). `on_done(job, outcome,
    attempts)` is called once per job as it ends, in this process."""
    pending: deque[tuple[Job, int]] = deque((j, 1) for j in jobs)
    earlier: dict[str, list[str]] = {}

    def ended(job: Job, outcome: Outcome, attempt: int) -> None:
        if not outcome.ok and outcome.retry and attempt <= retries:
            if on_retry:
                on_retry(job, outcome, attempt)
            earlier.setdefault(job.name, []).append(outcome.error or "")
            pending.append((job, attempt + 1))
        else:
            outcome.earlier_errors = earlier.pop(job.name, [])
            on_done(job, outcome, attempt)

    if ray is None:
        while pending:
            job, attempt = pending.popleft()
            ended(job, replay_one(job), attempt)
        return
    task = ray.remote(num_cpus=1, max_retries=0)(replay_one)
    inflight: dict[Any, tuple[Job, int]] = {}
    try:
        while pending or inflight:
            while pending and len(inflight) < parallel:
                job, attempt = pending.popleft()
                inflight[task.remote(job)] = (job, attempt)
            done, _ = ray.wait(list(inflight), num_returns=1)
            for ref in done:
                job, attempt = inflight.pop(ref)
                try:
                    outcome = ray.get(ref)
                except ray.exceptions.RayError as e:  # the worker died, the task was cancelled, ...
                    outcome = _ray_failure(job, e)
                ended(job, outcome, attempt)
    finally:
        for ref in inflight:  # Ctrl-C or an error here: stop what still runs
            ray.cancel(ref, force=True)


def prepare_jobs(
    graph_text: str,
    graph_path: str,
    recordings: Sequence[Path],
    out: Path,
    manifest: Any,
    *,
    sets: Sequence[str] = (),
    record_topics: Sequence[str] = (),
    stats: bool = False,
    force: bool = False,
) -> tuple[list[Job], list[str]]:
    """The jobs still to run, and the names of those done before (same file, graph and overrides, outputs
    present; `force` runs them again). A recording that is missing, or is one of the outputs, is an error
    before anything runs."""
    from ar_perception.cluster.manifest import fingerprint, graph_digest

    paths = list(dict.fromkeys(p.resolve() for p in recordings))
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        raise ArpError(f"recording(s) not found: {', '.join(missing)}")
    out = out.resolve()
    digest = graph_digest(graph_text, list(sets), list(record_topics))
    jobs: list[Job] = []
    skipped: list[str] = []
    for path, name in zip(paths, job_names(paths), strict=True):
        job = Job(name, str(path), graph_text, graph_path, str(out), tuple(sets), tuple(record_topics), stats)
        if job.output == path:
            raise ArpError(f"{path}: it would be overwritten by its own output; choose another --out")
        entry = manifest.entries.get(name)
        if entry is not None and entry.recording != str(path) and not force:
            raise ArpError(
                f"{path}: its outputs would be {job.output.name}, which {out / 'manifest.json'} has from "
                f"{entry.recording}; use another --out, or --force to replace them"
            )
        done = (
            entry is not None
            and entry.status == "done"
            and entry.recording == str(path)
            and entry.fingerprint == fingerprint(path)
            and entry.graph == digest
            and job.output.exists()
            and (not stats or job.stats_path.exists())
        )
        if done and not force:
            skipped.append(name)
        else:
            jobs.append(job)
    return jobs, skipped


def entry_for(job: Job, outcome: Outcome, attempts: int) -> Any:
    """The manifest's entry for a job that ended."""
    from ar_perception.cluster.manifest import Entry, fingerprint, graph_digest

    return Entry(
        recording=job.recording,
        fingerprint=fingerprint(Path(job.recording)),
        graph=graph_digest(job.graph_text, list(job.sets), list(job.record_topics)),
        status="done" if outcome.ok else "failed",
        attempts=attempts,
        error=outcome.error,
        output=str(job.output) if outcome.ok else None,
        stats=str(job.stats_path) if job.stats and job.stats_path.exists() else None,
        seconds=round(outcome.seconds, 3),
        host=outcome.host or None,
        frames=outcome.frames,
        drops=outcome.drops,
        compute_p50_ms=outcome.compute_p50_ms,
        node_errors=outcome.node_errors,
        earlier_errors=outcome.earlier_errors,
    )
