"""Two-stage inference of an IA model with memory equals a direct computation: every clip run through the whole
model (backbone included) with a memory assembled here by hand from the neighbouring seconds' person features."""

from __future__ import annotations

import os

import pytest
import torch

from alphaction.config import get_cfg
from alphaction.data import build_data_loader
from alphaction.data.collate import collate
from alphaction.engine.defaults import REPO_ROOT
from alphaction.engine.evaluate_detection import predict
from alphaction.engine.ia_memory import memory_settings
from alphaction.modeling import build_model
from alphaction.modeling.ia import ClipMemory

QUICK_IA = os.path.join(REPO_ROOT, "config_files", "quick_schedules", "synthetic_tiny_r14_ia.yaml")


@pytest.fixture(scope="module")
def setup(tiny_data):
    mp = pytest.MonkeyPatch()
    mp.setenv("ALPHACTION_DATA", tiny_data)
    cfg = get_cfg()
    cfg.merge_from_file(QUICK_IA)
    # both splits as test sets: 3 videos, so memory must also stay within its video
    cfg.DATASETS.TEST = ("synthetic_tiny_train", "synthetic_tiny_val")
    cfg.TEST.VIDEOS_PER_BATCH = 2
    cfg.DATALOADER.NUM_WORKERS = 0
    torch.manual_seed(0)
    model = build_model(cfg).eval()
    with torch.no_grad():  # an initialised IA barely moves the outputs: give memory a visible effect
        for p in model.roi_heads["action"].feature_extractor.ia_structure.parameters():
            if p.dim() > 1:
                p.normal_(0.0, 0.08)
    loaders = build_data_loader(cfg, is_train=False)
    yield cfg, model, loaders
    mp.undo()


def _single(dataset, i, cfg):
    return collate([dataset[i]], cfg.DATALOADER.SIZE_DIVISIBILITY)


@torch.no_grad()
def _direct(cfg, model, dataset, online: bool) -> dict[int, tuple[torch.Tensor, torch.Tensor]]:
    """Per dataset index: (probabilities [N, C] of the full forward with hand-made memory, without memory)."""
    before, after = cfg.MODEL.IA_STRUCTURE.LENGTH
    per_sec = cfg.MODEL.IA_STRUCTURE.MAX_PER_SEC
    persons = {}
    for i in range(len(dataset)):  # each clip alone: its own person features
        b = _single(dataset, i, cfg)
        pooled = model.extract_features(b["slow"], b["fast"], b["boxes"], b["image_sizes"], objects=b["objects"])
        persons[(b["video_ids"][0], int(b["timestamps"][0]))] = pooled.persons[0]
    out = {}
    for i in range(len(dataset)):
        b = _single(dataset, i, cfg)
        vid, t = b["video_ids"][0], int(b["timestamps"][0])
        feats, slots = [], []
        for k in range(-before, (0 if online else after) + 1):
            if k != 0 and (vid, t + k) in persons:
                rows = persons[(vid, t + k)][:per_sec]
                feats.append(rows)
                slots.append(torch.full((rows.shape[0],), before + k, dtype=torch.long))
        memory = (
            ClipMemory(torch.cat(feats), torch.cat(slots)) if feats else ClipMemory.empty(persons[(vid, t)].shape[1])
        )
        args = (b["slow"], b["fast"], b["boxes"], b["image_sizes"])
        with_memory = model(*args, objects=b["objects"], memory=[memory])[0]
        without = model(*args, objects=b["objects"])[0]
        out[int(b["indices"][0])] = (with_memory, without)
    return out


def _as_matrices(preds: dict, num_classes: int) -> dict[int, torch.Tensor]:
    """The predict() rows (threshold 0: every box x class) back to one [N, C] matrix per dataset index."""
    out = {}
    for pos, index in enumerate(preds["indices"].tolist()):
        rows = preds["clip"] == pos
        scores = torch.from_numpy(preds["scores"][rows]).reshape(-1, num_classes)
        assert torch.equal(
            torch.from_numpy(preds["action_ids"][rows]).reshape(-1, num_classes)[0], torch.arange(1, num_classes + 1)
        )
        out[index] = scores
    return out


@pytest.mark.parametrize("mode", ["offline", "online"])
def test_two_stage_equals_the_direct_computation(setup, mode):
    cfg, model, loaders = setup
    settings = memory_settings(cfg)
    settings = type(settings)(**{**settings.__dict__, "test_mode": mode})
    num_classes = cfg.MODEL.ROI_ACTION_HEAD.NUM_CLASSES
    memory_changed = 0
    for name, loader in loaders:
        got = _as_matrices(predict(model, loader, torch.device("cpu"), 0.0, memory=settings), num_classes)
        want = _direct(cfg, model, loader.dataset, online=mode == "online")
        assert sorted(got) == sorted(want) == list(range(len(loader.dataset))), name
        for index, (with_memory, without) in want.items():
            torch.testing.assert_close(got[index], with_memory, rtol=0, atol=1e-5, msg=f"{name} clip {index}")
            memory_changed += int((with_memory - without).abs().max() > 1e-4)  # 10x the tolerance
    assert memory_changed > 0, "memory never changed a prediction: the comparison would prove nothing"


def test_memory_mode_none_equals_the_forward_without_memory(setup):
    """MEMORY_TEST_MODE "none" (what the memory adds): the M blocks see no other second, as a forward without
    ``memory``."""
    cfg, model, loaders = setup
    settings = memory_settings(cfg)
    settings = type(settings)(**{**settings.__dict__, "test_mode": "none"})
    num_classes = cfg.MODEL.ROI_ACTION_HEAD.NUM_CLASSES
    for name, loader in loaders:
        got = _as_matrices(predict(model, loader, torch.device("cpu"), 0.0, memory=settings), num_classes)
        want = _direct(cfg, model, loader.dataset, online=False)
        for index, (_, without) in want.items():
            torch.testing.assert_close(got[index], without, rtol=0, atol=1e-5, msg=f"{name} clip {index}")
