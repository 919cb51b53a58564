"""Checkpoints for the API tests: the quick detection schedule and the tiny clip-classification schedule, each
trained for two iterations on synthetic data made in a temporary ALPHACTION_DATA."""

from __future__ import annotations

import os

import pytest

from alphaction.engine.defaults import REPO_ROOT

DETECTION_CFG = os.path.join(REPO_ROOT, "config_files", "quick_schedules", "synthetic_tiny_r14.yaml")
CLIPS_CFG = os.path.join(REPO_ROOT, "config_files", "classification", "synthetic_clips_tiny_quick.yaml")
FEW_ITERS = ["--skip-final-test", "--skip-val-in-train", "SOLVER.MAX_ITER", "2", "SOLVER.CHECKPOINT_PERIOD", "2"]


@pytest.fixture(scope="session")
def api_data(tmp_path_factory):
    """The data root (ALPHACTION_DATA is set to it while the session's API tests run)."""
    root = tmp_path_factory.mktemp("api_data")
    mp = pytest.MonkeyPatch()
    mp.setenv("ALPHACTION_DATA", str(root))
    yield root
    mp.undo()


def _train(config: str, out) -> str:
    import train_net

    train_net.main(["--config-file", config, *FEW_ITERS, "OUTPUT_DIR", str(out)])
    path = os.path.join(str(out), "model_final.pth")
    assert os.path.isfile(path)
    return path


@pytest.fixture(scope="session")
def detector_checkpoint(api_data, tmp_path_factory) -> str:
    return _train(DETECTION_CFG, tmp_path_factory.mktemp("api_detector"))


@pytest.fixture(scope="session")
def classifier_checkpoint(api_data, tmp_path_factory) -> str:
    return _train(CLIPS_CFG, tmp_path_factory.mktemp("api_classifier"))
