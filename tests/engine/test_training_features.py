"""In-process runs of the quick schedule: SIGTERM checkpoint, exact resume, NaN guard, TensorBoard and
metrics.json."""

from __future__ import annotations

import json
import os
import signal

import pytest
import torch

import train_net
from alphaction.engine.defaults import REPO_ROOT
from alphaction.engine.trainer import NonFiniteLossError, Trainer

QUICK = os.path.join(REPO_ROOT, "config_files", "quick_schedules", "synthetic_tiny_r14.yaml")
VAL = "synthetic_tiny_val"


def _argv(out, *extra):
    return [
        "--config-file",
        QUICK,
        "--deterministic",
        "--skip-val-in-train",
        *extra,
        "SOLVER.MAX_ITER",
        "4",
        "SOLVER.CHECKPOINT_PERIOD",
        "3",
        "SOLVER.LOG_PERIOD",
        "1",
        "OUTPUT_DIR",
        str(out),
    ]


def _sigterm_after_step(monkeypatch, at_iter: int) -> None:
    """Send SIGTERM to this process at the end of step ``at_iter`` (0-based), as a scheduler would."""
    run_step = Trainer.run_step

    def step(self, data_iter):
        out = run_step(self, data_iter)
        if self.iter == at_iter:
            os.kill(os.getpid(), signal.SIGTERM)
        return out

    monkeypatch.setattr(Trainer, "run_step", step)


@pytest.fixture(scope="module")
def runs(tiny_data, tmp_path_factory):
    base = tmp_path_factory.mktemp("features")
    mp = pytest.MonkeyPatch()
    mp.setenv("ALPHACTION_DATA", tiny_data)
    try:
        straight = train_net.main(_argv(base / "straight", "--use-tfboard"))
        with pytest.MonkeyPatch.context() as m:
            _sigterm_after_step(m, at_iter=1)
            stopped = train_net.main(_argv(base / "interrupted", "--skip-final-test"))
            stopped_at = (base / "interrupted" / "last_checkpoint").read_text()
        resumed = train_net.main(_argv(base / "interrupted", "--skip-final-test"))
    finally:
        mp.undo()
    return base, straight, stopped, stopped_at, resumed


def test_sigterm_saves_the_current_iteration_and_returns(runs):
    base, _, stopped, stopped_at, _ = runs
    assert stopped == {}  # returned normally (exit status 0 from the CLI), no test run
    assert stopped_at == "model_0000002.pth"  # not a periodic iteration (period 3): saved because of the signal
    ckpt = torch.load(base / "interrupted" / stopped_at, weights_only=True)
    assert ckpt["iteration"] == 2 and "optimizer" in ckpt and "rng_states" in ckpt
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL  # the handler is removed after training


def test_interrupted_and_resumed_run_ends_with_the_same_weights(runs):
    base, _, _, _, _ = runs
    a = torch.load(base / "straight" / "model_final.pth", weights_only=True)
    b = torch.load(base / "interrupted" / "model_final.pth", weights_only=True)
    assert a["iteration"] == b["iteration"] == 4
    for k in a["model"]:
        torch.testing.assert_close(b["model"][k], a["model"][k], rtol=0, atol=1e-6, msg=k)
    log = (base / "interrupted" / "log.txt").read_text()
    assert "Restored the RNG states of iteration 2 and the data augmentation stream" in log


def test_tensorboard_has_the_scalars_and_metrics_json_parses(runs):
    base, straight, _, _, _ = runs
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(base / "straight" / "tb"))
    acc.Reload()
    tags = set(acc.Tags()["scalars"])
    for tag in (
        "train/loss",
        "train/loss_pose_action",
        "train/lr",
        "time/data_time",
        "time/time",
        f"test/{VAL}/mAP@0.5",
        "memory/max_mem_mb",
    ):
        assert tag in tags, (tag, sorted(tags))
    assert [e.step for e in acc.Scalars("train/loss")] == [1, 2, 3, 4]
    assert acc.Scalars(f"test/{VAL}/mAP@0.5")[0].value == pytest.approx(straight[VAL]["mAP@0.5"])
    lines = (base / "straight" / "metrics.json").read_text().splitlines()
    records = [json.loads(line) for line in lines]
    assert [r["iteration"] for r in records] == [1, 2, 3, 4]
    for r in records:
        assert {"loss", "lr", "data_time", "time", "eta_seconds", "loss_global_avg"} <= set(r)
        assert r["loss"] == pytest.approx(sum(r[k] for k in r if k.startswith("loss_") and "global" not in k))


def test_nan_loss_stops_with_a_debug_checkpoint(tiny_data, tmp_path, monkeypatch):
    monkeypatch.setenv("ALPHACTION_DATA", tiny_data)
    import alphaction.engine.runner as runner

    build = runner.build_model

    def build_poisoned(cfg):
        model = build(cfg)
        forward, calls = model.forward, []

        def poisoned(*args, **kwargs):
            out = forward(*args, **kwargs)
            calls.append(1)
            if model.training and len(calls) == 3:  # the third training step
                out["loss_pose_action"] = out["loss_pose_action"] * float("nan")
            return out

        model.forward = poisoned
        return model

    monkeypatch.setattr(runner, "build_model", build_poisoned)
    out = tmp_path / "nan"
    with pytest.raises(NonFiniteLossError, match=r"iteration 2: .*'loss_pose_action': nan.*lr") as info:
        train_net.main(
            [
                "--config-file",
                QUICK,
                "--skip-val-in-train",
                "--skip-final-test",
                "SOLVER.MAX_ITER",
                "4",
                "SOLVER.CHECKPOINT_PERIOD",
                "2",
                "SOLVER.SANITY_CHECK",
                "False",  # forwards = steps
                "OUTPUT_DIR",
                str(out),
            ]
        )
    assert info.value.iteration == 2 and info.value.lr > 0
    assert (out / "last_checkpoint").read_text() == "model_0000002.pth"  # the last good one
    debug = torch.load(out / "debug_nonfinite_0000002.pth", weights_only=True)
    assert debug["iteration"] == 2 and debug["losses"]["loss_pose_action"] != debug["losses"]["loss_pose_action"]
    assert len(debug["indices"]) == 2 and "model" in debug
    assert "Stopping: non-finite loss at iteration 2" in (out / "log.txt").read_text()
