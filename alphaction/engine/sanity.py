"""Start-up gradient check: one forward / backward on one batch before training.

A head that is not connected to the loss, a branch the forward never uses or a stray ``.detach()`` trains
for hours without an error; this check finds them in seconds. It runs on the unwrapped model, then puts
back everything it touched (gradients, BatchNorm statistics, the global and the dataset RNG streams), so
the training that follows is the same as without it.
"""

from __future__ import annotations

import contextlib
import logging
import math
from typing import Callable, Sequence

import torch
from torch import nn

from ..utils.seed import get_rng_state, set_rng_state
from .tasks import training_call
from .trainer import batch_to_device

logger = logging.getLogger(__name__)

__all__ = ["GradientCheckError", "parameter_group", "group_grad_norms", "check_gradients", "sanity_check_batch"]


class GradientCheckError(RuntimeError):
    """Trainable parameters that the loss does not reach; the message names them."""


def parameter_group(name: str) -> str:
    """The stage a parameter belongs to: ``backbone.<pathway>.stem`` (conv1 / bn1), ``backbone.<pathway>.res_nl2``,
    ``backbone.fast.Tconv1`` ...; outside the backbone the first two name parts (``head.proj``)."""
    parts = name.split(".")
    if parts[0] == "backbone" and len(parts) > 3:
        return f"backbone.{parts[1]}.stem" if parts[2] in ("conv1", "bn1") else ".".join(parts[:3])
    return ".".join(parts[:2]) if len(parts) > 2 else parts[0]


def group_grad_norms(model: nn.Module) -> dict[str, float]:
    """L2 norm of the gradients of each :func:`parameter_group` (groups whose parameters all lack a ``grad`` are
    left out), in parameter order."""
    squares: dict[str, float] = {}
    for name, p in model.named_parameters():
        if p.grad is not None:
            group = parameter_group(name)
            squares[group] = squares.get(group, 0.0) + float(p.grad.float().pow(2).sum())
    return {g: math.sqrt(v) for g, v in squares.items()}


def check_gradients(
    model: nn.Module,
    batch: dict,
    device: torch.device,
    channels_last: bool = False,
    autocast: Callable[[], contextlib.AbstractContextManager] | None = None,
) -> dict[str, dict]:
    """Forward and backward ``batch`` (a collated training batch) through ``model`` in train mode.

    Returns:
        ``{group: {"trainable": n, "frozen": m, "grad_norm": L2 norm of the group's gradients}}`` in
        parameter order (see :func:`parameter_group`); ``grad_norm`` is NaN for an all-frozen group.
    Raises:
        GradientCheckError: the loss reaches no trainable parameter, or some trainable parameters get no
            gradient (``grad`` None after backward); the message lists them by group.
    """
    was_training = model.training
    buffers = {k: v.detach().clone() for k, v in model.named_buffers()}
    rng = get_rng_state()
    model.zero_grad(set_to_none=True)
    model.train()
    try:
        with autocast() if autocast is not None else contextlib.nullcontext():
            loss_dict = training_call(model)(model, batch_to_device(batch, device, channels_last))
        loss = sum(v.float() for v in loss_dict.values())
        if not loss.requires_grad:
            raise GradientCheckError(
                f"start-up gradient check: the training loss ({', '.join(loss_dict)}) does not depend on any "
                "trainable parameter (the head's output is detached or every parameter is frozen); fix the "
                "model / SOLVER.FREEZE_STAGES, or set SOLVER.SANITY_CHECK False to skip this check"
            )
        loss.backward()
        report: dict[str, dict] = {}
        missing: list[str] = []
        for name, p in model.named_parameters():
            group = report.setdefault(parameter_group(name), {"trainable": 0, "frozen": 0, "grad_norm": math.nan})
            if not p.requires_grad:
                group["frozen"] += 1
                continue
            group["trainable"] += 1
            if p.grad is None:
                missing.append(name)
        for g, norm in group_grad_norms(model).items():
            report[g]["grad_norm"] = norm
    finally:
        model.zero_grad(set_to_none=True)
        with torch.no_grad():
            for k, v in model.named_buffers():
                if k in buffers:
                    v.copy_(buffers[k])
        set_rng_state(rng)
        model.train(was_training)
    _log_report(report)
    if missing:
        by_group: dict[str, list[str]] = {}
        for name in missing:
            by_group.setdefault(parameter_group(name), []).append(name)
        lines = [
            f"{g}: {len(ns)} of {report[g]['trainable']} trainable tensor(s), e.g. {', '.join(ns[:3])}"
            for g, ns in by_group.items()
        ]
        raise GradientCheckError(
            f"start-up gradient check: {len(missing)} trainable parameter tensor(s) get no gradient from the loss:\n  "
            + "\n  ".join(lines)
            + "\nThe forward does not use them (a detached tensor or an unused branch). Use "
            "them, freeze them (SOLVER.FREEZE_STAGES, requires_grad False), or set SOLVER.SANITY_CHECK False to "
            "skip this check"
        )
    return report


def _log_report(report: dict[str, dict]) -> None:
    width = max(len(g) for g in report) if report else 5
    rows = [f"{'group':<{width}}  trainable  frozen   grad_norm"]
    for g, r in report.items():
        norm = "frozen" if r["trainable"] == 0 else f"{r['grad_norm']:.4g}"
        rows.append(f"{g:<{width}}  {r['trainable']:>9}  {r['frozen']:>6}  {norm:>10}")
    logger.info(
        "start-up gradient check (one forward / backward) passed; gradient L2 norm per stage:\n%s", "\n".join(rows)
    )


def sanity_check_batch(dataset, collate_fn, num_samples: int = 2, indices: Sequence[int] | None = None) -> dict:
    """A batch of the first ``num_samples`` samples of ``dataset`` (training transforms), collated.

    Reading samples in this process advances the dataset's augmentation RNG (with ``NUM_WORKERS`` 0 the
    training loader's stream); its state is put back afterwards.
    """
    parts = list(dataset.datasets) if hasattr(dataset, "datasets") else [dataset]
    saved = [
        d.augmentation_rng().bit_generator.state if callable(getattr(d, "augmentation_rng", None)) else None
        for d in parts
    ]
    try:
        if indices is not None:
            return collate_fn([dataset[i] for i in indices])
        # skip samples the dataset marks as bad (DATALOADER.ON_BAD_SAMPLE skip): they collate to an empty batch
        good = []
        for i in range(min(len(dataset), max(32, 4 * num_samples))):
            sample = dataset[i]
            if not collate_fn([sample]).get("empty"):
                good.append(sample)
            if len(good) == num_samples:
                break
        if not good:
            raise RuntimeError(
                "sanity check: the first samples of the training set are all unreadable; fix the "
                "data (tools/validate_dataset.py) or set SOLVER.SANITY_CHECK False"
            )
        return collate_fn(good)
    finally:
        for d, state in zip(parts, saved):
            if state is not None:
                d.augmentation_rng().bit_generator.state = state
