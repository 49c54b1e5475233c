"""`arp sim-dataset`, `arp train-head` and `arp eval`: simulated data, linear heads, their metrics."""

from __future__ import annotations

import json
import math
import shlex
import sys
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.console import Console
from rich.table import Table

from ar_perception.commands import fail
from ar_perception.errors import ArpError

if TYPE_CHECKING:
    from ar_perception.models.heads import Task as HeadTask

__all__ = ["register", "evaluate", "parse_size"]

console = Console(soft_wrap=True)
err_console = Console(stderr=True, soft_wrap=True)


class Task(StrEnum):
    seg = "seg"
    depth = "depth"


def parse_size(text: str) -> tuple[int, int]:
    """ "320x240" -> (320, 240)."""
    w, sep, h = text.lower().partition("x")
    try:
        size = (int(w), int(h))
    except ValueError:
        size = (0, 0)
    if not sep or min(size) < 8:
        raise ArpError(f"--size must be WIDTHxHEIGHT with both at least 8, e.g. 320x240 (got {text!r})")
    return size


def sim_dataset(
    out: Path = typer.Option(..., "-o", "--out", help="folder to write (must be empty unless --overwrite)"),
    scenes: int = typer.Option(10, min=1, help="number of rooms (each with its own seed)"),
    frames: int = typer.Option(20, min=1, help="frames per room, spread over one loop of its trajectory"),
    seed: int = typer.Option(0, help="dataset seed: picks every room's own seed"),
    size: str = typer.Option("320x240", help="frame size WIDTHxHEIGHT"),
    preset: str = typer.Option("room", help="scene preset (ar_perception.sim.SCENE_PRESETS)"),
    trajectories: str = typer.Option("orbit,walk,handheld", help="comma-separated; room i uses the i-th (cycling)"),
    val_fraction: float = typer.Option(0.2, help="share of rooms held out as the 'val' split"),
    overwrite: bool = typer.Option(False, help="replace a dataset already in the folder"),
    quiet: bool = typer.Option(False, help="no progress bar"),
) -> None:
    """Render simulated rooms with exact ground truth into a dataset folder (layout: ar_perception/sim/dataset.py)."""
    from ar_perception.sim.dataset import write_dataset

    try:
        root = write_dataset(
            out,
            scenes,
            frames,
            seed=seed,
            size=parse_size(size),
            progress=not quiet,
            preset=preset,
            trajectories=[t.strip() for t in trajectories.split(",") if t.strip()],
            val_fraction=val_fraction,
            overwrite=overwrite,
        )
    except ArpError as e:
        fail(e)
    meta = json.loads((root / "meta.json").read_text())
    splits = ", ".join(f"{k}: {len(v)} rooms" for k, v in meta["splits"].items())
    console.print(f"wrote {scenes * frames} frames ({scenes} rooms x {frames}) to {root} ({splits})", highlight=False)


