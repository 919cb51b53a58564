"""AVA frame-mAP@0.5, the ActivityNet protocol (``get_ava_performance.py``), written from its description.

Steps, in the order the official code applies them:

1. Rows whose action id is not in the label map are dropped, before anything else (they use no cap slot).
2. Per frame key, entries ``(score, action_id, y1, x1, y2, x2)`` go through a min-heap of capacity 50
   (detections) or unlimited (GT): while the heap holds fewer than 50 entries every entry is pushed; after
   that an entry replaces the heap minimum only if its score is **strictly** greater than the minimum score.
   So at the 50th-score boundary earlier rows win over later rows with an equal score, and a higher score
   evicts the smallest *tuple* (lowest score, then lowest action id, then y1, x1, y2, x2). Each frame's
   entries are then stably sorted by descending score from the heap's array order. Frames whose outcome the
   scores alone decide are handled with numpy sorts; the others (a score tie at the cap boundary, or two
   entries of one class with one score) are replayed through ``heapq`` as the official reader does, so ties
   resolve as there. For GT the "score" is the 8th column (the person id; 1.0 for 7 columns); it only
   orders the GT boxes, which matters for exact IoU ties.
3. Frames in the exclusion list are dropped from GT and detections.
4. Detection boxes with ``x1 >= x2`` or ``y1 >= y2`` are dropped -- *after* the cap, so they use cap slots.
5. Per frame and class, detections in that order each take their highest-IoU GT box of the same class (first
   one on ties; continuous coordinates, no +1): TP if IoU >= 0.5 and the box is not yet taken, else FP.
   The box list of a class in a frame is every GT row of that class in the frame: the same box under several
   actions is a separate box in each class, and a duplicated (box, action) row is two boxes there; as every
   detection's argmax picks the first copy, the second copy can never be matched and only lowers recall.
   Detections on frames without GT of their class are FPs.
6. Per class, TP flags are pooled over frames in first-appearance order and ordered with
   ``np.argsort(scores)[::-1]`` like the official code (so ties among equal scores follow numpy's default
   sort, as there); cumulative TP/FP give precision and recall (over the class's GT count); AP is VOC
   all-point AP with precision made monotone from the right. A class with GT but no detections has AP 0;
   a class without GT has AP NaN and is left out of the mean.
"""
from __future__ import annotations

import heapq
import logging
import math
import os
import time
import warnings
from typing import Iterable, Mapping, Sequence, Union

import numpy as np

from .formats import AvaColumns, frame_key, read_csv_columns, read_exclusions, read_labelmap

logger = logging.getLogger(__name__)

PathLike = Union[str, "os.PathLike[str]"]


