"""Iteration-based learning-rate schedules (stepped once per iteration)."""

from __future__ import annotations

import math
from bisect import bisect_right

import torch
from torch.optim.lr_scheduler import LRScheduler

from ..utils.errors import ConfigValueError


def warmup_factor(it: int, warmup_iters: int, warmup_factor: float, method: str) -> float:
    """Multiplier during warmup: ``factor`` at it=0 rising linearly to 1 at ``warmup_iters`` (or constant)."""
    if it >= warmup_iters:
        return 1.0
    if method == "constant":
        return warmup_factor
    if method == "linear":
        alpha = it / warmup_iters
        return warmup_factor * (1 - alpha) + alpha
    raise ConfigValueError(f"SOLVER.WARMUP_METHOD: unknown method '{method}'; use 'linear' or 'constant'")


class WarmupMultiStepLR(LRScheduler):
    """``base_lr * warmup(it) * gamma ** (number of steps <= it)``."""

    def __init__(
        self, optimizer, steps, gamma=0.1, warmup_factor=1 / 3, warmup_iters=500, warmup_method="linear", last_epoch=-1
    ):
        if list(steps) != sorted(steps):
            raise ConfigValueError(f"SOLVER.STEPS must be increasing, got {steps}")
        self.steps, self.gamma = list(steps), gamma
        self.warmup = (warmup_iters, warmup_factor, warmup_method)
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        it = self.last_epoch
        f = warmup_factor(it, *self.warmup) * self.gamma ** bisect_right(self.steps, it)
        return [base * f for base in self.base_lrs]


class WarmupCosineLR(LRScheduler):
    """Half-period cosine from base_lr to 0 over ``max_iter``, after the warmup (AlphAction's half_period_cosine)."""

    def __init__(
        self, optimizer, max_iter, warmup_factor=1 / 3, warmup_iters=500, warmup_method="linear", last_epoch=-1
    ):
        self.max_iter = max_iter
        self.warmup = (warmup_iters, warmup_factor, warmup_method)
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        it = self.last_epoch
        f = warmup_factor(it, *self.warmup) * 0.5 * (math.cos(it / self.max_iter * math.pi) + 1)
        return [base * f for base in self.base_lrs]


def build_lr_scheduler(cfg, optimizer: torch.optim.Optimizer) -> LRScheduler:
    s = cfg.SOLVER
    warm = dict(
        warmup_factor=s.WARMUP_FACTOR if s.WARMUP_ON else 1.0,
        warmup_iters=s.WARMUP_ITERS if s.WARMUP_ON else 0,
        warmup_method=s.WARMUP_METHOD,
    )
    if s.SCHEDULER == "warmup_multi_step":
        return WarmupMultiStepLR(optimizer, s.STEPS, s.GAMMA, **warm)
    if s.SCHEDULER == "half_period_cosine":
        return WarmupCosineLR(optimizer, s.MAX_ITER, **warm)
    raise ConfigValueError(
        f"SOLVER.SCHEDULER: unknown scheduler '{s.SCHEDULER}'; use 'warmup_multi_step' or 'half_period_cosine'"
    )
