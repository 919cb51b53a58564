"""Focal losses used by the ROI action head (AlphAction's recipe, without custom CUDA kernels)."""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor
from torchvision.ops import sigmoid_focal_loss as _tv_sigmoid_focal_loss


def _reduce(loss: Tensor, reduction: str) -> Tensor:
    if reduction == "none":
        return loss
    if reduction == "sum":
        return loss.sum()
    if reduction == "mean":
        return loss.mean()
    raise ValueError(f"reduction must be 'none', 'mean' or 'sum', got {reduction!r}")


def softmax_focal_loss(
    logits: Tensor, target: Tensor, gamma: float = 2.0, alpha: float = -1.0, reduction: str = "sum"
) -> Tensor:
    """Single-label focal loss ``-alpha_t * (1 - p_t)^gamma * log(p_t)`` with ``p = softmax(logits)``.

    Args:
        logits: ``[N, K]``.
        target: ``[N]`` class indices.
        gamma: focal exponent; 0 gives cross-entropy.
        alpha: weight of every term when >= 0; < 0 disables it (AlphAction's setting).
        reduction: ``"sum"`` (AlphAction), ``"mean"`` or ``"none"`` (``[N]``).
    """
    log_p = F.log_softmax(logits, dim=1).gather(1, target.long().view(-1, 1)).squeeze(1)
    loss = -log_p
    if gamma != 0:
        loss = loss * (1.0 - log_p.exp()).clamp(min=0).pow(gamma)
    if alpha >= 0:
        loss = alpha * loss
    return _reduce(loss, reduction)


def sigmoid_focal_loss(
    logits: Tensor, targets: Tensor, gamma: float = 2.0, alpha: float = -1.0, reduction: str = "none"
) -> Tensor:
    """Multi-label focal loss per element (``torchvision.ops.sigmoid_focal_loss``).

    ``alpha < 0`` disables the positive/negative weighting (AlphAction's setting); ``gamma = 0`` and
    ``alpha < 0`` give binary cross-entropy with logits.
    """
    return _tv_sigmoid_focal_loss(logits, targets.to(logits.dtype), alpha=alpha, gamma=gamma, reduction=reduction)


__all__ = ["softmax_focal_loss", "sigmoid_focal_loss"]
