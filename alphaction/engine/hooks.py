"""Hooks around the training loop: LR schedule, BN statistics, checkpoints, evaluation, logging, signals.

Order matters: the runner puts the LR schedule first, then BN-statistics averaging (so checkpoints and
evaluation see the same model on every rank), then checkpoints, evaluation and logging.
"""

from __future__ import annotations

import datetime
import json
import logging
import os
import signal
import time
from typing import Any, Callable

import torch

from ..utils import comm
from ..utils.io import atomic_torch_save, atomic_write_text
from ..utils.metrics import MetricLogger
from .trainer import HookBase, NonFiniteLossError

logger = logging.getLogger(__name__)


def max_memory_mb(device: torch.device) -> float:
    """Peak GPU memory of this process on CUDA; peak resident memory (RSS) on the CPU, in MiB."""
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    import resource  # POSIX only; the CPU path is where it is needed

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class LRSchedulerHook(HookBase):
    def __init__(self, scheduler) -> None:
        self.scheduler = scheduler

    def after_step(self) -> None:
        self.scheduler.step()


class BNStatsSyncHook(HookBase):
    """Average trainable-BN running statistics over the ranks every step (a few KB; a no-op without DDP or
    without trainable BN), so the checkpoint of rank 0 is the model every rank evaluates."""

    def __init__(self, module: torch.nn.Module) -> None:
        self.module = module

    def after_step(self) -> None:
        comm.average_bn_running_stats(self.module)


def weight_max_abs(module: torch.nn.Module) -> float:
    """The largest absolute value of the module's parameters (inf / nan when one is not finite)."""
    module = module.module if hasattr(module, "module") else module
    values = [p.detach().abs().max() for p in module.parameters() if p.numel()]
    if not values:
        return 0.0
    peak = torch.stack([v.float().cpu() for v in values])
    return float("nan") if torch.isnan(peak).any() else float(peak.max())


# a checkpoint whose weights grew past both bounds is taken as diverged (healthy training moves the largest
# weight by a few times at most; a run on its way to NaN multiplies it by millions)
DIVERGED_FACTOR, DIVERGED_FLOOR = 100.0, 1e3


def diverged(max_abs: float, reference: float) -> bool:
    """Weights whose largest value is not finite, or above ``max(DIVERGED_FLOOR, DIVERGED_FACTOR x reference)``."""
    return not (max_abs == max_abs and max_abs <= max(DIVERGED_FLOOR, DIVERGED_FACTOR * reference))


class PeriodicCheckpointHook(HookBase):
    """``model_XXXXXXX.pth`` every ``period`` iterations and ``model_final.pth`` at the end, with what an exact
    resume needs on top of model / optimizer / scheduler: the trainer's state (GradScaler) and ``extra_state()``
    (RNG states), and the weights' health (``weight_max_abs``, ``reference_weight_max_abs``: the largest weight now
    and at the start of the run, the last ``loss``), which :class:`NonFiniteLossHook` reads to roll back.

    Weights that are no longer finite are never saved: the run stops with :class:`NonFiniteLossError` instead.
    """

    def __init__(
        self,
        checkpointer,
        period: int,
        max_iter: int,
        extra_state: Callable[[int], dict] | None = None,
        after_save: Callable[[dict], None] | None = None,
        reference_weight_max_abs: float | None = None,
    ) -> None:
        self.checkpointer, self.period, self.max_iter = checkpointer, period, max_iter
        self.extra_state = extra_state or (lambda iteration: {})  # called with the iteration being saved
        self.after_save = after_save  # called with the saved extras once the checkpoint is on disk
        self.reference = reference_weight_max_abs  # of the run's first weights (kept through resumes)

    def before_train(self) -> None:
        if self.reference is None:
            self.reference = weight_max_abs(self.checkpointer.model)

    def state(self) -> dict[str, Any]:
        return {"iteration": self.trainer.iter, **self.trainer.state_dict(), **self.extra_state(self.trainer.iter)}

    def save(self, name: str) -> None:

        peak = weight_max_abs(self.checkpointer.model)
        if peak != peak or peak == float("inf"):
            raise NonFiniteLossError(
                self.trainer.iter,
                {"largest |weight|": peak},
                self.trainer.lr,
                getattr(self.trainer, "last_indices", None),
                what="weights",
            )
        state = self.state()
        state.update(
            weight_max_abs=peak,
            reference_weight_max_abs=float(self.reference or peak),
            loss=float(self.trainer.last_metrics.get("loss", float("nan"))),
        )
        self.checkpointer.save(name, **state)
        if self.after_save is not None:
            self.after_save(state)

    def after_step(self) -> None:
        it = self.trainer.iter
        if it >= self.max_iter:
            self.save("model_final")
        elif self.period > 0 and it % self.period == 0:
            self.save(f"model_{it:07d}")


