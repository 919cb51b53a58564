"""Non-local blocks inside the SlowFast backbone: AlphAction's names and shapes, identity at init, checkpoints."""

from __future__ import annotations

import glob
import os

import pytest
import torch

from alphaction.checkpoint import Checkpointer, CheckpointError
from alphaction.config import get_cfg
from alphaction.engine.defaults import REPO_ROOT
from alphaction.modeling import build_model
from alphaction.modeling.backbone import BatchNormSpec, NonLocalStages, SlowFast
from alphaction.modeling.build import build_backbone

NL_PARTS = ("theta", "phi", "g", "out")


def _tiny(nonlocal_on: bool, **kw) -> SlowFast:
    # 1 / 4 / 4 / 1 blocks so res3 and res4 have blocks 1 and 3 (a non-local block after each)
    stages = dict(slow_nonlocal=NonLocalStages(res3=True, res4=True), fast_nonlocal=NonLocalStages(res3=True))
    return SlowFast(
        (1, 4, 4, 1), alpha=4, width_mult=0.25, bn=BatchNormSpec(frozen=False), **(stages if nonlocal_on else {}), **kw
    )


def _expected_nonlocal_shapes(prefix: str, dim: int) -> dict[str, tuple[int, ...]]:
    inner = dim // 2
    shapes = {f"{prefix}.{n}.weight": (inner, dim, 1, 1, 1) for n in ("theta", "phi", "g")}
    shapes |= {f"{prefix}.{n}.bias": (inner,) for n in ("theta", "phi", "g")}
    shapes |= {f"{prefix}.out.weight": (dim, inner, 1, 1, 1), f"{prefix}.out.bias": (dim,)}
    shapes |= {f"{prefix}.bn.{n}": (dim,) for n in ("weight", "bias", "running_mean", "running_var")}
    shapes[f"{prefix}.bn.num_batches_tracked"] = ()
    return shapes


def test_tiny_backbone_nonlocal_names_and_shapes():
    sd = _tiny(True).state_dict()
    # width 0.25: slow res3 / res4 outputs 128 / 256 channels, fast res3 16
    expected = {}
    for k in (1, 3):
        expected |= _expected_nonlocal_shapes(f"slow.res_nl2.nonlocal_{k}", 128)
        expected |= _expected_nonlocal_shapes(f"slow.res_nl3.nonlocal_{k}", 256)
        expected |= _expected_nonlocal_shapes(f"fast.res_nl2.nonlocal_{k}", 16)
    got = {k: tuple(v.shape) for k, v in sd.items() if "nonlocal" in k}
    assert got == expected
    # AlphAction's order: res_1, nonlocal_1, res_2, res_3, nonlocal_3 (state dicts keep registration order)
    blocks = list(dict.fromkeys(k.split(".")[2] for k in sd if k.startswith("slow.res_nl2.")))
    assert blocks == ["res_0", "res_1", "nonlocal_1", "res_2", "res_3", "nonlocal_3"]


def test_default_config_places_blocks_as_alphaction():
    cfg = get_cfg()  # AlphAction defaults: SLOW.CONV3_NONLOCAL / CONV4_NONLOCAL True, FAST off; R50 4 / 6 blocks
    with torch.device("meta"):
        backbone = build_backbone(cfg)
    names = sorted(n for n, _ in backbone.named_modules() if n.rsplit(".", 1)[-1].startswith("nonlocal_"))
    assert names == [
        "slow.res_nl2.nonlocal_1",
        "slow.res_nl2.nonlocal_3",
        "slow.res_nl3.nonlocal_1",
        "slow.res_nl3.nonlocal_3",
        "slow.res_nl3.nonlocal_5",
    ]
    assert backbone.slow.res_nl2.nonlocal_1.theta.weight.shape == (256, 512, 1, 1, 1)
    assert backbone.slow.res_nl3.nonlocal_5.out.weight.shape == (1024, 512, 1, 1, 1)
    assert backbone.slow.res_nl2.nonlocal_1.maxpool is not None


