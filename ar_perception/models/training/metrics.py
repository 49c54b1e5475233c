"""Segmentation and depth metrics, computed at the image's own resolution on labelled pixels only.

Segmentation (as mmsegmentation computes them): one confusion matrix over every labelled pixel of the
split; IoU of a class = TP / (TP + FP + FN); mIoU = the mean IoU over the classes that occur in the
ground truth or in the prediction (a class predicted but absent scores 0), leaving out the "no label"
class; pixel accuracy = correct / labelled pixels.

Depth (as the NYU-v2 benchmark computes them, Eigen et al. 2014): per image, over pixels whose ground
truth is finite and within the head's range [0.001, 10] m: RMSE = sqrt(mean (d - d*)^2) in metres,
AbsRel = mean |d - d*| / d*, delta1 = fraction with max(d / d*, d* / d) < 1.25; each averaged over
images. No crop; no median scaling unless asked (`median_scale`: each prediction times median(truth) /
median(prediction), so that shape error shows apart from metric scale): the prediction is the head's metric
depth, upsampled to the image.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ar_perception.models.heads import DEPTH_MAX, DEPTH_MIN
from ar_perception.models.training.datasets import IGNORE

__all__ = ["SegMetrics", "DepthMetrics"]


class SegMetrics:
    """Accumulates a confusion matrix; `result()` gives miou, pixel_acc and per-class IoU."""

    def __init__(self, classes: list[str], ignore_index: int | None = None):
        self.classes = list(classes)
        self.ignore_index = ignore_index
        k = len(self.classes)
        self.confusion = np.zeros((k, k), dtype=np.int64)  # rows: ground truth, columns: prediction
        self.images = 0

    def update(self, pred: np.ndarray, gt: np.ndarray) -> None:
        if pred.shape != gt.shape:
            raise ValueError(f"prediction {pred.shape} and ground truth {gt.shape} differ in size")
        k = len(self.classes)
        valid = (gt >= 0) & (gt < k) & (gt != IGNORE)
        if self.ignore_index is not None:
            valid &= gt != self.ignore_index
        g = gt[valid].astype(np.int64)
        p = np.clip(pred[valid].astype(np.int64), 0, k - 1)
        self.confusion += np.bincount(g * k + p, minlength=k * k).reshape(k, k)
        self.images += 1

    def result(self) -> dict[str, Any]:
        c = self.confusion
        tp = np.diag(c).astype(np.float64)
        union = c.sum(0) + c.sum(1) - tp
        scored = union > 0
        if self.ignore_index is not None and 0 <= self.ignore_index < len(self.classes):
            scored[self.ignore_index] = False
        iou = np.divide(tp, union, out=np.zeros_like(tp), where=union > 0)
        total = int(c.sum())
        return {
            "miou": float(iou[scored].mean()) if scored.any() else float("nan"),
            "pixel_acc": float(tp.sum() / total) if total else float("nan"),
            "per_class_iou": {self.classes[i]: round(float(iou[i]), 4) for i in np.flatnonzero(scored)},
            "images": self.images,
            "pixels": total,
        }


class DepthMetrics:
    """Per-image RMSE, AbsRel and delta<1.25, averaged over images by `result()`."""

    def __init__(self, dmin: float = DEPTH_MIN, dmax: float = DEPTH_MAX, *, median_scale: bool = False):
        self.dmin, self.dmax = dmin, dmax
        self.median_scale = median_scale  # scale each prediction by median(truth) / median(prediction) first
        self.rows: list[tuple[float, float, float]] = []
        self.scales: list[float] = []
        self.pixels = 0

    def update(self, pred: np.ndarray, gt: np.ndarray) -> None:
        if pred.shape != gt.shape:
            raise ValueError(f"prediction {pred.shape} and ground truth {gt.shape} differ in size")
        valid = np.isfinite(gt) & (gt >= self.dmin) & (gt <= self.dmax)
        if not valid.any():
            return
        g = gt[valid].astype(np.float64)
        p = np.maximum(pred[valid].astype(np.float64), self.dmin)
        if self.median_scale:  # shape error alone: the metric scale taken from the truth (Eigen et al. 2014)
            scale = float(np.median(g) / np.median(p))
            self.scales.append(scale)
            p = p * scale
        err = p - g
        ratio = np.maximum(p / g, g / p)
        rmse, absrel, delta1 = np.sqrt(np.mean(err**2)), np.mean(np.abs(err) / g), np.mean(ratio < 1.25)
        self.rows.append((float(rmse), float(absrel), float(delta1)))
        self.pixels += int(valid.sum())

    def result(self) -> dict[str, Any]:
        a = np.asarray(self.rows, dtype=np.float64).reshape(-1, 3)
        mean = a.mean(axis=0) if len(a) else np.full(3, np.nan)
        return {
            "rmse": float(mean[0]),
            "absrel": float(mean[1]),
            "delta1": float(mean[2]),
            "images": len(a),
            "pixels": self.pixels,
            **({"median_scale": float(np.median(self.scales))} if self.scales else {}),
        }
