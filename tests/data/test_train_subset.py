"""DATASETS.TRAIN_SUBSET and several DATASETS.TRAIN end to end: lengths, index offsets, which samples train."""

from __future__ import annotations

import numpy as np
import pytest

from alphaction.config import get_cfg
from alphaction.data import build_data_loader
from alphaction.data.build import build_train_dataset, train_subset_indices
from alphaction.data.video_io import write_clip


def test_a_count_takes_evenly_spaced_samples():
    # linspace(0, 9, 4) = 0, 3, 6, 9; linspace(0, 5, 3) = 0, 2.5, 5 -> 0, 3, 5 (halves round up)
    assert train_subset_indices(4, 10).tolist() == [0, 3, 6, 9]
    assert train_subset_indices(3, 6).tolist() == [0, 3, 5]
    assert train_subset_indices(1, 7).tolist() == [0]
    assert train_subset_indices(7, 7).tolist() == list(range(7))
    for n in range(1, 50):  # always n distinct indices in range
        idx = train_subset_indices(n, 49)
        assert len(set(idx.tolist())) == n and idx.min() >= 0 and idx.max() <= 48


def test_a_list_names_the_samples_and_none_means_all():
    assert train_subset_indices([4, 0, 2], 5).tolist() == [4, 0, 2]
    assert train_subset_indices(None, 5) is None and train_subset_indices([], 5) is None


@pytest.mark.parametrize(
    "value, message",
    [
        (0, "has 5 samples; choose 1 to 5"),
        (6, "has 5 samples"),
        ([1, 5], "index 5 is outside"),
        ([-1], "index -1 is outside"),
        ([2, 2], "index 2 is listed twice"),
        (True, "a count"),
        ("ten", "a count"),
        ([1.5], "must be integers"),
    ],
)
def test_bad_subsets_are_explained(value, message):
    with pytest.raises(ValueError, match=message) as e:
        train_subset_indices(value, 5)
    assert "DATASETS.TRAIN_SUBSET" in str(e.value)


# ---------------------------------------------------------------- several datasets, end to end
VALUES = {"a": [(20, 0), (60, 1), (100, 0)], "b": [(140, 1), (180, 0)]}  # per list: (grey level, label)


@pytest.fixture()
def cfg(tmp_path):
    lines = []
    for name, clips in VALUES.items():
        rows = []
        for k, (value, label) in enumerate(clips):
            write_clip(str(tmp_path / f"{name}{k}.mp4"), np.full((4, 32, 32, 3), value, np.uint8))
            rows.append(f"{name}{k}.mp4 {label}\n")
        (tmp_path / f"{name}.txt").write_text("".join(rows))
        lines.append(f"clips_{name}:\n  factory: VideoListDataset\n  ann_file: {name}.txt\n")
    (tmp_path / "catalog.yaml").write_text("".join(lines))
    c = get_cfg()
    c.DATASETS.CATALOG = str(tmp_path / "catalog.yaml")
    c.DATASETS.TRAIN = ("clips_a", "clips_b")
    c.MODEL.META_ARCHITECTURE = "ClipClassifier"
    c.MODEL.CLIP_HEAD.NUM_CLASSES = 2
    c.INPUT.FRAME_NUM, c.INPUT.FRAME_SAMPLE_RATE, c.INPUT.TAU, c.INPUT.ALPHA = 4, 1, 2, 2
    c.INPUT.MIN_SIZE_TRAIN = c.INPUT.MAX_SIZE_TRAIN = 32
    c.INPUT.PIXEL_MEAN, c.INPUT.PIXEL_STD, c.INPUT.TO_BGR = [0.0, 0.0, 0.0], [1.0, 1.0, 1.0], False
    c.INPUT.COLOR_JITTER = False
    c.DATALOADER.NUM_WORKERS = 0
    c.SOLVER.VIDEOS_PER_BATCH, c.SOLVER.MAX_ITER = 1, 12
    return c


def _nearest(level: int) -> int:
    return min((v for clips in VALUES.values() for v, _ in clips), key=lambda v: abs(v - level))


def test_concatenation_keeps_each_datasets_samples_and_labels_at_their_offsets(cfg):
    dataset, subset = build_train_dataset(cfg)
    assert subset is None and len(dataset) == 5
    assert dataset.cumulative_sizes == [3, 5]  # clips_b's sample k is sample 3 + k of the concatenation
    flat = [clip for clips in VALUES.values() for clip in clips]
    for i, (value, label) in enumerate(flat):
        sample = dataset[i]
        assert abs(float(sample["slow"].mean()) - value) < 6, i  # H.264 of a flat grey frame: a few levels off
        assert int(sample["label"]) == label


def test_subset_list_trains_on_exactly_those_samples(cfg):
    cfg.DATASETS.TRAIN_SUBSET = [3, 4]  # both clips of clips_b, nothing of clips_a
    loader = build_data_loader(cfg, is_train=True)
    batches = list(loader)
    assert len(batches) == 12
    levels = [_nearest(int(float(b["slow"].mean()))) for b in batches]
    assert set(levels) == {140, 180}
    assert levels.count(140) == levels.count(180) == 6  # six epochs of two samples


def test_class_balanced_sampling_weighs_the_subsets_labels(cfg):
    cfg.DATALOADER.CLASS_BALANCED_SAMPLING = True
    cfg.DATASETS.TRAIN_SUBSET = 3  # evenly spaced over 5: indices 0, 2, 4 -> labels 0, 0, 0
    assert build_data_loader(cfg, is_train=True).batch_sampler.batches.weights.tolist() == pytest.approx([1 / 3] * 3)
    cfg.DATASETS.TRAIN_SUBSET = [0, 1, 2]  # labels 0, 1, 0: class 1 weighs twice as much
    loader = build_data_loader(cfg, is_train=True)
    assert loader.batch_sampler.indices.tolist() == [0, 1, 2]
    assert loader.batch_sampler.batches.weights.tolist() == pytest.approx([0.25, 0.5, 0.25])
    levels = {_nearest(int(float(b["slow"].mean()))) for b in loader}
    assert levels <= {20, 60, 100}