class NonFiniteLossHook(HookBase):
    """On a NaN / Inf loss (or weights), save ``debug_nonfinite_XXXXXXX.pth`` (the weights that produced it, the
    losses, the lr and the clips) and roll ``last_checkpoint`` back to the newest checkpoint from before the
    divergence: weights finite and within ``max(1e3, 100 x)`` the largest weight of the run's start (a run on its
    way to NaN often saves checkpoints whose weights are finite but already exploded). Newer checkpoints are
    renamed ``diverged_model_XXXXXXX.pth``; without a checkpoint from before, ``last_checkpoint`` is removed so
    that a rerun starts from MODEL.WEIGHT. A rerun (with a lower SOLVER.BASE_LR) resumes from there."""

    def __init__(
        self,
        checkpointer,
        output_dir: str,
        save: bool = True,
        reference_weight_max_abs: Callable[[], float | None] | None = None,
    ) -> None:
        self.checkpointer, self.output_dir, self.save_file = checkpointer, output_dir, save
        self.reference = reference_weight_max_abs or (lambda: None)

    def on_exception(self, exc: BaseException) -> None:

        if not isinstance(exc, NonFiniteLossError):
            return
        path = os.path.join(self.output_dir, f"debug_nonfinite_{exc.iteration:07d}.pth")
        rollback = ""
        if self.save_file:
            module = self.checkpointer.model
            module = module.module if hasattr(module, "module") else module
            atomic_torch_save(
                {
                    "model": module.state_dict(),
                    "iteration": exc.iteration,
                    "losses": exc.losses,
                    "lr": exc.lr,
                    "indices": list(exc.indices or []),
                },
                path,
            )
            rollback = self._roll_back()
        logger.error(
            "Stopping: non-finite %s at iteration %d: %s, lr %.6g; clips %s. Debug checkpoint: %s. %s",
            exc.kind,
            exc.iteration,
            exc.losses,
            exc.lr,
            exc.indices,
            path,
            rollback,
        )
        exc.fix = (
            f"{rollback} Rerun the same command with a lower SOLVER.BASE_LR (the schedule follows the new "
            "value) or with SOLVER.CLIP_GRAD_NORM 10."
        ).strip()

    def _roll_back(self) -> str:
        """Point ``last_checkpoint`` at the newest checkpoint from before the divergence; say what was done."""
        ck = self.checkpointer
        reference = self.reference()
        newest_first = list(reversed(ck.periodic_checkpoints()))
        bad = []
        for candidate in newest_first:
            try:
                data = torch.load(candidate, map_location="cpu", weights_only=True, mmap=True)
            except Exception:  # noqa: BLE001 - an unreadable file is skipped like a diverged one
                bad.append(candidate)
                continue
            peak = data.get("weight_max_abs")
            if peak is None:  # a checkpoint of an older version: measure it
                tensors = [t for t in data.get("model", {}).values() if torch.is_tensor(t) and t.is_floating_point()]
                peak = max((float(t.abs().max()) for t in tensors if t.numel()), default=0.0)
            ref = data.get("reference_weight_max_abs", reference) or reference or peak
            if diverged(float(peak), float(ref)):
                bad.append(candidate)
                continue
            _set_aside(bad)
            ck.set_last_checkpoint(candidate)
            kept = os.path.basename(candidate)
            moved = f" ({', '.join(os.path.basename(b) for b in bad)} renamed diverged_*)" if bad else ""
            return f"last_checkpoint now names {kept}, the newest checkpoint from before the divergence{moved}."
        _set_aside(bad)
        ck.set_last_checkpoint(None)
        return (
            "No checkpoint from before the divergence: last_checkpoint was removed, so a rerun starts again "
            "from MODEL.WEIGHT."
        )


def _set_aside(paths: list[str]) -> None:
    """Rename diverged checkpoints ``diverged_<name>``: kept for inspection, never resumed from or pruned."""
    for path in paths:
        os.replace(path, os.path.join(os.path.dirname(path), "diverged_" + os.path.basename(path)))


