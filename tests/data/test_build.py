"""Collate, samplers and the config builders on a tiny dataset."""

from __future__ import annotations

import importlib.util
import json
import os
import sys
import types

import numpy as np
import pytest
import torch

from alphaction.config import get_cfg
from alphaction.data import build_data_loader, build_dataset, collate
from alphaction.data.samplers import InferenceSampler, IterationBatchSampler


def _write_dataset(root):
    # reuse the hand-made dataset of test_ava_dataset.py (loaded by path: tests are not a package)
    spec = importlib.util.spec_from_file_location(
        "_ava_fixture", os.path.join(os.path.dirname(__file__), "test_ava_dataset.py")
    )
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.write_dataset(root)


# ---------------------------------------------------------------- collate
def _sample(h, w, index):
    return {
        "slow": torch.rand(3, 2, h, w),
        "fast": torch.rand(3, 8, h, w),
        "boxes": torch.zeros(1, 4),
        "labels": torch.zeros(1, 5),
        "scores": torch.ones(1),
        "objects": torch.zeros(0, 4),
        "image_size": (h, w),
        "video_id": f"v{index}",
        "timestamp": index,
        "index": index,
    }


def test_collate_pads_to_multiple_of_16():
    a, b = _sample(32, 42, 0), _sample(42, 30, 1)
    batch = collate([a, b], size_divisibility=16)
    assert batch["slow"].shape == (2, 3, 2, 48, 48) and batch["fast"].shape == (2, 3, 8, 48, 48)
    torch.testing.assert_close(batch["slow"][0, :, :, :32, :42], a["slow"])
    assert batch["slow"][0, :, :, 32:].abs().sum() == 0 and batch["slow"][0, :, :, :, 42:].abs().sum() == 0
    torch.testing.assert_close(batch["fast"][1, :, :, :42, :30], b["fast"])
    assert batch["image_sizes"] == [(32, 42), (42, 30)]
    assert batch["video_ids"] == ["v0", "v1"] and batch["timestamps"] == [0, 1] and batch["indices"] == [0, 1]
    for key in ("boxes", "labels", "scores", "objects"):
        assert isinstance(batch[key], list) and len(batch[key]) == 2
    assert collate([_sample(32, 32, 0)], size_divisibility=16)["slow"].shape[-2:] == (32, 32)


# ---------------------------------------------------------------- samplers
def test_iteration_sampler_exact_count_and_resume():
    full = list(IterationBatchSampler(10, 3, max_iter=25, seed=4))
    assert len(full) == 25 and all(len(b) == 3 for b in full)
    resumed = IterationBatchSampler(10, 3, max_iter=25, start_iter=17, seed=4)
    assert len(resumed) == 8 and list(resumed) == full[17:]
    assert list(IterationBatchSampler(10, 3, max_iter=25, seed=4)) == full  # deterministic
    assert list(IterationBatchSampler(10, 3, max_iter=25, seed=5)) != full
    flat = [i for b in full for i in b]
    assert sorted(flat[:10]) == list(range(10))  # first epoch is a permutation


def test_iteration_sampler_shards_by_rank():
    per_rank = [IterationBatchSampler(12, 2, max_iter=3, rank=r, world_size=2, seed=1) for r in range(2)]
    epochs = [[i for b in s for i in b] for s in per_rank]  # 3 batches x 2 = 6 = one epoch's shard
    assert sorted(epochs[0] + epochs[1]) == list(range(12))


def test_iteration_sampler_groups_do_not_mix():
    groups = np.array([0, 1] * 7 + [0])
    batches = list(IterationBatchSampler(15, 4, max_iter=40, seed=0, group_ids=groups))
    assert len(batches) == 40
    for b in batches:
        assert len(b) == 4 and len(set(groups[b].tolist())) == 1
    resumed = list(IterationBatchSampler(15, 4, max_iter=40, start_iter=33, seed=0, group_ids=groups))
    assert resumed == batches[33:]


@pytest.mark.parametrize("mode", ["contiguous", "strided"])
@pytest.mark.parametrize("n", [0, 1, 7, 10, 33])
@pytest.mark.parametrize("world", [1, 2, 3, 4])
def test_inference_split_is_exact(mode, n, world):
    shards = [list(InferenceSampler(n, r, world, mode)) for r in range(world)]
    flat = [i for s in shards for i in s]
    assert sorted(flat) == list(range(n)) and len(flat) == n
    assert max(map(len, shards)) - min(map(len, shards)) <= 1
    if mode == "contiguous":
        assert flat == list(range(n))


