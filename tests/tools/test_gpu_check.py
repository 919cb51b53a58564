"""tools/gpu_check.sh where no GPU is at hand: the smoke mode runs every step on the CPU at toy sizes and writes
the per-step JSON and the summary; without it the script refuses in the one error style."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import torch

from alphaction.engine.defaults import REPO_ROOT

SCRIPT = os.path.join(REPO_ROOT, "tools", "gpu_check.sh")


def _run(out, smoke: bool):
    env = dict(os.environ, PYTHON=sys.executable, GPU_CHECK_SMOKE="1" if smoke else "0")
    return subprocess.run(
        ["bash", SCRIPT, str(out)], env=env, capture_output=True, text=True, timeout=600, cwd=REPO_ROOT
    )


def test_smoke_mode_runs_every_step_and_writes_the_summary(tmp_path):
    out = tmp_path / "check"
    run = _run(out, smoke=True)
    assert run.returncode == 0, run.stdout + run.stderr
    summary = json.loads((out / "summary.json").read_text())
    steps = {s["step"]: s["status"] for s in summary["steps"]}
    assert steps == {"cuda_tests": 0, "train_r14_fp32": 0, "train_r14_bf16": 0, "loader": 0, "ddp": 0, "inference": 0}
    assert {r["run"] for r in summary["train"]} == {"r14_fp32", "r14_bf16"}
    assert all(r["clips_per_s"] > 0 for r in summary["train"])
    assert summary["inference"]["runs"] and summary["loader"]["loader"]
    assert (out / "ddp_run" / "model_final.pth").is_file()  # the 1-process distributed run trained and saved
    assert "| train_r14_fp32 | ok |" in (out / "summary.md").read_text()


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the refusal on a machine without a GPU")
def test_without_a_gpu_it_says_so_and_what_to_do(tmp_path):
    run = _run(tmp_path / "check", smoke=False)
    assert run.returncode == 2
    assert "error: no CUDA device visible to torch" in run.stderr and "fix: run on a GPU machine" in run.stderr
