"""Models: SlowFast backbone, ROI action head, IA, the action detector, the clip classifier and their builders."""

from __future__ import annotations

from .build import (
    build_backbone,
    build_clip_classifier,
    build_ia_structure,
    build_model,
    build_roi_action_head,
    class_groups,
    loss_weights,
)
from .classifier import ClipClassifier, ClipHead
from .detector import ActionDetector

__all__ = [
    "ActionDetector",
    "ClipClassifier",
    "ClipHead",
    "build_backbone",
    "build_clip_classifier",
    "build_ia_structure",
    "build_model",
    "build_roi_action_head",
    "class_groups",
    "loss_weights",
]