def frame_map(
    gt: Union[PathLike, Sequence[Sequence]],
    detections: Union[PathLike, Sequence[Sequence]],
    labelmap: Union[PathLike, Mapping[int, str]],
    exclusions: Union[PathLike, Iterable, None] = None,
    *,
    iou_threshold: float = 0.5,
    max_detections_per_frame: int = 50,
) -> dict:
    """Frame-level mAP of AVA action detections, as the official ActivityNet evaluation computes it.

    Args:
        gt: GT CSV path, or rows ``(video_id, timestamp, x1, y1, x2, y2, action_id[, person_id])``.
        detections: detection CSV path, or rows ``(..., action_id[, score])``; a missing or ``None`` score is 1.0.
        labelmap: ``.pbtxt`` path or ``{action_id: name}``; only these ids are evaluated.
        exclusions: excluded-timestamps CSV path, or an iterable of frame keys ``"vid,0902"`` or
            ``(video_id, timestamp)`` pairs; these frames are dropped from GT and detections.
        iou_threshold: IoU needed for a true positive (official: 0.5).
        max_detections_per_frame: the per-frame cap (official: 50; 0 = no cap).

    Returns:
        ``{"mAP": float, "per_class": {name: AP}, "num_gt": {name: int}, "num_detections": {name: int},
        "num_true_positives": {name: int}, "class_ids": {name: action_id}}``; classes in ascending id order.
        ``per_class`` holds NaN for classes without GT, which ``mAP`` (a nanmean) leaves out; ``mAP`` is NaN
        when no class has GT. The official names are ``PascalBoxes_Precision/mAP@0.5IOU`` for ``mAP`` and
        ``PascalBoxes_PerformanceByCategory/AP@0.5IOU/<name>`` for ``per_class``.
    """
    start = time.perf_counter()
    if not isinstance(labelmap, Mapping):
        labelmap = read_labelmap(labelmap)
    class_ids = np.array(sorted(labelmap), dtype=np.int64)
    names = [labelmap[int(i)] for i in class_ids]
    if len(set(names)) != len(names):
        dup = sorted({n for n in names if names.count(n) > 1})
        raise ValueError(f"label map names must be unique to key the result, repeated: {dup}")
    excluded = _excluded_keys(exclusions)
    gt = _as_columns(gt)
    detections = _as_columns(detections)

    # One frame index for GT and detections, so that (frame, class) groups line up.
    (gt_fid, det_fid), frame_keys = _index_frames([gt, detections])
    is_excluded = np.fromiter((k in excluded for k in frame_keys), dtype=bool, count=len(frame_keys))

    gt_frame, gt_entries = _official_selection(gt, gt_fid, class_ids, is_excluded, frame_keys, 0, "GT")
    det_frame, det_entries = _official_selection(
        detections, det_fid, class_ids, is_excluded, frame_keys, max_detections_per_frame, "detection")
    # entries columns: score, action_id, y1, x1, y2, x2
    gt_boxes = gt_entries[:, 2:6]
    bad = (gt_boxes[:, 0] > gt_boxes[:, 2]) | (gt_boxes[:, 1] > gt_boxes[:, 3])
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ValueError(f"GT box with x1 > x2 or y1 > y2 in frame {frame_keys[gt_frame[i]]}: "
                         f"(y1, x1, y2, x2) = {tuple(gt_boxes[i])}; the official evaluator rejects it too")

    det_boxes = det_entries[:, 2:6]
    valid = (det_boxes[:, 0] < det_boxes[:, 2]) & (det_boxes[:, 1] < det_boxes[:, 3])
    det_entries, det_frame = det_entries[valid], det_frame[valid]

    num_classes = len(class_ids)
    gt_cls = np.searchsorted(class_ids, gt_entries[:, 1].astype(np.int64))
    det_cls = np.searchsorted(class_ids, det_entries[:, 1].astype(np.int64))
    is_tp = _label_true_positives(
        det_frame * num_classes + det_cls, det_entries[:, 2:6],
        gt_frame * num_classes + gt_cls, gt_entries[:, 2:6], iou_threshold)

    num_gt = np.bincount(gt_cls, minlength=num_classes)
    num_det = np.bincount(det_cls, minlength=num_classes)
    num_tp = np.bincount(det_cls[is_tp], minlength=num_classes)
    ap = _per_class_ap(det_cls, det_entries[:, 0], is_tp, num_gt)

    result = {
        "mAP": _official_nanmean(ap, class_ids),
        "per_class": {n: float(a) for n, a in zip(names, ap)},
        "num_gt": {n: int(v) for n, v in zip(names, num_gt)},
        "num_detections": {n: int(v) for n, v in zip(names, num_det)},
        "num_true_positives": {n: int(v) for n, v in zip(names, num_tp)},
        "class_ids": {n: int(i) for n, i in zip(names, class_ids)},
    }
    logger.info("AVA frame-mAP@%.2f = %.4f (%d GT boxes in %d frames, %d detections in %d frames, %.2fs)",
                iou_threshold, result["mAP"], len(gt_entries), len(np.unique(gt_frame)), len(det_entries),
                len(np.unique(det_frame)), time.perf_counter() - start)
    return result


