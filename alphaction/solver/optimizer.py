"""Optimizer with AlphAction's parameter groups.

Rules (AlphAction's): BatchNorm weights/biases get WEIGHT_DECAY_BN; other biases get lr x BIAS_LR_FACTOR and
WEIGHT_DECAY_BIAS; parameters under an IA module get lr x IA_LR_FACTOR on top. Frozen-BN tensors are buffers
and never reach the optimizer. Parameters sharing the same (lr, weight decay) share one group.
Finetuning extras: the backbone's parameters get lr x BACKBONE_LR_FACTOR, and the first FREEZE_STAGES backbone
stages stop training. The solver knows no module names: the model declares its parts (``lr_groups``: name prefixes
of the backbone and the IA structure) and its stages (``stage_prefixes(n)``; SlowFast's use PySlowFast numbering:
stage 1 = both stems + ``Tconv1``, stage k = 2..5 = ``res_nl{k-1}`` of both pathways + ``Tconv{k}``). Frozen
stages keep updating BN running statistics unless MODEL.BACKBONE.FROZEN_BN is set.
"""

from __future__ import annotations

import logging

import torch
from torch import nn

from ..utils.errors import ConfigValueError

logger = logging.getLogger(__name__)

_BN_TYPES = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d, nn.SyncBatchNorm, nn.LayerNorm, nn.GroupNorm)


def make_param_groups(
    model: nn.Module,
    base_lr: float,
    weight_decay: float,
    bias_lr_factor: float = 1.0,
    weight_decay_bias: float = 0.0,
    weight_decay_bn: float = 0.0,
    special_lr: dict[str, float] | None = None,
) -> list[dict]:
    """Group trainable parameters by (lr, weight decay).

    ``special_lr`` maps a parameter-name prefix (a model's ``lr_groups``, e.g. ``"backbone."``) to an lr
    multiplier applied to every parameter whose name starts with it.
    """
    norm_params = {id(p) for m in model.modules() if isinstance(m, _BN_TYPES) for p in m.parameters(recurse=False)}
    groups: dict[tuple[float, float], list] = {}
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        lr, wd = base_lr, weight_decay
        if id(p) in norm_params:
            wd = weight_decay_bn
        elif name.endswith("bias"):
            lr, wd = base_lr * bias_lr_factor, weight_decay_bias
        for prefix, mult in (special_lr or {}).items():
            if name.startswith(prefix):
                lr *= mult
        groups.setdefault((lr, wd), []).append(p)
    return [{"params": ps, "lr": lr, "weight_decay": wd, "initial_lr": lr} for (lr, wd), ps in groups.items()]


def stage_prefixes(model: nn.Module, num_stages: int) -> list[str]:
    """Parameter-name prefixes of the model's first ``num_stages`` backbone stages (the model's own
    ``stage_prefixes``: the solver knows no backbone's module names)."""
    if not hasattr(model, "stage_prefixes"):
        raise ConfigValueError(f"SOLVER.FREEZE_STAGES {num_stages}: {type(model).__name__} has no backbone stages")
    try:
        return list(model.stage_prefixes(num_stages))
    except ValueError as e:
        raise ConfigValueError(
            f"SOLVER.FREEZE_STAGES {num_stages}: {e}",
            fix="give a number of stages the backbone has (0 trains every stage)",
        ) from None


def freeze_stages(model: nn.Module, num_stages: int) -> int:
    """Set ``requires_grad=False`` on the first ``num_stages`` stages; returns how many tensors were frozen."""
    prefixes = tuple(stage_prefixes(model, num_stages))
    frozen = 0
    for name, p in model.named_parameters():
        if prefixes and name.startswith(prefixes):
            p.requires_grad_(False)
            frozen += 1
    if num_stages and not frozen:
        raise ConfigValueError(
            f"SOLVER.FREEZE_STAGES {num_stages}: no parameter starts with {prefixes[:2]}...; the model's backbone "
            "stages are named otherwise"
        )
    return frozen


def build_optimizer(cfg, model: nn.Module) -> torch.optim.Optimizer:
    """The optimizer over ``model``'s trainable parameters; freezes SOLVER.FREEZE_STAGES stages first."""
    s = cfg.SOLVER
    if s.FREEZE_STAGES:
        logger.info(
            "SOLVER.FREEZE_STAGES %d: %d parameter tensors frozen",
            s.FREEZE_STAGES,
            freeze_stages(model, s.FREEZE_STAGES),
        )
    lr_groups = getattr(model, "lr_groups", {})  # the model names its parts; the solver knows no module names
    special = {}
    if s.IA_LR_FACTOR != 1.0 and "ia" in lr_groups:
        special[lr_groups["ia"]] = s.IA_LR_FACTOR
    if s.BACKBONE_LR_FACTOR != 1.0 and "backbone" in lr_groups:
        special[lr_groups["backbone"]] = s.BACKBONE_LR_FACTOR
    groups = make_param_groups(
        model,
        s.BASE_LR,
        s.WEIGHT_DECAY,
        s.BIAS_LR_FACTOR,
        s.WEIGHT_DECAY_BIAS,
        s.WEIGHT_DECAY_BN,
        special_lr=special or None,
    )
    if s.OPTIMIZER == "SGD":
        return torch.optim.SGD(groups, lr=s.BASE_LR, momentum=s.MOMENTUM)
    if s.OPTIMIZER == "Adam":
        return torch.optim.Adam(groups, lr=s.BASE_LR)
    if s.OPTIMIZER == "AdamW":
        return torch.optim.AdamW(groups, lr=s.BASE_LR)
    raise ConfigValueError(f"SOLVER.OPTIMIZER: unknown optimizer '{s.OPTIMIZER}'; use 'SGD', 'Adam' or 'AdamW'")
