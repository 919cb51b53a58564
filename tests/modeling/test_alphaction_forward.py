"""AlphAction's released configs give AlphAction's outputs: for each of its six configs, random AlphAction-format
weights (random frozen-BN statistics too) go through our ``Checkpointer`` into the model the config builds, and the
full test-time forward (backbone, test-time box extension, ROI pooling, IA with objects and memory, head) equals
the independent reference in ``alphaction_reference.py`` (AlphAction's source read as facts) to 1e-5 relative."""

from __future__ import annotations

from pathlib import Path

import alphaction_reference as ref
import pytest
import torch

from alphaction.checkpoint import Checkpointer
from alphaction.config import get_cfg
from alphaction.modeling import build_model
from alphaction.modeling.ia import ClipMemory

SPECS = Path(__file__).parent / "specs"
CONFIGS = Path(__file__).resolve().parents[2] / "config_files"
NAMES = [
    "resnet50_4x16f_baseline",
    "resnet50_4x16f_parallel",
    "resnet50_4x16f_serial",
    "resnet50_4x16f_denseserial",
    "resnet101_8x8f_baseline",
    "resnet101_8x8f_denseserial",
]
DIM = 2304


def _config(name: str, **overrides):
    cfg = get_cfg()
    cfg.merge_from_file(str(CONFIGS / f"{name}.yaml"))
    cfg.merge_from_list([x for kv in overrides.items() for x in kv])
    return cfg


def _inputs(cfg):
    """Two clips of different sizes (zero-padded to 96 x 128, as the collate pads), boxes touching the edges (the
    extension clips them), two objects in the first clip, memory at some seconds of the first clip only."""
    gen = torch.Generator().manual_seed(1)
    slow_t = 64 // cfg.INPUT.TAU
    slow, fast = torch.randn(2, 3, slow_t, 96, 128, generator=gen), torch.randn(2, 3, 32, 96, 128, generator=gen)
    for video in (slow, fast):
        video[1, :, :, 80:] = 0
        video[1, :, :, :, 112:] = 0
    sizes = [(96, 128), (80, 112)]
    boxes = [
        torch.tensor([[3.2, 5.0, 60.5, 90.1], [50.0, 10.0, 127.0, 95.0], [0.0, 0.0, 20.0, 30.0]]),
        torch.tensor([[10.0, 12.0, 100.0, 79.0]]),
    ]
    objects = [torch.tensor([[30.0, 40.0, 70.0, 80.0], [5.0, 5.0, 15.0, 25.0]]), torch.zeros(0, 4)]
    memory = [
        {
            -30: torch.randn(2, DIM, generator=gen),
            -1: torch.randn(5, DIM, generator=gen),
            3: torch.randn(1, DIM, generator=gen),
            30: torch.randn(4, DIM, generator=gen),
        },
        {},
    ]
    return slow, fast, boxes, sizes, objects, memory


def _clip_memory(memory, before: int):
    """Seconds -> our ClipMemory (slot = LENGTH[0] + offset)."""
    out = []
    for seconds in memory:
        if not seconds:
            out.append(ClipMemory.empty(DIM))
            continue
        out.append(
            ClipMemory(
                torch.cat(list(seconds.values())),
                torch.cat([torch.full((len(v),), before + k) for k, v in seconds.items()]),
            )
        )
    return out


def _reference_config(cfg) -> ref.ReferenceConfig:
    ia = cfg.MODEL.IA_STRUCTURE
    out = ref.ReferenceConfig(alpha=cfg.INPUT.ALPHA, extend_scale=tuple(cfg.TEST.EXTEND_SCALE))
    if ia.ACTIVE:
        out.ia_structure = ia.STRUCTURE
        out.block_list = [list(b) if isinstance(b, (list, tuple)) else b for b in ia.I_BLOCK_LIST]
        out.max_person, out.max_object, out.max_per_sec = ia.MAX_PERSON, ia.MAX_OBJECT, ia.MAX_PER_SEC
        out.length, out.layer_norm, out.fusion = tuple(ia.LENGTH), ia.LAYER_NORM, ia.FUSION
    return out


def _ours(cfg, path, inputs):
    model = build_model(cfg).eval()
    Checkpointer(model).load(str(path), purpose="test")
    slow, fast, boxes, sizes, objects, memory = inputs
    with torch.no_grad():
        return model(
            slow, fast, boxes, sizes, objects=objects, memory=_clip_memory(memory, cfg.MODEL.IA_STRUCTURE.LENGTH[0])
        )


@pytest.fixture(scope="module")
def expected(tmp_path_factory):
    """Per config: (the weights file as a DDP checkpoint, the reference scores)."""
    folder = tmp_path_factory.mktemp("alphaction_weights")
    cache = {}

    def get(name):
        if name not in cache:
            cfg = _config(name)
            weights = ref.random_state_dict(SPECS / f"alphaction_keys_{name}.json")
            path = folder / f"{name}.pth"
            torch.save({"model": {"module." + k: v for k, v in weights.items()}, "iteration": 90000}, path)
            with torch.no_grad():
                scores = ref.forward(weights, _reference_config(cfg), *_inputs(cfg))
            cache[name] = (path, scores)
        return cache[name]

    return get


@pytest.mark.parametrize("name", NAMES)
def test_alphaction_config_gives_alphaction_scores(name, expected):
    cfg = _config(name)
    ia = cfg.MODEL.IA_STRUCTURE
    assert cfg.INPUT.BOX_CONVENTION == "alphaction" and not (ia.ACTIVE and ia.MASK_PADDING)
    path, reference = expected(name)
    ours = _ours(cfg, path, _inputs(cfg))
    assert [o.shape for o in ours] == [(3, 80), (1, 80)]
    for mine, theirs in zip(ours, reference):
        assert 0.001 < theirs.min() and theirs.max() < 0.999  # not saturated: every input moves the scores
        torch.testing.assert_close(mine, theirs, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize(
    "name, override",
    [
        ("resnet50_4x16f_baseline", ("INPUT.BOX_CONVENTION", "continuous")),
        ("resnet50_4x16f_denseserial", ("INPUT.BOX_CONVENTION", "continuous")),
        ("resnet50_4x16f_denseserial", ("MODEL.IA_STRUCTURE.MASK_PADDING", True)),
        ("resnet50_4x16f_serial", ("MODEL.IA_STRUCTURE.QK_NORM", True)),
        ("resnet50_4x16f_parallel", ("MODEL.IA_STRUCTURE.MEMORY_NORM", True)),
    ],
)
def test_our_opt_in_settings_move_the_scores(name, override, expected):
    # each of our own settings changes what AlphAction's weights give: the comparison above has the power to see
    # a wrong setting (relative differences well above its 1e-5)
    cfg = _config(name, **dict([override]))
    path, reference = expected(name)
    ours = _ours(cfg, path, _inputs(cfg))
    rel = max(((o - r).abs() / r).max().item() for o, r in zip(ours, reference))
    assert rel > 1e-4, f"{override} left AlphAction's scores unchanged (max relative difference {rel:.2e})"