def train_head(
    task: Task = typer.Argument(..., help="seg or depth"),
    data: Path = typer.Option(..., "--data", help="dataset folder (arp-sim, ADE20K-style or NYU-style)"),
    out: Path = typer.Option(..., "-o", "--out", help="head file to write (.safetensors)"),
    encoder: str = typer.Option("dinov2-vit-s14", help="encoder: a model name, 'NAME,key=value,...' or JSON"),
    epochs: int = typer.Option(60, min=1),
    batch_size: int = typer.Option(16, min=1),
    lr: float = typer.Option(1e-3),
    seed: int = typer.Option(0),
    view: str = typer.Option("full", help="full: one encoder pass per frame; flip: frame + mirror, averaged"),
    cls_token: bool = typer.Option(
        False, "--cls-token", help="also feed the class token to every patch (DINOv2's depth 'lin. 1' variant)"
    ),
    format: str = typer.Option("auto", help="dataset format: auto, sim, ade20k or nyu"),
    max_samples: int | None = typer.Option(None, help="train on at most this many samples"),
    cache: Path | None = typer.Option(None, help="feature cache folder (default: $ARP_CACHE/features)"),
    as_json: bool = typer.Option(False, "--json", help="print the training report as JSON"),
    quiet: bool = typer.Option(False, help="no progress bars"),
) -> None:
    """Train a linear head on frozen, cached encoder features; save it with its metadata."""
    from ar_perception.models.training.features import parse_encoder_spec
    from ar_perception.models.training.fit import TrainConfig
    from ar_perception.models.training.fit import train_head as run

    try:
        cfg = TrainConfig(
            task=task.value,
            data=str(data),
            encoder=parse_encoder_spec(encoder),
            view=view,
            format=format,
            epochs=epochs,
            batch_size=batch_size,
            lr=lr,
            seed=seed,
            cls_token=cls_token,
            max_samples=max_samples,
        )
        command = "arp " + " ".join(shlex.quote(a) for a in sys.argv[1:])
        log = (lambda s: None) if (quiet or as_json) else (lambda s: err_console.print(s, markup=False))
        head, report = run(cfg, out, cache_dir=cache, progress=not quiet, log=log, command=command)
    except ArpError as e:
        fail(e)
    if as_json:
        print(json.dumps({"head": str(out), **report}, indent=1, default=str))
        return
    console.print(
        f"saved {head!r} to {out} ({report['data']['train_samples']} training samples, "
        f"loss {report['losses'].get('first')} -> {report['losses'].get('last')}, {report['seconds']} s)",
        highlight=False,
    )
    if "val_metrics" in report:
        title = f"held-out split ({report['data']['val_samples']} samples)"
        console.print(_metrics_table(task.value, report["val_metrics"], title))


def _head_and_encoder(task: HeadTask, head_path: str | Path | None, encoder: str | None) -> tuple[Any, Any, Any]:
    """The head (default: the shipped one), the encoder it reads (`encoder` overrides the one it was trained on)
    and the encoder's spec; an ArpError when the two do not fit."""
    from ar_perception.models.encoder import build_encoder
    from ar_perception.models.heads import load_default_head, load_head
    from ar_perception.models.training.features import parse_encoder_spec

    head = load_head(head_path, task) if head_path else load_default_head(task)
    if encoder is None:
        spec = head.info.training.get("encoder_spec") or {"model": head.info.encoder}
    else:
        spec = parse_encoder_spec(encoder)
    enc = build_encoder(spec)
    if enc.name != head.info.encoder:
        raise ArpError(
            f"the {task} head was trained on features of {head.info.encoder}, but the encoder is {enc.name} "
            f"(pass --encoder {head.info.encoder}, or a head trained for {enc.name} with `arp train-head`)"
        )
    return head, enc, spec


