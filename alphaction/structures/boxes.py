"""Box helpers on ``[N, 4]`` float tensors.

Convention: ``xyxy`` boxes in continuous pixel coordinates of the image they live on (a box covering the
whole ``W x H`` image is ``[0, 0, W, H]``); normalized boxes divide x by W and y by H. No ``+1`` anywhere.
"""
from __future__ import annotations

import torch
from torch import Tensor


def xywh_to_xyxy(boxes: Tensor) -> Tensor:
    """``[x, y, w, h]`` -> ``[x1, y1, x2, y2]``."""
    x, y, w, h = boxes.unbind(-1)
    return torch.stack([x, y, x + w, y + h], dim=-1)


def xyxy_to_xywh(boxes: Tensor) -> Tensor:
    """``[x1, y1, x2, y2]`` -> ``[x, y, w, h]``."""
    x1, y1, x2, y2 = boxes.unbind(-1)
    return torch.stack([x1, y1, x2 - x1, y2 - y1], dim=-1)


def scale_boxes(boxes: Tensor, scale_x: float, scale_y: float) -> Tensor:
    """Scale x coordinates by ``scale_x`` and y coordinates by ``scale_y`` (an image resize)."""
    return boxes * boxes.new_tensor([scale_x, scale_y, scale_x, scale_y])


def normalize_boxes(boxes: Tensor, height: float, width: float) -> Tensor:
    """Pixel boxes on a ``width x height`` image -> boxes in [0, 1]."""
    return scale_boxes(boxes, 1.0 / width, 1.0 / height)


def denormalize_boxes(boxes: Tensor, height: float, width: float) -> Tensor:
    """Boxes in [0, 1] -> pixel boxes on a ``width x height`` image."""
    return scale_boxes(boxes, width, height)


def flip_boxes(boxes: Tensor, width: float) -> Tensor:
    """Mirror boxes left-right on an image ``width`` pixels wide."""
    x1, y1, x2, y2 = boxes.unbind(-1)
    return torch.stack([width - x2, y1, width - x1, y2], dim=-1)


def clip_boxes(boxes: Tensor, height: float, width: float) -> Tensor:
    """Clamp boxes to the image ``[0, width] x [0, height]``."""
    x1, y1, x2, y2 = boxes.unbind(-1)
    return torch.stack(
        [x1.clamp(0, width), y1.clamp(0, height), x2.clamp(0, width), y2.clamp(0, height)], dim=-1
    )


def box_area(boxes: Tensor) -> Tensor:
    """Area of each box (0 for degenerate boxes)."""
    return (boxes[:, 2] - boxes[:, 0]).clamp(min=0) * (boxes[:, 3] - boxes[:, 1]).clamp(min=0)


def jitter_boxes(
    boxes: Tensor,
    ratios: tuple[float, float, float, float],
    height: float,
    width: float,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Randomly move each side of each box (AlphAction's training augmentation).

    With ``ratios = (a, b, c, d)``: x1 += w * U(-a, c), y1 += h * U(-b, d), x2 += w * U(-c, a),
    y2 += h * U(-d, b), so every side moves outwards by up to ``a`` / ``b`` and inwards by up to ``c`` / ``d``
    of the box size. The result is clipped to the image; a side never crosses its opposite side.
    """
    a, b, c, d = ratios
    w = (boxes[:, 2] - boxes[:, 0]).unsqueeze(1)
    h = (boxes[:, 3] - boxes[:, 1]).unsqueeze(1)
    u = torch.rand(boxes.shape[0], 4, generator=generator, dtype=boxes.dtype).to(boxes.device)
    low = boxes.new_tensor([-a, -b, -c, -d])
    high = boxes.new_tensor([c, d, a, b])
    frac = low + u * (high - low)
    out = boxes + frac * torch.cat([w, h, w, h], dim=1)
    out = clip_boxes(out, height, width)
    # keep at least a one-pixel box where clipping or jitter collapsed it
    out[:, 2] = torch.maximum(out[:, 2], (out[:, 0] + 1).clamp(max=width))
    out[:, 3] = torch.maximum(out[:, 3], (out[:, 1] + 1).clamp(max=height))
    return out


def extend_boxes(boxes: Tensor, scale: tuple[float, float], height: float, width: float) -> Tensor:
    """Widen boxes by ``scale[0]`` of their width and ``scale[1]`` of their height in total (half per side),
    clipped to the image (AlphAction's test-time ``extend``)."""
    w = boxes[:, 2] - boxes[:, 0]
    h = boxes[:, 3] - boxes[:, 1]
    pad = torch.stack([w * scale[0] / 2, h * scale[1] / 2], dim=1).repeat(1, 2)
    pad[:, :2] *= -1
    return clip_boxes(boxes + pad, height, width)


def box_iou(a: Tensor, b: Tensor) -> Tensor:
    """Pairwise IoU ``[N, M]`` of xyxy boxes (continuous coordinates)."""
    lt = torch.maximum(a[:, None, :2], b[None, :, :2])
    rb = torch.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = (rb - lt).clamp(min=0).prod(-1)
    union = box_area(a)[:, None] + box_area(b)[None, :] - inter
    return torch.where(union > 0, inter / union.clamp(min=1e-12), torch.zeros_like(inter))
