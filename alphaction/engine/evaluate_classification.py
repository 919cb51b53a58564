"""Clip-classification inference: view-averaged scores, metrics, and the files of ``OUTPUT_DIR/inference/<name>/``.

Files: ``predictions.csv`` (sample, label, prediction, top-5 classes and scores), ``confusion_matrix.csv``
and ``confusion_matrix.png`` (single-label; the image coloured by row-normalised counts) and ``metrics.json``;
the per-class table goes to the log.
"""

from __future__ import annotations

import csv
import json
import logging
import os
import time

import numpy as np
import torch
from tqdm import tqdm

from ..evaluation.classification import classification_metrics, multilabel_map, per_class_table, write_confusion_csv
from ..evaluation.confusion_image import write_confusion_png
from ..utils import comm
from ..utils.progress import bar_disable
from .trainer import batch_to_device

logger = logging.getLogger(__name__)


@torch.no_grad()
def clip_scores(
    model, slow: torch.Tensor, fast: torch.Tensor, views: int, image_sizes: list[tuple[int, int]] | None = None
) -> np.ndarray:
    """Probabilities of the samples of a batch, float64 ``[B, K]``: the mean over each sample's ``views``
    consecutive rows of ``slow [B*V, 3, T, H, W]`` / ``fast`` (clips x crops). The model is in eval mode.

    ``image_sizes`` (``(h, w)`` per row, as ``collate_clips`` gives them): rows of different sizes are run in
    groups of one size each, without the batch's zero padding, so that a clip's scores never depend on what
    else is in its batch (the padding would enter the global average pool).
    """
    if image_sizes is None or len(set(image_sizes)) == 1:
        if image_sizes:  # one size: cut the padding to the size divisibility away too
            h, w = image_sizes[0]
            slow, fast = slow[..., :h, :w], fast[..., :h, :w]
        probs = model(slow, fast).float().cpu()
    else:
        probs = None
        for size in dict.fromkeys(image_sizes):
            rows = [i for i, s in enumerate(image_sizes) if s == size]
            index = torch.tensor(rows, device=slow.device)
            part = model(slow[index][..., : size[0], : size[1]], fast[index][..., : size[0], : size[1]]).float().cpu()
            if probs is None:
                probs = part.new_zeros(len(image_sizes), part.shape[-1])
            probs[rows] = part
    return probs.view(-1, views, probs.shape[-1]).mean(dim=1).double().numpy()


@torch.no_grad()
def predict_clips(model, data_loader, device: torch.device, desc: str = "inference") -> dict:
    """This rank's ``{"indices": int64 [N], "video_ids": [N], "scores": float64 [N, K], "labels": [N] or
    [N, K]}``; the scores of a sample are the mean of its views' probabilities (clips x crops)."""
    model.eval()
    out = {"indices": [], "video_ids": [], "scores": [], "labels": []}
    for batch in tqdm(data_loader, desc=desc, disable=bar_disable(comm.is_main_process()), dynamic_ncols=True):
        views = int(batch["num_views"])
        batch = batch_to_device(batch, device)
        out["scores"].append(clip_scores(model, batch["slow"], batch["fast"], views, batch.get("image_sizes")))
        out["labels"].append(batch["labels"].cpu().numpy())
        out["indices"] += [int(i) for i in batch["indices"]]
        out["video_ids"] += [str(v) for v in batch["video_ids"]]
    return {
        "indices": np.asarray(out["indices"], np.int64),
        "video_ids": out["video_ids"],
        "scores": np.concatenate(out["scores"]) if out["scores"] else np.zeros((0, 0)),
        "labels": np.concatenate(out["labels"]) if out["labels"] else np.zeros(0, np.int64),
    }


def merge_clip_predictions(parts: list[dict], dataset_size: int | None = None) -> dict:
    """Predictions of all ranks in dataset-index order, each sample once."""
    parts = [p for p in parts if len(p["indices"])]
    indices = np.concatenate([p["indices"] for p in parts])
    unique, first = np.unique(indices, return_index=True)
    if dataset_size is not None and len(unique) != dataset_size:
        raise RuntimeError(f"gathered predictions cover {len(unique)} of {dataset_size} samples")
    video_ids = [v for p in parts for v in p["video_ids"]]
    return {
        "indices": unique,
        "video_ids": [video_ids[i] for i in first],
        "scores": np.concatenate([p["scores"] for p in parts])[first],
        "labels": np.concatenate([p["labels"] for p in parts])[first],
    }


