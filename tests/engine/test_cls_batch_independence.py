"""A clip classifier's scores do not depend on what else is in the batch: clips of different sizes (no crop) are
scored without the batch's zero padding, so test_net (batches of 4) gives each clip what recognize() (one clip)
and a batch of one give it."""

from __future__ import annotations

import functools
import os

import numpy as np
import pytest
import torch

from alphaction.apis import init_model, recognize
from alphaction.config import get_cfg
from alphaction.data.build import build_clip_transforms
from alphaction.data.datasets.clip_sources import VideoListDataset
from alphaction.data.datasets.clips import collate_clips
from alphaction.data.video_io import write_clip
from alphaction.engine.defaults import REPO_ROOT
from alphaction.engine.evaluate_classification import clip_scores, predict_clips
from alphaction.modeling import build_model

CONFIG = os.path.join(REPO_ROOT, "config_files", "classification", "synthetic_clips_tiny_quick.yaml")
SIZES = [(64, 80), (48, 96), (72, 72), (40, 60), (64, 80)]  # (height, width) of the videos


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    base = tmp_path_factory.mktemp("cls_sizes")
    rng = np.random.default_rng(0)
    lines = []
    for i, (h, w) in enumerate(SIZES):
        frames = (rng.random((40, h, w, 3)) * 255).astype(np.uint8)
        path = base / f"clip{i}.mp4"
        write_clip(str(path), frames, fps=25)
        lines.append(f"{path.name} {i % 3}")
    (base / "list.txt").write_text("\n".join(lines) + "\n")
    cfg = get_cfg()
    cfg.merge_from_file(CONFIG)
    cfg.merge_from_list(["MODEL.CLIP_HEAD.NUM_CLASSES", "3", "INPUT.CROP_SIZE", "0"])
    torch.manual_seed(0)
    model = build_model(cfg).eval()
    weights = base / "model.pth"
    torch.save({"model": model.state_dict()}, weights)
    dataset = VideoListDataset(str(base / "list.txt"), build_clip_transforms(cfg, is_train=False), num_classes=3)
    return base, cfg, model, dataset, weights


def _loader(dataset, batch):
    return torch.utils.data.DataLoader(
        dataset, batch_size=batch, collate_fn=functools.partial(collate_clips, size_divisibility=16)
    )


def test_scores_are_the_same_at_batch_1_and_batch_4_of_mixed_sizes(setup):
    _, _, model, dataset, _ = setup
    one = predict_clips(model, _loader(dataset, 1), torch.device("cpu"))["scores"]
    four = predict_clips(model, _loader(dataset, 4), torch.device("cpu"))["scores"]
    np.testing.assert_allclose(four, one, rtol=1e-5, atol=1e-6)
    # the check has teeth: scored with the padding, as before, the mixed batch gives other numbers
    batch = next(iter(_loader(dataset, 4)))
    padded = clip_scores(model, batch["slow"], batch["fast"], batch["num_views"])
    assert np.abs(padded - one[:4]).max() > 1e-4


def test_test_net_scores_equal_recognize(setup):
    base, cfg, model, dataset, weights = setup
    four = predict_clips(model, _loader(dataset, 4), torch.device("cpu"))["scores"]
    api = init_model(
        CONFIG,
        str(weights),
        overrides=["MODEL.CLIP_HEAD.NUM_CLASSES", "3", "INPUT.CROP_SIZE", "0"],
        class_names=["a", "b", "c"],
    )
    for i in range(len(SIZES)):
        top = dict(recognize(api, str(base / f"clip{i}.mp4"), topk=3))
        np.testing.assert_allclose([top["a"], top["b"], top["c"]], four[i], rtol=1e-5, atol=1e-6)
