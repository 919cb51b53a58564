"""The documented recovery from a diverged run (docs/TROUBLESHOOTING.md, "Loss is NaN"): the run stops with one
error block, last_checkpoint is rolled back to the newest checkpoint from before the divergence, and rerunning
the same command with a lower SOLVER.BASE_LR finishes the training with finite weights."""

from __future__ import annotations

import math

import torch
from fault_helpers import QUICK, assert_clear

import train_net


def test_nan_recovery_command_finishes_with_finite_weights(command, tmp_path, tiny_data, monkeypatch):
    monkeypatch.setenv("ALPHACTION_DATA", tiny_data)
    out = tmp_path / "run"
    # SGD at lr 2 on the tiny model: the weights reach ~1e7 (still finite) by iteration 4 and NaN at 6
    run = [
        "--config-file",
        QUICK,
        "--skip-val-in-train",
        "--skip-final-test",
        "SOLVER.OPTIMIZER",
        "SGD",
        "SOLVER.MAX_ITER",
        "10",
        "SOLVER.CHECKPOINT_PERIOD",
        "2",
        "SOLVER.WARMUP_ITERS",
        "1",
        "SOLVER.STEPS",
        "(9,)",
        "OUTPUT_DIR",
        out,
    ]
    status, err = command(train_net.main, run + ["SOLVER.BASE_LR", "2.0"])
    assert_clear(status, err, "non-finite", "last_checkpoint now names model_0000002.pth", "SOLVER.BASE_LR")
    assert (out / "last_checkpoint").read_text() == "model_0000002.pth"
    assert (out / "diverged_model_0000004.pth").is_file() and not (out / "model_0000004.pth").exists()
    assert list(out.glob("debug_nonfinite_*.pth"))
    saved = torch.load(out / "model_0000002.pth", weights_only=True)
    assert saved["weight_max_abs"] < 1e3 and math.isfinite(saved["loss"])

    # the recovery: the same command with a lower learning rate
    status, err = command(train_net.main, run + ["SOLVER.BASE_LR", "0.01"])
    assert status == 0, err
    log = (out / "log.txt").read_text()
    assert "base lr 2 -> 0.01" in log and "Resuming from" in log and "model_0000002.pth at iteration 2" in log
    final = torch.load(out / "model_final.pth", weights_only=True)
    assert final["iteration"] == 10
    assert all(torch.isfinite(v).all() for v in final["model"].values() if v.is_floating_point())
