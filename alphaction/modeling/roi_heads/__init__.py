"""ROI action head (AlphAction's ``roi_heads.action``): extractor, predictor, loss, post-processing."""

from __future__ import annotations

from .action_head import ROIActionHead
from .feature_extractor import MLPFeatureExtractor, PooledFeatures
from .loss import ActionLoss, ClassGroups
from .postprocess import action_probabilities
from .predictor import FCPredictor

__all__ = [
    "ActionLoss",
    "ClassGroups",
    "FCPredictor",
    "MLPFeatureExtractor",
    "PooledFeatures",
    "ROIActionHead",
    "action_probabilities",
]
