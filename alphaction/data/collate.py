"""Batch collation for the sample dicts of ``docs/internals.md``."""

from __future__ import annotations

import math
from typing import Sequence

from torch import Tensor

__all__ = ["collate", "pad_videos"]


def pad_videos(videos: Sequence[Tensor], size_divisibility: int = 0) -> Tensor:
    """Zero-pad ``[C, T, H_i, W_i]`` tensors at the bottom/right to the max ``H``, ``W`` (rounded up to a
    multiple of ``size_divisibility`` when > 0) and stack them -> ``[B, C, T, H, W]``."""
    c, t = videos[0].shape[:2]
    h = max(v.shape[2] for v in videos)
    w = max(v.shape[3] for v in videos)
    if size_divisibility > 0:
        h = int(math.ceil(h / size_divisibility) * size_divisibility)
        w = int(math.ceil(w / size_divisibility) * size_divisibility)
    out = videos[0].new_zeros(len(videos), c, t, h, w)
    for i, v in enumerate(videos):
        if v.shape[:2] != (c, t):
            raise ValueError(f"cannot batch clips of shapes {tuple(videos[0].shape)} and {tuple(v.shape)}")
        out[i, :, :, : v.shape[2], : v.shape[3]].copy_(v)
    return out


def collate(batch: Sequence[dict], size_divisibility: int = 16) -> dict:
    """Sample dicts -> a batch dict.

    ``slow`` ``[B, 3, T_slow, H, W]`` and ``fast`` ``[B, 3, T_fast, H, W]`` are padded (see
    :func:`pad_videos`); ``boxes``, ``labels``, ``scores``, ``objects``, ``image_sizes``, ``keyframe_sizes``
    (the annotated keyframe's ``(height, width)``, default the image size), ``video_ids``,
    ``timestamps`` and ``indices`` are lists in batch order; ``num_skipped`` counts the samples a dataset
    skipped (``DATALOADER.ON_BAD_SAMPLE skip``), which are left out. Use ``functools.partial`` to fix
    ``size_divisibility`` for a DataLoader.
    """
    skipped = [s for s in batch if s.get("skipped")]
    batch = [s for s in batch if not s.get("skipped")]
    if not batch:  # every clip failed: inference moves on, training stops with these errors
        return {"empty": True, "num_skipped": len(skipped), "errors": [s["error"] for s in skipped]}
    return {
        "num_skipped": len(skipped),
        "slow": pad_videos([s["slow"] for s in batch], size_divisibility),
        "fast": pad_videos([s["fast"] for s in batch], size_divisibility),
        "boxes": [s["boxes"] for s in batch],
        "labels": [s["labels"] for s in batch],
        "scores": [s["scores"] for s in batch],
        "objects": [s["objects"] for s in batch],
        "image_sizes": [tuple(s["image_size"]) for s in batch],
        "keyframe_sizes": [tuple(s.get("keyframe_size", s["image_size"])) for s in batch],
        "video_ids": [s["video_id"] for s in batch],
        "timestamps": [s["timestamp"] for s in batch],
        "indices": [s["index"] for s in batch],
    }
