from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from torch import nn

from alphaction.config import get_cfg
from alphaction.layers import FrozenBatchNorm3d
from alphaction.modeling import build_backbone, build_model

SPECS = Path(__file__).parent / "specs"


@pytest.mark.parametrize(
    "conv_body, spec",
    [
        ("Slowfast-Resnet50", "alphaction_keys_resnet50_4x16f_baseline.json"),
        ("Slowfast-Resnet101", "alphaction_keys_resnet101_8x8f_baseline.json"),
    ],
)
def test_state_dict_keys_and_shapes_match_alphaction(conv_body, spec):
    cfg = get_cfg()
    cfg.MODEL.BACKBONE.CONV_BODY = conv_body
    cfg.MODEL.BACKBONE.FROZEN_BN = True
    # the released configs switch the default-on non-local blocks off (so the specs hold no nonlocal keys)
    cfg.MODEL.BACKBONE.SLOWFAST.SLOW.CONV3_NONLOCAL = cfg.MODEL.BACKBONE.SLOWFAST.SLOW.CONV4_NONLOCAL = False
    cfg.MODEL.ROI_ACTION_HEAD.NUM_CLASSES = 80
    with torch.device("meta"):  # shapes only: no memory, no init cost
        model = build_model(cfg)
    ours = [[k, list(v.shape), str(v.dtype).removeprefix("torch.")] for k, v in model.state_dict().items()]
    expected = json.loads((SPECS / spec).read_text())
    assert dict((k, s) for k, s, _ in ours) == dict((k, s) for k, s, _ in expected)
    assert ours == expected  # same order too, so checkpoints list identically
    assert model.backbone.dim_out == 2304


def test_published_parameter_counts():
    cfg = get_cfg()
    cfg.MODEL.BACKBONE.FROZEN_BN = True
    with torch.device("meta"):
        with_nonlocal = sum(p.numel() for p in build_backbone(cfg).parameters())  # AlphAction's default keys
        cfg.MODEL.BACKBONE.SLOWFAST.SLOW.CONV3_NONLOCAL = cfg.MODEL.BACKBONE.SLOWFAST.SLOW.CONV4_NONLOCAL = False
        released = sum(p.numel() for p in build_backbone(cfg).parameters())
    # AlphAction facts: learnable conv weights + lateral biases of SlowFast-R50 = 33.50 M
    assert released == pytest.approx(33.50e6, rel=1e-3)
    # non-local on dim d (inner d/2): theta, phi, g, out weights + biases and a trainable BN = 2 d^2 + 4.5 d;
    # 2 blocks in res3 (d 512) and 3 in res4 (d 1024)
    assert with_nonlocal - released == 2 * (2 * 512**2 + 4.5 * 512) + 3 * (2 * 1024**2 + 4.5 * 1024)


def test_frozen_bn_means_no_bn_parameters(tiny_cfg):
    tiny_cfg.MODEL.BACKBONE.FROZEN_BN = True
    backbone = build_backbone(tiny_cfg)
    assert not any(isinstance(m, nn.BatchNorm3d) for m in backbone.modules())
    assert any(isinstance(m, FrozenBatchNorm3d) for m in backbone.modules())
    # only conv weights and the lateral conv biases remain learnable
    for name, p in backbone.named_parameters():
        assert name.endswith("conv.weight") or name.endswith("conv1.weight") or ".Tconv" in name, name


def test_trainable_bn_uses_config_and_zero_gamma_on_last_bn(tiny_cfg):
    tiny_cfg.MODEL.BACKBONE.FROZEN_BN = False
    tiny_cfg.MODEL.BACKBONE.BN_EPSILON = 1e-3
    tiny_cfg.MODEL.BACKBONE.BN_MOMENTUM = 0.05
    tiny_cfg.MODEL.BACKBONE.BN_INIT_GAMMA = 0.0
    backbone = build_backbone(tiny_cfg)
    bns = {n: m for n, m in backbone.named_modules() if isinstance(m, nn.BatchNorm3d)}
    assert bns and all(m.eps == 1e-3 and m.momentum == 0.05 for m in bns.values())
    last = [m for n, m in bns.items() if n.endswith("btnk.conv3.bn")]
    assert len(last) == 8  # 4 stages x 1 block x 2 pathways
    assert all(torch.all(m.weight == 0) for m in last)
    assert all(torch.all(m.weight == 1) for n, m in bns.items() if not n.endswith("btnk.conv3.bn"))


