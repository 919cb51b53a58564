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

import logging
import math
import os
import time
import warnings
from typing import Iterable, Mapping, Optional, Sequence, Union

import numpy as np

from .formats import AvaColumns, frame_key, read_exclusions, read_labelmap
from .input_checks import (
    check_finite,
    check_gt_boxes,
    check_overlap,
    is_path,
    read_input,
    report_unknown_ids,
    require_groundtruth,
)
from .prefilter import read_detections
from .selection import (
    descending_key,
    frame_ranks,
    kept_rows,
    mark_class_ties,
    require_finite_scores,
    score_decided_entries,
    top_by_score,
    with_replayed_frames,
)

logger = logging.getLogger(__name__)

PathLike = Union[str, "os.PathLike[str]"]


ColumnsLike = Union[PathLike, AvaColumns, Mapping[str, object], Sequence[Sequence]]

# AVA v2.x's 80 classes: 14 person-movement (pose) classes, 49 object-manipulation, 17 person-interaction.
__all__ = ["AVA_CLASS_GROUPS", "class_groups_from_counts", "frame_map", "require_groundtruth"]

AVA_CLASS_GROUPS = {"pose": tuple(range(1, 15)), "object": tuple(range(15, 64)), "interaction": tuple(range(64, 81))}


def class_groups_from_counts(num_pose: int, num_object: int, num_interaction: int, first_id: int = 1) -> dict:
    """Groups laid out by id order, as the model's logits are: ``(14, 49, 17)`` gives :data:`AVA_CLASS_GROUPS`."""
    bounds = np.cumsum([first_id, num_pose, num_object, num_interaction]).tolist()
    return {name: tuple(range(lo, hi)) for name, lo, hi in zip(("pose", "object", "interaction"), bounds, bounds[1:])}


def frame_map(
    groundtruth: ColumnsLike,
    detections: ColumnsLike,
    labelmap: Union[PathLike, Mapping[int, str]],
    exclusions: Union[PathLike, Iterable, None] = None,
    *,
    class_groups: Optional[Mapping[str, Iterable[int]]] = None,
    iou_threshold: float = 0.5,
    max_detections_per_frame: int = 50,
    timings: Optional[dict] = None,
    allow_disjoint: bool = False,
) -> dict:
    """Frame-level mAP of AVA action detections, as the official ActivityNet evaluation computes it.

    Args:
        groundtruth: GT CSV path, :class:`AvaColumns`, a mapping of column arrays (``video_ids``, ``timestamps``,
            ``boxes``, ``action_ids``[, ``scores``]; see :meth:`AvaColumns.from_arrays`), or rows
            ``(video_id, timestamp, x1, y1, x2, y2, action_id[, person_id])``.
        detections: the same forms, with the score as 8th value; a missing score is 1.0.
        labelmap: ``.pbtxt`` path or ``{action_id: name}``; only these ids are evaluated.
        exclusions: excluded-timestamps CSV path, or an iterable of frame keys ``"vid,0902"`` or
            ``(video_id, timestamp)`` pairs; these frames are dropped from GT and detections.
        class_groups: optional ``{group: action ids}`` (e.g. :data:`AVA_CLASS_GROUPS`, or
            :func:`class_groups_from_counts`); ids outside the label map are ignored.
        iou_threshold: IoU needed for a true positive (official: 0.5).
        max_detections_per_frame: the per-frame cap (official: 50; 0 = no cap).
        timings: if a dict is given, seconds per phase are stored in it.
        allow_disjoint: score detections that share no frame with the ground truth (mAP 0) instead of raising.

    Raises:
        InputFileError (a :class:`~alphaction.utils.errors.UserError`): detections that share no frame with the
            ground truth (unless ``allow_disjoint``), a non-finite score, an inverted GT box, a file that is not
            UTF-8 text; the message names the file and line where the input is a file. An empty ground truth is
            not an error here (``mAP`` NaN); the command line and ``test_net.py`` refuse it.

    Returns:
        ``{"mAP": float, "per_class": {id: AP}, "num_gt": {id: int}, "num_detections": {id: int},
        "num_true_positives": {id: int}, "class_names": {id: name}, "group_mAP": {group: float}}``, classes in
        ascending id order (``group_mAP`` is empty without ``class_groups``). ``per_class`` holds NaN for
        classes without GT, which ``mAP`` (a nanmean) leaves out; ``mAP`` is NaN when no class has GT. The
        official names are ``PascalBoxes_Precision/mAP@0.5IOU`` for ``mAP`` and
        ``PascalBoxes_PerformanceByCategory/AP@0.5IOU/<name>`` for ``per_class``.
    """
    clock = _Clock(timings)
    if not isinstance(labelmap, Mapping):
        labelmap = read_labelmap(labelmap)
    class_ids = np.array(sorted(int(i) for i in labelmap), dtype=np.int64)
    if len(class_ids) == 0 or class_ids[0] < 1:
        raise ValueError("label map ids must be >= 1 (the official evaluator requires 1-based ids)")
    excluded = _excluded_keys(exclusions)
    class_lut = np.zeros(int(class_ids[-1]) + 1, dtype=bool)
    class_lut[class_ids] = True
    gt_source, det_source = groundtruth, detections
    gt = read_input(gt_source)
    clock("read_groundtruth")
    detections = read_detections(det_source, class_lut, max_detections_per_frame)
    clock("read_detections")
    check_finite(detections, det_source, "score")

    # One frame index for GT and detections, so that (frame, class) groups line up.
    (gt_fid, det_fid), frame_keys = _index_frames([gt, detections])
    is_excluded = np.fromiter((k in excluded for k in frame_keys), dtype=bool, count=len(frame_keys))
    clock("index_frames")
    check_overlap(gt_fid, det_fid, len(frame_keys), gt_source, det_source, allow_disjoint)
    report_unknown_ids(gt, class_lut, gt_source)

    gt_frame, gt_score, gt_action, gt_boxes = _official_selection(
        gt, gt_fid, class_lut, is_excluded, frame_keys, 0, "GT"
    )
    check_gt_boxes(gt_boxes, gt_frame, frame_keys, gt_source)
    det_frame, det_score, det_action, det_boxes = _official_selection(
        detections, det_fid, class_lut, is_excluded, frame_keys, max_detections_per_frame, "detection"
    )
    # invalid boxes go *after* the cap: they used cap slots
    det_frame, det_score, det_action, det_boxes = _valid_boxes_only(det_frame, det_score, det_action, det_boxes)
    clock("select")

    num_classes = len(class_ids)
    gt_cls = np.searchsorted(class_ids, gt_action)
    det_cls = np.searchsorted(class_ids, det_action)
    is_tp = _label_true_positives(
        det_frame * num_classes + det_cls, det_boxes, gt_frame * num_classes + gt_cls, gt_boxes, iou_threshold
    )
    clock("match")

    result = _results(class_ids, labelmap, gt_cls, det_cls, det_score, is_tp, class_groups)
    clock("average_precision")
    logger.info(
        "AVA frame-mAP@%.2f = %.4f (%d GT boxes in %d frames, %d detections in %d frames, %.2fs)",
        iou_threshold,
        result["mAP"],
        len(gt_boxes),
        len(np.unique(gt_frame)),
        len(det_boxes),
        len(np.unique(det_frame)),
        clock.total(),
    )
    return result


