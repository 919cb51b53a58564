import math

import pytest
import torch
from torch import nn

from alphaction.modeling.backbone.nonlocal_block import NLBlock


def _reference(block: NLBlock, x):
    """Direct per-position computation: y_i = sum_j softmax_j(theta_i . phi_j / sqrt(C')) g_j."""

    def conv1(conv, v):  # 1x1x1 conv as a matrix product over channels
        w = conv.weight.flatten(1)
        return torch.einsum("oc,nc...->no...", w, v) + conv.bias.view(1, -1, *([1] * (v.dim() - 2)))

    n, c, t, h, w = x.shape
    theta = conv1(block.theta, x)
    pooled = nn.functional.max_pool3d(x, (1, 2, 2), (1, 2, 2))
    phi, g = conv1(block.phi, pooled), conv1(block.g, pooled)
    out = torch.zeros(n, block.dim_inner, t, h, w, dtype=x.dtype)
    for b in range(n):
        th = theta[b].reshape(block.dim_inner, -1)
        ph = phi[b].reshape(block.dim_inner, -1)
        gg = g[b].reshape(block.dim_inner, -1)
        for i in range(th.shape[1]):
            logits = [float(th[:, i] @ ph[:, j]) / math.sqrt(block.dim_inner) for j in range(ph.shape[1])]
            m = max(logits)
            e = [math.exp(v - m) for v in logits]
            s = sum(e)
            out[b].view(block.dim_inner, -1)[:, i] = sum(e[j] / s * gg[:, j] for j in range(len(e)))
    y = conv1(block.out, out)
    bn = block.bn
    y = (y - bn.running_mean.view(1, -1, 1, 1, 1)) / torch.sqrt(bn.running_var.view(1, -1, 1, 1, 1) + bn.eps)
    y = y * bn.weight.view(1, -1, 1, 1, 1) + bn.bias.view(1, -1, 1, 1, 1)
    return x + y


def test_matches_direct_computation():
    torch.manual_seed(0)
    block = NLBlock(6, 4, conv_init_std=0.5).double().eval()
    nn.init.uniform_(block.bn.weight, 0.5, 1.5)  # default gamma 0 would hide the non-local branch
    x = torch.randn(2, 6, 2, 4, 4, dtype=torch.double)
    with torch.no_grad():
        torch.testing.assert_close(block(x), _reference(block, x))


def test_fresh_block_is_identity_and_keys_follow_alphaction():
    block = NLBlock(8, 4).eval()
    x = torch.randn(1, 8, 2, 4, 4)
    torch.testing.assert_close(block(x), x)  # BN gamma initialised to 0
    keys = set(block.state_dict())
    for name in ("theta", "phi", "g", "out"):
        assert {f"{name}.weight", f"{name}.bias"} <= keys
    assert {"bn.weight", "bn.bias", "bn.running_mean", "bn.running_var"} <= keys


def test_grouped_attention_equals_the_block_on_each_group():
    # group_size 4: frames 0-3 and 4-7 of each clip attend only among themselves
    torch.manual_seed(3)
    grouped = NLBlock(6, 3, conv_init_std=0.5, group_size=4).double().eval()
    nn.init.uniform_(grouped.bn.weight, 0.5, 1.5)
    plain = NLBlock(6, 3, group_size=0).double().eval()
    plain.load_state_dict(grouped.state_dict())
    x = torch.randn(2, 6, 8, 4, 4, dtype=torch.double)
    with torch.no_grad():
        expected = torch.cat([plain(x[:, :, 0:4]), plain(x[:, :, 4:8])], dim=2)
        torch.testing.assert_close(grouped(x), expected)
        assert not torch.allclose(plain(x), expected)  # whole-clip attention differs
    with pytest.raises(ValueError, match="multiple of 4"):
        grouped(torch.randn(1, 6, 6, 4, 4, dtype=torch.double))


def test_frozen_bn_and_no_bias_options():
    from alphaction.layers import FrozenBatchNorm3d

    block = NLBlock(8, 4, frozen_bn=True, bias=False, bn_init_gamma=0.0)
    assert isinstance(block.bn, FrozenBatchNorm3d) and block.theta.bias is None
    assert not any("bn" in n for n, _ in block.named_parameters())  # frozen: buffers only
    x = torch.randn(1, 8, 2, 4, 4)
    torch.testing.assert_close(block(x), x)
