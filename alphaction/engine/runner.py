"""What train_net.py and test_net.py do, as functions (so tests and tools can call them in-process)."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field, fields
from typing import Any

import torch

from ..checkpoint import Checkpointer
from ..config import CfgNode
from ..data import build_data_loader
from ..data.build import build_test_datasets, build_train_dataset, loader_rng_state, set_loader_rng_state
from ..data.labels import class_names
from ..modeling import build_model
from ..solver import apply_epoch_schedule, build_lr_scheduler, build_optimizer
from ..utils import comm
from ..utils.seed import get_rng_state, set_rng_state
from .defaults import write_config
from .early_stopping import EarlyStoppingHook
from .hooks import (
    BestCheckpoint,
    BNStatsSyncHook,
    EvalHook,
    LoggerHook,
    LRSchedulerHook,
    NonFiniteLossHook,
    PeriodicCheckpointHook,
    PreemptionHook,
    parse_metric,
)
from .ia_memory import MemoryStepHook, TrainingMemory, memory_settings, uses_memory
from .launch import DistContext
from .sanity import check_gradients, sanity_check_batch
from .tasks import task_of, training_call
from .trainer import Trainer

logger = logging.getLogger(__name__)


def head_prefixes(model: torch.nn.Module) -> tuple[str, ...]:
    """The state-dict prefixes the model declares as its class-specific head (its ``head_prefixes``);
    ``--no-head`` leaves exactly these keys out."""
    return tuple(getattr(model, "head_prefixes", ()))


def run_test(cfg: CfgNode, model, ctx: DistContext, test_datasets: list | None = None) -> dict[str, dict[str, float]]:
    """Evaluate ``model`` on every DATASETS.TEST entry (``test_datasets``, from ``build_test_datasets``, when a
    run evaluates more than once: built once, not at each evaluation) with its task's evaluation
    (``engine/tasks.py``); results under OUTPUT_DIR/inference/<dataset>/."""
    loaders = build_data_loader(
        cfg, is_train=False, rank=ctx.rank, world_size=ctx.world_size, test_datasets=test_datasets
    )
    module = model.module if hasattr(model, "module") else model
    evaluate = task_of(cfg).evaluate
    return {name: evaluate(cfg, module, loader, name, ctx.device) for name, loader in loaders}


def _tensorboard_writer(cfg: CfgNode, enabled: bool, rank: int):
    if not enabled or rank != 0:
        return None
    from torch.utils.tensorboard import SummaryWriter  # slow import: only when asked for

    return SummaryWriter(os.path.join(cfg.OUTPUT_DIR, "tb"))


def prepare_model(cfg: CfgNode, model: torch.nn.Module, ctx: DistContext) -> torch.nn.Module:
    """The opt-in speed switches, then DDP. Checkpoints keep using the unwrapped model."""
    if ctx.distributed:
        task_of(cfg).distributed(model)  # e.g. the detector's loss normaliser, averaged over the ranks
    if cfg.SOLVER.CHANNELS_LAST:
        model = model.to(memory_format=torch.channels_last_3d)
    if cfg.SOLVER.COMPILE:
        model = torch.compile(model)
    if ctx.distributed:
        # buffers are not broadcast every forward: trainable-BN statistics are averaged by BNStatsSyncHook, and
        # frozen-BN buffers are equal on every rank from the start
        model = torch.nn.parallel.DistributedDataParallel(
            model, device_ids=[ctx.device.index] if ctx.device.type == "cuda" else None, broadcast_buffers=False
        )
    return model


@dataclass(frozen=True)
class TrainOptions:
    """What ``train_net.py``'s flags decide for a run (everything else is the config)."""

    transfer: bool = False  # --transfer: load a foreign checkpoint's matching weights
    no_head: bool = False  # --no-head: leave the class-specific head out of the load
    adjust_lr: bool = False  # --adjust-lr: rebuild the schedule from the config on resume
    skip_val_in_train: bool = False
    skip_final_test: bool = False
    use_tfboard: bool = False
    seed: int = 0

    @classmethod
    def from_args(cls, args) -> TrainOptions:
        """The options of a parsed ``default_argument_parser()`` namespace."""
        return cls(**{f.name: getattr(args, f.name) for f in fields(cls)})


@dataclass
class _RunState:
    """What the hooks read from a run that only exists once training starts."""

    loader: Any = None
    names: dict = field(default_factory=dict)  # class names saved with every checkpoint


