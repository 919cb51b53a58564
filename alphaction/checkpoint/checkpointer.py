"""Saving and loading checkpoints: atomic writes, resume, and a loud report of what did not load."""
from __future__ import annotations

import logging
import os
from collections import defaultdict
from typing import Any

import torch
from torch import nn

logger = logging.getLogger(__name__)

LAST_CHECKPOINT = "last_checkpoint"


class CheckpointError(RuntimeError):
    """A checkpoint that cannot be used as asked; the message names the file and the keys."""


def strip_prefix(state_dict: dict[str, Any], prefix: str = "module.") -> dict[str, Any]:
    """Drop ``prefix`` from keys when every key has it (DDP checkpoints)."""
    if state_dict and all(k.startswith(prefix) for k in state_dict):
        return {k[len(prefix):]: v for k, v in state_dict.items()}
    return state_dict


def _group(keys: list[str], depth: int = 3) -> str:
    counts: dict[str, int] = defaultdict(int)
    for k in keys:
        counts[".".join(k.split(".")[:depth])] += 1
    return ", ".join(f"{p} ({n})" if n > 1 else p for p, n in sorted(counts.items()))


def match_state_dict(
    model_state: dict[str, torch.Tensor],
    loaded: dict[str, torch.Tensor],
    skip_prefixes: tuple[str, ...] = (),
) -> tuple[dict[str, torch.Tensor], dict[str, list]]:
    """Pick the loaded tensors that fit the model, and report the rest.

    Returns ``(to_load, report)`` with report keys ``missing`` (model keys not loaded), ``unexpected``
    (checkpoint keys the model lacks), ``shape_mismatch`` ((key, ckpt shape, model shape)) and ``skipped``
    (keys dropped on purpose through ``skip_prefixes``).
    """
    loaded = {k: v for k, v in loaded.items() if not k.endswith("num_batches_tracked") or k in model_state}
    report: dict[str, list] = {"missing": [], "unexpected": [], "shape_mismatch": [], "skipped": []}
    to_load = {}
    for k, v in loaded.items():
        if any(k.startswith(p) for p in skip_prefixes):
            report["skipped"].append(k)
        elif k not in model_state:
            report["unexpected"].append(k)
        elif tuple(v.shape) != tuple(model_state[k].shape):
            report["shape_mismatch"].append((k, tuple(v.shape), tuple(model_state[k].shape)))
        else:
            to_load[k] = v
    report["missing"] = [k for k in model_state if k not in to_load]
    return to_load, report


def log_report(report: dict[str, list], source: str) -> None:
    if report["skipped"]:
        logger.info("%s: not loaded on purpose (--no-head): %s", source, _group(report["skipped"]))
    if report["missing"]:
        logger.warning("%s: %d model keys not in the checkpoint keep their initial values: %s",
                       source, len(report["missing"]), _group(report["missing"]))
    if report["unexpected"]:
        logger.warning("%s: %d checkpoint keys unused by the model: %s",
                       source, len(report["unexpected"]), _group(report["unexpected"]))
    for k, got, want in report["shape_mismatch"]:
        logger.error("%s: shape mismatch for %s: checkpoint %s, model %s", source, k, got, want)