def _valid_boxes_only(frame: np.ndarray, score: np.ndarray, action: np.ndarray, boxes: np.ndarray) -> tuple:
    """The selected entries whose box has ``x1 < x2`` and ``y1 < y2`` (boxes as y1, x1, y2, x2)."""
    valid = (boxes[:, 0] < boxes[:, 2]) & (boxes[:, 1] < boxes[:, 3])
    if valid.all():
        return frame, score, action, boxes
    return frame[valid], score[valid], action[valid], boxes[valid]


def _results(
    class_ids: np.ndarray,
    labelmap: Mapping[int, str],
    gt_cls: np.ndarray,
    det_cls: np.ndarray,
    det_score: np.ndarray,
    is_tp: np.ndarray,
    class_groups: Optional[Mapping[str, Iterable[int]]],
) -> dict:
    """Per-class AP and counts, the mAP and the group mAPs (the dict :func:`frame_map` returns)."""
    num_classes = len(class_ids)
    num_gt = np.bincount(gt_cls, minlength=num_classes)
    num_det = np.bincount(det_cls, minlength=num_classes)
    num_tp = np.bincount(det_cls[is_tp], minlength=num_classes)
    ap = _per_class_ap(det_cls, det_score, is_tp, num_gt)
    ids = class_ids.tolist()
    result = {
        "mAP": _official_nanmean(ap, class_ids),
        "per_class": dict(zip(ids, ap.tolist())),
        "num_gt": dict(zip(ids, num_gt.tolist())),
        "num_detections": dict(zip(ids, num_det.tolist())),
        "num_true_positives": dict(zip(ids, num_tp.tolist())),
        "class_names": {i: labelmap[i] for i in ids},
        "group_mAP": {},
    }
    for group, members in (class_groups or {}).items():
        aps = [result["per_class"][int(i)] for i in members if int(i) in result["per_class"]]
        aps = [a for a in aps if not math.isnan(a)]
        result["group_mAP"][group] = float(np.mean(aps)) if aps else math.nan
    return result


class _Clock:
    def __init__(self, timings: Optional[dict]):
        self.timings = timings
        self.start = self.last = time.perf_counter()

    def __call__(self, phase: str) -> None:
        now = time.perf_counter()
        if self.timings is not None:
            self.timings[phase] = self.timings.get(phase, 0.0) + now - self.last
        self.last = now

    def total(self) -> float:
        return time.perf_counter() - self.start


def _excluded_keys(exclusions) -> set[str]:
    if exclusions is None:
        return set()
    if is_path(exclusions):
        return read_exclusions(exclusions)
    return {k if isinstance(k, str) else frame_key(k[0], k[1]) for k in exclusions}


