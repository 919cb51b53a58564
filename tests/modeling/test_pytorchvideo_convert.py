"""Converted foreign SlowFast-R50 weights give the reference model's features (pytorchvideo 0.1.5 as the oracle).

Input layout and frame sampling used here (and by every converted model): slow ``[B, 3, T, H, W]`` and fast
``[B, 3, alpha*T, H, W]`` float tensors, already normalised; the slow frames are the fast frames taken every
alpha-th one (PySlowFast / pytorchvideo sample them with ``linspace(0, T_fast - 1, T)``, which equals that
stride when T_fast = alpha * T only up to rounding: feed the frames the checkpoint was trained with).
Their recognition R50 has res5 stride 2 without dilation, so our backbone is built in that form for the
comparison (RES5_STRIDE 2, RES5_DILATION 1, POOLER_SCALE 1/32); their detection model
(``create_slowfast_with_roi_head``) has res5 stride 1 with dilation 2, our default. Inputs are 64 x 96 (not square).
"""

from __future__ import annotations

import re

import pytest
import torch

from alphaction.checkpoint import convert
from alphaction.config import get_cfg
from alphaction.modeling import build_backbone

pv_slowfast = pytest.importorskip(
    "pytorchvideo.models.slowfast",
    reason="pytorchvideo==0.1.5 (pip install -e '.[test]') is needed for the reference SlowFast",
)

ALPHA = 4  # SLOWFAST_8x8: 8 slow frames, 32 fast; lateral kernel 7, stride 4
KERNEL = 7
HEIGHT, WIDTH = 64, 96  # not square: a transposed map or a swapped stride shows

# the reference models: (alpha, lateral kernel, detection form?) as pytorchvideo builds them
FORMS = {
    "8x8 recognition": (4, 7, False),  # create_slowfast(model_depth=50), SLOWFAST_8x8_R50 (Kinetics)
    "4x16 recognition": (8, 5, False),  # SLOWFAST_4x16_R50: kernel 5, stride 8
    "8x8 detection": (4, 7, True),  # create_slowfast_with_roi_head: res5 stride 1, dilation 2 (AVA)
}


