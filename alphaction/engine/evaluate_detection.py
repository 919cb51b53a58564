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

from ..evaluation.ava import AvaColumns, frame_map, require_groundtruth, write_csv
from ..modeling.ia import ClipMemory
from ..modeling.ia.memory_pool import MemoryPool
from ..structures.boxes import output_boxes
from ..utils import comm
from ..utils.progress import bar_disable
from .ia_memory import MemorySettings
from .trainer import batch_to_device

logger = logging.getLogger(__name__)


class _Collector:
    """Per-clip records and kept (box, class) rows of a rank's predictions, as :func:`predict` returns them."""

    def __init__(self, action_thresh: float, box_convention: str = "continuous") -> None:
        self.action_thresh = action_thresh
        self.box_convention = box_convention
        self.clips = {"indices": [], "video_ids": [], "timestamps": []}
        self.parts = {"clip": [], "boxes": [], "action_ids": [], "scores": []}
        self.skipped = 0

    def add(
        self,
        probs: Sequence,
        boxes: Sequence,
        image_sizes: Sequence,
        video_ids: Sequence,
        timestamps: Sequence,
        indices: Sequence,
        keyframe_sizes: Sequence | None = None,
    ) -> None:
        keyframe_sizes = keyframe_sizes or image_sizes
        for p, clip_boxes, (h, w), key_size, vid, ts, index in zip(
            probs, boxes, image_sizes, keyframe_sizes, video_ids, timestamps, indices
        ):
            norm = output_boxes(clip_boxes.float().cpu(), h, w, self.box_convention, key_size)
            p = p.float().cpu()
            box_idx, cls = (p >= self.action_thresh).nonzero(as_tuple=True)  # row-major: box, then class
            self.parts["clip"].append(np.full(len(box_idx), len(self.clips["indices"]), dtype=np.int64))
            self.parts["boxes"].append(norm[box_idx].numpy())
            self.parts["action_ids"].append(cls.numpy().astype(np.int64) + 1)
            self.parts["scores"].append(p[box_idx, cls].numpy())
            self.clips["indices"].append(int(index))
            self.clips["video_ids"].append(str(vid))
            self.clips["timestamps"].append(int(ts))

    def result(self) -> dict:
        out = {k: np.concatenate(v) if v else np.zeros((0, 4) if k == "boxes" else 0) for k, v in self.parts.items()}
        out["indices"] = np.asarray(self.clips["indices"], dtype=np.int64)
        out["timestamps"] = np.asarray(self.clips["timestamps"], dtype=np.int64)
        out["video_ids"] = self.clips["video_ids"]
        out["num_skipped"] = self.skipped
        return out


def _box_convention(model) -> str:
    """The pixel convention the detector's head reads its boxes in (``INPUT.BOX_CONVENTION``)."""
    model = getattr(model, "module", model)  # DDP
    heads = getattr(model, "roi_heads", None)
    return getattr(heads["action"], "box_convention", "continuous") if heads is not None else "continuous"


def _batches(data_loader, collector: _Collector, device: torch.device, desc: str):
    """The decodable batches of ``data_loader`` on ``device`` (skipped clips counted), with a rank-0 bar."""
    for batch in tqdm(data_loader, desc=desc, disable=bar_disable(comm.is_main_process()), dynamic_ncols=True):
        collector.skipped += int(batch.get("num_skipped", 0))  # undecodable clips (DATALOADER.ON_BAD_SAMPLE skip)
        if not batch.get("empty"):
            yield batch_to_device(batch, device)


