"""Clip transforms: resize, colour jitter, horizontal flip, normalize, SlowFast split.

Everything takes explicit arguments (config is read only in ``alphaction.data.build``). Frames are
uint8 RGB numpy arrays ``[T, H, W, 3]``; boxes are float tensors ``[N, 4]`` xyxy in pixels of the frames
(see ``alphaction.structures.boxes``). The outputs are float32 tensors ``[3, T, H, W]``.

Order (AlphAction's): resize -> colour jitter -> flip -> normalize -> SlowFast split. The split's frame
indices are chosen first so that only frames used by a pathway are resized, jittered and normalized;
this changes no value.
"""

from __future__ import annotations

from typing import Sequence

import cv2
import numpy as np
import torch
from torch import Tensor

from alphaction.structures.boxes import flip_boxes, pixel_offset, scale_boxes

__all__ = [
    "resize_size",
    "resize_frames",
    "color_jitter",
    "normalize",
    "slowfast_indices",
    "ClipTransform",
]


def resize_size(height: int, width: int, min_size: int, max_size: int | None) -> tuple[int, int]:
    """maskrcnn-benchmark's rule: short side -> ``min_size`` unless the long side would pass ``max_size``,
    in which case the long side becomes (about) ``max_size``. Returns ``(new_height, new_width)``; the
    long side is truncated (16:9 at 256 -> 256 x 455)."""
    size = min_size
    if max_size is not None and max_size > 0:
        short, long = float(min(height, width)), float(max(height, width))
        if long / short * size > max_size:
            size = int(round(max_size * short / long))
    if (width <= height and width == size) or (height <= width and height == size):
        return int(height), int(width)
    if width < height:
        return int(size * height / width), int(size)
    return int(size), int(size * width / height)


