"""ROI pooling of ``[B, C, T, H, W]`` feature maps over ``torchvision.ops``.

torchvision's ``roi_align`` / ``roi_pool`` are 2-D ops; given a 5-D tensor they do not fail but return
wrong values, so every call here goes through :func:`_pool_2d`, which insists on a 4-D input. Time is
handled by averaging it away before pooling (``mean_before_pooler=True``, what every AlphAction config
does) or by folding it into the batch, pooling every frame and averaging afterwards.
"""

from __future__ import annotations

import torch
from torch import Tensor
from torchvision.ops import roi_align, roi_pool

POOLER_TYPES = ("align3d", "pooling3d")


def boxes_to_rois(boxes: list[Tensor], dtype: torch.dtype | None = None) -> Tensor:
    """Per-clip ``[N_i, 4]`` boxes -> ``[K, 5]`` rois ``(clip_index, x1, y1, x2, y2)``, ``K = sum N_i``."""
    if len(boxes) == 0:
        raise ValueError("boxes_to_rois: expected one [N_i, 4] box tensor per clip, got an empty list")
    dtype = dtype or boxes[0].dtype
    rows = []
    for index, clip_boxes in enumerate(boxes):
        clip_boxes = clip_boxes.to(dtype).reshape(-1, 4)
        column = torch.full((clip_boxes.shape[0], 1), float(index), dtype=dtype, device=clip_boxes.device)
        rows.append(torch.cat([column, clip_boxes], dim=1))
    return torch.cat(rows, dim=0)


def _pool_2d(
    features: Tensor, rois: Tensor, pooler_type: str, output_size: int, spatial_scale: float, sampling_ratio: int
) -> Tensor:
    assert features.dim() == 4, f"torchvision ROI ops need [N, C, H, W] features, got shape {tuple(features.shape)}"
    if pooler_type == "align3d":
        # aligned=False: AlphAction's legacy ROIAlign (no half-pixel offset, rois forced to >= 1x1)
        return roi_align(
            features, rois, output_size, spatial_scale=spatial_scale, sampling_ratio=sampling_ratio, aligned=False
        )
    if pooler_type == "pooling3d":
        return roi_pool(features, rois, output_size, spatial_scale=spatial_scale)
    raise ValueError(
        f"pooler_type must be one of {POOLER_TYPES}, got {pooler_type!r} (MODEL.ROI_ACTION_HEAD.POOLER_TYPE)"
    )


def pool_rois_3d(
    features: Tensor,
    boxes: list[Tensor],
    output_size: int,
    spatial_scale: float,
    sampling_ratio: int = 0,
    mean_before_pooler: bool = True,
    pooler_type: str = "align3d",
) -> Tensor:
    """Pool every box of every clip from a video feature map, averaged over time.

    Args:
        features: ``[B, C, T, H, W]`` feature map.
        boxes: ``B`` tensors ``[N_i, 4]``, xyxy in input pixels (``spatial_scale`` maps them to the map).
        output_size: bins per side (``POOLER_RESOLUTION``).
        spatial_scale: feature-map size over input size (``POOLER_SCALE``, 1/16).
        sampling_ratio: ROIAlign samples per bin side; 0 = adaptive (ignored by ROIPool).
        mean_before_pooler: True: average over T, then pool; False: pool each frame, then average over T.
        pooler_type: ``"align3d"`` (``roi_align``) or ``"pooling3d"`` (``roi_pool``).

    Returns:
        ``[K, C, output_size, output_size]``, rows in the order of the clips and then their boxes.
    """
    if features.dim() != 5:
        raise ValueError(f"pool_rois_3d: expected [B, C, T, H, W] features, got {tuple(features.shape)}")
    batch, channels, frames, height, width = features.shape
    if len(boxes) != batch:
        raise ValueError(f"pool_rois_3d: {len(boxes)} box tensors for a batch of {batch} clips")
    # pool in float32: box coordinates in half precision are off by pixels, and the ops need equal dtypes
    out_dtype = features.dtype
    features = features.float()
    rois = boxes_to_rois(boxes, dtype=torch.float32).to(features.device)
    if mean_before_pooler:
        pooled = _pool_2d(features.mean(dim=2), rois, pooler_type, output_size, spatial_scale, sampling_ratio)
        return pooled.to(out_dtype)
    # fold T into the batch: frame t of clip b becomes image b * T + t
    frames_2d = features.permute(0, 2, 1, 3, 4).reshape(batch * frames, channels, height, width)
    offsets = torch.arange(frames, dtype=rois.dtype, device=rois.device)
    rois_t = rois.repeat_interleave(frames, dim=0)
    rois_t[:, 0] = rois_t[:, 0] * frames + offsets.repeat(rois.shape[0])
    pooled = _pool_2d(frames_2d, rois_t, pooler_type, output_size, spatial_scale, sampling_ratio)
    return pooled.view(rois.shape[0], frames, channels, output_size, output_size).mean(dim=1).to(out_dtype)
