"""Training the linear heads on frozen, cached encoder features, and evaluating them.

The recipe follows the linear-probe protocol of EUPE / DINOv2 on frozen final-norm patch tokens:
BatchNorm2d + 1x1 conv, trained with AdamW and a cosine learning-rate schedule. Segmentation uses
cross-entropy on logits upsampled bilinearly to the target; depth uses the scale-invariant log loss
(SILog, Eigen et al. 2014, lambda = 0.85, as DINOv2's depth probes) on the softmax-weighted bin depth
upsampled to the target. Targets are the ground truth sampled at 4x the patch grid (features.py);
evaluation is at full image resolution (metrics.py) through the numpy head the nodes use.

A checkpoint is written after every epoch next to the output (``HEAD.safetensors.ckpt.pt``); a run
with the same settings picks up from it. The features stay cached, so a resumed run encodes nothing.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from ar_perception.errors import ArpError, ModelError
from ar_perception.models.heads import (
    DEPTH_BINS,
    DEPTH_MAX,
    DEPTH_MIN,
    HeadInfo,
    LinearHead,
    Task,
    depth_bin_centres,
)
from ar_perception.models.training.datasets import IGNORE, HeadDataset, SimFolder, open_dataset
from ar_perception.models.training.features import FeatureCache, feature_cache, parse_encoder_spec
from ar_perception.models.training.metrics import DepthMetrics, SegMetrics

__all__ = ["TrainConfig", "train_head", "evaluate_head", "fit_cached", "build_torch_head"]

BN_MOMENTUM = 0.1  # torch's default for the head's BatchNorm2d running statistics


@dataclass
class TrainConfig:
    task: Task
    data: str  # dataset folder
    encoder: dict[str, Any] = field(default_factory=lambda: parse_encoder_spec(None))
    view: str = "full"
    format: str = "auto"
    epochs: int = 60
    batch_size: int = 16
    lr: float = 1e-3
    weight_decay: float = 1e-4
    silog_lambda: float = 0.85
    cls_token: bool = False  # concatenate the class token to every patch token (DINOv2's depth "lin. 1")
    seed: int = 0
    max_samples: int | None = None  # cap on training samples (quick runs)

    def key(self) -> str:
        """What a checkpoint must match to be resumed."""
        return hashlib.sha1(json.dumps(asdict(self), sort_keys=True, default=str).encode()).hexdigest()


def build_torch_head(dim: int, out_channels: int):  # -> torch.nn.Module
    """BatchNorm2d(D) + Conv2d(D, K, 1), with state-dict names matching the head file's tensors.

    The forward pass works channels-last as one matrix product (a 1x1 conv is one): on a busy CPU
    that is several times faster than conv2d on a (B, D, 16, 16) batch.
    """
    import torch
    import torch.nn.functional as F

    class TorchHead(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.bn = torch.nn.BatchNorm2d(dim, momentum=BN_MOMENTUM)
            self.conv = torch.nn.Conv2d(dim, out_channels, kernel_size=1)
            torch.nn.init.normal_(self.conv.weight, std=0.01)
            assert self.conv.bias is not None  # Conv2d has a bias unless told bias=False
            torch.nn.init.zeros_(self.conv.bias)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            B, h, w, D = x.shape  # channels-last patch grids
            flat = x.reshape(B * h * w, D)  # BatchNorm2d's statistics are over (B, h, w): the same rows
            bn = self.bn
            flat = F.batch_norm(
                flat, bn.running_mean, bn.running_var, bn.weight, bn.bias, self.training, BN_MOMENTUM, bn.eps
            )
            logits = F.linear(flat, self.conv.weight[:, :, 0, 0], self.conv.bias)  # (B*h*w, D) -> (B*h*w, K)
            return logits.reshape(B, h, w, -1).permute(0, 3, 1, 2)  # -> (B, K, h, w)

    return TorchHead()


def _bilinear_matrix(n_out: int, n_in: int):
    """(n_out, n_in) matrix R with R @ v = 1-D bilinear resampling, half-pixel centres, edges clamped.

    R_y @ X @ R_x^T equals F.interpolate(X, mode="bilinear", align_corners=False); as two matrix
    products its backward pass is much cheaper than interpolate's.
    """
    import torch

    m = np.zeros((n_out, n_in), dtype=np.float32)
    for i in range(n_out):
        src = max((i + 0.5) * n_in / n_out - 0.5, 0.0)
        i0 = int(np.floor(src))
        i1, frac = min(i0 + 1, n_in - 1), src - i0
        m[i, i0] += 1.0 - frac
        m[i, i1] += frac
    return torch.from_numpy(m)


def _depth_from_logits(logits, centres):  # (B, n_bins, h, w) -> (B, 1, h, w)
    import torch

    probs = torch.softmax(logits, dim=1)
    return torch.einsum("bkhw,k->bhw", probs, centres)[:, None]


def _silog(pred, gt, lam: float):
    import torch

    valid = (gt >= DEPTH_MIN) & (gt <= DEPTH_MAX)
    if not bool(valid.any()):
        return pred.sum() * 0.0
    g = torch.log(pred[valid].clamp_min(DEPTH_MIN)) - torch.log(gt[valid])
    return torch.sqrt((g**2).mean() - lam * g.mean() ** 2 + 1e-8)


def fit_cached(
    cache: FeatureCache,
    targets: tuple[np.ndarray, np.ndarray],
    cfg: TrainConfig,
    out_channels: int,
    ignore_index: int | None = None,
    checkpoint: Path | None = None,
    progress: bool = True,
    log: Callable[[str], None] = print,
) -> tuple[dict[str, np.ndarray], list[float]]:
    """Train a head on cached features; returns (state dict as numpy, mean loss of every epoch)."""
    import torch
    import torch.nn.functional as F
    from tqdm.auto import tqdm

    torch.manual_seed(cfg.seed)
    tokens = cache.tokens()
    values, tindex = targets
    cls_tokens = cache.cls() if cfg.cls_token else None
    dim = tokens.shape[1]
    n = cache.n if cfg.max_samples is None else min(cache.n, cfg.max_samples)
    # Samples with the same grid train together (one grid for a folder of equal-sized frames).
    buckets: dict[tuple[int, int], list[int]] = {}
    for i in range(n):
        buckets.setdefault((int(cache.index[i, 1]), int(cache.index[i, 2])), []).append(i)
    steps_per_epoch = sum(math.ceil(len(b) / cfg.batch_size) for b in buckets.values())

    model = build_torch_head(2 * dim if cfg.cls_token else dim, out_channels)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    total_steps = max(1, cfg.epochs * steps_per_epoch)
    cosine = lambda s: 0.5 * (1 + math.cos(math.pi * min(s, total_steps) / total_steps))  # noqa: E731
    sched = torch.optim.lr_scheduler.LambdaLR(opt, cosine)
    centres = torch.from_numpy(depth_bin_centres(out_channels)) if cfg.task == "depth" else None
    start, losses = 0, []
    if checkpoint is not None and checkpoint.is_file():
        ck = _read_checkpoint(checkpoint)
        if ck["key"] == cfg.key():
            try:
                model.load_state_dict(ck["model"])
                opt.load_state_dict(ck["opt"])
                sched.load_state_dict(ck["sched"])
            except (RuntimeError, ValueError, KeyError, TypeError) as e:
                first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
                raise ModelError(
                    f"{checkpoint}: training checkpoint does not fit this head ({first}); "
                    "delete it to train from the start"
                ) from None
            start, losses = int(ck["epoch"]), [float(x) for x in ck["losses"]]
            log(f"resuming from {checkpoint} after epoch {start}")
        else:
            log(f"{checkpoint} was written with other settings; starting over")

    def batch(idx: list[int]):
        idx = sorted(idx)
        _, h, w = cache.index[idx[0]]
        grids = np.stack([tokens[cache.index[i, 0] : cache.index[i, 0] + h * w] for i in idx]).astype(np.float32)
        x = torch.from_numpy(grids).reshape(len(idx), h, w, dim)  # (B, h*w, D) -> (B, h, w, D)
        if cls_tokens is not None:
            cls = torch.from_numpy(cls_tokens[idx].astype(np.float32))  # (B, D)
            x = torch.cat([x, cls[:, None, None, :].expand(-1, h, w, -1)], dim=-1)  # -> (B, h, w, 2D)
        th, tw = int(tindex[idx[0], 1]), int(tindex[idx[0], 2])
        y = np.stack([values[tindex[i, 0] : tindex[i, 0] + th * tw] for i in idx]).reshape(len(idx), th, tw)
        return x, torch.from_numpy(np.ascontiguousarray(y))

    mats: dict[tuple[int, ...], Any] = {}

    def upsamplers(grid, target):
        key = (*grid, *target)
        if key not in mats:
            mats[key] = (_bilinear_matrix(target[0], grid[0]), _bilinear_matrix(target[1], grid[1]))
        return mats[key]

    bar = tqdm(total=cfg.epochs, initial=start, desc=f"train {cfg.task}", unit="epoch", disable=not progress)
    for epoch in range(start, cfg.epochs):
        model.train()
        rng = np.random.default_rng([cfg.seed, epoch])  # per epoch: a resumed run sees the same batches
        order = [
            (key, b[j : j + cfg.batch_size])
            for key, members in buckets.items()
            for b in [list(rng.permutation(members))]
            for j in range(0, len(b), cfg.batch_size)
        ]
        rng.shuffle(order)
        total = 0.0
        for _, idx in order:
            x, y = batch(idx)
            logits = model(x)  # (B, K, h, w)
            ry, rx = upsamplers(logits.shape[-2:], y.shape[-2:])
            if cfg.task == "seg":
                y = y.long()
                if ignore_index is not None:
                    y = torch.where(y == ignore_index, torch.full_like(y, IGNORE), y)
                up = ry @ logits @ rx.T  # (B, K, h, w) -> (B, K, th, tw), bilinear
                loss = F.cross_entropy(up, y, ignore_index=IGNORE)
            else:
                depth = _depth_from_logits(logits, centres)[:, 0]  # (B, h, w) metres
                up = ry @ depth @ rx.T  # (B, h, w) -> (B, th, tw), bilinear
                loss = _silog(up, y.float(), cfg.silog_lambda)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            total += loss.item()
        losses.append(total / max(1, len(order)))
        bar.update(1)
        bar.set_postfix(loss=f"{losses[-1]:.4f}")
        if checkpoint is not None:
            tmp = checkpoint.with_name(checkpoint.name + ".tmp")
            torch.save(
                {
                    "key": cfg.key(),
                    "epoch": epoch + 1,
                    "losses": losses,
                    "model": model.state_dict(),
                    "opt": opt.state_dict(),
                    "sched": sched.state_dict(),
                },
                tmp,
            )
            os.replace(tmp, checkpoint)
    bar.close()
    state = {
        k: v.detach().numpy().astype(np.float32) for k, v in model.state_dict().items() if k != "bn.num_batches_tracked"
    }
    return state, losses


CHECKPOINT_KEYS = {"key": str, "epoch": int, "losses": list, "model": dict, "opt": dict, "sched": dict}


def _read_checkpoint(path: Path) -> dict[str, Any]:
    """A resume checkpoint written by fit_cached: tensors and plain data only, loaded weights-only."""
    from ar_perception.models.files import load_torch_file

    ck = load_torch_file(path, "training checkpoint")
    wrong = [k for k, t in CHECKPOINT_KEYS.items() if not isinstance(ck, dict) or not isinstance(ck.get(k), t)]
    if wrong:
        raise ModelError(
            f"{path}: not a training checkpoint of arp (missing or invalid: {', '.join(wrong)}; "
            f"expected a dict with {', '.join(CHECKPOINT_KEYS)}); delete it to train from the start"
        )
    return ck


def _open_split(data: str, split: Literal["train", "val"], fmt: str) -> HeadDataset | None:
    try:
        ds = open_dataset(data, split, fmt)
    except ArpError:
        if split == "train":
            raise
        return None
    return ds if len(ds) else None


def evaluate_head(head: LinearHead, ds: HeadDataset, cache: FeatureCache, progress: bool = True) -> dict[str, Any]:
    """Metrics of `head` on every sample of `ds`, at each image's own resolution (metrics.py)."""
    from tqdm.auto import tqdm

    cache.fill(progress)
    if head.task == "seg":
        classes = head.classes
        if ds.classes and list(ds.classes) != list(classes):
            raise ArpError(
                f"the head's classes ({len(classes)}: {', '.join(classes[:5])}...) differ from the "
                f"dataset's ({len(ds.classes)}: {', '.join(ds.classes[:5])}...)"
            )
        metrics: SegMetrics | DepthMetrics = SegMetrics(classes, ds.ignore_index)
    else:
        _, dmin, dmax = head.info.depth_bins
        metrics = DepthMetrics(dmin, dmax)
    for i in tqdm(range(len(ds)), desc=f"eval {head.task}", unit="frame", disable=not progress):
        gt = ds.target(i, head.task)
        cls = cache.cls()[i].astype(np.float32) if head.info.cls_token else None
        pred = head.predict(cache.grid(i), (gt.shape[1], gt.shape[0]), cls)
        metrics.update(pred, gt)
    return metrics.result()