def run_train(cfg: CfgNode, ctx: DistContext, options) -> tuple[torch.nn.Module, dict]:
    """Build, (re)load, train and (unless skipped) test. Returns the model and the final test results.

    ``options``: :class:`TrainOptions` or a parsed ``default_argument_parser()`` namespace. Raises
    :class:`alphaction.engine.hooks.TrainingInterrupted` after a SIGTERM (a checkpoint at the current iteration is
    saved).
    """
    opts = options if isinstance(options, TrainOptions) else TrainOptions.from_args(options)
    train_set = None
    if cfg.SOLVER.EPOCHS:  # epochs -> iterations needs the training-set size (the loader reuses this set)
        train_set = dataset, subset = build_train_dataset(cfg)
        cfg = apply_epoch_schedule(cfg, len(dataset) if subset is None else len(subset))
    s = cfg.SOLVER
    model = build_model(cfg).to(ctx.device)
    optimizer = build_optimizer(cfg, model)
    scheduler = build_lr_scheduler(cfg, optimizer)
    checkpointer = Checkpointer(
        model,
        optimizer,
        scheduler,
        cfg.OUTPUT_DIR,
        save_to_disk=ctx.rank == 0,
        head_prefixes=head_prefixes(model),
        keep_last=s.CHECKPOINT_KEEP,
        addon_prefixes=tuple(getattr(model, "addon_prefixes", ())),
    )
    # the folder of the checkpoint that is loaded: where the memory pool file it names lies
    loaded_from = cfg.OUTPUT_DIR if checkpointer.has_checkpoint() else os.path.dirname(cfg.MODEL.WEIGHT)
    extras = checkpointer.resume_or_load(
        cfg.MODEL.WEIGHT, transfer=opts.transfer, no_head=opts.no_head, adjust_lr=opts.adjust_lr
    )
    if ctx.rank == 0:  # the run starts for real: record what it runs with (not before: a failed load keeps the old)
        logger.info("Merged config written to %s", write_config(cfg, cfg.OUTPUT_DIR))
    start_iter = int(extras.get("iteration", 0))
    memory = TrainingMemory(memory_settings(cfg)) if uses_memory(model) else None
    if memory is not None:
        memory.restore(loaded_from, extras)
    raw_model = model
    model = prepare_model(cfg, model, ctx)
    test_sets = None
    if not (opts.skip_val_in_train and opts.skip_final_test):
        # a typo in a test set's name, a missing clip of it or report groups of other classes stop the run now,
        # not after the training; built once, every evaluation reuses them
        test_sets = build_test_datasets(cfg) if cfg.DATASETS.TEST else None
        task_of(cfg).check(cfg)
    writer = _tensorboard_writer(cfg, opts.use_tfboard, ctx.rank)
    state = _RunState()
    best = _best_checkpoint(cfg, checkpointer, ctx, state)
    hooks = build_hooks(
        cfg, ctx, opts, model, raw_model, scheduler, checkpointer, memory, extras, state, test_sets, writer, best
    )
    try:
        if start_iter < s.MAX_ITER:
            trainer = _build_trainer(
                cfg, ctx, opts, model, raw_model, optimizer, hooks, memory, state, start_iter, train_set
            )
            if s.SANITY_CHECK and memory is None:  # IA memory models: the memory pool needs real steps
                _sanity_check(raw_model, state.loader, trainer, ctx, s.CHANNELS_LAST)
            trainer.load_state_dict(extras)
            _restore_rng(extras, state.loader, ctx)
            trainer.train()
        else:
            logger.info("Checkpoint is at iteration %d >= SOLVER.MAX_ITER: nothing to train", start_iter)
        results = _final_test(cfg, model, ctx, opts, test_sets, best, writer)
    finally:
        if writer is not None:
            writer.close()
    return model, results