def _randomize(model: torch.nn.Module, seed: int) -> None:
    """Random weights and random BN statistics, so a wrong BN mapping cannot hide behind mean 0 / var 1."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, t in model.state_dict().items():
            if not t.is_floating_point():
                continue
            if name.endswith("running_var"):
                t.copy_(torch.rand(t.shape, generator=g) + 0.5)
            elif name.endswith("running_mean") or name.endswith(".bias"):
                t.copy_(torch.randn(t.shape, generator=g) * 0.1)
            elif name.endswith("norm_c.weight"):  # small residual branches keep the features O(1)
                t.copy_(torch.rand(t.shape, generator=g) * 0.2 + 0.05)
            elif re.search(r"norm(_[ab])?\.weight$", name):
                t.copy_(torch.rand(t.shape, generator=g) + 0.5)
            else:
                fan_in = t[0].numel() if t.dim() > 1 else 1
                t.copy_(torch.randn(t.shape, generator=g) * (2.0 / fan_in) ** 0.5)
    model.eval()


def _reference(
    conv_only_fusion: bool = False, alpha: int = ALPHA, kernel: int = KERNEL, detection: bool = False
) -> torch.nn.Module:
    kwargs = dict(
        model_depth=50, slowfast_fusion_conv_kernel_size=(kernel, 1, 1), slowfast_fusion_conv_stride=(alpha, 1, 1)
    )
    if conv_only_fusion:  # MMAction2's default lateral: a bias-free conv, no BN, no ReLU
        kwargs["fusion_builder"] = pv_slowfast.FastToSlowFusionBuilder(
            slowfast_channel_reduction_ratio=8,
            conv_fusion_channel_ratio=2,
            conv_kernel_size=(kernel, 1, 1),
            conv_stride=(alpha, 1, 1),
            norm=None,
            activation=None,
            max_stage_idx=3,
        ).create_module
    build = pv_slowfast.create_slowfast_with_roi_head if detection else pv_slowfast.create_slowfast
    with torch.device("meta"):  # skip their init: every tensor is overwritten below
        model = build(**kwargs)
    model = model.to_empty(device="cpu")
    _randomize(model, seed=1)
    return model


def _reference_features(model, slow, fast):
    x = [slow.clone(), fast.clone()]  # its blocks rewrite the list in place: a fresh list every call
    blocks = model.model.blocks if hasattr(model, "detection_head") else model.blocks
    with torch.no_grad():
        for block in blocks[:5]:  # stem+fusion, res2..res5 (then the head)
            x = block(x)
    return x


def _ours(overrides: dict, state: dict):
    cfg = get_cfg()
    cfg.MODEL.BACKBONE.SLOWFAST.SLOW.CONV3_NONLOCAL = False  # as in every released config
    cfg.MODEL.BACKBONE.SLOWFAST.SLOW.CONV4_NONLOCAL = False
    cfg.MODEL.BACKBONE.CONV_BODY = "Slowfast-Resnet50"
    cfg.MODEL.BACKBONE.FROZEN_BN = True
    cfg.INPUT.ALPHA = ALPHA
    for k, v in overrides.items():
        if k == "CONV_BODY":
            cfg.MODEL.BACKBONE.CONV_BODY = v
        else:
            cfg.MODEL.BACKBONE.SLOWFAST[k] = v
    cfg.MODEL.BACKBONE.SLOWFAST.RES5_STRIDE = 2  # their recognition form, for an exact comparison
    cfg.MODEL.BACKBONE.SLOWFAST.RES5_DILATION = 1
    with torch.device("meta"):  # no init cost: strict assign below replaces every tensor
        backbone = build_backbone(cfg).eval()
    own = backbone.state_dict()
    prefixed = {k.removeprefix("backbone."): v.clone() for k, v in state.items()}  # never share the reference's
    prefixed = {k: v for k, v in prefixed.items() if k in own or not k.endswith("num_batches_tracked")}
    backbone.load_state_dict(prefixed, strict=True, assign=True)
    return backbone


def _inputs(alpha: int = ALPHA):
    g = torch.Generator().manual_seed(2)
    fast = torch.randn(1, 3, 4 * alpha, HEIGHT, WIDTH, generator=g)
    slow = fast[:, :, ::alpha].clone()
    return slow, fast


def _compare(reference, ours, alpha: int = ALPHA, stride: int = 32):
    """``reference`` = (model, features); our backbone must give the same slow and fast features."""
    _, (ref_slow, ref_fast) = reference
    slow, fast = _inputs(alpha)
    with torch.no_grad():
        our_slow, our_fast = ours(slow, fast)
    size = (HEIGHT // stride, WIDTH // stride)
    assert our_slow.shape == ref_slow.shape == (1, 2048, 4) + size
    assert our_fast.shape == ref_fast.shape == (1, 256, 4 * alpha) + size
    assert ref_slow.abs().max() > 0.1 and ref_fast.abs().max() > 0.1  # not a vanishing signal
    assert (our_slow - ref_slow).abs().max().item() <= 1e-4
    assert (our_fast - ref_fast).abs().max().item() <= 1e-4
    return ref_slow


def _with_features(model, alpha: int = ALPHA):
    return model, _reference_features(model, *_inputs(alpha))


def _without_bn_counters(state):
    return {k: v for k, v in state.items() if not k.endswith("num_batches_tracked")}


@pytest.fixture(scope="module")
def reference():
    return _with_features(_reference())


def test_pytorchvideo_r50_gives_equal_features(reference):
    state = reference[0].state_dict()
    conv = convert.convert_pytorchvideo(state)
    assert conv.backbone_config == {
        "LATERAL": "fuse",
        "LATERAL_KERNEL": 7,
        "STEM_POOL_PADDING": True,
        "CONV_BODY": "Slowfast-Resnet50",
    }
    assert {s for s, d, _ in conv.table if d == "-"} == {"blocks.6.proj.weight", "blocks.6.proj.bias"}
    ours = _ours(conv.backbone_config, conv.state)
    ref_slow = _compare(reference, ours)
    # the check has teeth: one perturbed BN statistic changes the features
    ours.slow.res_nl4.res_2.btnk.conv3.bn.running_mean[0] += 1.0
    with torch.no_grad():
        slow, fast = _inputs()
        assert not torch.allclose(ours(slow, fast)[0], ref_slow, atol=1e-4)


def _build_line(printed: str) -> list[str]:
    """The tool's "Build the model with: KEY VALUE ..." overrides, as a KEY VALUE list."""
    line = next(line for line in printed.splitlines() if line.startswith("Build the model with: "))
    return line.removeprefix("Build the model with: ").split()


