"""Rows of a detection CSV that the official reader would never keep, dropped while the file is read.

The official reader (``get_ava_performance.read_csv``) skips rows whose action is not in the label map, then keeps
at most ``capacity`` entries per frame in a min-heap that admits a row only when its score is strictly greater
than the heap's smallest, and finally sorts each frame's entries by score, stably from the heap's array order.

- Rows outside the label map never reach the heap: they are always dropped.
- A row with ``capacity`` strictly higher rows in its frame is never in the final heap, but while it passes
  through the heap it moves the other entries, so it can change the final order of entries with equal scores.
  That order matters only in the frames the evaluator replays through ``heapq`` (a score tie at the cap
  boundary, or two kept entries of one class with one score: ``evaluator._official_selection``); elsewhere
  the scores alone decide. So a frame is *thinned* (only its ``capacity`` highest rows kept, plus its first row,
  which fixes the frame's place in the official frame order) only when it is not such a frame.

Whether a frame needs the replay is known only from all of its rows. The reader hands the filter chunks that end
at a frame boundary (``fastcsv``), so a frame written as one block of lines (as every AVA result file and our
``write_csv`` lay them out) is judged whole. A frame whose lines are split into several blocks is judged per block:
:meth:`CapPrefilter.split_and_thinned` reports such frames after the read, and the evaluator then reads the file
again without thinning, so the result is exact in every case.

An AVA detection file holds ~210 rows per keyframe (60 classes x ~3.5 persons); ~50 are kept per keyframe.
"""

from __future__ import annotations

import logging

import numpy as np

from .formats import AvaColumns
from .input_checks import read_input

logger = logging.getLogger(__name__)

__all__ = ["CapPrefilter", "read_detections"]


def _by_run_then_descending_score(run: np.ndarray, score: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """An order of the rows by run (ascending), then score (descending), with the sorted runs and scores. Rows of
    equal score may come in any order (only the scores' ranks are used)."""
    span = float(score.max() - score.min())
    # one float sort of run * K - score (K above the score range) is 10x a two-key lexsort; rounding could merge
    # two nearly equal scores of far-apart runs, so the order is checked and lexsort used when it is not right
    order = np.argsort(run * (2.0 * span + 1.0) - score)
    r, s = run[order], score[order]
    if not ((r[1:] >= r[:-1]).all() and ((r[1:] > r[:-1]) | (s[1:] <= s[:-1])).all()):
        order = np.lexsort((-score, run))
        r, s = run[order], score[order]
    return order, r, s


class CapPrefilter:
    """A row filter for ``fastcsv.read_columns`` (``keep(...)``, ``collect(...)``; see the module docstring).

    Args:
        class_lut: ``class_lut[a]`` is True for the label map's action ids.
        capacity: the per-frame cap (> 0).
        thin: False keeps every in-label-map row (the exact re-read).
    """

    frame_aligned = True  # chunks end at a frame boundary

    def __init__(self, class_lut: np.ndarray, capacity: int, thin: bool = True):
        self.class_lut, self.capacity, self.thin = class_lut, int(capacity), thin
        self._runs: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []

    def __call__(self, codes, timestamps, boxes, actions, values, has_value):
        """Rows of one chunk -> (keep ``[N]``, runs ``(first row [R], thinned [R])``): the run table names each
        block of consecutive rows of one frame by its first row."""
        n = len(codes)
        in_map = np.zeros(n, bool)
        known = (actions >= 0) & (actions < len(self.class_lut))
        in_map[known] = self.class_lut[actions[known]]
        score = np.where(has_value, values, 1.0)
        finite = np.isfinite(score)
        keep = in_map & ~finite  # non-finite scores stay, for the input checks to refuse
        rows = np.flatnonzero(in_map & finite)
        if not len(rows):
            return keep, (np.zeros(0, np.int64), np.zeros(0, bool))
        c, t = codes[rows], timestamps[rows]
        new_run = np.ones(len(rows), bool)
        new_run[1:] = (c[1:] != c[:-1]) | (t[1:] != t[:-1])
        run_start = np.flatnonzero(new_run)
        run_len = np.diff(np.append(run_start, len(rows)))
        cap = self.capacity
        thinned = (run_len > cap) if self.thin else np.zeros(len(run_start), bool)
        if thinned.any():
            run = np.cumsum(new_run) - 1
            s = score[rows]
            order, r_sorted, s_sorted = _by_run_then_descending_score(run, s)
            over = np.flatnonzero(thinned)
            # a tie at the boundary: which tied row stays depends on the heap
            thinned[over[s_sorted[run_start[over] + cap - 1] == s_sorted[run_start[over] + cap]]] = False
            # two entries of one class with one score among the kept: their order is the heap's
            position = np.arange(len(rows)) - np.repeat(run_start, run_len)
            tied = np.flatnonzero(
                (position[1:] < cap) & (r_sorted[1:] == r_sorted[:-1]) & (s_sorted[1:] == s_sorted[:-1])
            )
            if len(tied):
                members = np.unique(np.concatenate([tied, tied + 1]))
                group = np.cumsum(np.concatenate([[True], ~np.isin(members[1:] - 1, tied)]))
                acts = actions[rows[order[members]]]
                o = np.lexsort((acts, group))
                same = (group[o][1:] == group[o][:-1]) & (acts[o][1:] == acts[o][:-1])
                thinned[r_sorted[members[o][1:][same]]] = False
            dropped = rows[order[thinned[r_sorted] & (position >= cap)]]
            keep[rows] = True
            keep[dropped] = False
            keep[rows[run_start]] = True  # each block's first row keeps the frame's place in the frame order
        else:
            keep[rows] = True
        return keep, (rows[run_start], thinned)

    def collect(self, video_codes: np.ndarray, timestamps: np.ndarray, thinned: np.ndarray) -> None:
        """The runs of one chunk, in file order, with file-wide video codes (called by the reader)."""
        self._runs.append((video_codes, timestamps, thinned))

    def split_and_thinned(self) -> bool:
        """Whether some frame came in several blocks of lines and one of them was thinned (then the result could
        differ from the official one: read the file again with ``thin=False``)."""
        if not self._runs or not any(r[2].any() for r in self._runs):
            return False
        codes = np.concatenate([r[0] for r in self._runs])
        ts = np.concatenate([r[1] for r in self._runs])
        thinned = np.concatenate([r[2] for r in self._runs])
        key = codes.astype(np.int64) * (int(ts.max()) - int(ts.min()) + 1) + (ts - ts.min())
        order = np.argsort(key, kind="stable")
        k = key[order]
        repeated = np.zeros(len(k), bool)
        same = k[1:] == k[:-1]
        repeated[1:] |= same
        repeated[:-1] |= same
        return bool((repeated & thinned[order]).any())


def read_detections(source, class_lut: np.ndarray, capacity: int) -> AvaColumns:
    """The detections; from a file, without the rows the official reader could never keep (outside the label map,
    or below the cap in their frame: ``prefilter``), so a quarter of an AVA detection file's rows are held."""
    prefilter = CapPrefilter(class_lut, capacity) if capacity > 0 else None
    detections = read_input(source, prefilter)
    if prefilter is not None and prefilter.split_and_thinned():
        logger.info("%s: a frame's rows are in several places of the file; reading it again in full", source)
        detections = read_input(source, CapPrefilter(class_lut, capacity, thin=False))
    return detections
