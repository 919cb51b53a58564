from __future__ import annotations

import random

import numpy as np
import torch
from torch import nn

from alphaction.utils import comm
from alphaction.utils.seed import get_rng_state, seed_all, set_rng_state


def _draw():
    return random.random(), float(np.random.rand()), float(torch.rand(()))


def test_rng_state_survives_a_weights_only_checkpoint(tmp_path):
    seed_all(3)
    _draw()
    torch.save({"rng": get_rng_state()}, tmp_path / "s.pth")
    expected = [_draw() for _ in range(3)]
    seed_all(99)
    set_rng_state(torch.load(tmp_path / "s.pth", weights_only=True)["rng"])
    assert [_draw() for _ in range(3)] == expected


def test_seed_all_differs_per_rank():
    seed_all(5, rank=0)
    a = _draw()
    seed_all(5, rank=1)
    assert _draw() != a


def test_single_process_collectives_are_identities():
    bn = nn.Sequential(nn.BatchNorm3d(2))
    bn.train()(torch.randn(2, 2, 1, 2, 2))
    before = bn[0].running_mean.clone()
    assert comm.average_bn_running_stats(bn) == 0
    assert torch.equal(bn[0].running_mean, before)
    assert comm.any_across_ranks(True) and not comm.any_across_ranks(False)
    x = {"a": torch.tensor(2.0)}
    assert comm.reduce_dict(x) is x