def validation_loss(scores: np.ndarray, labels: np.ndarray, multi_label: bool) -> float:
    """Cross-entropy (or binary cross-entropy) of the view-averaged probabilities."""
    p = np.clip(scores, 1e-7, 1 - 1e-7)
    if multi_label:
        return float(-(labels * np.log(p) + (1 - labels) * np.log(1 - p)).mean())
    return float(-np.log(p[np.arange(len(labels)), labels.astype(np.int64)]).mean())


def _write_predictions(path: str, preds: dict, class_names: list[str], multi_label: bool) -> None:
    k = min(5, preds["scores"].shape[1])
    top = np.argsort(-preds["scores"], axis=1, kind="stable")[:, :k]
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(
            ["sample", "label", "prediction"] + [c for i in range(k) for c in (f"top{i + 1}", f"score{i + 1}")]
        )
        for vid, lab, row, scores in zip(preds["video_ids"], preds["labels"], top, preds["scores"]):
            label = ";".join(class_names[c] for c in np.flatnonzero(lab)) if multi_label else class_names[int(lab)]
            writer.writerow(
                [vid, label, class_names[row[0]]] + [v for c in row for v in (class_names[c], f"{scores[c]:.5f}")]
            )


def inference_classification(
    model, data_loader, dataset_name: str, device: torch.device, output_folder: str, multi_label: bool = False
) -> dict[str, float]:
    """Predict, gather to rank 0, score and write the files. Returns the scalar metrics on rank 0 (``top1``,
    ``top5``, ``mean_class_accuracy``, ``{precision,recall,f1}_{macro,weighted}``, ``val_loss``; multi-label:
    ``mAP`` and ``val_loss``), ``{}`` elsewhere."""
    start = time.perf_counter()
    preds = predict_clips(model, data_loader, device, desc=f"inference {dataset_name}")
    parts = comm.all_gather_object(preds)
    dataset = data_loader.dataset
    logger.info("%s: inference on %d samples took %.1f s", dataset_name, len(dataset), time.perf_counter() - start)
    if not comm.is_main_process():
        return {}
    preds = merge_clip_predictions(parts, len(dataset))
    names = list(getattr(dataset, "class_names", [])) or [str(i) for i in range(preds["scores"].shape[1])]
    os.makedirs(output_folder, exist_ok=True)
    _write_predictions(os.path.join(output_folder, "predictions.csv"), preds, names, multi_label)
    loss = validation_loss(preds["scores"], preds["labels"], multi_label)
    if multi_label:
        res = multilabel_map(preds["scores"], preds["labels"])
        metrics = {"mAP": res["mAP"], "val_loss": loss}
        extra = {"per_class_AP": {n: (None if np.isnan(a) else float(a)) for n, a in zip(names, res["per_class_AP"])}}
        logger.info("%s: mAP = %.4f, val_loss = %.4f", dataset_name, res["mAP"], loss)
    else:
        res = classification_metrics(preds["scores"], preds["labels"])
        metrics = {k: v for k, v in res.items() if k not in ("confusion", "per_class")}
        metrics["val_loss"] = loss
        write_confusion_csv(os.path.join(output_folder, "confusion_matrix.csv"), res["confusion"], names)
        write_confusion_png(os.path.join(output_folder, "confusion_matrix.png"), res["confusion"], names)
        extra = {
            "per_class": {
                n: {k: float(res["per_class"][k][i]) for k in ("precision", "recall", "f1", "support")}
                for i, n in enumerate(names)
            }
        }
        logger.info("%s: per-class scores\n%s", dataset_name, per_class_table(res["per_class"], names))
        logger.info(
            "%s: top1 = %.4f, top5 = %.4f, mean class accuracy = %.4f, macro P/R/F1 = %.4f / %.4f / "
            "%.4f, weighted F1 = %.4f, val_loss = %.4f",
            dataset_name,
            metrics["top1"],
            metrics["top5"],
            metrics["mean_class_accuracy"],
            metrics["precision_macro"],
            metrics["recall_macro"],
            metrics["f1_macro"],
            metrics["f1_weighted"],
            loss,
        )
    with open(os.path.join(output_folder, "metrics.json"), "w", encoding="utf-8") as f:
        json.dump({**metrics, "num_samples": len(preds["indices"]), **extra}, f, indent=2)
    return metrics
