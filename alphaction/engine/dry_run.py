"""``train_net.py --dry-run``: build everything a training run builds, push one batch through, report, exit.

Catches a wrong path, a checkpoint that does not fit, a shape error or a batch that does not fit in memory in
a minute instead of after the first evaluation. Nothing is trained and no checkpoint is written (the log and
OUTPUT_DIR/config.yaml are, as for every run).
"""

from __future__ import annotations

import logging
import resource
import sys
import time

import torch

from ..checkpoint import Checkpointer
from ..config import CfgNode
from ..data import build_data_loader
from ..modeling import build_model
from ..solver import build_lr_scheduler, build_optimizer
from .ia_memory import TrainingMemory, memory_settings, uses_memory
from .launch import DistContext
from .sanity import check_gradients, group_grad_norms
from .tasks import detection_losses
from .trainer import batch_to_device

logger = logging.getLogger(__name__)

__all__ = ["dry_run", "describe_batch"]


def describe_batch(batch: dict) -> dict[str, str]:
    """``{field: shape / dtype}`` for the tensors of a collated batch (lists: their length and first shape)."""
    out = {}
    for key, value in batch.items():
        if isinstance(value, torch.Tensor):
            out[key] = f"{tuple(value.shape)} {str(value.dtype).replace('torch.', '')}"
        elif isinstance(value, (list, tuple)) and value:
            first = value[0]
            shape = tuple(first.shape) if isinstance(first, torch.Tensor) else type(first).__name__
            out[key] = f"list of {len(value)}, first {shape}"
    return out


def _peak_memory_mb(device: torch.device) -> dict[str, float]:
    # ru_maxrss is in KiB on Linux, bytes on macOS
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / (1024 * 1024 if sys.platform == "darwin" else 1024)
    out = {"peak_rss_mb": round(rss, 1)}
    if device.type == "cuda":
        out["peak_cuda_mb"] = round(torch.cuda.max_memory_allocated(device) / 2**20, 1)
    return out


def _memory_step(model, cfg, batch: dict, device: torch.device) -> dict[str, float]:
    # an IA model with memory blocks: one forward / backward with the (empty) memory of a fresh run
    model.train()
    batch = batch_to_device(batch, device, bool(cfg.SOLVER.CHANNELS_LAST))
    memory = TrainingMemory(memory_settings(cfg))
    loss_dict, _ = detection_losses(model, batch, memory=memory.fetch(batch, device))
    sum(v.float() for v in loss_dict.values()).backward()
    return group_grad_norms(model)


def dry_run(cfg: CfgNode, ctx: DistContext, args) -> dict:
    """Model, optimizer, schedule, checkpoint load, training and test loaders; one training batch, one forward /
    backward (no optimizer step). Returns a report (also logged): batch shapes, losses, gradient norms per stage,
    parameter counts, timings, peak memory, and the effective config as YAML."""
    t0 = time.perf_counter()
    model = build_model(cfg).to(ctx.device)
    optimizer = build_optimizer(cfg, model)
    scheduler = build_lr_scheduler(cfg, optimizer)
    # loads exactly what training would load (the last checkpoint of OUTPUT_DIR, else MODEL.WEIGHT), so a
    # checkpoint that does not fit fails here; nothing is saved
    checkpointer = Checkpointer(
        model,
        optimizer,
        scheduler,
        cfg.OUTPUT_DIR,
        save_to_disk=False,
        head_prefixes=tuple(getattr(model, "head_prefixes", ())),
        addon_prefixes=tuple(getattr(model, "addon_prefixes", ())),
    )
    extras = checkpointer.resume_or_load(
        cfg.MODEL.WEIGHT, transfer=getattr(args, "transfer", False), no_head=getattr(args, "no_head", False)
    )
    start_iter = int(extras.get("iteration", 0))
    loader = build_data_loader(
        cfg,
        is_train=True,
        start_iter=min(start_iter, max(cfg.SOLVER.MAX_ITER - 1, 0)),
        rank=ctx.rank,
        world_size=ctx.world_size,
        seed=getattr(args, "seed", 0),
    )
    tests = (
        build_data_loader(cfg, is_train=False, rank=ctx.rank, world_size=ctx.world_size) if cfg.DATASETS.TEST else []
    )
    t_build = time.perf_counter() - t0

    t1 = time.perf_counter()
    batch = next(iter(loader))
    t_batch = time.perf_counter() - t1
    t2 = time.perf_counter()
    if uses_memory(model):
        grads = _memory_step(model, cfg, batch, ctx.device)
    else:  # the start-up gradient check: raises naming parameters the loss does not reach
        grads = {
            g: r["grad_norm"]
            for g, r in check_gradients(model, batch, ctx.device, bool(cfg.SOLVER.CHANNELS_LAST)).items()
            if r["trainable"]
        }
    t_step = time.perf_counter() - t2

    params = list(model.parameters())
    report = {
        "model": cfg.MODEL.META_ARCHITECTURE,
        "parameters": sum(p.numel() for p in params),
        "trainable_parameters": sum(p.numel() for p in params if p.requires_grad),
        "start_iteration": start_iter,
        "max_iter": int(cfg.SOLVER.MAX_ITER),
        "train_samples": len(loader.batch_sampler.indices)
        if hasattr(loader.batch_sampler, "indices")
        else len(loader.dataset),
        "test_samples": {name: len(test.dataset) for name, test in tests},
        "batch": describe_batch(batch),
        "grad_norms": grads,
        "seconds": {"build": round(t_build, 2), "first_batch": round(t_batch, 2), "forward_backward": round(t_step, 2)},
        "memory": _peak_memory_mb(ctx.device),
        "config": cfg.dump(),
    }
    logger.info("dry run: effective config\n%s", report["config"])
    logger.info(
        "dry run: %s with %d parameters (%d trainable); starts at iteration %d of %d",
        report["model"],
        report["parameters"],
        report["trainable_parameters"],
        start_iter,
        report["max_iter"],
    )
    logger.info("dry run: %d training samples; test sets %s", report["train_samples"], report["test_samples"])
    logger.info("dry run: first training batch\n%s", "\n".join(f"  {k}: {v}" for k, v in report["batch"].items()))
    logger.info(
        "dry run: build %.1f s, first batch %.1f s, forward / backward %.1f s; peak memory %s",
        t_build,
        t_batch,
        t_step,
        ", ".join(f"{k} {v:g}" for k, v in report["memory"].items()),
    )
    logger.info("dry run passed: nothing was trained and no checkpoint written; drop --dry-run to train")
    return report
