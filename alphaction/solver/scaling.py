"""The linear scaling rule: a schedule tuned for one global batch, rescaled for another."""

from __future__ import annotations

import logging

logger = logging.getLogger(__name__)


def scale_schedule(
    base_lr: float,
    base_batch: int,
    steps,
    max_iter: int,
    warmup: int,
    batch: int,
    periods: dict[str, int] | None = None,
) -> dict:
    """The linear scaling rule: ``lr * batch / base_batch``, iterations ``* base_batch / batch`` (rounded).

    Returns ``{"BASE_LR", "STEPS", "MAX_ITER", "WARMUP_ITERS", **periods}`` for ``batch`` clips per iteration.
    """
    if batch < 1 or base_batch < 1:
        raise ValueError(f"batch sizes must be >= 1, got {batch} (base {base_batch})")
    f = base_batch / batch

    def it(n: int) -> int:
        return max(1, int(round(n * f))) if n > 0 else int(n)

    out = {
        "BASE_LR": float(f"{base_lr * batch / base_batch:.6g}"),
        "STEPS": tuple(it(s) for s in steps),
        "MAX_ITER": it(max_iter),
        "WARMUP_ITERS": it(warmup),
    }
    for key, n in (periods or {}).items():
        out[key] = it(n)
    return out


def scaled_schedule(
    base_lr: float, steps: tuple[int, ...], max_iter: int, warmup_iters: int, batch: int, reference_batch: int = 16
) -> dict:
    """Goyal et al.'s rule (as AlphAction's and SlowFast's guides apply it): with ``k = batch / reference_batch``
    the learning rate is multiplied by ``k`` and every iteration count divided by ``k`` (rounded to the nearest
    integer, at least 1 for a non-zero count), so the run sees the same number of clips at each lr.

    Returns ``{"BASE_LR", "STEPS", "MAX_ITER", "WARMUP_ITERS", "factor"}``.
    """
    # one implementation of the rule for the trainer and tools/generate_finetune_config.py (scale_schedule)
    out = scale_schedule(base_lr, reference_batch, steps, max_iter, warmup_iters, batch)
    out["factor"] = batch / reference_batch
    return out


def apply_scaling_rule(cfg):
    """When ``SOLVER.SCALE_LR_WITH_BATCH``: a clone of ``cfg`` with the effective BASE_LR / STEPS / MAX_ITER /
    WARMUP_ITERS and the switch turned off (so the ``config.yaml`` written from it is the schedule that ran and
    re-using that file does not scale twice). Otherwise ``cfg`` itself. The effective values are logged."""
    s = cfg.SOLVER
    if not s.SCALE_LR_WITH_BATCH:
        return cfg
    new = scaled_schedule(
        s.BASE_LR, tuple(s.STEPS), s.MAX_ITER, s.WARMUP_ITERS, s.VIDEOS_PER_BATCH, s.REFERENCE_VIDEOS_PER_BATCH
    )
    out = cfg.clone()
    out.defrost()
    before = {k: s[k] for k in ("BASE_LR", "STEPS", "MAX_ITER", "WARMUP_ITERS")}
    for key in before:
        out.SOLVER[key] = new[key]
    out.SOLVER.SCALE_LR_WITH_BATCH = False
    logger.info(
        "SOLVER.SCALE_LR_WITH_BATCH: global batch %d / reference %d = x%g -> %s",
        s.VIDEOS_PER_BATCH,
        s.REFERENCE_VIDEOS_PER_BATCH,
        new["factor"],
        ", ".join(f"{k} {before[k]} -> {new[k]}" for k in before),
    )
    if cfg.is_frozen():
        out.freeze()
    return out
