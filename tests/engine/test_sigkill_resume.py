"""Resume equality after SIGKILL: a quick run killed mid-way and rerun with the same command ends with the same
weights as an uninterrupted run (``--deterministic``, CPU)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import torch

import train_net
from alphaction.engine.defaults import REPO_ROOT

QUICK = os.path.join(REPO_ROOT, "config_files", "quick_schedules", "synthetic_tiny_r14.yaml")


def _argv(out):
    return [
        "--config-file",
        QUICK,
        "--deterministic",
        "--skip-val-in-train",
        "--skip-final-test",
        "SOLVER.MAX_ITER",
        "8",
        "SOLVER.CHECKPOINT_PERIOD",
        "2",
        "SOLVER.LOG_PERIOD",
        "1",
        "OUTPUT_DIR",
        str(out),
    ]


def test_sigkill_then_same_command_gives_the_uninterrupted_weights(tiny_data, tmp_path, monkeypatch):
    monkeypatch.setenv("ALPHACTION_DATA", tiny_data)
    killed = tmp_path / "killed"
    env = dict(os.environ, ALPHACTION_DATA=tiny_data)
    proc = subprocess.Popen(
        [sys.executable, os.path.join(REPO_ROOT, "train_net.py"), *_argv(killed)],
        env=env,
        cwd=str(tmp_path),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 120
        while not (killed / "last_checkpoint").exists():
            assert proc.poll() is None, "the run ended before writing a checkpoint"
            assert time.monotonic() < deadline, "no checkpoint within 120 s"
            time.sleep(0.01)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait()
    assert proc.returncode == -signal.SIGKILL
    assert not (killed / "model_final.pth").exists(), "killed too late: the run had finished"
    killed_at = (killed / "last_checkpoint").read_text()
    killed_iter = torch.load(killed / killed_at, weights_only=True)["iteration"]
    assert 0 < killed_iter < 8

    train_net.main(_argv(killed))  # the same command again: resumes
    train_net.main(_argv(tmp_path / "straight"))  # the reference, never interrupted

    a = torch.load(tmp_path / "straight" / "model_final.pth", weights_only=True)
    b = torch.load(killed / "model_final.pth", weights_only=True)
    assert a["iteration"] == b["iteration"] == 8
    for k in a["model"]:
        torch.testing.assert_close(b["model"][k], a["model"][k], rtol=0, atol=1e-6, msg=k)
    log = (killed / "log.txt").read_text()
    assert f"{killed_at} at iteration {killed_iter}" in log  # "Resuming from <path> at iteration K"
