"""Hooks around the training loop: LR schedule, checkpoints, evaluation, logging."""
from __future__ import annotations

import datetime
import logging
import time
from typing import Callable

import torch

from ..utils.metrics import MetricLogger

logger = logging.getLogger(__name__)


def _max_memory(device: torch.device) -> str:
    """Peak GPU memory of this process on CUDA; peak resident memory (RSS) on the CPU."""
    if device.type == "cuda":
        return f"{torch.cuda.max_memory_allocated(device) / 2**20:.0f} MB"
    import resource  # POSIX only; the CPU path is where it is needed

    return f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB RSS"


class HookBase:
    """Called by :class:`alphaction.engine.trainer.Trainer`; ``self.trainer`` is set before training."""

    trainer = None

    def before_train(self) -> None:
        pass

    def after_step(self) -> None:
        pass

    def after_train(self) -> None:
        pass


class LRSchedulerHook(HookBase):
    def __init__(self, scheduler) -> None:
        self.scheduler = scheduler

    def after_step(self) -> None:
        self.scheduler.step()


class PeriodicCheckpointHook(HookBase):
    """``model_XXXXXXX.pth`` every ``period`` iterations and ``model_final.pth`` at the end."""

    def __init__(self, checkpointer, period: int, max_iter: int) -> None:
        self.checkpointer, self.period, self.max_iter = checkpointer, period, max_iter

    def after_step(self) -> None:
        it = self.trainer.iter
        if it >= self.max_iter:
            self.checkpointer.save("model_final", iteration=it)
        elif self.period > 0 and it % self.period == 0:
            self.checkpointer.save(f"model_{it:07d}", iteration=it)


class EvalHook(HookBase):
    """Run ``eval_fn()`` every ``period`` iterations (not at the last one: the final test covers it)."""

    def __init__(self, period: int, max_iter: int, eval_fn: Callable[[], dict], writer=None) -> None:
        self.period, self.max_iter, self.eval_fn, self.writer = period, max_iter, eval_fn, writer

    def after_step(self) -> None:
        it = self.trainer.iter
        if self.period > 0 and it % self.period == 0 and it < self.max_iter:
            results = self.eval_fn()
            self.trainer.model.train()
            if self.writer is not None:
                for name, value in (results or {}).items():
                    self.writer.add_scalar(f"val/{name}", value, it)


class LoggerHook(HookBase):
    """A readable line every ``period`` iterations (ETA, losses, lr, memory); TensorBoard scalars if a writer."""

    def __init__(self, period: int, max_iter: int, writer=None) -> None:
        self.period, self.max_iter, self.writer = period, max_iter, writer
        self.meters = MetricLogger(window=period)

    def before_train(self) -> None:
        self.start_time = time.perf_counter()
        self.start_iter = self.trainer.iter

    def after_step(self) -> None:
        t = self.trainer
        self.meters.update(**t.last_metrics)
        it = t.iter
        if it % self.period and it < self.max_iter:
            return
        elapsed = time.perf_counter() - self.start_time
        done = max(it - self.start_iter, 1)
        eta = datetime.timedelta(seconds=int(elapsed / done * (self.max_iter - it)))
        lr = t.optimizer.param_groups[0]["lr"]
        logger.info("eta: %s  iter: %d/%d  %s  lr: %.6f  max mem: %s",
                    eta, it, self.max_iter, self.meters, lr, _max_memory(t.device))
        if self.writer is not None:
            for name, meter in self.meters.meters.items():
                self.writer.add_scalar(f"train/{name}", meter.median, it)
            self.writer.add_scalar("train/lr", lr, it)

    def after_train(self) -> None:
        if self.writer is not None:
            self.writer.flush()
