"""The training loop: data -> forward -> loss -> backward -> step. Everything else is a hook."""

from __future__ import annotations

import contextlib
import logging
import math
import time
from typing import Any, Callable, Iterable

import torch

from ..utils import comm
from ..utils.errors import UserError

logger = logging.getLogger(__name__)

AMP_DTYPES = {"off": None, "bf16": torch.bfloat16, "fp16": torch.float16}


def batch_to_device(batch: dict, device: torch.device, channels_last: bool = False) -> dict:
    """Move the tensors a model needs; lists of tensors are moved element-wise."""
    out = dict(batch)
    fmt = torch.channels_last_3d if channels_last else torch.contiguous_format
    for key in ("slow", "fast"):
        out[key] = batch[key].to(device, non_blocking=True, memory_format=fmt)
    for key in ("boxes", "labels", "objects"):
        if key in batch:
            value = batch[key]
            # classification batches hold labels as one tensor, detection batches as a list per clip
            out[key] = (
                value.to(device, non_blocking=True)
                if isinstance(value, torch.Tensor)
                else [t.to(device, non_blocking=True) for t in value]
            )
    return out


class HookBase:
    """A hook of :class:`Trainer` (the hooks themselves are in ``engine/hooks.py``); ``self.trainer`` is set before
    training."""

    trainer = None

    def before_train(self) -> None:
        pass

    def after_step(self) -> None:
        pass

    def on_exception(self, exc: BaseException) -> None:
        """The loop raised ``exc`` (it is re-raised after every hook saw it; ``after_train`` still runs)."""

    def after_train(self) -> None:
        pass


class NonFiniteLossError(UserError, FloatingPointError):
    """A NaN / Inf loss (or weights, ``what="weights"``): the run diverged. Carries what is needed to debug it;
    :class:`~alphaction.engine.hooks.NonFiniteLossHook` rolls ``last_checkpoint`` back to the newest checkpoint
    from before the divergence and completes the fix text."""

    def __init__(self, iteration: int, losses: dict[str, float], lr: float, indices=None, what: str = "loss") -> None:
        self.iteration, self.losses, self.lr, self.indices, self.kind = iteration, losses, lr, indices, what
        super().__init__(
            f"non-finite {what} at iteration {iteration}: {losses}, lr {lr:.6g}"
            + (f", clips {indices}" if indices is not None else ""),
            fix="rerun the same command with a lower SOLVER.BASE_LR (the schedule follows the new "
            "value) or SOLVER.CLIP_GRAD_NORM 10: it resumes from the last checkpoint before the "
            "divergence",
        )