def _build_trainer(
    cfg: CfgNode,
    ctx: DistContext,
    opts: TrainOptions,
    model: torch.nn.Module,
    raw_model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    hooks: list,
    memory: TrainingMemory | None,
    state: _RunState,
    start_iter: int,
    train_set: tuple | None,
) -> Trainer:
    """The training loader (kept in ``state.loader`` for the hooks; over ``train_set`` when the epoch schedule built
    it already) and the loop over it, from ``start_iter``."""
    s = cfg.SOLVER
    state.loader = build_data_loader(
        cfg,
        is_train=True,
        start_iter=start_iter,
        rank=ctx.rank,
        world_size=ctx.world_size,
        seed=opts.seed,
        train_dataset=train_set,
    )
    return Trainer(
        model,
        optimizer,
        state.loader,
        ctx.device,
        s.MAX_ITER,
        start_iter,
        hooks,
        amp=_amp(s.AMP),
        grad_accum_steps=s.GRAD_ACCUM_STEPS,
        clip_grad_norm=s.CLIP_GRAD_NORM,
        channels_last=s.CHANNELS_LAST,
        # the task's training call, fed with the IA memory (and feeding it) when the model has memory
        forward=training_call(raw_model) if memory is None else memory.wrap(training_call(raw_model)),
    )


def _final_test(cfg: CfgNode, model, ctx: DistContext, opts: TrainOptions, test_sets, best, writer) -> dict:
    """The test after training (unless skipped or DATASETS.TEST is empty): results, the best-checkpoint update and
    their TensorBoard scalars."""
    if opts.skip_final_test or not cfg.DATASETS.TEST:
        return {}
    results = run_test(cfg, model, ctx, test_sets)
    if best is not None and ctx.rank == 0:
        best.update(_flat(results), cfg.SOLVER.MAX_ITER)
    if writer is not None:
        for key, v in _flat(results).items():
            writer.add_scalar(f"test/{key}", v, cfg.SOLVER.MAX_ITER)
    return results


def _class_name_state(cfg: CfgNode, ctx: DistContext, state: _RunState) -> dict:
    """The class names saved with every checkpoint (so ``alphaction.apis`` names outputs without the dataset
    files); read at the first save, once the datasets exist (synthetic ones are made when the loader is built)."""
    if not state.names and ctx.rank == 0:
        state.names.update(class_names=class_names(cfg) or [])
    return {k: v for k, v in state.names.items() if v}


def _best_metric(cfg: CfgNode) -> str:
    """``TEST.BEST_METRIC`` of the first test dataset ("top1" -> "<DATASETS.TEST[0]>/top1", "-val_loss" ->
    "-<...>/val_loss"), or "" when there is none."""
    if not (cfg.TEST.BEST_METRIC and cfg.DATASETS.TEST):
        return ""
    name, lower_is_better = parse_metric(cfg.TEST.BEST_METRIC)
    return f"{'-' if lower_is_better else ''}{cfg.DATASETS.TEST[0]}/{name}"


def _best_checkpoint(cfg: CfgNode, checkpointer, ctx: DistContext, state: _RunState) -> BestCheckpoint | None:
    metric = _best_metric(cfg)
    if not metric:
        return None
    return BestCheckpoint(metric, checkpointer, extra=lambda: _class_name_state(cfg, ctx, state))


def build_hooks(
    cfg: CfgNode,
    ctx: DistContext,
    opts: TrainOptions,
    model,
    raw_model,
    scheduler,
    checkpointer,
    memory: TrainingMemory | None,
    extras: dict,
    state: _RunState,
    test_sets,
    writer,
    best: BestCheckpoint | None,
) -> list:
    """Every hook of a training run, in the order they run after each step."""
    s = cfg.SOLVER

    def extra_state(iteration: int) -> dict:
        # saved with every checkpoint: each rank's RNG and augmentation streams, the class names, the memory pool
        rngs = comm.all_gather_object(get_rng_state()) if ctx.distributed else [get_rng_state()]
        data_rng = loader_rng_state(state.loader)
        data = comm.all_gather_object(data_rng) if ctx.distributed else [data_rng]
        saved = {"rng_states": rngs, "data_rng_states": data, **_class_name_state(cfg, ctx, state)}
        if memory is not None:  # its own file, written before the checkpoint that names it
            saved["memory_pool"] = (
                memory.save(cfg.OUTPUT_DIR, iteration) if ctx.rank == 0 else TrainingMemory.file_name(iteration)
            )
        return saved

    def after_save(saved: dict) -> None:
        if memory is not None and ctx.rank == 0:
            TrainingMemory.prune(cfg.OUTPUT_DIR, saved["memory_pool"])

    checkpoint_hook = PeriodicCheckpointHook(
        checkpointer, s.CHECKPOINT_PERIOD, s.MAX_ITER, extra_state, after_save, extras.get("reference_weight_max_abs")
    )
    hooks = [MemoryStepHook(memory)] if memory is not None else []  # first: checkpoints save the step's features
    hooks += [
        LRSchedulerHook(scheduler),
        BNStatsSyncHook(raw_model),
        checkpoint_hook,
        PreemptionHook(checkpoint_hook),
        NonFiniteLossHook(checkpointer, cfg.OUTPUT_DIR, ctx.rank == 0, lambda: checkpoint_hook.reference),
    ]
    if not opts.skip_val_in_train and cfg.DATASETS.TEST:

        def evaluate() -> dict[str, float]:
            flat = _flat(run_test(cfg, model, ctx, test_sets))
            if best is not None and ctx.rank == 0:
                best.update(flat, checkpoint_hook.trainer.iter)
            return flat

        eval_hook = EvalHook(s.EVAL_PERIOD, s.MAX_ITER, evaluate, writer)
        hooks.append(eval_hook)
        if s.EARLY_STOP_PATIENCE and _best_metric(cfg):
            hooks.append(
                EarlyStoppingHook(
                    _best_metric(cfg), s.EARLY_STOP_PATIENCE, eval_hook, checkpoint_hook, s.EARLY_STOP_MIN_DELTA
                )
            )
    metrics_file = os.path.join(cfg.OUTPUT_DIR, "metrics.json") if ctx.rank == 0 else None
    hooks.append(LoggerHook(s.LOG_PERIOD, s.MAX_ITER, writer, metrics_file))
    return hooks


