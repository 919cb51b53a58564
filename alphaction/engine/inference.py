"""Inference over a test loader: predictions -> AVA result.csv -> frame-mAP."""
from __future__ import annotations

import json
import logging
import math
import os
import time

import torch
from tqdm import tqdm

from ..evaluation.ava import frame_map, write_csv
from ..structures.boxes import normalize_boxes
from ..utils import comm
from .trainer import batch_to_device

logger = logging.getLogger(__name__)


@torch.no_grad()
def predict(model, data_loader, device: torch.device, action_thresh: float, desc: str = "inference") -> list[tuple]:
    """Run the model over ``data_loader``; returns this rank's AVA rows
    ``(video_id, timestamp, x1, y1, x2, y2, action_id, score)`` with normalized boxes and score >= action_thresh."""
    model.eval()
    rows: list[tuple] = []
    bar = tqdm(data_loader, desc=desc, disable=not comm.is_main_process(), dynamic_ncols=True)
    for batch in bar:
        batch = batch_to_device(batch, device)
        probs = model(batch["slow"], batch["fast"], batch["boxes"], batch["image_sizes"],
                      objects=batch.get("objects"))
        for p, boxes, (h, w), vid, ts in zip(probs, batch["boxes"], batch["image_sizes"],
                                             batch["video_ids"], batch["timestamps"]):
            norm = normalize_boxes(boxes.float().cpu(), h, w).clamp(0, 1).tolist()
            p = p.float().cpu()
            keep = (p >= action_thresh).nonzero().tolist()
            for box_idx, cls in keep:
                rows.append((vid, int(ts), *norm[box_idx], cls + 1, float(p[box_idx, cls])))
    return rows


def inference(model, data_loader, dataset_name: str, device: torch.device, output_folder: str,
              eval_file_paths: dict, action_thresh: float) -> dict[str, float]:
    """Predict, gather to rank 0, write ``output_folder/result.csv`` and, when the dataset has evaluation
    files, compute frame-mAP@0.5 (written to ``result.json``). Returns ``{"mAP@0.5": ...}`` on rank 0."""
    start = time.perf_counter()
    rows = predict(model, data_loader, device, action_thresh, desc=f"inference {dataset_name}")
    all_rows = [r for part in comm.all_gather_object(rows) for r in part]
    n_clips = len(data_loader.dataset)
    logger.info("%s: inference on %d clips took %.1f s", dataset_name, n_clips, time.perf_counter() - start)
    if not comm.is_main_process():
        return {}
    os.makedirs(output_folder, exist_ok=True)
    csv_path = os.path.join(output_folder, "result.csv")
    write_csv(csv_path, all_rows)
    logger.info("%s: wrote %d detections to %s", dataset_name, len(all_rows), csv_path)
    if not eval_file_paths.get("csv_gt_file") or not eval_file_paths.get("labelmap_file"):
        logger.info("%s: no ground truth (eval_file_paths) in the catalog: skipping frame-mAP", dataset_name)
        return {}
    # score the file we wrote (5-decimal scores), exactly what an official submission would be scored on
    res = frame_map(eval_file_paths["csv_gt_file"], csv_path, eval_file_paths["labelmap_file"],
                    eval_file_paths.get("exclusion_file") or None)
    lines = [f"{name:>30s}: {ap:.4f}" if not math.isnan(ap) else f"{name:>30s}: n/a (no ground truth)"
             for name, ap in res["per_class"].items()]
    logger.info("%s: per-class AP@0.5\n%s", dataset_name, "\n".join(lines))
    logger.info("%s: frame-mAP@0.5 = %.4f", dataset_name, res["mAP"])
    with open(os.path.join(output_folder, "result.json"), "w", encoding="utf-8") as f:
        json.dump({"mAP@0.5": res["mAP"], "per_class_AP@0.5": res["per_class"]}, f, indent=2)
    return {"mAP@0.5": res["mAP"]}
