"""init_model(device="cuda"): the same answers as on the CPU (skipped without a CUDA device)."""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch

from alphaction.apis import detect_actions, init_model, recognize
from alphaction.engine.defaults import REPO_ROOT

DETECTION_CFG = os.path.join(REPO_ROOT, "config_files", "quick_schedules", "synthetic_tiny_r14.yaml")
CLIPS_CFG = os.path.join(REPO_ROOT, "config_files", "classification", "synthetic_clips_tiny_quick.yaml")

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


def test_recognize_on_cuda_equals_cpu(classifier_checkpoint):
    frames = np.random.default_rng(0).integers(0, 255, (20, 48, 64, 3), dtype=np.uint8)
    cpu = recognize(init_model(CLIPS_CFG, classifier_checkpoint), frames, topk=8)
    gpu_model = init_model(CLIPS_CFG, classifier_checkpoint, device="cuda")
    assert next(gpu_model.module.parameters()).is_cuda
    gpu = dict(recognize(gpu_model, frames, topk=8))
    np.testing.assert_allclose([gpu[n] for n, _ in cpu], [s for _, s in cpu], atol=1e-4)


def test_detect_actions_on_cuda_equals_cpu(detector_checkpoint):
    frames = np.random.default_rng(1).integers(0, 255, (50, 96, 128, 3), dtype=np.uint8)
    boxes = {0: [[10, 20, 40, 80]], 1: [[50, 10, 90, 90], [5, 5, 30, 60]]}
    cpu = detect_actions(init_model(DETECTION_CFG, detector_checkpoint), frames, boxes=boxes)
    gpu = detect_actions(init_model(DETECTION_CFG, detector_checkpoint, device="cuda"), frames, boxes=boxes)
    for a, b in zip(cpu, gpu):
        np.testing.assert_array_equal(a["boxes"], b["boxes"])
        np.testing.assert_allclose(a["scores"], b["scores"], atol=1e-4)