# ---------------------------------------------------------------- builders
@pytest.fixture()
def cfg(tmp_path):
    root = _write_dataset(tmp_path / "tiny")
    entry = {
        "root": str(root),
        "video_root": "clips",
        "ann_file": "ann/train.json",
        "box_file": "ann/person.json",
        "object_file": "ann/objects.json",
        "eval_file_paths": {},
    }
    catalog = tmp_path / "catalog.json"
    catalog.write_text(json.dumps({"tiny_train": entry, "tiny_val": entry}))
    c = get_cfg()
    c.DATASETS.CATALOG = str(catalog)
    c.DATASETS.TRAIN = ("tiny_train", "tiny_train")
    c.DATASETS.TEST = ("tiny_val",)
    c.INPUT.FRAME_NUM, c.INPUT.FRAME_SAMPLE_RATE, c.INPUT.TAU, c.INPUT.ALPHA = 8, 1, 4, 2
    c.INPUT.MIN_SIZE_TRAIN = c.INPUT.MIN_SIZE_TEST = 32
    c.INPUT.COLOR_JITTER = c.INPUT.SLOW_JITTER = True
    c.MODEL.ROI_ACTION_HEAD.NUM_CLASSES = 8
    c.MODEL.IA_STRUCTURE.MAX_OBJECT = 2
    c.DATALOADER.NUM_WORKERS = 0
    c.SOLVER.VIDEOS_PER_BATCH, c.SOLVER.MAX_ITER = 2, 5
    c.TEST.VIDEOS_PER_BATCH = 2
    return c


def test_train_loader(cfg):
    loader = build_data_loader(cfg, is_train=True, start_iter=2)
    assert len(loader.dataset) == 6  # two copies of the 3 training keyframes, concatenated
    batches = list(loader)
    assert len(batches) == 3
    for b in batches:
        assert b["slow"].shape[:3] == (2, 3, 2) and b["fast"].shape[:3] == (2, 3, 4)
        assert b["slow"].shape[-1] % 16 == 0 and b["slow"].shape[-2] % 16 == 0
        assert len(b["boxes"]) == 2 and b["labels"][0].shape[1] == 8
        # aspect grouping: a batch holds only landscape or only portrait clips
        assert len({h >= w for h, w in b["image_sizes"]}) == 1


def test_train_batch_must_divide_world(cfg):
    cfg.SOLVER.VIDEOS_PER_BATCH = 3
    with pytest.raises(ValueError, match="VIDEOS_PER_BATCH"):
        build_data_loader(cfg, is_train=True, world_size=2)


def test_test_loaders_split_over_ranks(cfg):
    seen = []
    for rank in range(2):
        loaders = build_data_loader(cfg, is_train=False, rank=rank, world_size=2)
        assert [name for name, _ in loaders] == ["tiny_val"]
        for b in loaders[0][1]:
            assert len(b["indices"]) == 1  # TEST.VIDEOS_PER_BATCH 2 over 2 ranks
            seen += b["indices"]
    assert sorted(seen) == [0, 1]  # test keyframes 101 and 103, each exactly once


def test_synthetic_entry_is_generated_first(cfg, tmp_path, monkeypatch):
    calls = []

    def ensure_synthetic_dataset(root, size, seed):
        calls.append((root, size, seed))
        _write_dataset(__import__("pathlib").Path(root))

    fake = types.ModuleType("alphaction.data.synthetic")
    fake.ensure_synthetic_dataset = ensure_synthetic_dataset
    monkeypatch.setitem(sys.modules, "alphaction.data.synthetic", fake)
    entry = {
        "root": str(tmp_path / "syn"),
        "video_root": "clips",
        "ann_file": "ann/train.json",
        "synthetic": {"root": ".", "size": "tiny", "seed": 3},  # relative to the entry root
    }
    (tmp_path / "syn_catalog.json").write_text(json.dumps({"syn_train": entry}))
    cfg.DATASETS.CATALOG = str(tmp_path / "syn_catalog.json")
    ds = build_dataset(cfg, "syn_train", is_train=True)
    assert calls == [(str(tmp_path / "syn"), "tiny", 3)] and len(ds) == 3


def test_unknown_catalog_path_error(cfg, tmp_path):
    entry = {"root": str(tmp_path / "absent"), "video_root": "clips", "ann_file": "ann/train.json"}
    (tmp_path / "bad.json").write_text(json.dumps({"bad_train": entry}))
    cfg.DATASETS.CATALOG = str(tmp_path / "bad.json")
    with pytest.raises(FileNotFoundError) as err:
        build_dataset(cfg, "bad_train", is_train=True)
    assert "bad_train" in str(err.value) and os.path.join("absent", "ann", "train.json") in str(err.value)