def resize_frames(frames: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Bilinear resize of ``[T, H, W, 3]`` uint8 frames to ``size = (height, width)``."""
    height, width = size
    if frames.shape[1:3] == (height, width):
        return frames
    return np.stack([cv2.resize(f, (width, height), interpolation=cv2.INTER_LINEAR) for f in frames])


def color_jitter(frames: np.ndarray, hue: float, sat: float, val: float, rng: np.random.Generator) -> np.ndarray:
    """One random HSV shift for the whole clip (AlphAction's ``ColorJitter``).

    Args:
        frames: uint8 RGB ``[T, H, W, 3]``.
        hue: max hue shift in degrees (OpenCV hue units are 2 degrees, wrapping at 180).
        sat: max saturation shift as a fraction of 255 (clamped to [0, 255]).
        val: max value shift as a fraction of 255 (clamped to [0, 255]).
        rng: source of the three integer shifts, each uniform in ``[-bound, bound]``.
    """
    hue_b, sat_b, val_b = int(round(hue / 2)), int(round(sat * 255)), int(round(val * 255))
    dh, ds, dv = (int(rng.integers(-b, b + 1)) for b in (hue_b, sat_b, val_b))
    out = np.empty_like(frames)
    for i, frame in enumerate(frames):
        hsv = cv2.cvtColor(frame, cv2.COLOR_RGB2HSV).astype(np.int16)
        hsv[..., 0] = (hsv[..., 0] + dh + 180) % 180
        hsv[..., 1] = np.clip(hsv[..., 1] + ds, 0, 255)
        hsv[..., 2] = np.clip(hsv[..., 2] + dv, 0, 255)
        out[i] = cv2.cvtColor(hsv.astype(np.uint8), cv2.COLOR_HSV2RGB)
    return out


def normalize(frames: np.ndarray, mean: Sequence[float], std: Sequence[float], to_bgr: bool = False) -> Tensor:
    """uint8 RGB ``[T, H, W, 3]`` -> float32 ``[3, T, H, W]`` as ``(x - mean) / std`` on the 0-255 scale.

    ``mean`` and ``std`` are in RGB order (``INPUT.PIXEL_MEAN``); with ``to_bgr`` the channels are
    reversed after normalizing.
    """
    # uint8 has 256 values per channel: a lookup table does subtract + divide + cast in one pass
    # (measured ~3x faster than float arithmetic on the tensor); channel-first is made on uint8 (1 byte)
    lut = (np.arange(256, dtype=np.float32)[None] - np.asarray(mean, np.float32)[:, None]) / np.asarray(
        std, np.float32
    )[:, None]
    chw = np.ascontiguousarray(frames.transpose(3, 0, 1, 2))
    out = np.empty(chw.shape, dtype=np.float32)
    order = (2, 1, 0) if to_bgr else (0, 1, 2)
    for dst, src in enumerate(order):
        np.take(lut[src], chw[src], out=out[dst])
    return torch.from_numpy(out)


def slowfast_indices(num_frames: int, tau: int, alpha: int, slow_start: int | None = None):
    """Frame indices of the two pathways within the ``num_frames`` sampled frames.

    slow = ``range(slow_start, num_frames, tau)``, ``slow_start`` in ``[0, tau-1]``, default
    ``(tau - 1) // 2`` (test / no jitter). fast = ``range((s - 1) // 2, num_frames, s)`` with
    ``s = tau // alpha`` (the fast pathway sees ``alpha`` times more frames). Examples with 32 frames:
    TAU 4, ALPHA 4 -> slow 1, 5, ..., 29 and fast every frame; TAU 8, ALPHA 4 -> slow 3, 11, 19, 27 and
    fast 0, 2, ..., 30.

    Returns:
        ``(slow_idx, fast_idx)`` int64 numpy arrays.

    Raises:
        ValueError: ``tau`` not a positive multiple of ``alpha``, or ``slow_start`` out of range.
    """
    if tau < 1 or alpha < 1 or tau % alpha != 0:
        raise ValueError(f"INPUT.TAU ({tau}) must be a positive multiple of INPUT.ALPHA ({alpha})")
    if slow_start is None:
        slow_start = (tau - 1) // 2
    if not 0 <= slow_start < tau:
        raise ValueError(f"slow_start must be in [0, {tau - 1}], got {slow_start}")
    step = tau // alpha
    return np.arange(slow_start, num_frames, tau), np.arange((step - 1) // 2, num_frames, step)


class ClipTransform:
    """The whole per-clip pipeline, built by ``alphaction.data.build.build_transforms``.

    Args:
        is_train: training enables flip (p = ``flip_prob``), colour jitter and slow jitter when asked.
        min_size, max_size: resize rule (:func:`resize_size`).
        mean, std, to_bgr: :func:`normalize`.
        tau, alpha, slow_jitter: :func:`slowfast_indices`; ``slow_jitter`` draws the slow start in
            ``[0, tau-1]`` when training.
        color_jitter: apply :func:`color_jitter` with ``hue``/``sat``/``val`` when training.
        flip_prob: flip probability in training (0 in testing).
        box_convention: pixel convention of the boxes (``INPUT.BOX_CONVENTION``): where a flip maps them.
    """

    def __init__(
        self,
        is_train: bool,
        min_size: int,
        max_size: int | None,
        mean: Sequence[float],
        std: Sequence[float],
        to_bgr: bool,
        tau: int,
        alpha: int,
        slow_jitter: bool = False,
        color_jitter: bool = False,
        hue: float = 0.0,
        sat: float = 0.0,
        val: float = 0.0,
        flip_prob: float = 0.5,
        box_convention: str = "continuous",
    ):
        slowfast_indices(1, tau, alpha)  # validate TAU / ALPHA early
        pixel_offset(box_convention)  # validate early
        self.box_convention = box_convention
        self.is_train = is_train
        self.min_size, self.max_size = min_size, max_size
        self.mean, self.std, self.to_bgr = list(mean), list(std), to_bgr
        self.tau, self.alpha = tau, alpha
        self.slow_jitter = slow_jitter and is_train
        self.color_jitter = color_jitter and is_train
        self.hue, self.sat, self.val = hue, sat, val
        self.flip_prob = flip_prob if is_train else 0.0

    def output_size(self, height: int, width: int) -> tuple[int, int]:
        """Size of the transformed frames for a ``height x width`` input (decoders may resize to it)."""
        return resize_size(height, width, self.min_size, self.max_size)

    def __call__(
        self,
        frames: np.ndarray,
        boxes: Tensor,
        objects: Tensor | None = None,
        box_size: tuple[int, int] | None = None,
        rng: np.random.Generator | None = None,
    ) -> dict:
        """Transform one clip and its boxes.

        Args:
            frames: uint8 RGB ``[T, H, W, 3]``.
            boxes: ``[N, 4]`` xyxy person boxes in pixels of a ``box_size`` image.
            objects: ``[M, 4]`` xyxy object boxes, same coordinates (or None).
            box_size: ``(height, width)`` of the image the boxes live on (the annotated keyframe);
                defaults to the frames' size. The output size is ``output_size(*box_size)``; frames of
                another size (e.g. already resized by the decoder) are resized to it.
            rng: randomness for flip / jitter (a fresh unseeded generator if None).

        Returns:
            dict with ``slow [3, T_slow, h, w]``, ``fast [3, T_fast, h, w]``, ``boxes [N, 4]``,
            ``objects [M, 4]`` (on the output frames) and ``image_size (h, w)``.
        """
        if rng is None:
            rng = np.random.default_rng()
        if box_size is None:
            box_size = frames.shape[1:3]
        out_h, out_w = self.output_size(*box_size)
        if objects is None:
            objects = torch.zeros(0, 4)

        slow_start = int(rng.integers(0, self.tau)) if self.slow_jitter else None
        slow_idx, fast_idx = slowfast_indices(frames.shape[0], self.tau, self.alpha, slow_start)
        used = np.union1d(slow_idx, fast_idx)
        clip = resize_frames(frames[used], (out_h, out_w))
        sx, sy = out_w / box_size[1], out_h / box_size[0]
        boxes = scale_boxes(boxes.float(), sx, sy)
        objects = scale_boxes(objects.float(), sx, sy)

        if self.color_jitter:
            clip = color_jitter(clip, self.hue, self.sat, self.val, rng)
        if self.flip_prob > 0 and rng.random() < self.flip_prob:
            # AlphAction forgot to flip the object boxes; here frames, persons and objects move together
            clip = clip[:, :, ::-1]
            boxes = flip_boxes(boxes, out_w, self.box_convention)
            objects = flip_boxes(objects, out_w, self.box_convention)

        where = {int(f): k for k, f in enumerate(used)}
        slow = normalize(clip[[where[int(i)] for i in slow_idx]], self.mean, self.std, self.to_bgr)
        fast = normalize(clip[[where[int(i)] for i in fast_idx]], self.mean, self.std, self.to_bgr)
        return {
            "slow": slow,
            "fast": fast,
            "boxes": boxes,
            "objects": objects,
            "image_size": (out_h, out_w),
        }
