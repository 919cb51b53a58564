"""recognize() against the classifier run directly on test_net's own samples of the same videos."""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch

from alphaction.apis import init_model, recognize
from alphaction.data import build_dataset
from alphaction.data.datasets.clip_sources import VideoReadError
from alphaction.engine.defaults import REPO_ROOT

CLIPS_CFG = os.path.join(REPO_ROOT, "config_files", "classification", "synthetic_clips_tiny_quick.yaml")

VAL = "synthetic_clips_tiny_val"


@pytest.fixture(scope="module")
def classifier(classifier_checkpoint):
    return init_model(CLIPS_CFG, classifier_checkpoint)


@pytest.fixture(scope="module")
def val_set(classifier):
    return build_dataset(classifier.cfg, VAL, is_train=False)


def _direct_probabilities(model, sample) -> np.ndarray:
    """Softmax of the head's logits on every view of the sample (clips x crops of the test transform), averaged."""
    with torch.no_grad():
        logits = model.head(*model.backbone(sample["slow"], sample["fast"]))
    return torch.softmax(logits.double(), dim=1).mean(dim=0).numpy()


def test_recognize_equals_softmax_of_the_classifier_on_test_net_samples(classifier, val_set):
    k = len(classifier.class_names)
    assert k == 8
    assert val_set[0]["slow"].shape[0] == 2  # NUM_CLIPS_TEST 2 of the quick schedule: two views averaged
    for i in (0, len(val_set) - 1):
        want = _direct_probabilities(classifier.module, val_set[i])
        got = recognize(classifier, val_set.videos[i], topk=k)
        assert [name for name, _ in got] == [classifier.class_names[c] for c in np.argsort(-want, kind="stable")]
        np.testing.assert_allclose([s for _, s in got], np.sort(want)[::-1], rtol=0, atol=1e-5)
        assert sum(s for _, s in got) == pytest.approx(1.0, abs=1e-5)


def test_topk_is_the_head_of_the_full_ranking_and_frames_equal_the_file(classifier, val_set):
    from alphaction.data.datasets.clip_sources import read_video

    path = val_set.videos[1]
    full = recognize(classifier, path, topk=8)
    top3 = recognize(classifier, path, topk=3)
    assert top3 == full[:3]
    assert recognize(classifier, path) == full[:5]  # default top-5
    frames = read_video(path)
    from_frames = recognize(classifier, frames, topk=8)
    assert [n for n, _ in from_frames] == [n for n, _ in full]
    np.testing.assert_allclose([s for _, s in from_frames], [s for _, s in full], atol=1e-6)


def test_unreadable_video_and_wrong_model_kind(classifier, detector_checkpoint, tmp_path):
    bad = tmp_path / "broken.mp4"
    bad.write_bytes(b"\x00\x00\x00\x18ftypmp42 not really a video" * 4)
    with pytest.raises(VideoReadError, match="broken.mp4"):
        recognize(classifier, str(bad))
    with pytest.raises(FileNotFoundError, match="missing.mp4"):
        recognize(classifier, str(tmp_path / "missing.mp4"))
    with pytest.raises(ValueError, match=r"\[T, H, W, 3\]"):
        recognize(classifier, np.zeros((4, 8, 8), np.uint8))
    from alphaction.apis import detect_actions

    with pytest.raises(ValueError, match="recognize"):
        detect_actions(classifier, np.zeros((25, 8, 8, 3), np.uint8), boxes={0: [[0, 0, 4, 4]]})
