"""Box helpers on ``[N, 4]`` float tensors, in one of two pixel conventions (``INPUT.BOX_CONVENTION``).

- ``"continuous"`` (ours): ``xyxy`` boxes in continuous pixel coordinates of the image they live on; a box
  covering the whole ``W x H`` image is ``[0, 0, W, H]``, its width is ``x2 - x1``; normalized boxes divide x
  by W and y by H. No ``+1`` anywhere.
- ``"alphaction"`` (AlphAction's, inherited from maskrcnn-benchmark's ``TO_REMOVE = 1``): coordinates name
  pixels, inclusively: a box's width is ``x2 - x1 + 1``, the last pixel column is ``W - 1`` (so boxes are
  clipped to ``[0, W - 1]``), a COCO ``[x, y, w, h]`` box ends at ``x + w - 1``, a horizontal flip maps ``x`` to
  ``W - x - 1``, and a box written to an AVA CSV gets its ``+1`` back before normalising. AlphAction's released
  weights were trained and scored this way; the ROI pooling itself takes the boxes as they are either way.
"""

from __future__ import annotations

import torch
from torch import Tensor

BOX_CONVENTIONS = ("continuous", "alphaction")


def pixel_offset(convention: str) -> float:
    """The ``+1`` of a convention: 0 for ``"continuous"``, 1 for ``"alphaction"`` (maskrcnn's ``TO_REMOVE``)."""
    if convention == "continuous":
        return 0.0
    if convention == "alphaction":
        return 1.0
    raise ValueError(f"box convention {convention!r}: use one of {BOX_CONVENTIONS} (INPUT.BOX_CONVENTION)")


def xywh_to_xyxy(boxes: Tensor, convention: str = "continuous") -> Tensor:
    """``[x, y, w, h]`` -> ``[x1, y1, x2, y2]`` (``"alphaction"``: ``x2 = x + max(w - 1, 0)``)."""
    off = pixel_offset(convention)
    x, y, w, h = boxes.unbind(-1)
    return torch.stack([x, y, x + (w - off).clamp(min=0), y + (h - off).clamp(min=0)], dim=-1)


def xyxy_to_xywh(boxes: Tensor, convention: str = "continuous") -> Tensor:
    """``[x1, y1, x2, y2]`` -> ``[x, y, w, h]`` (``"alphaction"``: ``w = x2 - x1 + 1``)."""
    off = pixel_offset(convention)
    x1, y1, x2, y2 = boxes.unbind(-1)
    return torch.stack([x1, y1, x2 - x1 + off, y2 - y1 + off], dim=-1)


def scale_boxes(boxes: Tensor, scale_x: float, scale_y: float) -> Tensor:
    """Scale x coordinates by ``scale_x`` and y coordinates by ``scale_y`` (an image resize; both conventions)."""
    return boxes * boxes.new_tensor([scale_x, scale_y, scale_x, scale_y])


def normalize_boxes(boxes: Tensor, height: float, width: float) -> Tensor:
    """Pixel boxes on a ``width x height`` image -> boxes in [0, 1] (continuous convention)."""
    return scale_boxes(boxes, 1.0 / width, 1.0 / height)


def denormalize_boxes(boxes: Tensor, height: float, width: float) -> Tensor:
    """Boxes in [0, 1] -> pixel boxes on a ``width x height`` image (continuous convention)."""
    return scale_boxes(boxes, width, height)


def output_boxes(
    boxes: Tensor,
    height: float,
    width: float,
    convention: str = "continuous",
    keyframe_size: tuple[float, float] | None = None,
) -> Tensor:
    """Boxes on the ``width x height`` network input -> normalised ``[0, 1]`` boxes as an AVA CSV holds them.

    ``"alphaction"`` adds back the one pixel of the keyframe (``keyframe_size = (height, width)`` of the annotated
    image, default the input size) to ``x2`` / ``y2``, as AlphAction's evaluation did after resizing its boxes
    to the keyframe; the result is clamped to ``[0, 1]``.
    """
    out = normalize_boxes(boxes, height, width)
    off = pixel_offset(convention)
    if off:
        kh, kw = keyframe_size if keyframe_size is not None else (height, width)
        out = out + out.new_tensor([0.0, 0.0, off / kw, off / kh])
    return out.clamp(0, 1)


def flip_boxes(boxes: Tensor, width: float, convention: str = "continuous") -> Tensor:
    """Mirror boxes left-right on an image ``width`` pixels wide (``"alphaction"``: ``x -> W - x - 1``)."""
    right = width - pixel_offset(convention)
    x1, y1, x2, y2 = boxes.unbind(-1)
    return torch.stack([right - x2, y1, right - x1, y2], dim=-1)


def clip_boxes(boxes: Tensor, height: float, width: float, convention: str = "continuous") -> Tensor:
    """Clamp boxes to the image: ``[0, W] x [0, H]``, or ``[0, W - 1] x [0, H - 1]`` for ``"alphaction"``."""
    off = pixel_offset(convention)
    x1, y1, x2, y2 = boxes.unbind(-1)
    xmax, ymax = width - off, height - off
    return torch.stack([x1.clamp(0, xmax), y1.clamp(0, ymax), x2.clamp(0, xmax), y2.clamp(0, ymax)], dim=-1)


