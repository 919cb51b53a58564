from __future__ import annotations

import pytest
import torch
from torch import nn

from alphaction.config import get_cfg
from alphaction.solver import WarmupCosineLR, WarmupMultiStepLR, build_optimizer, make_param_groups


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv3d(3, 4, 1)
        self.bn = nn.BatchNorm3d(4)
        self.ia_structure = nn.Linear(4, 4)


def _group_of(groups, param):
    return next(g for g in groups if any(p is param for p in g["params"]))


def test_param_groups_follow_alphaction_rules():
    net = Net()
    groups = make_param_groups(
        net,
        base_lr=0.1,
        weight_decay=1e-4,
        bias_lr_factor=2,
        weight_decay_bias=0.0,
        weight_decay_bn=0.5,
        special_lr={"ia_structure": 10.0},
    )
    g = _group_of(groups, net.conv.weight)
    assert (g["lr"], g["weight_decay"]) == (0.1, 1e-4)
    g = _group_of(groups, net.conv.bias)
    assert (g["lr"], g["weight_decay"]) == (pytest.approx(0.2), 0.0)
    for p in (net.bn.weight, net.bn.bias):  # BN: wd_bn, lr unchanged (the bias rule is an elif)
        g = _group_of(groups, p)
        assert (g["lr"], g["weight_decay"]) == (0.1, 0.5)
    g = _group_of(groups, net.ia_structure.weight)
    assert g["lr"] == pytest.approx(1.0)
    g = _group_of(groups, net.ia_structure.bias)
    assert g["lr"] == pytest.approx(2.0)
    assert sum(len(g["params"]) for g in groups) == len(list(net.parameters()))


def test_frozen_parameters_are_left_out():
    net = Net()
    net.conv.weight.requires_grad_(False)
    groups = make_param_groups(net, 0.1, 0.0)
    assert all(p is not net.conv.weight for g in groups for p in g["params"])


def _lrs(sched, n):
    out = []
    for _ in range(n):
        out.append(sched.optimizer.param_groups[0]["lr"])
        sched.step()
    return out


def test_warmup_multistep_by_hand():
    opt = torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=1.0)
    lrs = _lrs(WarmupMultiStepLR(opt, steps=(6, 8), gamma=0.1, warmup_factor=0.25, warmup_iters=4), 10)
    # warmup: 0.25 + 0.75 * it / 4 for it < 4
    expected = [0.25, 0.4375, 0.625, 0.8125, 1, 1, 0.1, 0.1, 0.01, 0.01]
    assert lrs == pytest.approx(expected)


def test_warmup_cosine_by_hand():
    opt = torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=2.0)
    lrs = _lrs(WarmupCosineLR(opt, max_iter=4, warmup_iters=0), 5)
    assert lrs == pytest.approx([2.0, 2 * 0.5 * (1 + 0.7071067811865476), 1.0, 2 * 0.5 * (1 - 0.7071067811865476), 0.0])


def test_build_optimizer_rejects_unknown():
    cfg = get_cfg()
    cfg.SOLVER.OPTIMIZER = "Lion"
    with pytest.raises(ValueError, match="SOLVER.OPTIMIZER"):
        build_optimizer(cfg, Net())
