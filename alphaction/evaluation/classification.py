"""Clip-classification metrics: top-k accuracy, mean class accuracy, macro / weighted precision, recall and F1,
a per-class table, the confusion matrix (CSV), and mAP for multi-label sets.

Conventions follow scikit-learn: confusion rows are true classes, columns predicted classes; a class with no
predictions has precision 0 and one with no samples recall 0 (``zero_division=0``); macro averages run over the
classes that occur in the labels or the predictions; weighted averages weight each class by its support.
All values are fractions in ``[0, 1]``.
"""

from __future__ import annotations

import csv
import os
from typing import Sequence

import numpy as np

__all__ = [
    "confusion_matrix",
    "per_class_scores",
    "topk_accuracy",
    "classification_metrics",
    "average_precision",
    "multilabel_map",
    "per_class_table",
    "write_confusion_csv",
]


def confusion_matrix(labels: np.ndarray, preds: np.ndarray, num_classes: int) -> np.ndarray:
    """int64 ``[K, K]``: entry ``(t, p)`` counts samples of true class ``t`` predicted as ``p``."""
    labels, preds = np.asarray(labels, np.int64), np.asarray(preds, np.int64)
    return np.bincount(labels * num_classes + preds, minlength=num_classes * num_classes).reshape(
        num_classes, num_classes
    )


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    return np.divide(num, den, out=np.zeros(len(num), np.float64), where=den > 0)


def per_class_scores(cm: np.ndarray) -> dict[str, np.ndarray]:
    """Per-class ``precision``, ``recall``, ``f1`` (float64 ``[K]``) and ``support`` (int64 ``[K]``) of ``cm``."""
    tp = np.diag(cm).astype(np.float64)
    support = cm.sum(axis=1)
    predicted = cm.sum(axis=0)
    precision, recall = _ratio(tp, predicted.astype(np.float64)), _ratio(tp, support.astype(np.float64))
    f1 = _ratio(2 * precision * recall, precision + recall)
    return {"precision": precision, "recall": recall, "f1": f1, "support": support, "predicted": predicted}


def topk_accuracy(scores: np.ndarray, labels: np.ndarray, k: int) -> float:
    """Fraction of samples whose label is among the ``k`` highest scores (ties: the lower class index first)."""
    scores, labels = np.asarray(scores), np.asarray(labels, np.int64)
    if len(labels) == 0:
        return float("nan")
    k = min(k, scores.shape[1])
    top = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    return float((top == labels[:, None]).any(axis=1).mean())


def classification_metrics(scores: np.ndarray, labels: np.ndarray) -> dict:
    """Metrics of single-label predictions.

    Args:
        scores: float ``[N, K]`` class scores (probabilities or logits; the argmax is the prediction).
        labels: int ``[N]`` true classes.
    Returns:
        ``{"top1", "top5", "mean_class_accuracy", "precision_macro", "recall_macro", "f1_macro",
        "precision_weighted", "recall_weighted", "f1_weighted"}`` floats, plus ``"confusion"`` (``[K, K]``) and
        ``"per_class"`` (:func:`per_class_scores`).
    """
    scores, labels = np.asarray(scores, np.float64), np.asarray(labels, np.int64)
    num_classes = scores.shape[1]
    preds = np.argmax(scores, axis=1)
    cm = confusion_matrix(labels, preds, num_classes)
    pc = per_class_scores(cm)
    present = (pc["support"] > 0) | (pc["predicted"] > 0)
    support = pc["support"].astype(np.float64)
    total = support.sum()
    out = {
        "top1": topk_accuracy(scores, labels, 1),
        "top5": topk_accuracy(scores, labels, 5),
        "mean_class_accuracy": float(pc["recall"][pc["support"] > 0].mean()) if total else float("nan"),
    }
    for name in ("precision", "recall", "f1"):
        out[f"{name}_macro"] = float(pc[name][present].mean()) if present.any() else float("nan")
        out[f"{name}_weighted"] = float((pc[name] * support).sum() / total) if total else float("nan")
    out["confusion"], out["per_class"] = cm, pc
    return out


def average_precision(scores: np.ndarray, targets: np.ndarray) -> float:
    """AP of one class: the mean precision at the rank of each positive (scikit-learn's
    ``average_precision_score``; tied scores are grouped); NaN without positives."""
    scores, targets = np.asarray(scores, np.float64), np.asarray(targets) > 0
    positives = int(targets.sum())
    if positives == 0:
        return float("nan")
    order = np.argsort(-scores, kind="stable")
    s, t = scores[order], targets[order]
    tp, fp = np.cumsum(t), np.cumsum(~t)
    last = np.r_[np.flatnonzero(np.diff(s)), len(s) - 1]  # last index of each group of equal scores
    precision, recall = tp[last] / (tp[last] + fp[last]), tp[last] / positives
    return float(np.sum(np.diff(np.r_[0.0, recall]) * precision))


def multilabel_map(scores: np.ndarray, targets: np.ndarray) -> dict:
    """``{"mAP": mean AP over the classes with positives, "per_class_AP": [K] (NaN without positives)}``."""
    scores, targets = np.asarray(scores), np.asarray(targets)
    aps = np.array([average_precision(scores[:, c], targets[:, c]) for c in range(scores.shape[1])])
    valid = ~np.isnan(aps)
    return {"mAP": float(aps[valid].mean()) if valid.any() else float("nan"), "per_class_AP": aps}


def per_class_table(per_class: dict, class_names: Sequence[str]) -> str:
    """A fixed-width table: class, precision, recall, F1, support."""
    width = max([len("class")] + [len(n) for n in class_names])
    lines = [f"{'class':>{width}s}  precision  recall      f1  support"]
    for i, name in enumerate(class_names):
        lines.append(
            f"{name:>{width}s}  {per_class['precision'][i]:9.4f}  {per_class['recall'][i]:6.4f}  "
            f"{per_class['f1'][i]:6.4f}  {int(per_class['support'][i]):7d}"
        )
    return "\n".join(lines)


def write_confusion_csv(path: str, cm: np.ndarray, class_names: Sequence[str]) -> None:
    """``cm`` as CSV: a header ``true\\pred,<names...>``, then one row per true class."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["true\\pred", *class_names])
        for name, row in zip(class_names, cm):
            writer.writerow([name, *[int(v) for v in row]])