@torch.no_grad()
def predict(
    model,
    data_loader,
    device: torch.device,
    action_thresh: float,
    desc: str = "inference",
    memory: MemorySettings | None = None,
) -> dict:
    """Run the model over ``data_loader``; returns this rank's predictions as arrays.

    ``{"indices": int64 [K], "video_ids": list[str] [K], "timestamps": int64 [K]}`` per clip (dataset index,
    keyframe) and, per kept (box, class) pair with score >= action_thresh, in clip order then box-major order:
    ``{"clip": int64 [N] (position in the clip arrays), "boxes": float32 [N, 4] normalized x1, y1, x2, y2,
    "action_ids": int64 [N] (class index + 1), "scores": float32 [N]}``.

    ``memory``: the memory settings of a model with IA memory blocks: two-stage inference
    (:func:`predict_with_memory`).
    """
    if memory is not None:
        return predict_with_memory(model, data_loader, device, action_thresh, memory, desc)
    model.eval()
    out = _Collector(action_thresh, _box_convention(model))
    for batch in _batches(data_loader, out, device, desc):
        probs = model(batch["slow"], batch["fast"], batch["boxes"], batch["image_sizes"], objects=batch.get("objects"))
        out.add(
            probs,
            batch["boxes"],
            batch["image_sizes"],
            batch["video_ids"],
            batch["timestamps"],
            batch["indices"],
            batch.get("keyframe_sizes"),
        )
    return out.result()


@torch.no_grad()
def predict_with_memory(
    model, data_loader, device: torch.device, action_thresh: float, settings: MemorySettings, desc: str = "inference"
) -> dict:
    """Two-stage inference of an IA model with memory blocks (AlphAction's, without rerunning the backbone).

    Stage 1 runs the backbone and ROI pooling over the whole loader, keeps every clip's pooled person and object
    features (float32, on the CPU) and puts the person features in a memory pool keyed by (video, second); the
    pools of all ranks are merged, so every rank sees the persons of the whole test set. Stage 2 classifies each
    clip from its stage-1 features and the memory of ``LENGTH`` seconds around it (``settings.test_mode``
    ``"online"``: the seconds before it only, as a streaming run would have them; ``"none"``: no other seconds, to
    measure what the memory adds). Within a crowded second the first ``MAX_PER_SEC`` persons (the dataset's box
    order) are kept, so the result is deterministic.
    """
    model.eval()
    out = _Collector(action_thresh, _box_convention(model))
    pool = MemoryPool(None, settings.half, settings.dim)  # the whole test set: no eviction at test time
    stored = []
    for batch in _batches(data_loader, out, device, f"{desc} (1/2 features)"):
        pooled = model.extract_features(
            batch["slow"], batch["fast"], batch["boxes"], batch["image_sizes"], objects=batch.get("objects")
        )
        pooled = pooled.to("cpu", torch.float32)
        pool.update(batch["video_ids"], batch["timestamps"], pooled.persons)
        stored.append(
            (
                pooled,
                [b.cpu() for b in batch["boxes"]],
                batch["image_sizes"],
                batch["video_ids"],
                batch["timestamps"],
                batch["indices"],
                batch.get("keyframe_sizes"),
            )
        )
    pool.sync(full=True)
    window = settings.window_kwargs(online=settings.test_mode == "online")
    for pooled, boxes, sizes, video_ids, timestamps, indices, keyframe_sizes in tqdm(
        stored, desc=f"{desc} (2/2 memory)", disable=bar_disable(comm.is_main_process()), dynamic_ncols=True
    ):
        if settings.test_mode == "none":  # what the memory adds: the M blocks see only the clip's own persons
            memory = [ClipMemory.empty(settings.dim, device=device) for _ in video_ids]
        else:
            memory = pool.windows(video_ids, timestamps, device=device, **window)
        probs = model.predict_from_features(pooled.to(device), memory)
        out.add(probs, boxes, sizes, video_ids, timestamps, indices, keyframe_sizes)
    return out.result()


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
    unique, first = np.unique(indices, return_index=True)  # sorted by dataset index; first copy of each
    skipped = sum(int(p.get("num_skipped", 0)) for p in parts)
    if skipped:
        logger.warning(
            "%d clips could not be decoded and were skipped (DATALOADER.ON_BAD_SAMPLE skip): their "
            "ground truth counts as missed",
            skipped,
        )
    if dataset_size is not None and (
        len(unique) != dataset_size - skipped or (not skipped and len(unique) and unique[-1] != dataset_size - 1)
    ):
        raise RuntimeError(
            f"gathered predictions cover {len(unique)} distinct clips of {dataset_size} "
            f"({skipped} skipped): the sampler lost clips; every dataset index must reach "
            "exactly one rank"
        )
    if len(unique) != len(indices):
        logger.warning(
            "%d clips were predicted twice (a padding sampler); each is kept once", len(indices) - len(unique)
        )
    clip_rank = np.full(len(indices), -1, dtype=np.int64)
    clip_rank[first] = np.arange(len(first))
    keep = np.flatnonzero(clip_rank[clip] >= 0)
    order = keep[np.argsort(clip_rank[clip[keep]], kind="stable")]  # clip order, rows in order inside a clip
    names = {}
    clip_video = np.array([names.setdefault(video_ids[i], len(names)) for i in first.tolist()], dtype=np.int64)
    row_clip = clip_rank[clip[order]]
    columns = AvaColumns(
        list(names),
        clip_video[row_clip] if len(row_clip) else np.zeros(0, np.int64),
        timestamps[first][row_clip] if len(row_clip) else np.zeros(0, np.int64),
        np.concatenate([p["boxes"] for p in parts]).astype(np.float64)[order],
        np.concatenate([p["action_ids"] for p in parts])[order],
        np.concatenate([p["scores"] for p in parts]).astype(np.float64)[order],
    )
    return columns.rounded(5)


