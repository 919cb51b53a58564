from __future__ import annotations

import pytest

from alphaction.config import get_cfg


@pytest.fixture
def tiny_cfg():
    """Slowfast-Resnet14 at WIDTH_MULT 0.25: slow 2 frames, fast 8 frames, 80 classes (14 | 49 | 17)."""
    cfg = get_cfg()
    cfg.MODEL.BACKBONE.CONV_BODY = "Slowfast-Resnet14"
    cfg.MODEL.BACKBONE.WIDTH_MULT = 0.25
    cfg.MODEL.BACKBONE.SLOWFAST.SLOW.CONV3_NONLOCAL = False
    cfg.MODEL.BACKBONE.SLOWFAST.SLOW.CONV4_NONLOCAL = False
    cfg.MODEL.ROI_ACTION_HEAD.MLP_HEAD_DIM = 32
    cfg.INPUT.FRAME_NUM = 8
    cfg.INPUT.TAU = 4
    cfg.INPUT.ALPHA = 4
    return cfg