class Trainer:
    """Iterates ``data_loader`` from ``start_iter`` to ``max_iter`` (optimizer steps), calling hooks after every
    step.

    Args:
        data_loader: yields ``(max_iter - start_iter) * grad_accum_steps`` micro-batches.
        amp: ``"off"``, ``"bf16"`` or ``"fp16"`` (autocast on the device type; fp16 adds a GradScaler).
        grad_accum_steps: micro-batches whose gradients are summed (as a mean) before one optimizer step; under
            DDP the gradient all-reduce happens once, on the last one.
        clip_grad_norm: clip the global L2 norm of the gradients to this (0 = off).
        channels_last: move clips to channels-last-3d (the model must be converted too).
        forward: ``forward(model, batch) -> loss dict``, the task's training call
            (:func:`alphaction.engine.tasks.training_call` of the model; an IA memory wraps it, see
            :meth:`alphaction.engine.ia_memory.TrainingMemory.wrap`). The loop itself knows no task.
    """

    def __init__(
        self,
        model,
        optimizer,
        data_loader: Iterable,
        device: torch.device,
        max_iter: int,
        start_iter: int = 0,
        hooks: list[HookBase] | None = None,
        amp: str = "off",
        grad_accum_steps: int = 1,
        clip_grad_norm: float = 0.0,
        channels_last: bool = False,
        forward: Callable[[Any, dict], dict] | None = None,
    ) -> None:
        if amp not in AMP_DTYPES:
            raise ValueError(f"SOLVER.AMP: unknown mode {amp!r}; use one of {sorted(AMP_DTYPES)}")
        if grad_accum_steps < 1:
            raise ValueError(f"SOLVER.GRAD_ACCUM_STEPS must be >= 1, got {grad_accum_steps}")
        self.model, self.optimizer, self.data_loader = model, optimizer, data_loader
        self.device, self.max_iter, self.iter, self.start_iter = device, max_iter, start_iter, start_iter
        self.amp_dtype = AMP_DTYPES[amp]
        self.scaler = torch.amp.GradScaler(device.type) if amp == "fp16" else None
        self.grad_accum_steps, self.clip_grad_norm, self.channels_last = grad_accum_steps, clip_grad_norm, channels_last
        if forward is None:
            raise ValueError("Trainer needs forward(model, batch) -> loss dict (alphaction.engine.tasks.training_call)")
        self.forward = forward
        self.hooks = list(hooks or [])
        for h in self.hooks:
            h.trainer = self
        self.last_metrics: dict[str, float] = {}
        self.skipped_samples = 0  # samples this rank's loader dropped as undecodable (ON_BAD_SAMPLE skip)
        self.last_indices: list[int] = []

    @property
    def lr(self) -> float:
        return self.optimizer.param_groups[0]["lr"]

    def state_dict(self) -> dict:
        """What a checkpoint needs beyond model / optimizer / scheduler to continue exactly."""
        return {"grad_scaler": self.scaler.state_dict()} if self.scaler is not None else {}

    def load_state_dict(self, state: dict) -> None:
        if self.scaler is not None and state.get("grad_scaler"):
            self.scaler.load_state_dict(state["grad_scaler"])

    def train(self) -> None:
        logger.info("Start training from iteration %d to %d", self.iter, self.max_iter)
        self.model.train()
        for h in self.hooks:
            h.before_train()
        try:
            data_iter = iter(self.data_loader)
            while self.iter < self.max_iter:
                t0 = time.perf_counter()
                data_time = self.run_step(data_iter)
                self.last_metrics["data_time"] = data_time
                self.last_metrics["time"] = time.perf_counter() - t0
                self.iter += 1
                for h in self.hooks:
                    h.after_step()
        except Exception as e:
            for h in self.hooks:
                h.on_exception(e)
            raise
        finally:
            for h in self.hooks:
                h.after_train()

    def autocast(self):
        if self.amp_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device.type, dtype=self.amp_dtype)

    def run_step(self, data_iter) -> float:
        """One optimizer step over ``grad_accum_steps`` micro-batches; returns the time spent waiting for data."""
        data_time = 0.0
        self.optimizer.zero_grad(set_to_none=True)
        totals: dict[str, torch.Tensor] = {}
        self.last_indices = []
        n = self.grad_accum_steps
        for micro in range(n):
            t0 = time.perf_counter()
            batch = next(data_iter)
            data_time += time.perf_counter() - t0
            self.last_indices += [int(i) for i in batch.get("indices", [])]
            self.skipped_samples += int(batch.get("num_skipped", 0))  # DATALOADER.ON_BAD_SAMPLE skip
            if batch.get("empty"):  # no clip left to train on: stopping beats a rank silently out of step
                raise RuntimeError(
                    f"iteration {self.iter}: every clip of the batch failed to decode "
                    f"(DATALOADER.ON_BAD_SAMPLE skip): " + "; ".join(batch["errors"])
                )
            batch = batch_to_device(batch, self.device, self.channels_last)
            # DDP all-reduces gradients on every backward; only the last micro-batch needs it
            sync = micro == n - 1 or not hasattr(self.model, "no_sync")
            with contextlib.nullcontext() if sync else self.model.no_sync():
                with self.autocast():
                    loss_dict = self.forward(self.model, batch)
                loss_dict = {k: v.float() for k, v in loss_dict.items()}
                losses = sum(loss_dict.values()) / n
                for k, v in loss_dict.items():
                    totals[k] = totals.get(k, 0) + v.detach() / n
                # the averaged losses of all ranks: for the log, and (NaN on any rank makes the average NaN)
                # a collective finite-loss check, so that every rank stops at the same point
                if micro == n - 1:
                    reduced = {k: v.item() for k, v in comm.reduce_dict(totals).items()}
                    if not math.isfinite(sum(reduced.values())):
                        raise NonFiniteLossError(self.iter, reduced, self.lr, self.last_indices)
                elif not torch.isfinite(losses):
                    # this rank knows already; the others find out at the last micro-batch's reduction
                    logger.warning("non-finite loss in micro-batch %d of iteration %d", micro, self.iter)
                if self.scaler is not None:
                    self.scaler.scale(losses).backward()
                else:
                    losses.backward()
        if self.scaler is not None:
            self.scaler.unscale_(self.optimizer)  # clip the true gradients, not the scaled ones
        if self.clip_grad_norm > 0:
            params = [p for g in self.optimizer.param_groups for p in g["params"]]
            reduced["grad_norm"] = float(torch.nn.utils.clip_grad_norm_(params, self.clip_grad_norm))
        if self.scaler is not None:
            self.scaler.step(self.optimizer)
            self.scaler.update()
        else:
            self.optimizer.step()
        loss = sum(v for k, v in reduced.items() if k != "grad_norm")
        self.last_metrics = {**reduced, "loss": loss}
        return data_time