@pytest.mark.parametrize("form", list(FORMS))
def test_copying_the_tools_build_line_gives_equal_features_through_the_checkpointer(form, tmp_path, capsys):
    # a user converts a pytorchvideo file, copies the printed overrides onto the defaults (no config file), and
    # loads either the converted file or the original as MODEL.WEIGHT: the backbone computes pytorchvideo's features
    import importlib

    from alphaction.checkpoint import Checkpointer
    from alphaction.modeling import build_model

    alpha, kernel, detection = FORMS[form]
    reference = _with_features(_reference(alpha=alpha, kernel=kernel, detection=detection), alpha)
    tool = importlib.import_module("tools.convert_checkpoint")
    raw = tmp_path / "slowfast.pyth"
    torch.save({"model_state": reference[0].state_dict()}, raw)
    converted = tmp_path / "converted.pth"
    args = ["--from", "pytorchvideo", "--alpha", str(alpha), str(raw), str(converted)]
    assert tool.main(args + ([] if detection else ["--form", "recognition"])) == 0
    overrides = _build_line(capsys.readouterr().out)
    assert overrides[overrides.index("INPUT.ALPHA") + 1] == str(alpha)
    for path in (converted, raw):
        cfg = get_cfg()
        cfg.merge_from_list(overrides)
        model = build_model(cfg).eval()
        Checkpointer(model, head_prefixes=model.head_prefixes).load(str(path))
        _compare(reference, model.backbone, alpha, stride=16 if detection else 32)


def test_alphaction_form_differs_from_pytorchvideo(reference):
    """The default (AlphAction) form cannot hold these weights: the lateral BNs have nowhere to go."""
    conv = convert.convert_pytorchvideo(reference[0].state_dict())
    cfg = get_cfg()
    cfg.MODEL.BACKBONE.SLOWFAST.SLOW.CONV3_NONLOCAL = False  # as in every released config
    cfg.MODEL.BACKBONE.SLOWFAST.SLOW.CONV4_NONLOCAL = False
    cfg.MODEL.BACKBONE.FROZEN_BN = True
    cfg.INPUT.ALPHA = ALPHA
    with torch.device("meta"):
        own = build_backbone(cfg).state_dict()
    theirs = {k.removeprefix("backbone.") for k in _without_bn_counters(conv.state)}
    assert "fast.Tconv1.bn.weight" in theirs - set(own)
    assert "fast.Tconv1.conv.bias" in set(own) - theirs


def _pytorchvideo_to_pyslowfast(state):
    """The spec's PySlowFast <-> pytorchvideo rules (§4 of the naming notes), applied in reverse."""
    out = {}
    for k, v in state.items():
        n = k
        n = re.sub(r"^blocks\.0\.multipathway_blocks\.(\d)\.conv\.", r"s1.pathway\1_stem.conv.", n)
        n = re.sub(r"^blocks\.0\.multipathway_blocks\.(\d)\.norm\.", r"s1.pathway\1_stem.bn.", n)
        n = re.sub(
            r"^blocks\.(\d)\.multipathway_fusion\.conv_fast_to_slow\.", lambda m: f"s{int(m[1]) + 1}_fuse.conv_f2s.", n
        )
        n = re.sub(r"^blocks\.(\d)\.multipathway_fusion\.norm\.", lambda m: f"s{int(m[1]) + 1}_fuse.bn.", n)
        n = re.sub(
            r"^blocks\.(\d)\.multipathway_blocks\.(\d)\.res_blocks\.(\d+)\.",
            lambda m: f"s{int(m[1]) + 1}.pathway{m[2]}_res{m[3]}.",
            n,
        )
        n = re.sub(r"branch2\.conv_([abc])\.", r"branch2.\1.", n)
        n = re.sub(r"branch2\.norm_([abc])\.", r"branch2.\1_bn.", n)
        n = n.replace("branch1_conv.", "branch1.").replace("branch1_norm.", "branch1_bn.")
        n = n.replace("blocks.6.proj.", "head.projection.")
        out[n] = v
    return out


def test_pyslowfast_names_give_equal_features(reference):
    state = _pytorchvideo_to_pyslowfast(reference[0].state_dict())
    assert "s1.pathway0_stem.conv.weight" in state and "s3.pathway1_res3.branch2.c_bn.running_var" in state
    assert convert.detect_format(state) == "pyslowfast"
    conv = convert.convert_pyslowfast(state)
    _compare(reference, _ours(conv.backbone_config, conv.state))


def _pytorchvideo_to_mmaction2(state):
    """MMAction2 names from the naming table (§4): ``backbone.{slow,fast}_path...``."""
    paths = ("slow", "fast")
    out = {}
    for k, v in state.items():
        if k.startswith("blocks.6."):
            out[k.replace("blocks.6.proj.", "cls_head.fc_cls.")] = v
            continue
        m = re.match(r"blocks\.0\.multipathway_blocks\.(\d)\.(conv|norm)\.(.*)", k)
        if m:
            out[f"backbone.{paths[int(m[1])]}_path.conv1.{'conv' if m[2] == 'conv' else 'bn'}.{m[3]}"] = v
            continue
        m = re.match(r"blocks\.(\d)\.multipathway_fusion\.(conv_fast_to_slow|norm)\.(.*)", k)
        if m:
            name = "conv1_lateral" if m[1] == "0" else f"layer{m[1]}_lateral"
            out[f"backbone.slow_path.{name}.{'conv' if m[2] == 'conv_fast_to_slow' else 'bn'}.{m[3]}"] = v
            continue
        m = re.match(r"blocks\.(\d)\.multipathway_blocks\.(\d)\.res_blocks\.(\d+)\.(.*)", k)
        base = f"backbone.{paths[int(m[2])]}_path.layer{m[1]}.{m[3]}"
        rest = m[4]
        rest = re.sub(r"branch2\.conv_([abc])\.", lambda x: f"conv{'abc'.index(x[1]) + 1}.conv.", rest)
        rest = re.sub(r"branch2\.norm_([abc])\.", lambda x: f"conv{'abc'.index(x[1]) + 1}.bn.", rest)
        rest = rest.replace("branch1_conv.", "downsample.conv.").replace("branch1_norm.", "downsample.bn.")
        out[f"{base}.{rest}"] = v
    return out


