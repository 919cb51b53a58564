"""The training loop: data -> forward -> loss -> backward -> step. Everything else is a hook."""
from __future__ import annotations

import logging
import math
import time
from typing import Iterable

import torch

from ..utils import comm
from .hooks import HookBase

logger = logging.getLogger(__name__)


def batch_to_device(batch: dict, device: torch.device) -> dict:
    """Move the tensors a model needs; lists of tensors are moved element-wise."""
    out = dict(batch)
    for key in ("slow", "fast"):
        out[key] = batch[key].to(device, non_blocking=True)
    for key in ("boxes", "labels", "objects"):
        if key in batch:
            out[key] = [t.to(device, non_blocking=True) for t in batch[key]]
    return out


class Trainer:
    """Iterates ``data_loader`` from ``start_iter`` to ``max_iter``, calling hooks after every step."""

    def __init__(self, model, optimizer, data_loader: Iterable, device: torch.device, max_iter: int,
                 start_iter: int = 0, hooks: list[HookBase] | None = None) -> None:
        self.model, self.optimizer, self.data_loader = model, optimizer, data_loader
        self.device, self.max_iter, self.iter = device, max_iter, start_iter
        self.hooks = list(hooks or [])
        for h in self.hooks:
            h.trainer = self
        self.last_metrics: dict[str, float] = {}

    def train(self) -> None:
        logger.info("Start training from iteration %d to %d", self.iter, self.max_iter)
        self.model.train()
        for h in self.hooks:
            h.before_train()
        data_iter = iter(self.data_loader)
        while self.iter < self.max_iter:
            t0 = time.perf_counter()
            batch = next(data_iter)
            data_time = time.perf_counter() - t0
            self.run_step(batch)
            self.last_metrics["data_time"] = data_time
            self.last_metrics["time"] = time.perf_counter() - t0
            self.iter += 1
            for h in self.hooks:
                h.after_step()
        for h in self.hooks:
            h.after_train()

    def run_step(self, batch: dict) -> None:
        batch = batch_to_device(batch, self.device)
        loss_dict = self.model(batch["slow"], batch["fast"], batch["boxes"], batch["image_sizes"],
                               labels=batch["labels"], objects=batch.get("objects"))
        losses = sum(loss_dict.values())
        if not math.isfinite(losses.item()):
            raise FloatingPointError(
                f"loss became {losses.item()} at iteration {self.iter}: "
                f"{ {k: v.item() for k, v in loss_dict.items()} }, lr {self.optimizer.param_groups[0]['lr']}"
            )
        self.optimizer.zero_grad(set_to_none=True)
        losses.backward()
        self.optimizer.step()
        reduced = comm.reduce_dict({k: v.detach() for k, v in loss_dict.items()})
        self.last_metrics = {k: v.item() for k, v in reduced.items()}
        self.last_metrics["loss"] = sum(self.last_metrics.values())
