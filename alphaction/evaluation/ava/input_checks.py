"""Checks of the evaluator's inputs, each naming the file and line of the offending row when the input is a file:
text that is not UTF-8, non-finite scores or boxes, inverted ground-truth boxes, detections that share no frame
with the ground truth, action ids outside the label map, and an empty ground truth."""

from __future__ import annotations

import logging
import math
import os
from typing import Mapping, Optional

import numpy as np

from ...utils.errors import InputFileError
from .formats import AvaColumns, first_undecodable_line, frame_key, locate_row, read_csv_columns

logger = logging.getLogger("alphaction.evaluation.ava.evaluator")  # the evaluator's messages, one logger

__all__ = [
    "is_path",
    "as_columns",
    "read_input",
    "require_groundtruth",
    "check_finite",
    "check_gt_boxes",
    "check_overlap",
    "report_unknown_ids",
]


def is_path(x) -> bool:
    return isinstance(x, (str, os.PathLike))


def as_columns(x, row_filter=None) -> AvaColumns:
    if isinstance(x, AvaColumns):
        return x
    if is_path(x):
        return read_csv_columns(x, row_filter)
    if isinstance(x, Mapping):
        return AvaColumns.from_arrays(**x)
    return AvaColumns.from_rows(x)


def where_of(source, line: Optional[int] = None) -> str:
    if not is_path(source):
        return ""
    return os.fspath(source) + (f":{line}" if line else "")


def line_of(source, test) -> Optional[int]:
    return locate_row(source, test) if is_path(source) else None


def read_input(source, row_filter=None) -> AvaColumns:
    """:func:`as_columns`, with a file that is not UTF-8 text reported by file and line (``row_filter``: rows of a
    file to keep as it is read, see ``fastcsv.read_columns``)."""
    try:
        return as_columns(source, row_filter)
    except UnicodeDecodeError:
        if not is_path(source):
            raise
        found = first_undecodable_line(source)
        line, raw = found if found else (None, b"")
        raise InputFileError(
            f"not UTF-8 text (bytes {raw!r})",
            where=where_of(source, line),
            fix="save the file as UTF-8 (video ids must be text)",
        ) from None


def check_finite(columns: AvaColumns, source, what: str) -> None:
    """Rows with a non-finite value (``what``: the score) or box coordinate are refused."""
    bad = columns.has_value & ~np.isfinite(columns.values)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        key = frame_key(columns.videos[columns.video_index[i]], columns.timestamps[i])
        line = line_of(source, lambda r: r[7] is not None and not math.isfinite(r[7]))
        raise InputFileError(
            f"a row with a non-finite {what} ({columns.values[i]}) in frame {key}",
            where=where_of(source, line),
            fix=f"every row needs a finite {what}: fix or drop the row",
        )
    if not np.isfinite(columns.boxes).all():
        line = line_of(source, lambda r: not all(math.isfinite(v) for v in r[2:6]))
        raise InputFileError(
            "a row with a non-finite box coordinate",
            where=where_of(source, line),
            fix="every box needs four finite coordinates in [0, 1]: fix or drop the row",
        )


def check_overlap(
    gt_fid: np.ndarray, det_fid: np.ndarray, num_frames: int, gt_source, det_source, allow_disjoint: bool
) -> None:
    """Detections none of whose frames is a GT frame score 0 whatever the model does: almost always the wrong
    files (another split, other video ids, 0-based vs 1-based timestamps)."""
    if len(det_fid) == 0:
        logger.warning("no detections to evaluate: every class with ground truth gets AP 0")
        return
    if len(gt_fid) == 0:  # nothing to overlap with: the callers refuse an empty ground truth
        return
    in_gt = np.zeros(num_frames, dtype=bool)
    in_gt[gt_fid] = True
    if in_gt[det_fid].any():
        return
    text = "the detections share no frame (video id, timestamp) with the ground truth"
    if allow_disjoint:
        logger.warning("%s: every detection is a false positive (mAP 0)", text)
        return
    raise InputFileError(
        text + ": every detection would be a false positive",
        where=" vs ".join(w for w in (where_of(det_source), where_of(gt_source)) if w),
        fix="check that both files are of the same split and name videos and seconds alike; "
        "to score them anyway, pass --allow-disjoint (frame_map(..., allow_disjoint=True))",
    )


def report_unknown_ids(gt: AvaColumns, class_lut: np.ndarray, source) -> None:
    """GT rows whose action id is not in the label map are not scored (as officially): say so, once."""
    ids = gt.action_ids
    known = np.zeros(len(ids), dtype=bool)
    in_range = (ids >= 0) & (ids < len(class_lut))
    known[in_range] = class_lut[ids[in_range]]
    if known.all():
        return
    unknown = sorted(set(ids[~known].tolist()))
    first = int(np.flatnonzero(~known)[0])
    line = line_of(source, lambda r: r[6] == int(ids[first]))
    logger.warning(
        "%d ground-truth rows have action ids not in the label map (%s%s; first at %s): they are not "
        "scored, as in the official evaluator",
        int((~known).sum()),
        ", ".join(map(str, unknown[:10])),
        ", ..." if len(unknown) > 10 else "",
        where_of(source, line) or f"row {first + 1}",
    )


def require_groundtruth(result: dict, groundtruth) -> None:
    """Raise :class:`InputFileError` when ``result`` (of :func:`frame_map`) has no class with ground truth: an
    evaluation with nothing to compare against must not pass for a result."""
    if not any(n > 0 for n in result["num_gt"].values()):
        raise InputFileError(
            "the ground truth holds no row of a label-map class: there is nothing to evaluate",
            where=where_of(groundtruth) if groundtruth is not None else "",
            fix="give the split's AVA CSV (its action ids must be in the label map)",
        )


def check_gt_boxes(gt_boxes: np.ndarray, gt_frame: np.ndarray, frame_keys: list[str], source) -> None:
    """Ground-truth boxes ``(y1, x1, y2, x2)`` (the official order) with x1 > x2 or y1 > y2 are refused, as the
    official evaluator refuses them."""
    bad = (gt_boxes[:, 0] > gt_boxes[:, 2]) | (gt_boxes[:, 1] > gt_boxes[:, 3])
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        y1, x1, y2, x2 = (float(v) for v in gt_boxes[i])
        key = frame_keys[gt_frame[i]]
        line = line_of(source, lambda r: frame_key(r[0], r[1]) == key and (r[2] > r[4] or r[3] > r[5]))
        raise InputFileError(
            f"ground-truth box with x1 > x2 or y1 > y2 in frame {key}: x1, y1, x2, y2 = "
            f"{x1}, {y1}, {x2}, {y2} (the official evaluator rejects it too)",
            where=where_of(source, line),
            fix="correct or remove that row",
        )