def train_head(
    cfg: TrainConfig,
    out: str | os.PathLike[str],
    cache_dir: str | os.PathLike[str] | None = None,
    progress: bool = True,
    log: Callable[[str], None] = print,
    command: str | None = None,
    encoder: Any = None,
) -> tuple[LinearHead, dict[str, Any]]:
    """Train a head on `cfg.data`'s train split, evaluate it on the held-out split, save it to `out`.

    Returns the head and a report (losses, data sizes, held-out metrics), which is also recorded in
    the head's metadata. `encoder` is an already built encoder for `cfg.encoder` (else it is built).
    """
    from ar_perception.models.encoder import build_encoder

    if cfg.task not in ("seg", "depth"):
        raise ArpError(f"unknown head task {cfg.task!r} (expected seg or depth)")
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    train = _open_split(cfg.data, "train", cfg.format)
    assert train is not None
    if cfg.task not in train.tasks:
        raise ArpError(
            f"{cfg.data}: a {train.format} folder has no {cfg.task} targets (it has: {', '.join(train.tasks)})"
        )
    val = _open_split(cfg.data, "val", cfg.format)
    encoder = encoder if encoder is not None else build_encoder(cfg.encoder)
    cache = feature_cache(train, encoder, cfg.encoder, cfg.view, cache_dir)
    cache.fill(progress)
    targets = cache.targets(cfg.task, progress=progress)
    dim = cache.dim
    if cfg.task == "seg":
        if len(train.classes) > IGNORE:
            raise ArpError(f"{cfg.data}: {len(train.classes)} classes; at most {IGNORE} are supported")
        out_channels = len(train.classes)
    else:
        out_channels = DEPTH_BINS
    ckpt = out.with_name(out.name + ".ckpt.pt")
    state, losses = fit_cached(
        cache,
        targets,
        cfg,
        out_channels,
        train.ignore_index if cfg.task == "seg" else None,
        checkpoint=ckpt,
        progress=progress,
        log=log,
    )
    ih, iw = encoder.input_size_for(*train.image(0).shape[:2])
    report: dict[str, Any] = {
        "command": command,
        "config": asdict(cfg),
        "encoder_spec": cfg.encoder,
        "encoder_described": encoder.describe(),
        "data": {
            "root": str(cfg.data),
            "format": train.format,
            "train_samples": min(len(train), cfg.max_samples or len(train)),
            "val_samples": len(val) if val is not None else 0,
            "fingerprint": train.fingerprint(),
        },
        "losses": {"first": round(losses[0], 5), "last": round(losses[-1], 5)} if losses else {},
    }
    if isinstance(train, SimFolder):  # which rooms trained it (room i's seed is sim.dataset.scene_seed(seed, i))
        meta = train.meta
        report["data"]["sim"] = {k: meta[k] for k in ("seed", "scenes", "frames_per_scene", "size", "preset")}
    info = HeadInfo(
        task=cfg.task,
        encoder=encoder.name,
        dim=dim,
        input_size=[int(ih), int(iw)],
        features=cfg.view,
        cls_token=cfg.cls_token,
        classes=list(train.classes) if cfg.task == "seg" else [],
        ignore_index=train.ignore_index if cfg.task == "seg" else None,
        bins={"n": DEPTH_BINS, "min": DEPTH_MIN, "max": DEPTH_MAX} if cfg.task == "depth" else None,
        training=report,
    )
    head = LinearHead(info, state)
    if val is not None:
        report["val_metrics"] = evaluate_head(
            head, val, feature_cache(val, encoder, cfg.encoder, cfg.view, cache_dir), progress
        )
    report["seconds"] = round(time.perf_counter() - t0, 1)
    head.save(out)
    ckpt.unlink(missing_ok=True)
    return head, report
