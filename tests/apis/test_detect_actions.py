"""detect_actions() with given boxes against the detector run directly on test_net's samples of the same
keyframes; with a person detector, the persons it keeps."""

from __future__ import annotations

import os

import av
import cv2
import numpy as np
import pytest
import torch

from alphaction.apis import detect_actions, init_model
from alphaction.data import build_dataset
from alphaction.data.collate import collate
from alphaction.engine.defaults import REPO_ROOT

DETECTION_CFG = os.path.join(REPO_ROOT, "config_files", "quick_schedules", "synthetic_tiny_r14.yaml")

VAL = "synthetic_tiny_val"


@pytest.fixture(scope="module")
def detector(detector_checkpoint):
    return init_model(DETECTION_CFG, detector_checkpoint)


@pytest.fixture(scope="module")
def val_set(detector):
    return build_dataset(detector.cfg, VAL, is_train=False)


def _movie_frames(clip_dir) -> np.ndarray:
    """The per-second clips of one synthetic video decoded back to back: the video at 25 fps, no re-encoding,
    converted to RGB from the yuv420p planes by OpenCV as the dataset's decoder does (swscale's rgb24 differs
    by up to 3 levels)."""
    seconds = sorted(int(p.split(".")[0]) for p in os.listdir(clip_dir) if p.endswith(".mp4"))
    assert seconds == list(range(len(seconds)))  # clip s holds frames 25 s .. 25 s + 24
    frames = []
    for s in seconds:
        with av.open(os.path.join(clip_dir, f"{s}.mp4")) as c:
            frames += [cv2.cvtColor(f.to_ndarray(format="yuv420p"), cv2.COLOR_YUV2RGB_I420) for f in c.decode(video=0)]
    return np.stack(frames)


def _direct(model, sample, size_divisibility) -> np.ndarray:
    batch = collate([sample], size_divisibility)
    with torch.no_grad():
        probs = model(batch["slow"], batch["fast"], batch["boxes"], batch["image_sizes"], objects=batch["objects"])
    return probs[0].numpy()


def test_given_boxes_come_back_with_the_scores_of_a_direct_forward(detector, val_set, api_data):
    info = val_set.get_video_info(0)
    vid = info["video_id"]
    frames = _movie_frames(api_data / "synthetic" / "tiny" / "clips" / vid)
    assert frames.shape[1:3] == (info["height"], info["width"])
    picks = [i for i in range(len(val_set)) if val_set.get_video_info(i)["video_id"] == vid]
    boxes, want = {}, {}
    for i in picks:
        sample = val_set[i]
        h, w = info["height"], info["width"]
        out_h, out_w = sample["image_size"]
        scale = torch.tensor([w / out_w, h / out_h, w / out_w, h / out_h], dtype=torch.float64)
        boxes[sample["timestamp"]] = (sample["boxes"].double() * scale).float().numpy()  # pixels of the video
        want[sample["timestamp"]] = _direct(detector.module, sample, detector.cfg.DATALOADER.SIZE_DIVISIBILITY)
    assert len(boxes) >= 2 and all(len(b) for b in boxes.values())

    results = detect_actions(detector, frames, boxes=boxes, topk=3)
    assert [r["second"] for r in results] == list(range(len(frames) // 25))
    k = len(detector.class_names)
    for r in results:
        s = r["second"]
        if s not in boxes:
            assert r["boxes"].shape == (0, 4) and r["scores"].shape == (0, k) and r["actions"] == []
            continue
        np.testing.assert_array_equal(r["boxes"], boxes[s])
        np.testing.assert_allclose(r["scores"], want[s], rtol=0, atol=1e-5)
        np.testing.assert_array_equal(r["person_scores"], np.ones(len(boxes[s]), np.float32))
        for person, probs in zip(r["actions"], want[s]):
            order = np.argsort(-probs, kind="stable")[:3]
            assert [name for name, _ in person] == [detector.class_names[c] for c in order]
            np.testing.assert_allclose([p for _, p in person], probs[order], atol=1e-5)


class _FixedPersons(torch.nn.Module):
    """A torchvision-style detector returning the same three detections on every image: a person, a person
    below the threshold, and a non-person."""

    def forward(self, images):
        return [
            {
                "boxes": torch.tensor([[10.0, 20.0, 40.0, 80.0], [50.0, 10.0, 90.0, 90.0], [0.0, 0.0, 30.0, 30.0]]),
                "labels": torch.tensor([1, 1, 3]),
                "scores": torch.tensor([0.9, 0.2, 0.95]),
            }
            for _ in images
        ]


def test_a_detector_gives_the_persons_scoring_above_the_threshold(detector):
    frames = np.random.default_rng(0).integers(0, 255, (50, 96, 128, 3), dtype=np.uint8)
    results = detect_actions(detector, frames, detector=_FixedPersons(), person_thresh=0.5)
    assert len(results) == 2
    for r in results:
        np.testing.assert_allclose(r["boxes"], [[10.0, 20.0, 40.0, 80.0]])
        np.testing.assert_allclose(r["person_scores"], [0.9], rtol=1e-6)
        assert r["scores"].shape == (1, len(detector.class_names)) and len(r["actions"][0]) == 3
    assert results[0]["track_ids"] == results[1]["track_ids"] == [0]  # the same box: one track


def test_bad_box_arguments_are_named(detector):
    frames = np.zeros((50, 96, 128, 3), np.uint8)
    with pytest.raises(ValueError, match="exactly one of"):
        detect_actions(detector, frames)
    with pytest.raises(ValueError, match=r"seconds \[5\].*0\.\.1"):
        detect_actions(detector, frames, boxes={5: [[0, 0, 10, 10]]})
    with pytest.raises(ValueError, match="second 0 have shape"):
        detect_actions(detector, frames, boxes={0: [[0, 0, 10]]})
