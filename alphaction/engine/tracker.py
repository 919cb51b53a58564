"""A simple IoU tracker: gives the person boxes of consecutive seconds stable track ids (for the demo)."""
from __future__ import annotations

import numpy as np
import torch

from ..structures.boxes import box_iou

__all__ = ["IoUTracker"]


class IoUTracker:
    """Greedy IoU matching of each new set of boxes to the live tracks.

    ``max_age``: how many consecutive steps a track may miss (no matching box) and still be matched.
    Pairs are taken in decreasing IoU order; a pair below ``iou_thresh`` is not matched, and an unmatched box
    starts a new track. Track ids count from 0 in order of appearance.
    """

    def __init__(self, iou_thresh: float = 0.3, max_age: int = 1):
        self.iou_thresh = float(iou_thresh)
        self.max_age = int(max_age)
        self._tracks: dict[int, tuple[np.ndarray, int]] = {}  # id -> (last box xyxy, step last seen)
        self._next_id = 0
        self._step = -1

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
