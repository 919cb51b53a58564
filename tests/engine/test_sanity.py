"""The start-up gradient check: per-stage report, frozen stages, no side effects, clear errors."""

from __future__ import annotations

import math

import pytest
import torch

from alphaction.config import get_cfg
from alphaction.engine.sanity import GradientCheckError, check_gradients, parameter_group
from alphaction.modeling import build_model
from alphaction.solver import build_optimizer

CPU = torch.device("cpu")


def _model_and_batch(freeze: int = 0):
    cfg = get_cfg()
    cfg.merge_from_file("config_files/classification/thermal_hdf5_cpu.yaml")
    cfg.MODEL.CLIP_HEAD.DROPOUT_RATE = 0.0
    cfg.SOLVER.FREEZE_STAGES = freeze
    torch.manual_seed(0)
    model = build_model(cfg)
    build_optimizer(cfg, model)  # applies FREEZE_STAGES
    batch = {
        "slow": torch.randn(2, 3, 4, 32, 32),
        "fast": torch.randn(2, 3, 16, 32, 32),
        "labels": torch.tensor([3, 7]),
    }
    return model, batch


def test_parameter_groups_are_stages():
    assert parameter_group("backbone.slow.conv1.weight") == "backbone.slow.stem"
    assert parameter_group("backbone.fast.bn1.bias") == "backbone.fast.stem"
    assert parameter_group("backbone.slow.res_nl3.res_0.btnk.conv1.conv.weight") == "backbone.slow.res_nl3"
    assert parameter_group("backbone.fast.Tconv2.conv.weight") == "backbone.fast.Tconv2"
    assert parameter_group("head.proj.weight") == "head.proj"


def test_frozen_stages_reported_frozen_and_trained_ones_get_gradients():
    model, batch = _model_and_batch(freeze=2)
    report = check_gradients(model, batch, CPU)
    # FREEZE_STAGES 2 = both stems, both res2 stages and the laterals feeding stages 1 and 2 (by hand)
    frozen = {
        "backbone.slow.stem",
        "backbone.fast.stem",
        "backbone.slow.res_nl1",
        "backbone.fast.res_nl1",
        "backbone.fast.Tconv1",
        "backbone.fast.Tconv2",
    }
    for group, r in report.items():
        if group in frozen:
            assert r["trainable"] == 0 and r["frozen"] > 0 and math.isnan(r["grad_norm"]), group
        else:
            assert r["frozen"] == 0 and r["trainable"] > 0 and r["grad_norm"] > 0, group
    assert frozen < set(report) and {"head.proj", "backbone.slow.res_nl4", "backbone.fast.res_nl4"} <= set(report)
    # the head's norm equals the one autograd gives for the same loss, computed here separately
    w, b = model.head.proj.weight, model.head.proj.bias
    gw, gb = torch.autograd.grad(model(batch["slow"], batch["fast"], labels=batch["labels"])["loss_cls"], [w, b])
    assert report["head.proj"]["grad_norm"] == pytest.approx(math.sqrt(gw.pow(2).sum() + gb.pow(2).sum()), rel=1e-4)


def test_check_leaves_no_trace():
    model, batch = _model_and_batch()
    model.eval()
    buffers = {k: v.clone() for k, v in model.named_buffers()}
    torch.manual_seed(123)
    expected_next = torch.rand(3)
    torch.manual_seed(123)
    check_gradients(model, batch, CPU)
    assert torch.equal(torch.rand(3), expected_next)  # the global RNG stream is where it was
    assert not model.training
    assert all(p.grad is None for p in model.parameters())
    for k, v in model.named_buffers():
        assert torch.equal(v, buffers[k]), k  # BatchNorm running statistics untouched


def test_a_head_detached_from_the_backbone_is_named():
    model, batch = _model_and_batch()
    head_forward = model.head.forward
    model.head.forward = lambda s, f: head_forward(s.detach(), f.detach())
    with pytest.raises(GradientCheckError, match="get no gradient") as err:
        check_gradients(model, batch, CPU)
    msg = str(err.value)
    assert "backbone.slow.stem" in msg and "backbone.slow.conv1.weight" in msg and "SANITY_CHECK" in msg
    assert "head.proj:" not in msg  # the head itself does get its gradient


def test_a_loss_that_reaches_no_parameter_raises():
    model, batch = _model_and_batch()
    logits = model.logits
    model.logits = lambda s, f: logits(s, f).detach()
    with pytest.raises(GradientCheckError, match="does not depend on any trainable parameter"):
        check_gradients(model, batch, CPU)


def test_group_grad_norms_hand_computed():
    from alphaction.engine.sanity import group_grad_norms

    model = torch.nn.ModuleDict(
        {"head": torch.nn.ModuleDict({"proj": torch.nn.Linear(2, 1), "other": torch.nn.Linear(1, 1)})}
    )
    model["head"]["proj"].weight.grad = torch.tensor([[3.0, 0.0]])
    model["head"]["proj"].bias.grad = torch.tensor([4.0])
    # head.other has no gradients at all: left out
    assert group_grad_norms(model) == {"head.proj": 5.0}
