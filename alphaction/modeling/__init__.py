"""Models: SlowFast backbone, ROI action head, Interaction Aggregation, the action detector and their builders."""
from __future__ import annotations

from .build import build_backbone, build_ia_structure, build_model, build_roi_action_head, class_groups, loss_weights
from .detector import ActionDetector

__all__ = ["ActionDetector", "build_backbone", "build_ia_structure", "build_model", "build_roi_action_head", "class_groups",
           "loss_weights"]
