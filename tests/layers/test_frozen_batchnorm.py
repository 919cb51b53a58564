from __future__ import annotations

import torch
from torch import nn

from alphaction.layers import FrozenBatchNorm3d


def _filled(channels: int = 4) -> FrozenBatchNorm3d:
    bn = FrozenBatchNorm3d(channels, eps=1e-5)
    bn.weight.copy_(torch.tensor([1.0, 2.0, 0.5, -1.0]))
    bn.bias.copy_(torch.tensor([0.0, 1.0, -2.0, 3.0]))
    bn.running_mean.copy_(torch.tensor([0.5, -1.0, 2.0, 0.0]))
    bn.running_var.copy_(torch.tensor([1.0, 4.0, 0.25, 9.0]))
    return bn


def test_frozen_bn_has_no_parameters_and_saves_its_four_buffers():
    bn = FrozenBatchNorm3d(4)
    assert list(bn.parameters()) == []
    assert sorted(bn.state_dict()) == ["bias", "running_mean", "running_var", "weight"]


def test_frozen_bn_is_the_affine_map_of_its_statistics():
    bn = _filled()
    x = torch.randn(2, 4, 3, 5, 5)
    w, b, m, v = (t.view(1, 4, 1, 1, 1) for t in (bn.weight, bn.bias, bn.running_mean, bn.running_var))
    expected = (x - m) / torch.sqrt(v + 1e-5) * w + b
    torch.testing.assert_close(bn(x), expected)
    # identical in train mode: nothing is estimated from the batch
    bn.train()
    torch.testing.assert_close(bn(x), expected)


def test_frozen_bn_matches_batchnorm3d_in_eval_and_loads_its_state_dict():
    ref = nn.BatchNorm3d(4).eval()
    with torch.no_grad():
        ref.weight.uniform_(0.5, 2)
        ref.bias.uniform_(-1, 1)
        ref.running_mean.uniform_(-1, 1)
        ref.running_var.uniform_(0.5, 2)
    state = ref.state_dict()
    assert "num_batches_tracked" in state
    bn = FrozenBatchNorm3d(4)
    result = bn.load_state_dict(state, strict=True)  # num_batches_tracked is dropped, not reported
    assert not result.missing_keys and not result.unexpected_keys
    x = torch.randn(2, 4, 2, 3, 3)
    torch.testing.assert_close(bn(x), ref(x))
