"""Early stopping on a validation metric: stop when it has not improved for ``patience`` evaluations."""

from __future__ import annotations

import logging

from .hooks import EvalHook, HookBase, PeriodicCheckpointHook, improves, parse_metric

logger = logging.getLogger(__name__)


class EarlyStoppingHook(HookBase):
    """Watches the results of ``eval_hook``; after ``patience`` evaluations without an improvement larger than
    ``min_delta`` it saves ``model_final.pth`` at the current iteration and ends the loop (the final test and
    ``model_best.pth`` work as after a full run).

    Args:
        metric: a key of the flattened evaluation results; a leading ``-`` means lower is better.
    Must come after ``eval_hook`` in the trainer's hook list (it reads what that hook just computed).
    """

    def __init__(
        self,
        metric: str,
        patience: int,
        eval_hook: EvalHook,
        checkpoint_hook: PeriodicCheckpointHook,
        min_delta: float = 0.0,
    ) -> None:
        if patience < 1:
            raise ValueError(f"SOLVER.EARLY_STOP_PATIENCE must be >= 1 to stop early, got {patience}")
        self.metric, self.lower_is_better = parse_metric(metric)
        self.patience, self.min_delta = patience, min_delta
        self.eval_hook, self.checkpoint_hook = eval_hook, checkpoint_hook
        self.best: float | None = None
        self.bad_evals = 0
        self.stopped_at: int | None = None

    def observe(self, value: float) -> bool:
        """Record one evaluation; returns whether training should stop."""
        if improves(value, self.best, self.lower_is_better, self.min_delta):
            self.best, self.bad_evals = value, 0
        else:
            self.bad_evals += 1
        return self.bad_evals >= self.patience

    def after_step(self) -> None:
        it = self.trainer.iter
        if self.eval_hook.last_iter != it or it >= self.trainer.max_iter:
            return
        results = self.eval_hook.last_results or {}
        if self.metric not in results:
            logger.warning("early stopping: %r is not among the evaluation results %s", self.metric, sorted(results))
            return
        if self.observe(float(results[self.metric])):
            logger.info(
                "Early stopping at iteration %d: %s has not improved on %.4f for %d evaluations",
                it,
                self.metric,
                self.best,
                self.patience,
            )
            self.checkpoint_hook.save("model_final")
            self.stopped_at = it
            self.trainer.max_iter = it
