"""Epoch-based schedule keys converted to the iteration-based trainer."""

from __future__ import annotations

import pytest

from alphaction.config import get_cfg
from alphaction.solver import apply_epoch_schedule, epoch_schedule


def test_epochs_to_iterations_by_hand():
    # 314 clips, 16 per iteration -> ceil(19.625) = 20 iterations per epoch
    out = epoch_schedule(30, 1.5, (20, 25), num_clips=314, batch=16)
    assert out == {"MAX_ITER": 600, "WARMUP_ITERS": 30, "STEPS": (400, 500), "ITERS_PER_EPOCH": 20}


def test_apply_sets_the_solver_keys_and_leaves_the_input_alone():
    cfg = get_cfg()
    cfg.SOLVER.VIDEOS_PER_BATCH, cfg.SOLVER.EPOCHS, cfg.SOLVER.WARMUP_EPOCHS = 8, 4, 0.5
    cfg.SOLVER.STEP_EPOCHS = (3,)
    cfg.freeze()
    out = apply_epoch_schedule(cfg, num_clips=100)  # 13 iterations per epoch
    assert (out.SOLVER.MAX_ITER, out.SOLVER.WARMUP_ITERS, tuple(out.SOLVER.STEPS)) == (52, 6, (39,))
    assert out.is_frozen() and cfg.SOLVER.MAX_ITER == get_cfg().SOLVER.MAX_ITER
    off = get_cfg()
    assert apply_epoch_schedule(off, 100) is off


def test_steps_outside_the_epochs_are_rejected():
    with pytest.raises(ValueError, match="STEP_EPOCHS"):
        epoch_schedule(10, 0, (12,), num_clips=10, batch=2)
