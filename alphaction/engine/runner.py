"""What train_net.py and test_net.py do, as functions (so tests and tools can call them in-process)."""
from __future__ import annotations

import logging
import os

import torch

from ..checkpoint import Checkpointer
from ..config import CfgNode
from ..config.paths_catalog import DatasetCatalog
from ..data import build_data_loader
from ..evaluation.ava import class_groups_from_counts
from ..modeling import build_model
from ..solver import build_lr_scheduler, build_optimizer
from .hooks import EvalHook, LoggerHook, LRSchedulerHook, PeriodicCheckpointHook
from .inference import inference
from .launch import DistContext
from .trainer import Trainer

logger = logging.getLogger(__name__)


def head_prefixes(model: torch.nn.Module) -> tuple[str, ...]:
    """The state-dict prefixes the model declares as its class-specific head (its ``head_prefixes``);
    ``--no-head`` leaves exactly these keys out."""
    return tuple(getattr(model, "head_prefixes", ()))


def run_test(cfg: CfgNode, model, ctx: DistContext) -> dict[str, dict[str, float]]:
    """Evaluate ``model`` on every DATASETS.TEST entry; results under OUTPUT_DIR/inference/<dataset>/."""
    results = {}
    module = model.module if hasattr(model, "module") else model
    head = cfg.MODEL.ROI_ACTION_HEAD
    # mAP per class group (pose / object / person interaction), the groups being the head's logit order
    groups = class_groups_from_counts(head.NUM_PERSON_MOVEMENT_CLASSES, head.NUM_OBJECT_MANIPULATION_CLASSES,
                                      head.NUM_PERSON_INTERACTION_CLASSES)
    for name, loader in build_data_loader(cfg, is_train=False, rank=ctx.rank, world_size=ctx.world_size):
        eval_paths = DatasetCatalog.get(name, cfg.DATASETS.CATALOG)["args"]["eval_file_paths"]
        results[name] = inference(module, loader, name, ctx.device,
                                  os.path.join(cfg.OUTPUT_DIR, "inference", name), eval_paths,
                                  cfg.TEST.ACTION_THRESH, class_groups=groups)
    return results


def _tensorboard_writer(cfg: CfgNode, enabled: bool, rank: int):
    if not enabled or rank != 0:
        return None
    from torch.utils.tensorboard import SummaryWriter  # slow import: only when asked for

    return SummaryWriter(os.path.join(cfg.OUTPUT_DIR, "tb"))


def run_train(cfg: CfgNode, ctx: DistContext, args) -> tuple[torch.nn.Module, dict]:
    """Build, (re)load, train and (unless skipped) test. Returns the model and the final test results."""
    model = build_model(cfg).to(ctx.device)
    optimizer = build_optimizer(cfg, model)
    scheduler = build_lr_scheduler(cfg, optimizer)
    checkpointer = Checkpointer(model, optimizer, scheduler, cfg.OUTPUT_DIR, save_to_disk=ctx.rank == 0,
                                head_prefixes=head_prefixes(model), keep_last=cfg.SOLVER.CHECKPOINT_KEEP)
    extras = checkpointer.resume_or_load(cfg.MODEL.WEIGHT, transfer=args.transfer, no_head=args.no_head,
                                         adjust_lr=getattr(args, "adjust_lr", False))
    start_iter = int(extras.get("iteration", 0))
    if ctx.distributed:
        model = torch.nn.parallel.DistributedDataParallel(
            model, device_ids=[ctx.device.index] if ctx.device.type == "cuda" else None,
            broadcast_buffers=False)
    writer = _tensorboard_writer(cfg, args.use_tfboard, ctx.rank)
    hooks = [LRSchedulerHook(scheduler),
             PeriodicCheckpointHook(checkpointer, cfg.SOLVER.CHECKPOINT_PERIOD, cfg.SOLVER.MAX_ITER)]
    if not args.skip_val_in_train and cfg.DATASETS.TEST:
        def evaluate():
            res = run_test(cfg, model, ctx)
            return {f"{name}/{k}": v for name, r in res.items() for k, v in r.items()}
        hooks.append(EvalHook(cfg.SOLVER.EVAL_PERIOD, cfg.SOLVER.MAX_ITER, evaluate, writer))
    hooks.append(LoggerHook(cfg.SOLVER.LOG_PERIOD, cfg.SOLVER.MAX_ITER, writer))
    if start_iter < cfg.SOLVER.MAX_ITER:
        loader = build_data_loader(cfg, is_train=True, start_iter=start_iter, rank=ctx.rank,
                                   world_size=ctx.world_size, seed=args.seed)
        Trainer(model, optimizer, loader, ctx.device, cfg.SOLVER.MAX_ITER, start_iter, hooks).train()
    else:
        logger.info("Checkpoint is at iteration %d >= SOLVER.MAX_ITER: nothing to train", start_iter)
    results = {}
    if not args.skip_final_test and cfg.DATASETS.TEST:
        results = run_test(cfg, model, ctx)
    if writer is not None:
        for name, res in results.items():
            for k, v in res.items():
                writer.add_scalar(f"test/{name}/{k}", v, cfg.SOLVER.MAX_ITER)
        writer.close()
    return model, results


def load_for_test(cfg: CfgNode, ctx: DistContext) -> torch.nn.Module:
    """The model with the weights to test: MODEL.WEIGHT when given (it wins, unlike AlphAction), else the
    checkpoint named by OUTPUT_DIR/last_checkpoint, else none (an untrained model, with a warning)."""
    model = build_model(cfg).to(ctx.device)
    checkpointer = Checkpointer(model, save_dir=cfg.OUTPUT_DIR, head_prefixes=head_prefixes(model))
    weight = cfg.MODEL.WEIGHT or checkpointer.last_checkpoint()
    if weight:
        checkpointer.load(weight, transfer=True, purpose="test")
    else:
        logger.warning("MODEL.WEIGHT is empty and %s has no last_checkpoint: testing an untrained "
                       "(randomly initialised) model", cfg.OUTPUT_DIR)
    return model