class PreemptionHook(HookBase):
    """SIGTERM (a scheduler's notice before preemption) or SIGINT: finish the current step, save
    ``model_XXXXXXX.pth`` at that iteration (when not just saved) and leave the loop; the process then exits
    with status 0. Every rank stops at the same step (the flag is reduced over the ranks)."""

    def __init__(self, checkpoint_hook: PeriodicCheckpointHook, signals=(signal.SIGTERM,)) -> None:
        self.checkpoint_hook, self.signals = checkpoint_hook, tuple(signals)
        self.received: int | None = None
        self._previous: dict = {}

    def _handler(self, signum, frame) -> None:
        self.received = signum

    def before_train(self) -> None:
        try:
            self._previous = {s: signal.signal(s, self._handler) for s in self.signals}
        except ValueError:  # not the main thread: leave signals alone
            self._previous = {}

    def after_step(self) -> None:
        if not comm.any_across_ranks(self.received is not None):
            return
        t = self.trainer
        if t.iter < t.max_iter:
            ck = self.checkpoint_hook
            if not (ck.period > 0 and t.iter % ck.period == 0):  # not saved by the periodic hook just now
                ck.save(f"model_{t.iter:07d}")
            logger.warning(
                "Received %s: saved the checkpoint at iteration %d and stopping; rerun the same command to continue",
                signal.Signals(self.received).name if self.received else "a stop signal on another rank",
                t.iter,
            )
            raise TrainingInterrupted(t.iter)

    def after_train(self) -> None:
        for s, previous in self._previous.items():
            signal.signal(s, previous)
        self._previous = {}


class TrainingInterrupted(Exception):
    """Raised out of the loop after a stop signal and a saved checkpoint; the CLI exits 0 on it."""

    def __init__(self, iteration: int) -> None:
        self.iteration = iteration
        super().__init__(f"training stopped by a signal at iteration {iteration} (checkpoint saved)")


class EvalHook(HookBase):
    """Run ``eval_fn()`` every ``period`` iterations (not at the last one: the final test covers it)."""

    def __init__(self, period: int, max_iter: int, eval_fn: Callable[[], dict], writer=None) -> None:
        self.period, self.max_iter, self.eval_fn, self.writer = period, max_iter, eval_fn, writer
        self.last_iter, self.last_results = -1, None  # read by EarlyStoppingHook

    def after_step(self) -> None:
        it = self.trainer.iter
        if self.period > 0 and it % self.period == 0 and it < self.max_iter:
            results = self.eval_fn()
            self.last_iter, self.last_results = it, results
            self.trainer.model.train()
            if self.writer is not None:
                for name, value in (results or {}).items():
                    self.writer.add_scalar(f"val/{name}", value, it)


def parse_metric(metric: str) -> tuple[str, bool]:
    """``"-name"`` -> ``("name", True)`` (lower is better); ``"name"`` -> ``("name", False)``."""
    return metric.lstrip("-"), metric.startswith("-")


def improves(value: float, best: float | None, lower_is_better: bool, min_delta: float = 0.0) -> bool:
    """Whether ``value`` beats ``best`` (None: nothing yet) by more than ``min_delta``."""
    return best is None or (best - value if lower_is_better else value - best) > min_delta


class BestCheckpoint:
    """Keep ``model_best.pth`` (the weights, the iteration, the metric and its value) by one validation metric,
    written by the run's checkpointer (``Checkpointer.save_weights``: atomic, ``last_checkpoint`` untouched).

    Args:
        metric: a key of the evaluation results (e.g. ``"thermal_val/top1"``); a leading ``-`` means lower is
            better (``"-thermal_val/val_loss"``).
        checkpointer: the run's :class:`~alphaction.checkpoint.Checkpointer` (it knows the folder, the unwrapped
            model and whether this process writes files).
        extra: returns more entries of the saved file (e.g. ``class_names``).
    """

    NAME = "model_best"

    def __init__(self, metric: str, checkpointer, extra: Callable[[], dict] | None = None) -> None:
        self.metric, self.lower_is_better = parse_metric(metric)
        self.checkpointer, self.extra = checkpointer, extra
        self.path = os.path.join(checkpointer.save_dir, f"{self.NAME}.pth")
        self.best: float | None = None
        try:  # a resumed run keeps the best of its earlier evaluations (model_best.json sits beside the weights)
            with open(self.path[:-4] + ".json", encoding="utf-8") as f:
                saved = json.load(f)
            if saved.get("metric") == self.metric and os.path.isfile(self.path):
                self.best = float(saved["value"])
        except (OSError, ValueError, KeyError):
            pass

    def update(self, results: dict, iteration: int) -> bool:
        """Save when ``results[metric]`` beats the best so far; returns whether it did."""
        if self.metric not in results:
            logger.warning(
                "TEST.BEST_METRIC: %r is not among the evaluation results %s; model_best.pth not updated",
                self.metric,
                sorted(results),
            )
            return False
        value = float(results[self.metric])
        if not improves(value, self.best, self.lower_is_better):
            return False
        self.best = value
        info = {"iteration": iteration, "metric": self.metric, "value": value}
        if self.checkpointer.save_weights(self.NAME, **(self.extra() if self.extra else {}), **info) is not None:
            atomic_write_text(self.path[:-4] + ".json", json.dumps(info))
        logger.info("New best %s = %.4f at iteration %d: saved %s", self.metric, value, iteration, self.path)
        return True