def test_fresh_nonlocal_backbone_equals_plain_backbone():
    torch.manual_seed(0)
    plain, with_nl = _tiny(False).eval(), _tiny(True).eval()
    result = with_nl.load_state_dict(plain.state_dict(), strict=False)
    assert not result.unexpected_keys and all("nonlocal" in k for k in result.missing_keys)
    slow, fast = torch.randn(1, 3, 2, 64, 64), torch.randn(1, 3, 8, 64, 64)
    with torch.no_grad():
        for a, b in zip(plain(slow, fast), with_nl(slow, fast)):
            torch.testing.assert_close(a, b, rtol=0, atol=0)  # BN gamma 0: each block adds exactly zero
        # the blocks are really in the forward path: a non-zero gamma changes the output
        torch.nn.init.ones_(with_nl.slow.res_nl3.nonlocal_3.bn.weight)
        assert not torch.allclose(plain(slow, fast)[0], with_nl(slow, fast)[0])


def _nl_cfg():
    cfg = get_cfg()
    cfg.MODEL.BACKBONE.WIDTH_MULT = 0.0625  # R50 block counts (4 / 6 in res3 / res4), tiny widths
    cfg.MODEL.BACKBONE.SLOWFAST.FAST.CONV3_NONLOCAL = True
    cfg.MODEL.BACKBONE.SLOWFAST.SLOW.CONV3_GROUP_NL = True
    cfg.MODEL.NONLOCAL.FROZEN_BN = True
    cfg.MODEL.ROI_ACTION_HEAD.MLP_HEAD_DIM = 16
    cfg.INPUT.TAU, cfg.INPUT.ALPHA = 4, 4
    return cfg


def test_checkpoint_round_trip_with_nonlocal_weights(tmp_path):
    cfg = _nl_cfg()
    torch.manual_seed(1)
    model = build_model(cfg).eval()
    nl = model.backbone.slow.res_nl2.nonlocal_1
    from alphaction.layers import FrozenBatchNorm3d

    assert isinstance(nl.bn, FrozenBatchNorm3d) and nl.group_size == 4
    for name, t in model.state_dict().items():  # give every non-local tensor a recognisable non-init value
        if "nonlocal" in name and t.is_floating_point():
            t.copy_(torch.rand_like(t) + 0.5)
    path = Checkpointer(model, save_dir=str(tmp_path)).save("nl")
    torch.manual_seed(2)
    fresh = build_model(cfg).eval()
    Checkpointer(fresh, save_dir=str(tmp_path)).load(path, purpose="test")  # every key must load
    for (name, a), (_, b) in zip(model.state_dict().items(), fresh.state_dict().items()):
        torch.testing.assert_close(a, b, rtol=0, atol=0, msg=name)
    slow, fast = torch.randn(1, 3, 4, 64, 64), torch.randn(1, 3, 16, 64, 64)
    with torch.no_grad():
        for a, b in zip(model.backbone(slow, fast), fresh.backbone(slow, fast)):
            torch.testing.assert_close(a, b)

    # a checkpoint without the non-local weights does not silently load into a non-local model
    plain = {k: v for k, v in torch.load(path, weights_only=True)["model"].items() if "nonlocal" not in k}
    torch.save({"model": plain}, tmp_path / "plain.pth")
    with pytest.raises(CheckpointError, match="nonlocal"):
        Checkpointer(build_model(cfg)).load(str(tmp_path / "plain.pth"), purpose="test")


def test_every_shipped_config_keeps_nonlocal_off():
    paths = sorted(glob.glob(os.path.join(REPO_ROOT, "config_files", "**", "*.yaml"), recursive=True))
    assert len(paths) >= 8
    for path in paths:
        cfg = get_cfg()
        cfg.merge_from_file(path)
        for pathway in ("SLOW", "FAST"):
            p = cfg.MODEL.BACKBONE.SLOWFAST[pathway]
            assert not (p.CONV3_NONLOCAL or p.CONV4_NONLOCAL), f"{path}: {pathway} non-local blocks are on"