def nonempty_boxes(boxes: Tensor) -> Tensor:
    """Bool ``[N]``: ``x2 > x1`` and ``y2 > y1`` (the boxes AlphAction keeps after clipping its annotations)."""
    return (boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])


def box_area(boxes: Tensor, convention: str = "continuous") -> Tensor:
    """Area of each box, 0 for degenerate boxes (``"alphaction"``: ``(x2 - x1 + 1) * (y2 - y1 + 1)``)."""
    off = pixel_offset(convention)
    return (boxes[:, 2] - boxes[:, 0] + off).clamp(min=0) * (boxes[:, 3] - boxes[:, 1] + off).clamp(min=0)


def jitter_fractions(
    num_boxes: int,
    ratios: tuple[float, float, float, float],
    generator: torch.Generator | None = None,
    dtype: torch.dtype = torch.float32,
) -> Tensor:
    """``[N, 4]`` random side moves as fractions of the box size, for :func:`apply_box_jitter`.

    With ``ratios = (a, b, c, d)``: x1 moves by ``U(-a, c)``, y1 by ``U(-b, d)``, x2 by ``U(-c, a)``, y2 by
    ``U(-d, b)`` (AlphAction's ``random_aug(0.2, 0.1, 0.1, 0.05)``: every side moves outwards by up to ``a`` /
    ``b`` and inwards by up to ``c`` / ``d`` of the box size).
    """
    a, b, c, d = ratios
    u = torch.rand(num_boxes, 4, generator=generator, dtype=dtype)
    low = torch.tensor([-a, -b, -c, -d], dtype=dtype)
    high = torch.tensor([c, d, a, b], dtype=dtype)
    return low + u * (high - low)


def apply_box_jitter(
    boxes: Tensor, fractions: Tensor, height: float, width: float, convention: str = "continuous"
) -> Tensor:
    """Move each side by ``fractions`` ``[N, 4]`` of the box's width / height, then keep the box on the image.

    ``"continuous"``: clip to ``[0, W] x [0, H]`` and keep at least one pixel (``x2 >= min(x1 + 1, W)``).
    ``"alphaction"`` (AlphAction's ``random_aug``): width ``x2 - x1 + 1``; x1 clamped to ``[0, W - 2]``, x2 to
    ``<= W - 1`` and then ``>= x1 + 1`` (the same for y), and the box clipped to ``[0, W - 1] x [0, H - 1]``.
    """
    off = pixel_offset(convention)
    w = (boxes[:, 2] - boxes[:, 0] + off).unsqueeze(1)
    h = (boxes[:, 3] - boxes[:, 1] + off).unsqueeze(1)
    out = boxes + fractions.to(boxes) * torch.cat([w, h, w, h], dim=1)
    if off:
        x1 = out[:, 0].clamp(0, width - off - 1)
        y1 = out[:, 1].clamp(0, height - off - 1)
        x2 = torch.maximum(out[:, 2].clamp(max=width - off), x1 + 1)
        y2 = torch.maximum(out[:, 3].clamp(max=height - off), y1 + 1)
        return clip_boxes(torch.stack([x1, y1, x2, y2], dim=1), height, width, convention)
    out = clip_boxes(out, height, width)
    # keep at least a one-pixel box where clipping or jitter collapsed it
    out[:, 2] = torch.maximum(out[:, 2], (out[:, 0] + 1).clamp(max=width))
    out[:, 3] = torch.maximum(out[:, 3], (out[:, 1] + 1).clamp(max=height))
    return out


def jitter_boxes(
    boxes: Tensor,
    ratios: tuple[float, float, float, float],
    height: float,
    width: float,
    generator: torch.Generator | None = None,
    convention: str = "continuous",
) -> Tensor:
    """Randomly move each side of each box (AlphAction's training augmentation): :func:`jitter_fractions`
    then :func:`apply_box_jitter`."""
    frac = jitter_fractions(boxes.shape[0], ratios, generator, boxes.dtype)
    return apply_box_jitter(boxes, frac.to(boxes.device), height, width, convention)


def extend_boxes(
    boxes: Tensor, scale: tuple[float, float], height: float, width: float, convention: str = "continuous"
) -> Tensor:
    """Widen boxes by ``scale[0]`` of their width and ``scale[1]`` of their height in total (half per side),
    clipped to the image (AlphAction's test-time ``extend``; ``"alphaction"``: width ``x2 - x1 + 1``, clipped
    to ``[0, W - 1]``, and no box is dropped)."""
    off = pixel_offset(convention)
    w = boxes[:, 2] - boxes[:, 0] + off
    h = boxes[:, 3] - boxes[:, 1] + off
    pad = torch.stack([w * scale[0] / 2, h * scale[1] / 2], dim=1).repeat(1, 2)
    pad[:, :2] *= -1
    return clip_boxes(boxes + pad, height, width, convention)


def box_iou(a: Tensor, b: Tensor) -> Tensor:
    """Pairwise IoU ``[N, M]`` of xyxy boxes (continuous coordinates)."""
    lt = torch.maximum(a[:, None, :2], b[None, :, :2])
    rb = torch.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = (rb - lt).clamp(min=0).prod(-1)
    union = box_area(a)[:, None] + box_area(b)[None, :] - inter
    return torch.where(union > 0, inter / union.clamp(min=1e-12), torch.zeros_like(inter))
