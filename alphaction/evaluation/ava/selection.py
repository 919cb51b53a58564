"""Steps 1-4 of the official protocol (``evaluator``'s module docstring): which rows of a table are kept, and in
which order; ``evaluator._official_selection`` runs these steps in turn.

Where the scores alone decide, sorts give the outcome (:func:`top_by_score`). The frames where they do not (a score
tie at the cap boundary, flagged by :func:`top_by_score`; two kept entries of one class with one score, flagged by
:func:`mark_class_ties`) are replayed through ``heapq`` as the official reader does (:func:`with_replayed_frames`).
"""

from __future__ import annotations

import heapq

import numpy as np

from .formats import AvaColumns

__all__ = [
    "descending_key",
    "frame_ranks",
    "kept_rows",
    "mark_class_ties",
    "require_finite_scores",
    "score_decided_entries",
    "top_by_score",
    "with_replayed_frames",
]


def kept_rows(
    columns: AvaColumns, frame_id: np.ndarray, class_lut: np.ndarray, is_excluded: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Steps 1 and 3: the rows in the label map and outside the excluded frames, in arrival order, as
    ``(row indices, frame ids, scores)`` (a missing score is 1.0)."""
    action_all = columns.action_ids
    in_map = np.zeros(len(action_all), dtype=bool)
    in_range = (action_all >= 0) & (action_all < len(class_lut))
    in_map[in_range] = class_lut[action_all[in_range]]
    keep = in_map & ~is_excluded[frame_id]
    del in_map
    if keep.all():  # the common case: no gathers
        rows, fid = np.arange(len(keep)), frame_id
        score = columns.values if columns.has_value.all() else np.where(columns.has_value, columns.values, 1.0)
    else:
        rows = np.flatnonzero(keep)  # arrival order
        fid = frame_id[rows]
        score = (
            columns.values[rows]
            if columns.has_value.all()
            else np.where(columns.has_value[rows], columns.values[rows], 1.0)
        )
    return rows, fid, score


def require_finite_scores(score: np.ndarray, fid: np.ndarray, frame_keys: list, what: str) -> None:
    """Raise a ``ValueError`` naming the frame of the first non-finite score."""
    finite = np.isfinite(score)
    if not finite.all():
        i = int(np.flatnonzero(~finite)[0])
        raise ValueError(f"{what} row with a non-finite score in frame {frame_keys[fid[i]]}: {score[i]}")


def frame_ranks(fid: np.ndarray, num_frame_ids: int) -> tuple[np.ndarray, np.ndarray]:
    """``(frame ids by rank, rank of each row)``: a frame's rank is the order of its first appearance among the
    rows (the official dict order)."""
    run_start = np.flatnonzero(np.concatenate([[True], fid[1:] != fid[:-1]])) if len(fid) else np.zeros(0, np.int64)
    first_row = np.full(num_frame_ids, len(fid), dtype=np.int64)
    np.minimum.at(first_row, fid[run_start], run_start)
    frames = np.flatnonzero(first_row < len(fid))
    frames = frames[np.argsort(first_row[frames], kind="stable")]
    rank_of_frame = np.zeros(num_frame_ids, dtype=np.int64)
    rank_of_frame[frames] = np.arange(len(frames))
    return frames, rank_of_frame[fid]


def top_by_score(
    rank: np.ndarray, desc: np.ndarray, score: np.ndarray, counts: np.ndarray, capacity: int
) -> tuple[np.ndarray, np.ndarray]:
    """``(kept rows, frames that need the heap)``: each frame's top ``capacity`` rows by score (all rows when
    ``capacity < 1``) ordered by (frame rank, descending score), and a flag per frame rank (``counts`` holds one
    row count per frame) that is set where a score tie at the cap boundary leaves the choice to the heap."""
    num_frames = len(counts)
    if capacity > 0 and num_frames and counts.max() > capacity:
        candidates = _drop_hopeless(rank, desc, counts, capacity)
        order = _sort_by_frame_then_score(rank[candidates], desc[candidates], score[candidates])
        cand = candidates[order]
        del candidates, order
    else:
        cand = _sort_by_frame_then_score(rank, desc, score)
    cand_rank = rank[cand]
    frame_start = np.searchsorted(cand_rank, np.arange(num_frames + 1))
    position = np.arange(len(cand)) - frame_start[cand_rank]
    needs_heap = np.zeros(num_frames, dtype=bool)
    if capacity > 0:
        over = np.flatnonzero(np.diff(frame_start) > capacity)
        at_boundary = desc[cand[frame_start[over] + capacity - 1]] == desc[cand[frame_start[over] + capacity]]
        needs_heap[over[at_boundary]] = True
        kept = cand[position < capacity]
    else:
        kept = cand
    return kept, needs_heap


def mark_class_ties(
    needs_heap: np.ndarray,
    kept: np.ndarray,
    rank: np.ndarray,
    desc: np.ndarray,
    action_all: np.ndarray,
    rows: np.ndarray,
) -> np.ndarray:
    """Set ``needs_heap`` for the frames where two kept entries of one class have one score (their order is the
    heap's); returns the frame rank of each kept row."""
    kept_rank, kept_desc = rank[kept], desc[kept]
    tied = np.flatnonzero((kept_rank[1:] == kept_rank[:-1]) & (kept_desc[1:] == kept_desc[:-1]))
    if len(tied):
        members = np.unique(np.concatenate([tied, tied + 1]))
        run_id = _tie_run_ids(members, tied)
        sub = np.lexsort((action_all[rows[kept[members]]], run_id))
        same = (run_id[sub][1:] == run_id[sub][:-1]) & (
            action_all[rows[kept[members[sub]]]][1:] == action_all[rows[kept[members[sub]]]][:-1]
        )
        needs_heap[kept_rank[members[sub][1:][same]]] = True
    return kept_rank


def score_decided_entries(
    columns: AvaColumns, rows: np.ndarray, kept: np.ndarray, rank: np.ndarray, score: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``(frame rank, score, action id, boxes as y1, x1, y2, x2)`` of the ``kept`` rows, in their order."""
    source = rows[kept]
    out_frame, out_score, out_action = rank[kept], score[kept], columns.action_ids[source]
    out_boxes = columns.boxes[source][:, [1, 0, 3, 2]]
    return out_frame, out_score, out_action, out_boxes


def with_replayed_frames(
    entries: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
    columns: AvaColumns,
    rows: np.ndarray,
    slow: np.ndarray,
    rank: np.ndarray,
    score: np.ndarray,
    capacity: int,
    counts: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``entries`` (frames without the ``slow`` rows' frames) with those frames' entries inserted in their places,
    from a replay of the official heap over the ``slow`` rows (every row of those frames, arrival order)."""
    out_frame, out_score, out_action, out_boxes = entries
    action_all = columns.action_ids
    xyxy = columns.boxes[rows[slow]]
    heap_input = np.column_stack([score[slow], action_all[rows[slow]], xyxy[:, 1], xyxy[:, 0], xyxy[:, 3], xyxy[:, 2]])
    heap_rank, heap_position, heap_entries = _emulate_heap(rank[slow], heap_input, capacity)
    fast_position = np.arange(len(out_frame)) - np.searchsorted(out_frame, out_frame)
    stride = max(int(counts.max()), 1) + 1
    at = np.searchsorted(out_frame * stride + fast_position, heap_rank * stride + heap_position)
    out_frame = np.insert(out_frame, at, heap_rank)
    out_score = np.insert(out_score, at, heap_entries[:, 0])
    out_action = np.insert(out_action, at, heap_entries[:, 1].astype(np.int64))
    out_boxes = np.insert(out_boxes, at, heap_entries[:, 2:6], axis=0)
    return out_frame, out_score, out_action, out_boxes


def descending_key(score: np.ndarray) -> np.ndarray:
    """uint64 keys whose ascending order is the descending order of ``score`` (finite floats; -0.0 == 0.0)."""
    bits = (score + 0.0).view(np.uint64)
    sign = np.uint64(1 << 63)
    # ~where(negative, ~bits, bits | sign) == where(negative, bits, ~(bits | sign)), in place in the copy
    positive = bits < sign
    np.bitwise_or(bits, sign, out=bits, where=positive)
    np.invert(bits, out=bits, where=positive)
    return bits


def _tie_run_ids(members: np.ndarray, tied: np.ndarray) -> np.ndarray:
    """Run id of each member position: ``tied`` pairs ``(i, i + 1)`` chain into runs of equal (frame, score)."""
    starts_run = np.ones(len(members), dtype=bool)
    starts_run[1:] = ~np.isin(members[1:] - 1, tied)
    return np.cumsum(starts_run)


def _drop_hopeless(rank: np.ndarray, desc: np.ndarray, counts: np.ndarray, capacity: int) -> np.ndarray:
    """Indices of the rows that may still enter their frame's top ``capacity``.

    Two histogram levels per crowded frame over the leading bits of the score (sign and exponent, then the
    next 6 mantissa bits inside the bin where the count from the top reaches ``capacity``): a row in a lower
    bin has at least ``capacity`` strictly higher scores in its frame, so the heap never keeps it.
    """
    crowded = counts > capacity
    num_crowded = int(crowded.sum())
    if num_crowded == len(counts):  # every frame is crowded (the usual case): no gathers
        idx, frame, d = None, rank, desc
    else:
        idx = np.flatnonzero(crowded[rank])
        frame = (np.cumsum(crowded) - 1)[rank[idx]]
        d = desc[idx]
    code = d >> np.uint64(52)  # < 4096: used only as an index
    used = np.zeros(1 << 12, dtype=bool)
    used[code] = True
    num_bins = int(used.sum())
    level1 = (np.cumsum(used) - 1)[code]
    del code
    bins = frame * num_bins
    bins += level1
    hist = np.bincount(bins, minlength=num_crowded * num_bins).reshape(num_crowded, num_bins)
    del bins
    cum = np.cumsum(hist, axis=1)
    threshold = np.argmax(cum >= capacity, axis=1)
    every = np.arange(num_crowded)
    above = cum[every, threshold] - hist[every, threshold]
    row_threshold = threshold[frame]
    keep = level1 < row_threshold
    undecided = np.flatnonzero(level1 == row_threshold)
    del level1, row_threshold
    level2 = ((d[undecided] >> np.uint64(46)) & np.uint64(63)).astype(np.int64)
    frame2 = frame[undecided]
    hist2 = np.bincount(frame2 * 64 + level2, minlength=num_crowded * 64).reshape(num_crowded, 64)
    threshold2 = np.argmax(np.cumsum(hist2, axis=1) >= (capacity - above)[:, None], axis=1)
    keep[undecided] = level2 <= threshold2[frame2]
    if idx is None:
        return np.flatnonzero(keep)
    keep_all = np.ones(len(rank), dtype=bool)
    keep_all[idx] = keep
    return np.flatnonzero(keep_all)


def _sort_by_frame_then_score(rank: np.ndarray, desc: np.ndarray, score: np.ndarray) -> np.ndarray:
    """Order by (frame rank, descending score); equal scores in any order."""
    if len(rank) == 0:
        return np.zeros(0, dtype=np.int64)
    if int(rank.max()) >= 1 << 24:
        return np.lexsort((desc, rank))
    # one uint64 sort: rank in the top 24 bits, the score's leading 40 bits below
    key = (rank.astype(np.uint64) << np.uint64(40)) | (desc >> np.uint64(24))
    order = np.argsort(key)
    key = key[order]
    same = np.flatnonzero(key[1:] == key[:-1])
    if len(same):  # equal truncated keys: order those runs by the full score
        members = np.unique(np.concatenate([same, same + 1]))
        run_id = _tie_run_ids(members, same)
        sub = np.lexsort((desc[order[members]], run_id))
        order[members] = order[members[sub]]
    return order


def _emulate_heap(rank: np.ndarray, entries: np.ndarray, capacity: int):
    """The official reader on the given rows (arrival order): a per-frame min-heap of ``capacity``
    (``< 1``: unlimited) entry tuples, then a stable sort by descending score from the heap's array order."""
    heaps: dict[int, list] = {}
    push, replace = heapq.heappush, heapq.heapreplace
    tuples = zip(
        entries[:, 0].tolist(),
        entries[:, 1].astype(np.int64).tolist(),
        entries[:, 2].tolist(),
        entries[:, 3].tolist(),
        entries[:, 4].tolist(),
        entries[:, 5].tolist(),
    )
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
    return (
        np.array(out_rank, dtype=np.int64),
        np.array(out_position, dtype=np.int64),
        np.array(out_entries, dtype=np.float64).reshape(-1, 6),
    )


def _negative_score(entry: tuple) -> float:
    return -entry[0]