def evaluate(
    task: HeadTask,
    data: str | Path,
    head_path: str | Path | None = None,
    encoder: str | None = None,
    split: str = "auto",
    format: str = "auto",
    cache_dir: str | Path | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """Metrics of a head (default: the shipped one) on a dataset folder's held-out split (or `split`)."""
    from ar_perception.models.heads import default_head_path
    from ar_perception.models.training.datasets import open_dataset
    from ar_perception.models.training.features import feature_cache
    from ar_perception.models.training.fit import evaluate_head

    if split == "auto":
        try:
            ds = open_dataset(data, "val", format)
            if not len(ds):
                raise ArpError("empty")
        except ArpError:
            ds = open_dataset(data, None, format)
    else:
        ds = open_dataset(data, None if split == "all" else split, format)  # type: ignore[arg-type]
    head, enc, spec = _head_and_encoder(task, head_path, encoder)
    cache = feature_cache(ds, enc, spec, head.info.features, cache_dir)
    result = evaluate_head(head, ds, cache, progress)
    result["split"] = ds.split or "all"
    result["head"] = str(head_path or default_head_path(task))
    result["encoder"] = enc.name
    return result


PAIR_WITHIN_NS = 20_000_000  # an image and its truth (a camera's two streams are stamped apart)


def evaluate_recording(
    recording: str | Path,
    task: HeadTask = "depth",
    head_path: str | Path | None = None,
    encoder: str | None = None,
    image_topic: str | None = None,
    truth_topic: str | None = None,
    every: int = 1,
    progress: bool = True,
) -> dict[str, Any]:
    """A head against a recording's own truth: depth against recorded sensor depth (metres as they are, and after
    median scaling); seg against recorded masks (classes matched by name; the mask's other classes not scored)."""
    import numpy as np
    from tqdm.auto import tqdm

    from ar_perception.models.heads import default_head_path
    from ar_perception.models.training.datasets import IGNORE
    from ar_perception.models.training.metrics import DepthMetrics, SegMetrics
    from ar_perception.recording import RecordingReader

    reader = RecordingReader(recording)
    image_topic = image_topic or _only_topic(reader, "Image", "--image-topic")
    truth_topic = truth_topic or _only_topic(reader, "Depth" if task == "depth" else "Mask", "--truth-topic")
    head, enc, _ = _head_and_encoder(task, head_path, encoder)
    images: dict[int, Any] = {}
    truths: dict[int, Any] = {}
    truth_classes: list[str] = []
    for msg in reader.messages([image_topic, truth_topic]):
        if msg.topic == image_topic:
            images[msg.capture_ns] = np.asarray(msg.data)
        else:
            truths[msg.capture_ns] = np.asarray(msg.data)
            truth_classes = list(msg.meta.get("classes") or truth_classes)
    truth_times = np.array(sorted(truths), np.int64)
    pairs: list[tuple[int, int]] = []  # (image time, truth time): the truth nearest each image, within 20 ms
    for t in sorted(images):
        k = int(np.searchsorted(truth_times, t))
        near = [int(truth_times[j]) for j in (k - 1, k) if 0 <= j < len(truth_times)]
        best = min(near, key=lambda u: abs(u - t), default=None)
        if best is not None and abs(best - t) <= PAIR_WITHIN_NS:
            pairs.append((t, best))
    both = pairs[:: max(1, every)]
    if not both:
        raise ArpError(
            f"{recording}: no {image_topic} frame has a {truth_topic} frame within 20 ms of its capture time "
            f"({len(images)} images, {len(truths)} {truth_topic} messages)"
        )
    metrics: list[Any]
    lookup = None
    if task == "depth":
        _, dmin, dmax = head.info.depth_bins
        metrics = [DepthMetrics(dmin, dmax), DepthMetrics(dmin, dmax, median_scale=True)]
    else:
        if not truth_classes:
            raise ArpError(f"{recording}: {truth_topic} carries no meta.classes: its ids cannot be matched to classes")
        index = {c: i for i, c in enumerate(head.classes)}
        lookup = np.array([index.get(c, IGNORE) for c in truth_classes] + [IGNORE] * (256 - len(truth_classes)))
        metrics = [SegMetrics(head.classes, head.info.ignore_index)]
    for t, t_truth in tqdm(both, desc=f"eval {task}", unit="frame", disable=not progress):
        gt = truths[t_truth]
        out = enc(images[t])
        cls = out.get("cls") if head.info.cls_token else None
        pred = head.predict(out["patches"], (gt.shape[1], gt.shape[0]), cls)
        if lookup is not None:
            gt = lookup[np.clip(gt.astype(np.int64), 0, 255)]
        for m in metrics:
            m.update(pred, gt)
    result: dict[str, Any] = {
        "recording": str(recording),
        "truth": truth_topic,
        "images": len(both),
        "head": str(head_path or default_head_path(task)),
        "encoder": enc.name,
    }
    if task == "depth":
        return {**result, "metric": metrics[0].result(), "median_scaled": metrics[1].result()}
    unscored = sorted(set(truth_classes) - set(head.classes))
    return {**result, **metrics[0].result(), "not_scored": unscored}


def _only_topic(reader: Any, kind: str, option: str) -> str:
    found = sorted(t for t, info in reader.topics.items() if info.kind == kind)
    if len(found) != 1:
        raise ArpError(
            f"{reader.path}: {len(found)} {kind} topics ({', '.join(found) or 'none'}); "
            f"name the one to use with {option}"
        )
    return found[0]


def eval_cmd(
    task: Task = typer.Argument(..., help="seg or depth"),
    data: Path | None = typer.Option(None, "--data", help="dataset folder (arp-sim, ADE20K-style or NYU-style)"),
    recording: Path | None = typer.Option(
        None, "--recording", help="a recording whose sensor depth (depth) or masks (seg) are the truth"
    ),
    image_topic: str | None = typer.Option(None, help="with --recording: the Image topic (default: the only one)"),
    truth_topic: str | None = typer.Option(
        None, help="with --recording: the Depth (depth) or Mask (seg) topic that is the truth (default: the only one)"
    ),
    every: int = typer.Option(1, min=1, help="with --recording: every Nth frame"),
    encoder: str | None = typer.Option(None, help="encoder spec (default: the one the head was trained on)"),
    head: Path | None = typer.Option(None, help="head file (default: the shipped default head)"),
    split: str = typer.Option("auto", help="val, train, all, or auto: the held-out split if the folder has one"),
    format: str = typer.Option("auto", help="dataset format: auto, sim, ade20k or nyu"),
    cache: Path | None = typer.Option(None, help="feature cache folder (default: $ARP_CACHE/features)"),
    as_json: bool = typer.Option(False, "--json", help="print the metrics as one JSON object"),
    quiet: bool = typer.Option(False, help="no progress bars"),
) -> None:
    """Evaluate a head: mIoU and pixel accuracy, or RMSE, AbsRel and delta<1.25, at image resolution."""
    if split not in ("auto", "val", "train", "all"):
        fail(ArpError(f"--split must be auto, val, train or all (got {split!r})"))
    if (data is None) == (recording is None):
        fail(ArpError("give either --data (a dataset folder) or --recording (a recording with sensor depth)"))
    if recording is not None:
        try:
            result = evaluate_recording(
                recording, task.value, head, encoder, image_topic, truth_topic, every, progress=not (quiet or as_json)
            )
        except ArpError as e:
            fail(e)
        if as_json:
            print(json.dumps(result, indent=1))
            return
        where = f"{recording} ({result['images']} frames, truth: {result['truth']})"
        if task.value == "seg":
            console.print(_metrics_table("seg", result, where))
            if result["not_scored"]:
                console.print(
                    f"classes of the masks the head does not know (not scored): {', '.join(result['not_scored'])}"
                )
            return
        console.print(_metrics_table("depth", result["metric"], f"{where}: metric depth"))
        scale = result["median_scaled"].get("median_scale", float("nan"))
        console.print(_metrics_table("depth", result["median_scaled"], f"after median scaling (x{scale:.3f})"))
        return
    assert data is not None
    try:
        result = evaluate(task.value, data, head, encoder, split, format, cache, progress=not (quiet or as_json))
    except ArpError as e:
        fail(e)
    if as_json:
        print(json.dumps(result, indent=1))
        return
    console.print(_metrics_table(task.value, result, f"{data} ({result['split']} split, {result['images']} images)"))


def _metrics_table(task: str, m: dict[str, Any], title: str) -> Table:
    t = Table(title=title)
    t.add_column("metric")
    t.add_column("value", justify="right")
    keys = ("miou", "pixel_acc") if task == "seg" else ("rmse", "absrel", "delta1")
    for k in keys:
        v = m.get(k)
        t.add_row(k + (" (m)" if k == "rmse" else ""), "-" if v is None or math.isnan(v) else f"{v:.4f}")
    for name, iou in (m.get("per_class_iou") or {}).items():
        t.add_row(f"  IoU {name}", f"{iou:.4f}")
    return t


def register(app: typer.Typer) -> None:
    app.command("sim-dataset")(sim_dataset)
    app.command("train-head")(train_head)
    app.command("eval")(eval_cmd)
