"""Inference over a test loader: predictions -> columns (rounded as result.csv) -> result.csv + frame-mAP."""
from __future__ import annotations

import json
import logging
import math
import os
import time
from typing import Mapping, Optional, Sequence

import numpy as np
import torch
from tqdm import tqdm

from ..evaluation.ava import AvaColumns, frame_map, write_csv
from ..structures.boxes import normalize_boxes
from ..utils import comm
from ..utils.progress import bar_disable
from .trainer import batch_to_device

logger = logging.getLogger(__name__)


@torch.no_grad()
def predict(model, data_loader, device: torch.device, action_thresh: float, desc: str = "inference") -> dict:
    """Run the model over ``data_loader``; returns this rank's predictions as arrays.

    ``{"indices": int64 [K], "video_ids": list[str] [K], "timestamps": int64 [K]}`` per clip (dataset index,
    keyframe) and, per kept (box, class) pair with score >= action_thresh, in clip order then box-major order:
    ``{"clip": int64 [N] (position in the clip arrays), "boxes": float32 [N, 4] normalized x1, y1, x2, y2,
    "action_ids": int64 [N] (class index + 1), "scores": float32 [N]}``.
    """
    model.eval()
    clips = {"indices": [], "video_ids": [], "timestamps": []}
    parts = {"clip": [], "boxes": [], "action_ids": [], "scores": []}
    skipped = 0
    bar = tqdm(data_loader, desc=desc, disable=bar_disable(comm.is_main_process()), dynamic_ncols=True)
    for batch in bar:
        skipped += int(batch.get("num_skipped", 0))  # undecodable clips (DATALOADER.ON_BAD_SAMPLE skip)
        if batch.get("empty"):
            continue
        batch = batch_to_device(batch, device)
        probs = model(batch["slow"], batch["fast"], batch["boxes"], batch["image_sizes"],
                      objects=batch.get("objects"))
        for p, boxes, (h, w), vid, ts, index in zip(probs, batch["boxes"], batch["image_sizes"],
                                                    batch["video_ids"], batch["timestamps"], batch["indices"]):
            norm = normalize_boxes(boxes.float().cpu(), h, w).clamp(0, 1)
            p = p.float().cpu()
            box_idx, cls = (p >= action_thresh).nonzero(as_tuple=True)   # row-major: box, then class
            parts["clip"].append(np.full(len(box_idx), len(clips["indices"]), dtype=np.int64))
            parts["boxes"].append(norm[box_idx].numpy())
            parts["action_ids"].append(cls.numpy().astype(np.int64) + 1)
            parts["scores"].append(p[box_idx, cls].numpy())
            clips["indices"].append(int(index))
            clips["video_ids"].append(str(vid))
            clips["timestamps"].append(int(ts))
    out = {k: np.concatenate(v) if v else np.zeros((0, 4) if k == "boxes" else 0) for k, v in parts.items()}
    out["indices"] = np.asarray(clips["indices"], dtype=np.int64)
    out["timestamps"] = np.asarray(clips["timestamps"], dtype=np.int64)
    out["video_ids"] = clips["video_ids"]
    out["num_skipped"] = skipped
    return out