class Checkpointer:
    """Save / load / resume a model with its optimizer and scheduler.

    Files: ``save_dir/<name>.pth`` holding ``{"model", "optimizer", "scheduler", "iteration", ...}`` and
    ``save_dir/last_checkpoint`` holding the latest file name. Writes go to a temporary file first and are
    renamed into place, so an interrupted save never leaves a truncated checkpoint.
    """

    def __init__(self, model: nn.Module, optimizer=None, scheduler=None, save_dir: str = "",
                 save_to_disk: bool = True, head_prefix: str = "roi_heads.") -> None:
        self.model = model
        self.optimizer = optimizer
        self.scheduler = scheduler
        self.save_dir = save_dir
        self.save_to_disk = save_to_disk
        self.head_prefix = head_prefix

    def _module(self) -> nn.Module:
        return self.model.module if hasattr(self.model, "module") else self.model

    def save(self, name: str, **extra: Any) -> str | None:
        if not (self.save_dir and self.save_to_disk):
            return None
        os.makedirs(self.save_dir, exist_ok=True)
        data = {"model": self._module().state_dict()}
        if self.optimizer is not None:
            data["optimizer"] = self.optimizer.state_dict()
        if self.scheduler is not None:
            data["scheduler"] = self.scheduler.state_dict()
        data.update(extra)
        path = os.path.join(self.save_dir, f"{name}.pth")
        tmp = path + ".tmp"
        torch.save(data, tmp)
        os.replace(tmp, path)
        self._write_last(os.path.basename(path))
        logger.info("Saved checkpoint to %s", path)
        return path

    def _write_last(self, filename: str) -> None:
        path = os.path.join(self.save_dir, LAST_CHECKPOINT)
        with open(path + ".tmp", "w", encoding="utf-8") as f:
            f.write(filename)
        os.replace(path + ".tmp", path)

    def last_checkpoint(self) -> str | None:
        """The checkpoint named by ``save_dir/last_checkpoint``, if that file exists."""
        path = os.path.join(self.save_dir, LAST_CHECKPOINT) if self.save_dir else ""
        if not path or not os.path.isfile(path):
            return None
        with open(path, encoding="utf-8") as f:
            name = f.read().strip()
        full = name if os.path.isabs(name) else os.path.join(self.save_dir, name)
        if not os.path.isfile(full):
            raise CheckpointError(f"{path} names {full}, which does not exist; delete {path} to start afresh")
        return full

    def resume_or_load(self, weight: str, transfer: bool = False, no_head: bool = False) -> dict[str, Any]:
        """Resume from ``last_checkpoint`` when there is one (model, optimizer, scheduler, iteration, whatever
        the flags say: they describe the *initial* weights), else load ``weight`` as the flags ask."""
        last = self.last_checkpoint()
        if last is not None:
            if transfer or no_head:
                logger.info("Resuming from %s: --transfer / --no-head apply only to the initial weights "
                            "and are ignored for a resume", last)
            return self.load(last)
        if not weight:
            logger.info("No initial weights (MODEL.WEIGHT is empty): training from scratch")
            return {"iteration": 0}
        return self.load(weight, transfer=transfer, no_head=no_head)

    def load(self, path: str, transfer: bool = False, no_head: bool = False, strict_shapes: bool = True) -> dict[str, Any]:
        """Load ``path`` into the model (and optimizer/scheduler unless ``transfer``); returns the extras.

        ``no_head`` leaves every ``roi_heads.`` tensor at its initial value. A shape mismatch raises (unless
        ``strict_shapes`` is False) with every mismatching key; missing and unused keys are logged.
        """
        if not os.path.isfile(path):
            raise CheckpointError(f"checkpoint not found: {path} (MODEL.WEIGHT or last_checkpoint)")
        logger.info("Loading checkpoint from %s", path)
        data = torch.load(path, map_location="cpu", weights_only=True)
        if not isinstance(data, dict):
            raise CheckpointError(f"{path}: expected a dict, got {type(data).__name__}")
        if "model" not in data:  # a raw state dict
            data = {"model": data}
        state = strip_prefix(data.pop("model"))
        module = self._module()
        skip = (self.head_prefix,) if no_head else ()
        to_load, report = match_state_dict(module.state_dict(), state, skip)
        log_report(report, os.path.basename(path))
        if report["shape_mismatch"] and strict_shapes:
            lines = "\n  ".join(f"{k}: checkpoint {a}, model {b}" for k, a, b in report["shape_mismatch"])
            hint = " Use --no-head to leave the classifier out." if any(
                k.startswith(self.head_prefix) for k, _, _ in report["shape_mismatch"]) else ""
            raise CheckpointError(f"{path}: {len(report['shape_mismatch'])} tensors do not fit the model:\n  {lines}\n{hint}")
        module.load_state_dict(to_load, strict=False)
        extras = {"iteration": 0}
        if transfer:
            return extras
        if self.optimizer is not None and "optimizer" in data:
            self.optimizer.load_state_dict(data.pop("optimizer"))
        if self.scheduler is not None and "scheduler" in data:
            self.scheduler.load_state_dict(data.pop("scheduler"))
        data.pop("optimizer", None)
        data.pop("scheduler", None)
        extras.update(data)
        return extras