def _is_path(x) -> bool:
    return isinstance(x, (str, os.PathLike))


def _excluded_keys(exclusions) -> set[str]:
    if exclusions is None:
        return set()
    if _is_path(exclusions):
        return read_exclusions(exclusions)
    return {k if isinstance(k, str) else frame_key(k[0], k[1]) for k in exclusions}


def _as_columns(x) -> AvaColumns:
    if isinstance(x, AvaColumns):
        return x
    if _is_path(x):
        return read_csv_columns(x)
    return AvaColumns.from_rows(x)


def _index_frames(tables: list[AvaColumns]) -> tuple[list[np.ndarray], list[str]]:
    """A frame id for every row of every table, shared across tables, and the frame key of each id."""
    video_ids = [v for t in tables for v in t.video_ids]
    video_index = {v: i for i, v in enumerate(dict.fromkeys(video_ids))}
    video_code = np.fromiter(map(video_index.__getitem__, video_ids), dtype=np.int64, count=len(video_ids))
    timestamps = np.concatenate([t.timestamps for t in tables])
    if len(timestamps) == 0:
        return [np.zeros(0, dtype=np.int64) for _ in tables], []
    first = int(timestamps.min())
    span = int(timestamps.max()) - first + 1
    frame_ids, code = np.unique(video_code * span + (timestamps - first), return_inverse=True)
    videos = list(video_index)
    keys = [frame_key(videos[c // span], c % span + first) for c in frame_ids.tolist()]
    splits = np.cumsum([len(t) for t in tables])[:-1]
    return np.split(code.reshape(-1), splits), keys


def _official_selection(columns: AvaColumns, frame_id: np.ndarray, class_ids: np.ndarray, is_excluded: np.ndarray,
                        frame_keys: list, capacity: int, what: str) -> tuple[np.ndarray, np.ndarray]:
    """Steps 1-3 of the module docstring: which rows are kept, and in which order.

    Returns the frame id of each kept entry and the ``[N, 6]`` entries ``(score, action_id, y1, x1, y2, x2)``,
    frame after frame in first-appearance order, each frame's entries by descending score.

    Where the outcome is fixed by the scores alone it is computed with sorts. The heap emulation in
    :func:`_emulate_heap` runs only for frames where it is not: a score tie at the cap boundary (which
    tied row survives depends on arrival order and tuple comparison), or two entries of one class with the
    same score (their order decides which one is matched first). Entries of different classes never
    interact, so their relative order within a frame does not matter.
    """
    keep = np.isin(columns.action_ids, class_ids) & ~is_excluded[frame_id]
    rows = np.flatnonzero(keep)  # arrival order
    score = np.where(columns.has_value, columns.values, 1.0)[rows]
    action = columns.action_ids[rows]
    boxes = columns.boxes[rows]
    fid = frame_id[rows]
    finite = np.isfinite(score) & np.isfinite(boxes).all(axis=1)
    if not finite.all():
        i = int(np.flatnonzero(~finite)[0])
        raise ValueError(f"{what} row with a non-finite score or coordinate in frame {frame_keys[fid[i]]}: "
                         f"score {score[i]}, box {tuple(boxes[i])}")
    # frame rank = order of first appearance among the kept rows (the official dict order)
    frames, first_row = np.unique(fid, return_index=True)
    rank_of_frame = np.zeros(len(is_excluded), dtype=np.int64)
    rank_of_frame[frames[np.argsort(first_row)]] = np.arange(len(frames))
    rank = rank_of_frame[fid]

    order = np.lexsort((-score, rank))
    frame_start = np.searchsorted(rank[order], np.arange(len(frames)))
    position = np.empty(len(rows), dtype=np.int64)
    position[order] = np.arange(len(rows)) - frame_start[rank[order]]
    needs_heap = np.zeros(len(frames), dtype=bool)
    if capacity > 0:
        counts = np.bincount(rank, minlength=len(frames))
        crowded = np.flatnonzero(counts > capacity)
        last_kept = score[order[frame_start[crowded] + capacity - 1]]
        first_dropped = score[order[frame_start[crowded] + capacity]]
        needs_heap[crowded[last_kept == first_dropped]] = True
    by_class = np.lexsort((score, action, rank))
    same = ((rank[by_class[1:]] == rank[by_class[:-1]]) & (action[by_class[1:]] == action[by_class[:-1]])
            & (score[by_class[1:]] == score[by_class[:-1]]))
    needs_heap[rank[by_class[1:][same]]] = True

    fast = ~needs_heap[rank]
    if capacity > 0:
        fast &= position < capacity
    entries = np.column_stack([score, action, boxes[:, 1], boxes[:, 0], boxes[:, 3], boxes[:, 2]])
    out_rank, out_position, out_entries = rank[fast], position[fast], entries[fast]
    if needs_heap.any():
        slow = np.flatnonzero(needs_heap[rank])  # arrival order within each frame
        heap_rank, heap_position, heap_entries = _emulate_heap(rank[slow], entries[slow], capacity)
        out_rank = np.concatenate([out_rank, heap_rank])
        out_position = np.concatenate([out_position, heap_position])
        out_entries = np.concatenate([out_entries, heap_entries])
    final = np.lexsort((out_position, out_rank))
    return frames[np.argsort(first_row)][out_rank[final]], out_entries[final]


def _emulate_heap(rank: np.ndarray, entries: np.ndarray, capacity: int):
    """The official reader on the given rows (arrival order): a per-frame min-heap of ``capacity``
    (``< 1``: unlimited) entry tuples, then a stable sort by descending score from the heap's array order."""
    heaps: dict[int, list] = {}
    push, replace = heapq.heappush, heapq.heapreplace
    tuples = zip(entries[:, 0].tolist(), entries[:, 1].astype(np.int64).tolist(), entries[:, 2].tolist(),
                 entries[:, 3].tolist(), entries[:, 4].tolist(), entries[:, 5].tolist())
    for r, entry in zip(rank.tolist(), tuples):
        heap = heaps.setdefault(r, [])
        if capacity < 1 or len(heap) < capacity:
            push(heap, entry)
        elif entry[0] > heap[0][0]:
            replace(heap, entry)
    out_rank, out_position, out_entries = [], [], []
    for r, heap in heaps.items():
        heap.sort(key=_negative_score)  # stable, like the official sorted(..., key=lambda tup: -tup[0])
        out_rank.extend([r] * len(heap))
        out_position.extend(range(len(heap)))
        out_entries.extend(heap)
    return (np.array(out_rank, dtype=np.int64), np.array(out_position, dtype=np.int64),
            np.array(out_entries, dtype=np.float64).reshape(-1, 6))


def _negative_score(entry: tuple) -> float:
    return -entry[0]


def _pair_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of row-aligned ``[P, 4]`` (y1, x1, y2, x2) boxes, with the official operation order (no +1)."""
    heights = np.maximum(0.0, np.minimum(a[:, 2], b[:, 2]) - np.maximum(a[:, 0], b[:, 0]))
    widths = np.maximum(0.0, np.minimum(a[:, 3], b[:, 3]) - np.maximum(a[:, 1], b[:, 1]))
    intersection = heights * widths
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    return intersection / (area_a + area_b - intersection)


def _label_true_positives(det_group: np.ndarray, det_boxes: np.ndarray, gt_group: np.ndarray,
                          gt_boxes: np.ndarray, iou_threshold: float) -> np.ndarray:
    """Greedy matching of every (frame, class) group at once.

    Detections must be in processing order within each group; GT in the official per-frame order.
    The sequential rule "TP if its argmax GT clears the threshold and is not yet taken" is the same as
    "TP if it is the first detection (in processing order) whose argmax is that GT and clears the threshold",
    because a GT is only ever taken by such a detection -- which makes the matching a vectorized first-occurrence.
    """
    n_det = len(det_group)
    is_tp = np.zeros(n_det, dtype=bool)
    if n_det == 0 or len(gt_group) == 0:
        return is_tp
    gt_order = np.argsort(gt_group, kind="stable")
    gt_group, gt_boxes = gt_group[gt_order], gt_boxes[gt_order]
    first_gt = np.searchsorted(gt_group, det_group, side="left")
    count = np.searchsorted(gt_group, det_group, side="right") - first_gt
    pair_det = np.repeat(np.arange(n_det), count)
    if len(pair_det) == 0:
        return is_tp
    first_pair = np.cumsum(count) - count
    pair_gt = first_gt[pair_det] + (np.arange(len(pair_det)) - first_pair[pair_det])
    iou = _pair_iou(det_boxes[pair_det], gt_boxes[pair_gt])

    has_gt = count > 0
    best = np.full(n_det, -np.inf)
    best[has_gt] = np.maximum.reduceat(iou, first_pair[has_gt])
    at_best = np.flatnonzero(iou == best[pair_det])
    det_at_best = pair_det[at_best]
    first = np.ones(len(at_best), dtype=bool)
    first[1:] = det_at_best[1:] != det_at_best[:-1]  # np.argmax: the first GT with the highest IoU
    argmax_det, argmax_gt = det_at_best[first], pair_gt[at_best[first]]

    clears = best[argmax_det] >= iou_threshold
    argmax_det, argmax_gt = argmax_det[clears], argmax_gt[clears]
    _, first_claim = np.unique(argmax_gt, return_index=True)
    is_tp[argmax_det[first_claim]] = True
    return is_tp


def _per_class_ap(det_cls: np.ndarray, scores: np.ndarray, is_tp: np.ndarray, num_gt: np.ndarray) -> np.ndarray:
    """AP of every class (NaN without GT); each class's detections are pooled in the official order."""
    num_classes = len(num_gt)
    by_class = np.argsort(det_cls, kind="stable")  # keeps the pooled (frame, in-frame) order within a class
    bounds = np.concatenate([[0], np.cumsum(np.bincount(det_cls, minlength=num_classes))])
    ap = np.full(num_classes, np.nan)
    for c in np.flatnonzero(num_gt > 0):
        idx = by_class[bounds[c]:bounds[c + 1]]
        ap[c] = _average_precision(scores[idx], is_tp[idx], int(num_gt[c]))
    return ap


def _average_precision(scores: np.ndarray, is_tp: np.ndarray, num_gt: int) -> float:
    """VOC all-point AP of one class's pooled detections (official ``compute_average_precision``)."""
    if len(scores) == 0:
        return 0.0
    order = np.argsort(scores)[::-1]  # the official (unstable) order, so score ties resolve as there
    tp = is_tp[order].astype(np.int64)
    cum_tp = np.cumsum(tp)
    cum_fp = np.cumsum(1 - tp)
    precision = cum_tp.astype(np.float64) / (cum_tp + cum_fp)
    recall = cum_tp.astype(np.float64) / num_gt
    recall = np.concatenate([[0.0], recall, [1.0]])
    precision = np.concatenate([[0.0], precision, [0.0]])
    precision = np.maximum.accumulate(precision[::-1])[::-1]
    steps = np.flatnonzero(recall[1:] != recall[:-1]) + 1
    return float(np.sum((recall[steps] - recall[steps - 1]) * precision[steps]))


def _official_nanmean(ap: np.ndarray, class_ids: np.ndarray) -> float:
    """``np.nanmean`` over the official id-indexed array (NaN for ids outside the label map).

    Same value as a nanmean over ``ap``; laid out as the official array so the float summation matches bit for bit.
    """
    if np.isnan(ap).all():
        return math.nan
    if 1 <= class_ids[0] and class_ids[-1] <= 100_000:
        full = np.full(int(class_ids[-1]), np.nan)
        full[class_ids - 1] = ap
        ap = full
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return float(np.nanmean(ap))