def merge_predictions(parts: Sequence[dict], dataset_size: Optional[int] = None) -> AvaColumns:
    """Predictions of all ranks -> :class:`AvaColumns` in dataset-index order (so the rows, and the ties
    they decide at the 50-per-frame cap, do not depend on the world size), rounded as ``result.csv`` holds them.

    A clip seen by two ranks (a padding sampler) is kept once; a missing clip raises, when ``dataset_size``
    is given.
    """
    indices = np.concatenate([p["indices"] for p in parts])
    clip_offset = np.cumsum([0] + [len(p["indices"]) for p in parts])[:-1]
    clip = np.concatenate([p["clip"] + off for p, off in zip(parts, clip_offset)])
    video_ids = [v for p in parts for v in p["video_ids"]]
    timestamps = np.concatenate([p["timestamps"] for p in parts])
    unique, first = np.unique(indices, return_index=True)   # sorted by dataset index; first copy of each
    skipped = sum(int(p.get("num_skipped", 0)) for p in parts)
    if skipped:
        logger.warning("%d clips could not be decoded and were skipped (DATALOADER.ON_BAD_SAMPLE skip): their "
                       "ground truth counts as missed", skipped)
    if dataset_size is not None and (len(unique) != dataset_size - skipped
                                     or (not skipped and len(unique) and unique[-1] != dataset_size - 1)):
        raise RuntimeError(f"gathered predictions cover {len(unique)} distinct clips of {dataset_size} "
                           f"({skipped} skipped): the sampler lost clips; every dataset index must reach "
                           "exactly one rank")
    if len(unique) != len(indices):
        logger.warning("%d clips were predicted twice (a padding sampler); each is kept once",
                       len(indices) - len(unique))
    clip_rank = np.full(len(indices), -1, dtype=np.int64)
    clip_rank[first] = np.arange(len(first))
    keep = np.flatnonzero(clip_rank[clip] >= 0)
    order = keep[np.argsort(clip_rank[clip[keep]], kind="stable")]   # clip order, rows in order inside a clip
    names = {}
    clip_video = np.array([names.setdefault(video_ids[i], len(names)) for i in first.tolist()], dtype=np.int64)
    row_clip = clip_rank[clip[order]]
    columns = AvaColumns(
        list(names), clip_video[row_clip] if len(row_clip) else np.zeros(0, np.int64),
        timestamps[first][row_clip] if len(row_clip) else np.zeros(0, np.int64),
        np.concatenate([p["boxes"] for p in parts]).astype(np.float64)[order],
        np.concatenate([p["action_ids"] for p in parts])[order],
        np.concatenate([p["scores"] for p in parts]).astype(np.float64)[order])
    return columns.rounded(5)


def inference(model, data_loader, dataset_name: str, device: torch.device, output_folder: str,
              eval_file_paths: dict, action_thresh: float,
              class_groups: Optional[Mapping[str, Sequence[int]]] = None) -> dict[str, float]:
    """Predict, gather to rank 0, write ``output_folder/result.csv`` and, when the dataset has evaluation
    files, compute frame-mAP@0.5 on the in-memory predictions (written to ``result.json``).

    The predictions are rounded to the 5 decimals of ``result.csv`` before scoring, so scoring the CSV with
    ``python -m alphaction.evaluation.ava`` gives the same number bit for bit. ``class_groups`` (e.g.
    ``class_groups_from_counts(14, 49, 17)``) adds ``"mAP@0.5/<group>"`` entries.
    Returns ``{"mAP@0.5": ...[, "mAP@0.5/<group>": ...]}`` on rank 0, ``{}`` elsewhere.
    """
    start = time.perf_counter()
    preds = predict(model, data_loader, device, action_thresh, desc=f"inference {dataset_name}")
    parts = comm.all_gather_object(preds)
    n_clips = len(data_loader.dataset)
    logger.info("%s: inference on %d clips took %.1f s", dataset_name, n_clips, time.perf_counter() - start)
    if not comm.is_main_process():
        return {}
    detections = merge_predictions(parts, n_clips)
    os.makedirs(output_folder, exist_ok=True)
    csv_path = os.path.join(output_folder, "result.csv")
    write_csv(csv_path, detections)
    logger.info("%s: wrote %d detections to %s", dataset_name, len(detections), csv_path)
    if not eval_file_paths.get("csv_gt_file") or not eval_file_paths.get("labelmap_file"):
        logger.info("%s: no ground truth (eval_file_paths) in the catalog: skipping frame-mAP", dataset_name)
        return {}
    res = frame_map(eval_file_paths["csv_gt_file"], detections, eval_file_paths["labelmap_file"],
                    eval_file_paths.get("exclusion_file") or None, class_groups=class_groups)
    lines = [f"{res['class_names'][i]:>30s}: {ap:.4f}" if not math.isnan(ap) else
             f"{res['class_names'][i]:>30s}: n/a (no ground truth)" for i, ap in res["per_class"].items()]
    logger.info("%s: per-class AP@0.5\n%s", dataset_name, "\n".join(lines))
    if res["group_mAP"]:
        logger.info("%s: mAP@0.5 per class group: %s", dataset_name,
                    ", ".join(f"{g} {v:.4f}" for g, v in res["group_mAP"].items()))
    logger.info("%s: frame-mAP@0.5 = %.4f", dataset_name, res["mAP"])
    metrics = {"mAP@0.5": res["mAP"]}
    metrics.update({f"mAP@0.5/{g}": v for g, v in res["group_mAP"].items()})
    with open(os.path.join(output_folder, "result.json"), "w", encoding="utf-8") as f:
        json.dump({**metrics, "per_class_AP@0.5": {res["class_names"][i]: ap for i, ap in res["per_class"].items()},
                   "num_gt": res["num_gt"]}, f, indent=2)
    return metrics