class LoggerHook(HookBase):
    """Every ``period`` iterations (and at the last): a readable line (ETA, each loss as window median and
    global average, lr, data / iteration time, max memory), a ``metrics.json`` line and TensorBoard scalars.

    Args:
        json_path: append one JSON object per logged iteration here (rank 0 only; None = off).
        writer: a ``SummaryWriter`` (rank 0 only; None = off).
    """

    def __init__(self, period: int, max_iter: int, writer=None, json_path: str | None = None) -> None:
        self.period, self.max_iter, self.writer, self.json_path = max(period, 1), max_iter, writer, json_path
        self.meters = MetricLogger(window=self.period)

    def before_train(self) -> None:
        self.start_time = time.perf_counter()
        self.start_iter = self.trainer.iter
        # ETA from the time per iteration after the first ones (they include warm-up and worker start)
        self._timed_from: tuple[int, float] | None = None

    def eta_seconds(self, it: int) -> float:
        now = time.perf_counter()
        if self._timed_from is None or it <= self._timed_from[0]:
            done, elapsed = max(it - self.start_iter, 1), now - self.start_time
        else:
            done, elapsed = it - self._timed_from[0], now - self._timed_from[1]
        return elapsed / done * (self.max_iter - it)

    def after_step(self) -> None:
        t = self.trainer
        self.meters.update(**t.last_metrics)
        it = t.iter
        if it - self.start_iter == 1:
            self._timed_from = (it, time.perf_counter())
        if it % self.period and it < self.max_iter:
            return
        eta = datetime.timedelta(seconds=int(self.eta_seconds(it)))
        mem = max_memory_mb(t.device)
        skipped = getattr(t, "skipped_samples", 0)
        logger.info(
            "eta: %s  iter: %d/%d (%.0f%%)  %s  lr: %.6f  max mem: %.0f MB%s%s",
            eta,
            it,
            self.max_iter,
            100.0 * it / max(self.max_iter, 1),
            self.meters,
            t.lr,
            mem,
            "" if t.device.type == "cuda" else " RSS",
            f"  skipped samples: {skipped}" if skipped else "",
        )
        record = {
            "iteration": it,
            "lr": t.lr,
            "eta_seconds": round(self.eta_seconds(it), 1),
            "max_mem_mb": mem,
            "skipped_samples": skipped,
        }
        record.update({name: m.median for name, m in self.meters.meters.items()})
        record.update({f"{name}_global_avg": m.global_avg for name, m in self.meters.meters.items()})
        if self.json_path:
            with open(self.json_path, "a", encoding="utf-8") as f:
                f.write(json.dumps(record) + "\n")
        if self.writer is not None:
            for name, meter in self.meters.meters.items():
                group = "time" if name in ("time", "data_time") else "train"
                self.writer.add_scalar(f"{group}/{name}", meter.median, it)
            self.writer.add_scalar("train/lr", t.lr, it)
            self.writer.add_scalar("memory/max_mem_mb", mem, it)

    def after_train(self) -> None:
        skipped = getattr(self.trainer, "skipped_samples", 0)
        if skipped:
            logger.warning(
                "%d training samples could not be decoded and were skipped "
                "(DATALOADER.ON_BAD_SAMPLE skip); the log names each file",
                skipped,
            )
        if self.writer is not None:
            self.writer.flush()