def test_mmaction2_lateral_norm_gives_equal_features(reference):
    state = _pytorchvideo_to_mmaction2(reference[0].state_dict())
    assert convert.detect_format(state) == "mmaction2"
    conv = convert.convert_mmaction2(state)
    assert conv.backbone_config["LATERAL"] == "fuse"
    _compare(reference, _ours(conv.backbone_config, conv.state))


def test_mmaction2_default_conv_only_lateral_gives_equal_features():
    reference = _with_features(_reference(conv_only_fusion=True))
    state = _pytorchvideo_to_mmaction2(reference[0].state_dict())
    assert not any("lateral.bn" in k for k in state)
    conv = convert.convert_mmaction2(state)
    assert conv.backbone_config["LATERAL"] == "tconv"  # a zero bias stands in for "no bias"
    assert torch.equal(conv.state["backbone.fast.Tconv2.conv.bias"], torch.zeros(64))
    _compare(reference, _ours(conv.backbone_config, conv.state))


def test_tool_and_checkpointer_convert_the_same_way(reference, tmp_path, capsys):
    import importlib

    from alphaction.checkpoint import Checkpointer
    from alphaction.modeling import build_model

    tool = importlib.import_module("tools.convert_checkpoint")
    raw = tmp_path / "SLOWFAST_8x8_R50.pyth"
    torch.save({"model_state": reference[0].state_dict(), "epoch": 196}, raw)
    assert tool.main(["--from", "pytorchvideo", "--alpha", "4", str(raw), str(tmp_path / "converted.pth")]) == 0
    printed = capsys.readouterr().out
    assert re.search(
        r"blocks\.0\.multipathway_fusion\.conv_fast_to_slow\.weight +->  backbone\.fast\.Tconv1\.conv\.weight", printed
    )
    assert "MODEL.BACKBONE.SLOWFAST.LATERAL fuse MODEL.BACKBONE.SLOWFAST.LATERAL_KERNEL 7" in printed
    cfg = get_cfg()
    cfg.MODEL.BACKBONE.SLOWFAST.SLOW.CONV3_NONLOCAL = False  # as in every released config
    cfg.MODEL.BACKBONE.SLOWFAST.SLOW.CONV4_NONLOCAL = False
    cfg.MODEL.BACKBONE.FROZEN_BN = True
    cfg.MODEL.BACKBONE.SLOWFAST.LATERAL = "fuse"
    cfg.MODEL.BACKBONE.SLOWFAST.LATERAL_KERNEL = 7
    cfg.MODEL.BACKBONE.SLOWFAST.STEM_POOL_PADDING = True
    cfg.INPUT.ALPHA = ALPHA
    model = build_model(cfg)
    for path in (raw, tmp_path / "converted.pth"):  # MODEL.WEIGHT as downloaded, or converted first
        ck = Checkpointer(model, head_prefixes=model.head_prefixes)
        ck.load(str(path))  # finetune: the missing head is explained by a backbone-only file
        assert len(ck.report.loaded) == len([k for k in model.state_dict() if k.startswith("backbone.")])
        assert all(k.startswith("roi_heads.") for k in ck.report.missing) and not ck.report.unexpected
    # built in the AlphAction form, the converted file is refused with the settings it needs
    with pytest.raises(Exception, match="MODEL.BACKBONE.SLOWFAST.LATERAL fuse"):
        default = get_cfg()
        default.MODEL.BACKBONE.SLOWFAST.SLOW.CONV3_NONLOCAL = False  # as in every released config
        default.MODEL.BACKBONE.SLOWFAST.SLOW.CONV4_NONLOCAL = False
        default.MODEL.BACKBONE.FROZEN_BN = True
        default.INPUT.ALPHA = ALPHA
        other = build_model(default)
        Checkpointer(other, head_prefixes=other.head_prefixes).load(str(tmp_path / "converted.pth"))
