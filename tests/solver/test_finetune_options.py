"""Finetuning options of the solver: backbone lr multiplier, Adam, freezing the first K SlowFast stages."""

from __future__ import annotations

import pytest
import torch

from alphaction.config import get_cfg
from alphaction.modeling import build_model
from alphaction.solver import build_optimizer
from alphaction.solver.optimizer import stage_prefixes


def _cfg(**solver):
    cfg = get_cfg()
    cfg.merge_from_file("config_files/classification/thermal_hdf5_cpu.yaml")
    cfg.SOLVER.BASE_LR, cfg.SOLVER.BIAS_LR_FACTOR = 0.1, 1.0
    for k, v in solver.items():
        setattr(cfg.SOLVER, k, v)
    return cfg


def _lr_of(opt, param):
    return next(g["lr"] for g in opt.param_groups if any(p is param for p in g["params"]))


def test_backbone_lr_factor_scales_backbone_only_and_adam_is_available():
    model = build_model(_cfg())
    opt = build_optimizer(_cfg(BACKBONE_LR_FACTOR=0.1, OPTIMIZER="Adam"), model)
    assert isinstance(opt, torch.optim.Adam) and not isinstance(opt, torch.optim.AdamW)
    assert _lr_of(opt, model.head.proj.weight) == pytest.approx(0.1)
    assert _lr_of(opt, model.backbone.slow.conv1.weight) == pytest.approx(0.01)
    assert _lr_of(opt, model.backbone.fast.res_nl4.res_0.btnk.conv1.conv.weight) == pytest.approx(0.01)


def test_freeze_two_stages_leaves_stems_and_res2_out_of_the_optimizer():
    model = build_model(_cfg())
    opt = build_optimizer(_cfg(FREEZE_STAGES=2), model)
    in_opt = {id(p) for g in opt.param_groups for p in g["params"]}
    names = dict(model.named_parameters())
    frozen = [n for n in names if n.split(".")[2] in ("conv1", "bn1", "res_nl1", "Tconv1", "Tconv2")]
    assert frozen, "the test model must have stems"
    for n, p in names.items():
        should_train = n not in frozen
        assert p.requires_grad == should_train, n
        assert (id(p) in in_opt) == should_train, n
    assert any(n.startswith("backbone.slow.res_nl2.") for n in names if n not in frozen)


def test_freeze_stage_range_checked():
    model = build_model(_cfg())
    assert stage_prefixes(model, 0) == []
    with pytest.raises(ValueError, match="FREEZE_STAGES"):
        stage_prefixes(model, 6)
