from __future__ import annotations

import pytest

from alphaction.config import get_cfg
from alphaction.solver import apply_scaling_rule, scaled_schedule


def test_scaled_schedule_by_hand():
    # AlphAction's R50 schedule (batch 16) on 8 clips: half the lr, twice the iterations
    s = scaled_schedule(0.0004, (560000, 720000), 880000, 2000, batch=8, reference_batch=16)
    assert s["BASE_LR"] == pytest.approx(0.0002)
    assert s["STEPS"] == (1120000, 1440000) and s["MAX_ITER"] == 1760000 and s["WARMUP_ITERS"] == 4000
    s = scaled_schedule(0.02, (100, 150), 200, 0, batch=64)
    assert s["BASE_LR"] == pytest.approx(0.08) and s["STEPS"] == (25, 38) and s["MAX_ITER"] == 50
    assert s["WARMUP_ITERS"] == 0 and s["factor"] == 4


def test_apply_scaling_rule_is_opt_in_and_idempotent():
    cfg = get_cfg()
    cfg.SOLVER.VIDEOS_PER_BATCH = 32
    cfg.freeze()
    assert apply_scaling_rule(cfg) is cfg  # off by default
    on = cfg.clone()
    on.defrost()
    on.SOLVER.SCALE_LR_WITH_BATCH = True
    on.freeze()
    out = apply_scaling_rule(on)
    assert out.SOLVER.BASE_LR == pytest.approx(2 * cfg.SOLVER.BASE_LR)
    assert out.SOLVER.MAX_ITER == cfg.SOLVER.MAX_ITER // 2
    assert tuple(out.SOLVER.STEPS) == tuple(s // 2 for s in cfg.SOLVER.STEPS)
    assert out.SOLVER.WARMUP_ITERS == cfg.SOLVER.WARMUP_ITERS // 2
    assert not out.SOLVER.SCALE_LR_WITH_BATCH and out.is_frozen()  # its config.yaml does not scale again
    assert apply_scaling_rule(out) is out
