"""Epoch-based schedules (SOLVER.EPOCHS, WARMUP_EPOCHS, STEP_EPOCHS) turned into the trainer's iterations."""

from __future__ import annotations

import logging
import math
from typing import Sequence

from ..utils.errors import ConfigValueError

logger = logging.getLogger(__name__)


def epoch_schedule(
    epochs: float, warmup_epochs: float, step_epochs: Sequence[float], num_clips: int, batch: int
) -> dict:
    """``{"MAX_ITER", "WARMUP_ITERS", "STEPS", "ITERS_PER_EPOCH"}`` for ``num_clips`` training clips drawn
    ``batch`` per iteration; an epoch is ``ceil(num_clips / batch)`` iterations, fractions round to nearest."""
    if num_clips < 1 or batch < 1:
        raise ConfigValueError(
            f"epoch schedule: need at least one training clip and batch >= 1 (got {num_clips}, {batch})"
        )
    if any(not 0 < e < epochs for e in step_epochs) or not 0 <= warmup_epochs < epochs:
        raise ConfigValueError(
            f"SOLVER.STEP_EPOCHS {list(step_epochs)} and SOLVER.WARMUP_EPOCHS {warmup_epochs} must "
            f"lie inside SOLVER.EPOCHS {epochs}"
        )
    per_epoch = math.ceil(num_clips / batch)
    return {
        "MAX_ITER": max(1, round(epochs * per_epoch)),
        "WARMUP_ITERS": round(warmup_epochs * per_epoch),
        "STEPS": tuple(round(e * per_epoch) for e in step_epochs),
        "ITERS_PER_EPOCH": per_epoch,
    }


def apply_epoch_schedule(cfg, num_clips: int):
    """When ``SOLVER.EPOCHS > 0``: a clone of ``cfg`` whose MAX_ITER / WARMUP_ITERS / STEPS come from the epoch
    keys (logged); otherwise ``cfg`` itself."""
    s = cfg.SOLVER
    if not s.EPOCHS:
        return cfg
    new = epoch_schedule(s.EPOCHS, s.WARMUP_EPOCHS, tuple(s.STEP_EPOCHS), num_clips, s.VIDEOS_PER_BATCH)
    out = cfg.clone()
    out.defrost()
    for key in ("MAX_ITER", "WARMUP_ITERS", "STEPS"):
        out.SOLVER[key] = new[key]
    logger.info(
        "SOLVER.EPOCHS %g over %d clips (%d iterations / epoch): MAX_ITER %d, WARMUP_ITERS %d, STEPS %s",
        s.EPOCHS,
        num_clips,
        new["ITERS_PER_EPOCH"],
        new["MAX_ITER"],
        new["WARMUP_ITERS"],
        new["STEPS"],
    )
    if cfg.is_frozen():
        out.freeze()
    return out