def _index_frames(tables: list[AvaColumns]) -> tuple[list[np.ndarray], list[str]]:
    """A frame id for every row of every table, shared across tables, and the frame key of each id.

    Frames are keyed by ``(video, int(timestamp))`` as the official ``"%s,%04d"`` key is.
    """
    videos = list(dict.fromkeys(v for t in tables for v in t.videos))
    video_code = {v: i for i, v in enumerate(videos)}
    codes = [
        np.array([video_code[v] for v in t.videos], dtype=np.int64)[t.video_index] if len(t) else np.zeros(0, np.int64)
        for t in tables
    ]
    timestamps = [t.timestamps for t in tables]
    all_ts = np.concatenate(timestamps)
    if len(all_ts) == 0:
        return [np.zeros(0, dtype=np.int64) for _ in tables], []
    first = int(all_ts.min())
    span = int(all_ts.max()) - first + 1
    del all_ts
    flat = codes  # c * span + (ts - first), computed in place in the fresh code arrays (no 8-byte temporaries)
    for f, ts in zip(flat, timestamps):
        f *= span
        f += ts
        f -= first
    del codes
    if len(videos) * span < 1 << 26:  # dense table of (video, second) -> frame id
        used = np.zeros(len(videos) * span, dtype=bool)
        for f in flat:
            used[f] = True
        frame_codes = np.flatnonzero(used)
        lut = np.cumsum(used) - 1
        ids = []
        for i, f in enumerate(flat):
            ids.append(lut[f])
            flat[i] = None  # free each table's codes once mapped
        del f
    else:
        frame_codes, inverse = np.unique(np.concatenate(flat), return_inverse=True)
        ids = np.split(inverse.reshape(-1), np.cumsum([len(t) for t in tables])[:-1])
    keys = [frame_key(videos[c // span], c % span + first) for c in frame_codes.tolist()]
    return ids, keys


def _official_selection(
    columns: AvaColumns,
    frame_id: np.ndarray,
    class_lut: np.ndarray,
    is_excluded: np.ndarray,
    frame_keys: list,
    capacity: int,
    what: str,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Steps 1-4 of the module docstring: which rows are kept, and in which order.

    Returns ``(frame_id, score, action_id, boxes)`` of the kept entries (boxes ``[K, 4]`` as y1, x1, y2, x2),
    frame after frame in first-appearance order, each frame's entries by descending score.

    Where the outcome is fixed by the scores alone it is computed with sorts: a per-frame score histogram
    first drops rows that have ``capacity`` strictly higher scores in their frame (they can never enter the
    heap), then one sort by (frame, score). ``selection.with_replayed_frames`` replays only frames where the scores
    do not decide: a score tie at the cap boundary (which tied row survives depends on arrival order and tuple
    comparison), or two kept entries of one class with the same score (their order decides which one is
    matched first). Entries of different classes never interact, so their relative order does not matter.
    """
    rows, fid, score = kept_rows(columns, frame_id, class_lut, is_excluded)
    require_finite_scores(score, fid, frame_keys, what)
    frames, rank = frame_ranks(fid, len(is_excluded))
    del fid
    desc = descending_key(score)
    counts = np.bincount(rank, minlength=len(frames))
    kept, needs_heap = top_by_score(rank, desc, score, counts, capacity)
    kept_rank = mark_class_ties(needs_heap, kept, rank, desc, columns.action_ids, rows)
    if needs_heap.any():
        kept = kept[~needs_heap[kept_rank]]
    entries = score_decided_entries(columns, rows, kept, rank, score)
    if needs_heap.any():
        slow = np.flatnonzero(needs_heap[rank])  # every row of those frames, arrival order
        entries = with_replayed_frames(entries, columns, rows, slow, rank, score, capacity, counts)
    out_frame, out_score, out_action, out_boxes = entries
    return frames[out_frame], out_score, out_action, out_boxes


def _pair_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of row-aligned ``[P, 4]`` (y1, x1, y2, x2) boxes, with the official operation order (no +1)."""
    heights = np.maximum(0.0, np.minimum(a[:, 2], b[:, 2]) - np.maximum(a[:, 0], b[:, 0]))
    widths = np.maximum(0.0, np.minimum(a[:, 3], b[:, 3]) - np.maximum(a[:, 1], b[:, 1]))
    intersection = heights * widths
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    return intersection / (area_a + area_b - intersection)


def _label_true_positives(
    det_group: np.ndarray, det_boxes: np.ndarray, gt_group: np.ndarray, gt_boxes: np.ndarray, iou_threshold: float
) -> np.ndarray:
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
    small = det_cls.astype(np.uint16) if num_classes < 1 << 16 else det_cls  # 16-bit keys: a radix sort
    by_class = np.argsort(small, kind="stable")  # keeps the pooled (frame, in-frame) order within a class
    bounds = np.concatenate([[0], np.cumsum(np.bincount(det_cls, minlength=num_classes))])
    ap = np.full(num_classes, np.nan)
    for c in np.flatnonzero(num_gt > 0):
        idx = by_class[bounds[c] : bounds[c + 1]]
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