def test_width_mult_scales_both_pathways(tiny_cfg):
    backbone = build_backbone(tiny_cfg)
    assert (backbone.dim_out_slow, backbone.dim_out_fast, backbone.dim_out) == (512, 64, 576)
    sd = backbone.state_dict()
    assert sd["slow.conv1.weight"].shape == (16, 3, 1, 7, 7)
    assert sd["fast.conv1.weight"].shape == (2, 3, 5, 7, 7)
    assert sd["fast.Tconv1.conv.weight"].shape == (4, 2, 5, 1, 1)
    assert sd["slow.res_nl1.res_0.btnk.conv1.conv.weight"].shape == (16, 16 + 4, 1, 1, 1)


def test_tiny_forward_shapes_output_stride_16(tiny_cfg):
    backbone = build_backbone(tiny_cfg).eval()
    with torch.no_grad():
        slow, fast = backbone(torch.randn(2, 3, 2, 64, 64), torch.randn(2, 3, 8, 64, 64))
    assert slow.shape == (2, 512, 2, 4, 4)
    assert fast.shape == (2, 64, 8, 4, 4)


def test_r50_forward_shapes_on_a_tiny_input():
    cfg = get_cfg()
    cfg.MODEL.BACKBONE.FROZEN_BN = True
    cfg.INPUT.ALPHA = 4
    backbone = build_backbone(cfg).eval()
    with torch.no_grad():
        slow, fast = backbone(torch.randn(1, 3, 1, 32, 48), torch.randn(1, 3, 4, 32, 48))
    assert slow.shape == (1, 2048, 1, 2, 3)
    assert fast.shape == (1, 256, 4, 2, 3)


def test_wrong_fast_frame_count_is_a_clear_error(tiny_cfg):
    backbone = build_backbone(tiny_cfg)
    with pytest.raises(ValueError, match="alpha=4"):
        backbone(torch.randn(1, 3, 2, 32, 32), torch.randn(1, 3, 4, 32, 32))


def test_unknown_conv_body_names_the_key(tiny_cfg):
    tiny_cfg.MODEL.BACKBONE.CONV_BODY = "Slowfast-Resnet18"
    with pytest.raises(ValueError, match="MODEL.BACKBONE.CONV_BODY"):
        build_backbone(tiny_cfg)


def test_pyslowfast_form_options(tiny_cfg):
    sf = tiny_cfg.MODEL.BACKBONE.SLOWFAST
    sf.LATERAL, sf.LATERAL_KERNEL, sf.STEM_POOL_PADDING = "fuse", 7, True
    sf.RES5_STRIDE, sf.RES5_DILATION = 2, 1
    tiny_cfg.MODEL.BACKBONE.FROZEN_BN = True
    backbone = build_backbone(tiny_cfg).eval()
    sd = backbone.state_dict()
    assert sd["fast.Tconv1.conv.weight"].shape == (4, 2, 7, 1, 1) and "fast.Tconv1.conv.bias" not in sd
    assert "fast.Tconv1.bn.running_var" in sd
    assert backbone.fast.Tconv1.conv.stride == (4, 1, 1) and backbone.fast.Tconv1.conv.padding == (3, 0, 0)
    assert backbone.slow.maxpool1.padding == (0, 1, 1)
    assert backbone.slow.res_nl4.res_0.btnk.conv2.conv.stride == (1, 2, 2)
    assert backbone.slow.res_nl4.res_0.btnk.conv2.conv.dilation == (1, 1, 1)
    with torch.no_grad():
        slow, fast = backbone(torch.randn(1, 3, 2, 64, 64), torch.randn(1, 3, 8, 64, 64))
    assert backbone.output_stride == 32 and slow.shape == (1, 512, 2, 2, 2) and fast.shape == (1, 64, 8, 2, 2)


def test_pooler_scale_must_match_the_output_stride(tiny_cfg):
    tiny_cfg.MODEL.BACKBONE.SLOWFAST.RES5_STRIDE = 2
    tiny_cfg.MODEL.BACKBONE.SLOWFAST.RES5_DILATION = 1
    with pytest.raises(ValueError, match="POOLER_SCALE 0.03125"):
        build_model(tiny_cfg)
    tiny_cfg.MODEL.ROI_ACTION_HEAD.POOLER_SCALE = 1.0 / 32
    assert build_model(tiny_cfg).head_prefixes == ("roi_heads.",)
