from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from alphaction.layers import sigmoid_focal_loss, softmax_focal_loss


def test_softmax_focal_with_gamma_zero_is_summed_cross_entropy():
    torch.manual_seed(0)
    logits, target = torch.randn(6, 5), torch.randint(0, 5, (6,))
    torch.testing.assert_close(
        softmax_focal_loss(logits, target, gamma=0.0), F.cross_entropy(logits, target, reduction="sum")
    )


def test_softmax_focal_by_hand():
    # softmax([0, ln 3]) = [0.25, 0.75]
    logits = torch.tensor([[0.0, math.log(3.0)], [0.0, math.log(3.0)]])
    target = torch.tensor([1, 0])
    expected = -(0.25**2) * math.log(0.75) - (0.75**2) * math.log(0.25)
    assert softmax_focal_loss(logits, target, gamma=2.0).item() == pytest.approx(expected, rel=1e-6)
    assert softmax_focal_loss(logits, target, gamma=2.0, alpha=0.5).item() == pytest.approx(expected / 2, rel=1e-6)
    per_box = softmax_focal_loss(logits, target, gamma=2.0, reduction="none")
    assert per_box.shape == (2,)


def test_sigmoid_focal_with_gamma_zero_and_no_alpha_is_bce():
    torch.manual_seed(0)
    logits, targets = torch.randn(4, 7), (torch.rand(4, 7) > 0.5).float()
    torch.testing.assert_close(
        sigmoid_focal_loss(logits, targets, gamma=0.0, alpha=-1.0),
        F.binary_cross_entropy_with_logits(logits, targets, reduction="none"),
    )


def test_sigmoid_focal_by_hand():
    # logit 0: p = 0.5 for both targets; logit ln 3: p = 0.75
    logits = torch.tensor([[0.0, math.log(3.0), math.log(3.0)]])
    targets = torch.tensor([[1.0, 1.0, 0.0]])
    expected = [0.25 * math.log(2.0), 0.25**2 * -math.log(0.75), 0.75**2 * -math.log(0.25)]
    out = sigmoid_focal_loss(logits, targets, gamma=2.0, alpha=-1.0)
    torch.testing.assert_close(out, torch.tensor([expected]))
