"""Optimizer (AlphAction's parameter groups) and learning-rate schedules."""

from .epochs import apply_epoch_schedule, epoch_schedule
from .lr_scheduler import WarmupCosineLR, WarmupMultiStepLR, build_lr_scheduler
from .optimizer import build_optimizer, make_param_groups
from .scaling import apply_scaling_rule, scaled_schedule

__all__ = [
    "WarmupCosineLR",
    "WarmupMultiStepLR",
    "build_lr_scheduler",
    "build_optimizer",
    "make_param_groups",
    "apply_scaling_rule",
    "scaled_schedule",
    "apply_epoch_schedule",
    "epoch_schedule",
]
