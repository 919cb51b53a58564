"""Optimizer with AlphAction's parameter groups.

Rules (AlphAction's): BatchNorm weights/biases get WEIGHT_DECAY_BN; other biases get lr x BIAS_LR_FACTOR and
WEIGHT_DECAY_BIAS; parameters under an IA module get lr x IA_LR_FACTOR on top. Frozen-BN tensors are buffers
and never reach the optimizer. Parameters sharing the same (lr, weight decay) share one group.
"""
from __future__ import annotations

import logging

import torch
from torch import nn

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

    ``special_lr`` maps a module-name fragment (e.g. ``"ia_structure"``) to an lr multiplier applied to every
    parameter whose name contains it.
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
        for fragment, mult in (special_lr or {}).items():
            if fragment in name:
                lr *= mult
        groups.setdefault((lr, wd), []).append(p)
    return [{"params": ps, "lr": lr, "weight_decay": wd, "initial_lr": lr} for (lr, wd), ps in groups.items()]


def build_optimizer(cfg, model: nn.Module) -> torch.optim.Optimizer:
    s = cfg.SOLVER
    groups = make_param_groups(
        model, s.BASE_LR, s.WEIGHT_DECAY, s.BIAS_LR_FACTOR, s.WEIGHT_DECAY_BIAS, s.WEIGHT_DECAY_BN,
        special_lr={"ia_structure": s.IA_LR_FACTOR} if s.IA_LR_FACTOR != 1.0 else None,
    )
    if s.OPTIMIZER == "SGD":
        return torch.optim.SGD(groups, lr=s.BASE_LR, momentum=s.MOMENTUM)
    if s.OPTIMIZER == "AdamW":
        return torch.optim.AdamW(groups, lr=s.BASE_LR)
    raise ValueError(f"SOLVER.OPTIMIZER: unknown optimizer '{s.OPTIMIZER}'; use 'SGD' or 'AdamW'")
