"""Early stopping: patience counting, direction, and ending the loop with a final checkpoint."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from alphaction.engine.early_stopping import EarlyStoppingHook


class _Eval:
    def __init__(self):
        self.last_iter, self.last_results = -1, None


class _Ckpt:
    def __init__(self):
        self.saved = []

    def save(self, name):
        self.saved.append(name)


def test_patience_counts_evaluations_without_improvement():
    hook = EarlyStoppingHook("val/top1", patience=2, eval_hook=_Eval(), checkpoint_hook=_Ckpt(), min_delta=0.01)
    # 0.5 best; 0.505 is within min_delta (bad 1); 0.6 improves (reset); 0.6, 0.59 -> bad 1, 2 -> stop
    assert [hook.observe(v) for v in (0.5, 0.505, 0.6, 0.6, 0.59)] == [False, False, False, False, True]


def test_lower_is_better():
    hook = EarlyStoppingHook("-val/val_loss", patience=1, eval_hook=_Eval(), checkpoint_hook=_Ckpt())
    assert [hook.observe(v) for v in (1.0, 0.8, 0.9)] == [False, False, True]


def test_stop_saves_final_and_ends_the_loop():
    ev, ck = _Eval(), _Ckpt()
    hook = EarlyStoppingHook("val/top1", patience=1, eval_hook=ev, checkpoint_hook=ck)
    hook.trainer = SimpleNamespace(iter=0, max_iter=100)
    for it, value in ((10, 0.4), (20, 0.3)):
        hook.trainer.iter, ev.last_iter, ev.last_results = it, it, {"val/top1": value}
        hook.after_step()
    assert hook.trainer.max_iter == 20 and ck.saved == ["model_final"] and hook.stopped_at == 20


def test_zero_patience_rejected():
    with pytest.raises(ValueError, match="EARLY_STOP_PATIENCE"):
        EarlyStoppingHook("m", 0, _Eval(), _Ckpt())
