"""Building blocks below the models: frozen batch norm, 3-D ROI pooling over torchvision, focal losses."""

from __future__ import annotations

from .focal_loss import sigmoid_focal_loss, softmax_focal_loss
from .frozen_bn import FrozenBatchNorm3d
from .roi_pool import POOLER_TYPES, boxes_to_rois, pool_rois_3d

__all__ = [
    "FrozenBatchNorm3d",
    "POOLER_TYPES",
    "boxes_to_rois",
    "pool_rois_3d",
    "sigmoid_focal_loss",
    "softmax_focal_loss",
]