def inference(
    model,
    data_loader,
    dataset_name: str,
    device: torch.device,
    output_folder: str,
    eval_file_paths: dict,
    action_thresh: float,
    class_groups: Optional[Mapping[str, Sequence[int]]] = None,
    memory: MemorySettings | None = None,
) -> dict[str, float]:
    """Predict, gather to rank 0, write ``output_folder/result.csv`` and, when the dataset has evaluation
    files, compute frame-mAP@0.5 on the in-memory predictions (written to ``result.json``).

    The predictions are rounded to the 5 decimals of ``result.csv`` before scoring, so scoring the CSV with
    ``python -m alphaction.evaluation.ava`` gives the same number bit for bit. ``class_groups`` (e.g.
    ``class_groups_from_counts(14, 49, 17)``) adds ``"mAP@0.5/<group>"`` entries. ``memory``: the memory
    settings of an IA model with memory blocks (two-stage inference).
    Returns ``{"mAP@0.5": ...[, "mAP@0.5/<group>": ...]}`` on rank 0, ``{}`` elsewhere.
    """
    start = time.perf_counter()
    preds = predict(model, data_loader, device, action_thresh, desc=f"inference {dataset_name}", memory=memory)
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
    res = frame_map(
        eval_file_paths["csv_gt_file"],
        detections,
        eval_file_paths["labelmap_file"],
        eval_file_paths.get("exclusion_file") or None,
        class_groups=class_groups,
    )
    require_groundtruth(res, eval_file_paths["csv_gt_file"])
    lines = [
        f"{res['class_names'][i]:>30s}: {ap:.4f}"
        if not math.isnan(ap)
        else f"{res['class_names'][i]:>30s}: n/a (no ground truth)"
        for i, ap in res["per_class"].items()
    ]
    logger.info("%s: per-class AP@0.5\n%s", dataset_name, "\n".join(lines))
    if res["group_mAP"]:
        logger.info(
            "%s: mAP@0.5 per class group: %s",
            dataset_name,
            ", ".join(f"{g} {v:.4f}" for g, v in res["group_mAP"].items()),
        )
    logger.info("%s: frame-mAP@0.5 = %.4f", dataset_name, res["mAP"])
    metrics = {"mAP@0.5": res["mAP"]}
    metrics.update({f"mAP@0.5/{g}": v for g, v in res["group_mAP"].items()})
    with open(os.path.join(output_folder, "result.json"), "w", encoding="utf-8") as f:
        json.dump(
            {
                **metrics,
                "per_class_AP@0.5": {res["class_names"][i]: ap for i, ap in res["per_class"].items()},
                "num_gt": res["num_gt"],
            },
            f,
            indent=2,
        )
    return metrics
