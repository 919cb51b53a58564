"""Logits -> class probabilities (softmax over the pose group, sigmoid over the rest)."""

from __future__ import annotations

import torch
from torch import Tensor


def action_probabilities(logits: Tensor, num_pose: int) -> Tensor:
    """``[K, C]`` logits -> ``[K, C]`` probabilities: softmax over the first ``num_pose`` columns, sigmoid after."""
    pose, others = logits.split([num_pose, logits.shape[1] - num_pose], dim=1)
    return torch.cat([pose.softmax(dim=1), others.sigmoid()], dim=1)