def _sanity_check(raw_model, loader, trainer: Trainer, ctx: DistContext, channels_last: bool) -> None:
    """The one-batch gradient check of SOLVER.SANITY_CHECK, on the first samples the run trains on."""
    subset = getattr(loader.batch_sampler, "indices", None)  # DATASETS.TRAIN_SUBSET: check its samples
    first = None if subset is None else subset[:2].tolist()
    batch = sanity_check_batch(loader.dataset, loader.collate_fn, indices=first)
    check_gradients(raw_model, batch, ctx.device, channels_last, trainer.autocast)


def _flat(results: dict[str, dict[str, float]]) -> dict[str, float]:
    """``{dataset: {metric: v}}`` -> ``{"dataset/metric": v}`` (the names in logs, TensorBoard and BEST_METRIC)."""
    return {f"{name}/{k}": v for name, r in results.items() for k, v in r.items()}


def _amp(value) -> str:
    # YAML reads a bare `off` as False: accept it as "off"
    return "off" if value in (False, None, "", "none", "None") else str(value)


def _restore_rng(extras: dict, loader, ctx: DistContext) -> None:
    """RNG states of this rank from a resumed checkpoint (saved by the same number of ranks), so dropout,
    box sampling and (with NUM_WORKERS 0) augmentations continue as if the run had not stopped."""
    rngs, data = extras.get("rng_states"), extras.get("data_rng_states")
    if not rngs:
        return
    if len(rngs) != ctx.world_size:
        logger.warning(
            "The checkpoint holds RNG states of %d ranks, this run has %d: random streams restart "
            "(the data order still resumes exactly)",
            len(rngs),
            ctx.world_size,
        )
        return
    set_rng_state(rngs[ctx.rank])
    restored = set_loader_rng_state(loader, data[ctx.rank] if data else None)
    logger.info(
        "Restored the RNG states of iteration %d%s",
        int(extras.get("iteration", 0)),
        " and the data augmentation stream"
        if restored
        else " (with DATALOADER.NUM_WORKERS > 0 the augmentation stream restarts from a new seed)",
    )


def load_for_test(cfg: CfgNode, ctx: DistContext) -> torch.nn.Module:
    """The model with the weights to test: MODEL.WEIGHT when given (it wins, unlike AlphAction), else the
    checkpoint named by OUTPUT_DIR/last_checkpoint, else none (an untrained model, with a warning)."""
    model = build_model(cfg).to(ctx.device)
    checkpointer = Checkpointer(model, save_dir=cfg.OUTPUT_DIR, head_prefixes=head_prefixes(model))
    weight = cfg.MODEL.WEIGHT or checkpointer.last_checkpoint()
    if weight:
        checkpointer.load(weight, transfer=True, purpose="test")
    else:
        logger.warning(
            "MODEL.WEIGHT is empty and %s has no last_checkpoint: testing an untrained (randomly initialised) model",
            cfg.OUTPUT_DIR,
        )
    return model
