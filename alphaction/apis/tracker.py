"""A simple IoU tracker: gives the person boxes of consecutive seconds stable track ids (for the demo), and a
scene-cut test so that a track never continues across a cut."""

from __future__ import annotations

import cv2
import numpy as np
import torch

from ..structures.boxes import box_iou

__all__ = ["IoUTracker", "colour_histogram", "is_cut", "scene_cut"]

CUT_CORRELATION = 0.6  # adjacent frames of one shot correlate > 0.9 (measured on synthetic and phone footage)


def colour_histogram(frame: np.ndarray) -> np.ndarray:
    """Normalised hue / saturation histogram of a uint8 RGB frame (a small copy of it), for :func:`is_cut`."""
    small = cv2.resize(np.ascontiguousarray(frame), (64, 48), interpolation=cv2.INTER_AREA)
    hsv = cv2.cvtColor(small, cv2.COLOR_RGB2HSV)
    hist = cv2.calcHist([hsv], [0, 1], None, [16, 8], [0, 180, 0, 256])
    return cv2.normalize(hist, hist).flatten()


def is_cut(previous: np.ndarray, current: np.ndarray, threshold: float = CUT_CORRELATION) -> bool:
    """Whether two adjacent frames' :func:`colour_histogram` correlate below ``threshold``: a change of shot, not
    motion within one."""
    return cv2.compareHist(previous, current, cv2.HISTCMP_CORREL) < threshold


def scene_cut(frames: np.ndarray, threshold: float = CUT_CORRELATION) -> bool:
    """Whether consecutive uint8 RGB ``frames`` ``[T, H, W, 3]`` hold a cut between two adjacent frames."""
    hists = [colour_histogram(f) for f in frames]
    return any(is_cut(a, b, threshold) for a, b in zip(hists, hists[1:]))


class IoUTracker:
    """Greedy IoU matching of each new set of boxes to the live tracks.

    ``max_age``: how many consecutive steps a track may miss (no matching box) and still be matched (0: a track
    ends at its first miss, so a person who reappears after a gap gets a new id). Pairs are taken in decreasing
    IoU order; a pair below ``iou_thresh`` is not matched, and an unmatched box starts a new track. Track ids count
    from 0 in order of appearance; :meth:`reset` (at a scene cut) ends every track.
    """

    def __init__(self, iou_thresh: float = 0.3, max_age: int = 1):
        self.iou_thresh = float(iou_thresh)
        self.max_age = int(max_age)
        self._tracks: dict[int, tuple[np.ndarray, int]] = {}  # id -> (last box xyxy, step last seen)
        self._next_id = 0
        self._step = -1

    def reset(self) -> None:
        """End every track (a scene cut): the next boxes all get new ids."""
        self._tracks.clear()

    def update(self, boxes: np.ndarray) -> list[int]:
        """Track ids for ``boxes`` ``[N, 4]`` xyxy (one step, e.g. one second)."""
        self._step += 1
        boxes = np.asarray(boxes, dtype=np.float32).reshape(-1, 4)
        alive = [(tid, box) for tid, (box, seen) in self._tracks.items() if self._step - seen - 1 <= self.max_age]
        ids = [-1] * len(boxes)
        if alive and len(boxes):
            iou = box_iou(torch.from_numpy(boxes), torch.from_numpy(np.stack([b for _, b in alive]))).numpy()
            order = np.dstack(np.unravel_index(np.argsort(-iou, axis=None), iou.shape))[0]
            used_tracks: set[int] = set()
            for i, j in order:
                if iou[i, j] < self.iou_thresh:
                    break
                if ids[i] != -1 or j in used_tracks:
                    continue
                ids[i] = alive[j][0]
                used_tracks.add(int(j))
        for i, box in enumerate(boxes):
            if ids[i] == -1:
                ids[i] = self._next_id
                self._next_id += 1
            self._tracks[ids[i]] = (box, self._step)
        return ids
