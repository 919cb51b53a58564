"""Clip classification: frame sampling, spatial views, the base dataset and its collate.

A classification sample is one video (or HDF5 sample) and its label. From the decoded frames ``[N, H, W, 3]``
(uint8 RGB) a *view* is a clip of ``clip_len`` frames ``interval`` apart and one spatial crop:

- training: one random clip, one random crop (plus flip / colour jitter when asked);
- testing: ``num_clips`` uniformly spaced clips x ``num_crops`` (1: centre, 3: both ends and centre of the
  long side) crops, all returned; the engine averages their scores. ``num_clips = num_crops = 1`` is the
  centre clip and centre crop used for validation.

Short videos are padded by repeating their last frame (as the seed scripts do).
The resize, colour jitter, normalization and pathway split are those of :mod:`alphaction.data.transforms`.
"""

from __future__ import annotations

import os
from typing import Sequence

import numpy as np
import torch
from torch import Tensor

from ..collate import pad_videos
from ..transforms import color_jitter, normalize, resize_frames, resize_size, slowfast_indices

__all__ = [
    "clip_starts",
    "clip_indices",
    "crop_offsets",
    "ClipViewTransform",
    "ClipClassificationDataset",
    "collate_clips",
]


def clip_starts(num_frames: int, span: int, num_clips: int = 1, rng: np.random.Generator | None = None) -> list[int]:
    """First frame of each clip covering ``span`` frames of a ``num_frames`` video.

    With ``rng``: one uniformly random start in ``[0, num_frames - span]`` (training). Without: the centres of
    ``num_clips`` equal segments of the valid starts, ``floor((num_frames - span) * (2k + 1) / (2 num_clips))``
    (``num_clips`` 1 = the centre clip). A video shorter than ``span`` starts at 0.
    """
    slack = max(num_frames - span, 0)
    if rng is not None:
        return [int(rng.integers(0, slack + 1))]
    return [int(slack * (2 * k + 1) // (2 * num_clips)) for k in range(num_clips)]


def clip_indices(start: int, clip_len: int, interval: int, num_frames: int) -> np.ndarray:
    """``start + interval * [0, clip_len)``; indices past the end repeat the last frame (short videos)."""
    if num_frames < 1:
        raise ValueError("cannot sample a clip from a video with no frames")
    return np.minimum(start + interval * np.arange(clip_len), num_frames - 1)


def crop_offsets(
    height: int, width: int, size: int, num_crops: int = 1, rng: np.random.Generator | None = None
) -> list[tuple[int, int]]:
    """``(y, x)`` top-left corners of ``size x size`` crops: one random (``rng``), the centre (1) or both ends
    and the centre of the long side (3, PySlowFast's order: start, centre, end)."""
    dy, dx = max(height - size, 0), max(width - size, 0)
    if rng is not None:
        return [(int(rng.integers(0, dy + 1)), int(rng.integers(0, dx + 1)))]
    if num_crops == 1:
        return [(dy // 2, dx // 2)]
    if num_crops != 3:
        raise ValueError(f"INPUT.NUM_CROPS_TEST must be 1 or 3, got {num_crops}")
    if height > width:
        return [(0, dx // 2), (dy // 2, dx // 2), (dy, dx // 2)]
    return [(dy // 2, 0), (dy // 2, dx // 2), (dy // 2, dx)]


class ClipViewTransform:
    """Sampled frames -> the views of one sample, each ``slow [3, T_slow, h, w]`` and ``fast [3, T_fast, h, w]``.

    Args:
        is_train: random clip, random crop, flip (p = ``flip_prob``), colour jitter when asked.
        clip_len, interval: frames per clip and the step between them (``INPUT.FRAME_NUM``,
            ``INPUT.FRAME_SAMPLE_RATE``).
        min_size, max_size: short-side resize rule of :func:`alphaction.data.transforms.resize_size`.
        crop_size: square crop side after the resize; 0 = no crop (the resized frames).
        num_clips, num_crops: test-time views (ignored in training).
        clip_fps: the frame rate video files are resampled to by time before sampling (``INPUT.CLIP_FPS``; 0:
            their own frames, indexes as they are).
        mean, std, to_bgr, tau, alpha: normalization and pathway split, as for detection.
    """

    def __init__(
        self,
        is_train: bool,
        clip_len: int,
        interval: int,
        min_size: int,
        max_size: int | None,
        mean: Sequence[float],
        std: Sequence[float],
        tau: int,
        alpha: int,
        to_bgr: bool = False,
        crop_size: int = 0,
        num_clips: int = 1,
        num_crops: int = 1,
        flip_prob: float = 0.5,
        color_jitter: bool = False,
        hue: float = 0.0,
        sat: float = 0.0,
        val: float = 0.0,
        clip_fps: float = 0,
    ) -> None:
        slowfast_indices(clip_len, tau, alpha)  # validate TAU / ALPHA early
        if clip_len < 1 or interval < 1:
            raise ValueError(f"INPUT.FRAME_NUM ({clip_len}) and INPUT.FRAME_SAMPLE_RATE ({interval}) must be >= 1")
        if num_clips < 1 or num_crops not in (1, 3):
            raise ValueError(
                f"INPUT.NUM_CLIPS_TEST ({num_clips}) must be >= 1 and INPUT.NUM_CROPS_TEST ({num_crops}) 1 or 3"
            )
        self.is_train, self.clip_len, self.interval = is_train, clip_len, interval
        self.min_size, self.max_size, self.crop_size = min_size, max_size, crop_size
        self.mean, self.std, self.to_bgr, self.tau, self.alpha = list(mean), list(std), to_bgr, tau, alpha
        self.num_clips, self.num_crops = (1, 1) if is_train else (num_clips, num_crops)
        self.flip_prob = flip_prob if is_train else 0.0
        self.color_jitter = color_jitter and is_train
        self.hue, self.sat, self.val = hue, sat, val
        self.clip_fps = clip_fps  # video files are read at this rate by time (0: their own frames); see SparseVideo

    @property
    def num_views(self) -> int:
        return self.num_clips * self.num_crops

    def __call__(self, frames, rng: np.random.Generator) -> tuple[Tensor, Tensor]:
        """uint8 ``[N, H, W, 3]`` (an array, or a stand-in with ``shape`` and indexing by an index
        array such as :class:`~alphaction.data.datasets.clip_sources.SparseVideo`) -> ``slow [V, 3, T_slow, h, w]``,
        ``fast [V, 3, T_fast, h, w]``."""
        n, h, w = frames.shape[:3]
        span = self.clip_len * self.interval
        starts = clip_starts(n, span, self.num_clips, rng if self.is_train else None)
        size = resize_size(h, w, self.min_size, self.max_size)
        slow_idx, fast_idx = slowfast_indices(self.clip_len, self.tau, self.alpha)
        used = np.union1d(slow_idx, fast_idx)
        clips = [clip_indices(start, self.clip_len, self.interval, n)[used] for start in starts]
        wanted = np.unique(np.concatenate(clips))
        # one indexing: a lazily read source (SparseVideo, rawframes) reads these frames in one pass
        picked = frames[wanted]
        row = {int(f): k for k, f in enumerate(wanted)}
        slows, fasts = [], []
        for idx in clips:
            clip = resize_frames(np.ascontiguousarray(picked[[row[int(i)] for i in idx]]), size)
            crops = [(0, 0)]
            if self.crop_size > 0:
                crops = crop_offsets(size[0], size[1], self.crop_size, self.num_crops, rng if self.is_train else None)
            for y, x in crops:
                view = clip
                if self.crop_size > 0:
                    view = clip[:, y : y + self.crop_size, x : x + self.crop_size]
                if self.color_jitter:
                    view = color_jitter(np.ascontiguousarray(view), self.hue, self.sat, self.val, rng)
                if self.flip_prob > 0 and rng.random() < self.flip_prob:
                    view = view[:, :, ::-1]
                view = np.ascontiguousarray(view)
                where = {int(f): k for k, f in enumerate(used)}
                slows.append(normalize(view[[where[int(i)] for i in slow_idx]], self.mean, self.std, self.to_bgr))
                fasts.append(normalize(view[[where[int(i)] for i in fast_idx]], self.mean, self.std, self.to_bgr))
        return torch.stack(slows), torch.stack(fasts)


class ClipClassificationDataset(torch.utils.data.Dataset):
    """Base of the classification datasets: subclasses give ``__len__``, ``read_frames(i)`` (uint8 RGB
    ``[N, H, W, 3]``), ``self.labels`` (one int, or a list of ints when multi-label, per sample) and
    ``sample_id(i)``.

    ``dataset[i]`` -> ``{"slow": [V, 3, T_slow, h, w], "fast": [V, 3, T_fast, h, w], "label": int64 scalar
    (single-label) or float [K] multi-hot, "index": i, "video_id": str}``.
    """

    def __init__(
        self,
        transforms: ClipViewTransform,
        num_classes: int,
        multi_label: bool = False,
        class_names: Sequence[str] | None = None,
        name: str = "",
    ) -> None:
        self.transforms, self.num_classes, self.multi_label = transforms, int(num_classes), bool(multi_label)
        self.class_names = list(class_names) if class_names else [str(i) for i in range(self.num_classes)]
        self.name = name or type(self).__name__
        self.labels: list = []
        self._rng_pid, self._rng_gen = None, None

    def check_labels(self) -> None:
        """Every label within ``[0, num_classes)``; the error names the first offending samples."""
        bad = [
            (self.sample_id(i), lab)
            for i, lab in enumerate(self.labels)
            if any(not 0 <= int(v) < self.num_classes for v in (lab if isinstance(lab, (list, tuple)) else [lab]))
        ]
        if bad:
            raise ValueError(
                f"{self.name}: {len(bad)} label(s) outside [0, {self.num_classes}) (set "
                f"MODEL.CLIP_HEAD.NUM_CLASSES), e.g. {bad[:3]}"
            )

    def sample_id(self, index: int) -> str:
        return str(index)

    def read_frames(self, index: int) -> np.ndarray:
        raise NotImplementedError

    def frame_source(self, index: int):
        """What the transform samples from: the frames array, or a lazily decoded video (``SparseVideo``)."""
        return self.read_frames(index)

    def aspect_ratio_groups(self) -> np.ndarray:
        # every view of a batch has the crop size or the dataset's frame size: one group
        return np.zeros(len(self), dtype=np.int64)

    def class_counts(self) -> np.ndarray:
        counts = np.zeros(self.num_classes, dtype=np.int64)
        for lab in self.labels:
            for v in lab if isinstance(lab, (list, tuple)) else [lab]:
                counts[int(v)] += 1
        return counts

    def augmentation_rng(self) -> np.random.Generator:
        pid = os.getpid()  # one generator per process (see AVAVideoDataset._rng)
        if self._rng_pid != pid:
            self._rng_pid, self._rng_gen = pid, np.random.default_rng(torch.initial_seed())
        return self._rng_gen

    def target(self, index: int) -> Tensor:
        lab = self.labels[index]
        if self.multi_label:
            out = torch.zeros(self.num_classes)
            out[[int(v) for v in (lab if isinstance(lab, (list, tuple)) else [lab])]] = 1.0
            return out
        return torch.tensor(int(lab), dtype=torch.int64)

    def __getitem__(self, index: int) -> dict:
        frames = self.frame_source(index)
        slow, fast = self.transforms(frames, self.augmentation_rng())
        return {
            "slow": slow,
            "fast": fast,
            "label": self.target(index),
            "index": index,
            "video_id": self.sample_id(index),
        }


def collate_clips(batch: Sequence[dict], size_divisibility: int = 0) -> dict:
    """Classification samples -> ``{"slow": [B*V, 3, T_slow, H, W], "fast": [B*V, ...], "labels": [B] or
    [B, K], "num_views": V, "image_sizes": [(h, w)] * B*V, "indices", "video_ids"}`` (views of sample ``b`` are
    rows ``b*V .. b*V+V-1``; clips smaller than the batch are zero-padded at the bottom / right, and
    ``image_sizes`` says how much of each row is the clip)."""
    views = {int(s["slow"].shape[0]) for s in batch}
    if len(views) != 1:
        raise ValueError(f"cannot batch samples with different numbers of views {sorted(views)}")
    return {
        "image_sizes": [tuple(int(d) for d in v.shape[-2:]) for s in batch for v in s["slow"]],
        "slow": pad_videos([v for s in batch for v in s["slow"]], size_divisibility),
        "fast": pad_videos([v for s in batch for v in s["fast"]], size_divisibility),
        "labels": torch.stack([s["label"] for s in batch]),
        "num_views": views.pop(),
        "indices": [s["index"] for s in batch],
        "video_ids": [s["video_id"] for s in batch],
    }
