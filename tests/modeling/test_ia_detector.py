"""The detector with Interaction Aggregation: AlphAction's keys, configs, training step, two-stage inference."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from alphaction.config import get_cfg
from alphaction.modeling import build_backbone, build_model
from alphaction.modeling.ia import ClipMemory, DenseSerialIAStructure, ParallelIAStructure, SerialIAStructure
from alphaction.solver.optimizer import make_param_groups

SPECS = Path(__file__).parent / "specs"
CONFIGS = Path(__file__).resolve().parents[2] / "config_files"


@pytest.mark.parametrize(
    "name, structure",
    [
        ("resnet50_4x16f_parallel", ParallelIAStructure),
        ("resnet50_4x16f_serial", SerialIAStructure),
        ("resnet50_4x16f_denseserial", DenseSerialIAStructure),
        ("resnet101_8x8f_denseserial", DenseSerialIAStructure),
    ],
)
def test_ia_configs_give_alphaction_keys_and_shapes(name, structure):
    cfg = get_cfg()
    cfg.merge_from_file(str(CONFIGS / f"{name}.yaml"))
    with torch.device("meta"):  # shapes only
        model = build_model(cfg)
    assert type(model.roi_heads["action"].feature_extractor.ia_structure) is structure
    ours = [[k, list(v.shape), str(v.dtype).removeprefix("torch.")] for k, v in model.state_dict().items()]
    expected = json.loads((SPECS / f"alphaction_keys_{name}.json").read_text())
    assert dict((k, s) for k, s, _ in ours) == dict((k, s) for k, s, _ in expected)
    assert ours == expected  # same order too


def _ia_cfg(tiny_cfg, structure="dense", blocks=("P", "O", "M", "P", "O", "M")):
    cfg = tiny_cfg
    width = build_backbone(cfg).dim_out
    ia = cfg.MODEL.IA_STRUCTURE
    ia.ACTIVE, ia.STRUCTURE, ia.I_BLOCK_LIST = True, structure, list(blocks)
    ia.DIM_IN, ia.DIM_INNER, ia.DIM_OUT = width, 16, width
    ia.FUSION, ia.LAYER_NORM, ia.DROPOUT = "add", True, 0.2
    ia.MAX_OBJECT, ia.MAX_PERSON, ia.MAX_PER_SEC, ia.LENGTH = 2, 3, 2, (2, 2)
    cfg.SOLVER.IA_LR_FACTOR = 10.0
    return cfg


def _batch(width):
    gen = torch.Generator().manual_seed(0)
    slow, fast = torch.randn(2, 3, 2, 64, 64, generator=gen), torch.randn(2, 3, 8, 64, 64, generator=gen)
    boxes = [
        torch.tensor([[4.0, 4.0, 40.0, 60.0], [20.0, 8.0, 60.0, 50.0], [0.0, 0.0, 30.0, 30.0]]),
        torch.tensor([[10.0, 10.0, 50.0, 60.0]]),
    ]
    labels = [torch.zeros(3, 80), torch.zeros(1, 80)]
    labels[0][0, 3] = labels[0][1, 20] = labels[0][2, 70] = labels[1][0, 1] = 1
    objects = [
        torch.tensor([[30.0, 30.0, 50.0, 50.0], [0.0, 40.0, 20.0, 64.0], [5.0, 5.0, 9.0, 9.0]]),
        torch.zeros(0, 4),
    ]
    memory = [ClipMemory(torch.randn(3, width, generator=gen), torch.tensor([0, 1, 4])), ClipMemory.empty(width)]
    return slow, fast, boxes, [(64, 64), (64, 64)], labels, objects, memory


@pytest.mark.parametrize(
    "structure, blocks",
    [
        ("dense", ["P", "O", "M", "P", "O", "M"]),
        ("serial", ["P", "O"]),
        ("parallel", [["P", "M"], ["P", "M"]]),
    ],
)
def test_training_step_with_ia_gives_finite_loss_and_ia_gradients(tiny_cfg, structure, blocks):
    cfg = _ia_cfg(tiny_cfg, structure, blocks)
    model = build_model(cfg).train()
    slow, fast, boxes, sizes, labels, objects, memory = _batch(cfg.MODEL.IA_STRUCTURE.DIM_IN)
    losses, pooled = model(
        slow, fast, boxes, sizes, labels=labels, objects=objects, memory=memory, return_features=True
    )
    total = sum(losses.values())
    assert torch.isfinite(total)
    total.backward()
    ia = model.roi_heads["action"].feature_extractor.ia_structure
    assert all(p.grad is not None for p in ia.parameters())
    assert ia.person_dim_reduce.weight.grad.abs().sum() > 0  # the shortcut path carries gradient at init
    # the features the engine stores in the memory pool: one detached row per training proposal
    assert [p.shape for p in pooled.persons] == [(3, cfg.MODEL.IA_STRUCTURE.DIM_IN), (1, cfg.MODEL.IA_STRUCTURE.DIM_IN)]
    assert not pooled.persons[0].requires_grad


def test_ia_lr_factor_reaches_exactly_the_ia_parameters(tiny_cfg):
    model = build_model(_ia_cfg(tiny_cfg))
    # the detector names its IA parameters' prefix; the solver applies SOLVER.IA_LR_FACTOR to it
    groups = make_param_groups(model, 0.1, 0.0, special_lr={model.lr_groups["ia"]: 10.0})
    ia_ids = {id(p) for p in model.roi_heads["action"].feature_extractor.ia_structure.parameters()}
    for group in groups:
        is_ia = {id(p) in ia_ids for p in group["params"]}
        assert len(is_ia) == 1
        assert group["lr"] == pytest.approx(1.0 if is_ia.pop() else 0.1)


def test_two_stage_inference_equals_direct_inference(tiny_cfg):
    cfg = _ia_cfg(tiny_cfg)
    model = build_model(cfg).eval()
    for p in model.roi_heads["action"].feature_extractor.ia_structure.parameters():
        torch.nn.init.normal_(p, std=0.1)  # make the interactions matter
    slow, fast, boxes, sizes, _, objects, memory = _batch(cfg.MODEL.IA_STRUCTURE.DIM_IN)
    with torch.no_grad():
        direct = model(slow, fast, boxes, sizes, objects=objects, memory=memory)
        pooled = model.extract_features(slow, fast, boxes, sizes, objects=objects)
        staged = model.predict_from_features(pooled, memory)
        without_memory = model.predict_from_features(pooled, None)
    assert [p.shape for p in direct] == [(3, 80), (1, 80)]
    for a, b in zip(direct, staged):
        torch.testing.assert_close(a, b)
    assert not torch.allclose(direct[0], without_memory[0])
    assert len(pooled.objects[0]) == 2  # MAX_OBJECT: the first (highest-score) objects


def test_baseline_api_still_works_without_objects_or_memory(tiny_cfg):
    model = build_model(_ia_cfg(tiny_cfg)).eval()
    slow, fast, boxes, sizes, *_ = _batch(8)
    with torch.no_grad():
        probs = model(slow, fast, boxes, sizes)
    torch.testing.assert_close(probs[0][:, :14].sum(1), torch.ones(3))


def test_concat_fusion_widens_fc1(tiny_cfg):
    cfg = _ia_cfg(tiny_cfg)
    cfg.MODEL.IA_STRUCTURE.FUSION, cfg.MODEL.IA_STRUCTURE.DIM_OUT = "concat", 24
    extractor = build_model(cfg).roi_heads["action"].feature_extractor
    assert extractor.fc1.in_features == cfg.MODEL.IA_STRUCTURE.DIM_IN + 24


@pytest.mark.parametrize(
    "key, value, match",
    [
        ("DIM_IN", 7, "DIM_IN=7"),
        ("DIM_OUT", 7, "FUSION 'concat'"),
        ("MAX_OBJECT", 0, "MAX_OBJECT=0"),
        ("STRUCTURE", "tree", "STRUCTURE='tree'"),
        ("I_BLOCK_LIST", [["P"], ["O"]], "flat list"),
    ],
)
def test_inconsistent_ia_settings_name_the_key(tiny_cfg, key, value, match):
    cfg = _ia_cfg(tiny_cfg)
    cfg.MODEL.IA_STRUCTURE[key] = value
    with pytest.raises(ValueError, match=match):
        build_model(cfg)
