"""train_net -> test_net in-process for clip classification (tiny synthetic thermal HDF5 set, 4 iterations)."""

from __future__ import annotations

import csv
import json
import os

import cv2
import pytest

import test_net
import train_net
from alphaction.engine.defaults import REPO_ROOT

pytest.importorskip("h5py")

QUICK = os.path.join(REPO_ROOT, "config_files", "classification", "thermal_tiny_quick.yaml")
VAL = "thermal_synthetic_tiny_val"
KEYS = {
    "top1",
    "top5",
    "mean_class_accuracy",
    "precision_macro",
    "recall_macro",
    "f1_macro",
    "precision_weighted",
    "recall_weighted",
    "f1_weighted",
    "val_loss",
}


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    base = tmp_path_factory.mktemp("cls_e2e")
    mp = pytest.MonkeyPatch()
    mp.setenv("ALPHACTION_DATA", str(base / "data"))
    out = base / "train"
    results = train_net.main(["--config-file", QUICK, "OUTPUT_DIR", str(out)])
    yield base, out, results
    mp.undo()


def test_training_writes_checkpoints_metrics_and_best_model(trained):
    _, out, results = trained
    for name in ("model_0000002.pth", "model_final.pth", "model_best.pth", "model_best.json", "last_checkpoint"):
        assert (out / name).is_file(), name
    assert (out / "last_checkpoint").read_text() == "model_final.pth"
    res = results[VAL]
    assert set(res) == KEYS
    assert all(0.0 <= res[k] <= 1.0 for k in KEYS - {"val_loss"}) and res["val_loss"] > 0
    best = json.loads((out / "model_best.json").read_text())
    assert best["metric"] == f"{VAL}/top1" and best["value"] >= res["top1"] and best["iteration"] in (2, 4)
    folder = out / "inference" / VAL
    rows = list(csv.reader(open(folder / "confusion_matrix.csv")))
    assert len(rows) == 15 and len(rows[0]) == 15 and rows[1][0] == "small_still"
    assert sum(int(v) for r in rows[1:] for v in r[1:]) == 14  # every val sample once
    image = cv2.imread(str(folder / "confusion_matrix.png"))
    assert image is not None and image.shape == (24 + 120 + 14 * 40 + 8,) * 2 + (3,)  # 14 classes, 40 px cells
    preds = list(csv.DictReader(open(folder / "predictions.csv")))
    assert len(preds) == 14 and preds[0]["top1"] == preds[0]["prediction"]
    assert json.loads((folder / "metrics.json").read_text())["num_samples"] == 14


def test_test_net_reproduces_the_metrics(trained):
    base, out, results = trained
    again = test_net.main(
        ["--config-file", QUICK, "MODEL.WEIGHT", str(out / "model_final.pth"), "OUTPUT_DIR", str(base / "test")]
    )
    assert again[VAL] == pytest.approx(results[VAL])


def test_epoch_schedule_sets_the_iterations_trained(trained, tmp_path, monkeypatch):
    base, _, _ = trained
    from alphaction.config import get_cfg
    from alphaction.data import build as data_build
    from alphaction.data import build_dataset
    from alphaction.engine import runner

    cfg = get_cfg()
    cfg.merge_from_file(QUICK)
    num_train = len(build_dataset(cfg, "thermal_synthetic_tiny_train", True))
    out = tmp_path / "epochs"
    builds = []  # the training set is built once: sized for the schedule, then given to the loader
    real = data_build.build_train_dataset
    for module in (data_build, runner):
        monkeypatch.setattr(module, "build_train_dataset", lambda c: builds.append(1) or real(c))
    train_net.main(
        [
            "--config-file",
            QUICK,
            "--skip-final-test",
            "--skip-val-in-train",
            "OUTPUT_DIR",
            str(out),
            "SOLVER.EPOCHS",
            "0.25",
            "SOLVER.WARMUP_EPOCHS",
            "0.0",
            "SOLVER.EVAL_PERIOD",
            "0",
            "SOLVER.CHECKPOINT_PERIOD",
            "1000",
        ]
    )
    expected = max(1, round(0.25 * -(-num_train // 4)))  # a quarter of ceil(N / 4) iterations
    assert len(builds) == 1
    import torch

    assert torch.load(out / "model_final.pth", weights_only=True)["iteration"] == expected

    # epochs count the samples of DATASETS.TRAIN_SUBSET: 3 epochs of 8 samples in batches of 4 = 6 iterations
    out = tmp_path / "epochs_subset"
    train_net.main(
        [
            "--config-file",
            QUICK,
            "--skip-final-test",
            "--skip-val-in-train",
            "OUTPUT_DIR",
            str(out),
            "SOLVER.EPOCHS",
            "3.0",
            "SOLVER.WARMUP_EPOCHS",
            "0.0",
            "SOLVER.EVAL_PERIOD",
            "0",
            "SOLVER.CHECKPOINT_PERIOD",
            "1000",
            "SOLVER.SANITY_CHECK",
            "False",
            "DATASETS.TRAIN_SUBSET",
            "8",
        ]
    )
    assert torch.load(out / "model_final.pth", weights_only=True)["iteration"] == 6


def test_early_stopping_with_unreachable_min_delta_stops_after_patience(trained, tmp_path):
    out = tmp_path / "early"
    # eval every iteration; no gain can exceed 2.0 in top-1, so the 2nd evaluation (iteration 2) is the 1st bad one
    train_net.main(
        [
            "--config-file",
            QUICK,
            "--skip-final-test",
            "OUTPUT_DIR",
            str(out),
            "SOLVER.MAX_ITER",
            "6",
            "SOLVER.EVAL_PERIOD",
            "1",
            "SOLVER.EARLY_STOP_PATIENCE",
            "1",
            "SOLVER.EARLY_STOP_MIN_DELTA",
            "2.0",
        ]
    )
    import torch

    assert torch.load(out / "model_final.pth", weights_only=True)["iteration"] == 2
