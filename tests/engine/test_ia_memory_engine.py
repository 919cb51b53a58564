"""The engine's IA memory: fetch / store / end-step with the loss penalty, the pool file beside the checkpoints,
and a crashed IA run that resumes with its pool to the uninterrupted run's weights."""

from __future__ import annotations

import os

import pytest
import torch

import train_net
from alphaction.config import get_cfg
from alphaction.engine.defaults import REPO_ROOT
from alphaction.engine.ia_memory import MemorySettings, TrainingMemory, memory_settings, uses_memory
from alphaction.engine.trainer import Trainer
from alphaction.modeling import build_model

QUICK_IA = os.path.join(REPO_ROOT, "config_files", "quick_schedules", "synthetic_tiny_r14_ia.yaml")


def _feats(value: float, n: int = 2, dim: int = 3) -> torch.Tensor:
    return torch.full((n, dim), value)


def test_settings_from_the_config():
    cfg = get_cfg()
    cfg.merge_from_file(QUICK_IA)
    s = memory_settings(cfg)
    assert (s.dim, s.length, s.rate, s.max_per_sec, s.penalty, s.half, s.max_entries, s.test_mode) == (
        576,
        (2, 2),
        1,
        5,
        True,
        False,
        None,
        "offline",
    )
    assert uses_memory(build_model(cfg))
    cfg.MODEL.IA_STRUCTURE.I_BLOCK_LIST = ["P", "O"]
    assert not uses_memory(build_model(cfg))
    cfg.MODEL.IA_STRUCTURE.MEMORY_TEST_MODE = "streaming"
    with pytest.raises(ValueError, match="MEMORY_TEST_MODE.*offline"):
        memory_settings(cfg)


def test_features_reach_the_pool_only_after_the_step_and_carry_the_penalty():
    mem = TrainingMemory(MemorySettings(dim=3, length=(2, 2), penalty=True))
    batch = {"video_ids": ["v", "v"], "timestamps": [10, 11]}
    mem.store(batch["video_ids"], batch["timestamps"], [_feats(1.0), _feats(2.0, n=1)])
    assert len(mem.pool) == 0  # asynchronous: nothing is visible before the step ends
    mem.end_step(loss=2.0)
    assert len(mem.pool) == 2 and mem.last_loss == 2.0
    # clip at second 11 sees second 10 (slot 2 - 1 = 1); its own second is left to the model
    window = mem.fetch({"video_ids": ["v"], "timestamps": [11]}, torch.device("cpu"))[0]
    assert window.slots.tolist() == [1, 1]
    torch.testing.assert_close(window.features, _feats(1.0))  # tag 2.0, current loss 2.0: factor 1
    mem.store(["w"], [0], [_feats(5.0, n=1)])
    mem.end_step(loss=4.0)  # now the previous loss is 4: features written at 2.0 weigh min(2/4, 4/2) = 0.5
    window = mem.fetch({"video_ids": ["v"], "timestamps": [11]}, torch.device("cpu"))[0]
    torch.testing.assert_close(window.features, _feats(0.5))
    no_penalty = TrainingMemory(MemorySettings(dim=3, penalty=False))
    no_penalty.store(["v"], [10], [_feats(1.0)])
    no_penalty.end_step(loss=2.0)
    no_penalty.end_step(loss=8.0)
    torch.testing.assert_close(
        no_penalty.fetch({"video_ids": ["v"], "timestamps": [11]}, torch.device("cpu"))[0].features, _feats(1.0)
    )


def test_pool_file_save_restore_prune(tmp_path):
    mem = TrainingMemory(MemorySettings(dim=3))
    mem.store(["v"], [3], [_feats(7.0)])
    mem.end_step(loss=1.5)
    name = mem.save(str(tmp_path), 40)
    assert name == "memory_pool_0000040.pth"
    (tmp_path / "memory_pool_0000020.pth").write_bytes(b"old")
    TrainingMemory.prune(str(tmp_path), keep=name)
    assert sorted(os.listdir(tmp_path)) == [name]
    again = TrainingMemory(MemorySettings(dim=3))
    assert again.restore(str(tmp_path), {"iteration": 40, "memory_pool": name})
    assert again.last_loss == 1.5 and again.pool.keys() == [("v", 3)]
    torch.testing.assert_close(again.pool.get("v", 3)[0], _feats(7.0))
    fresh = TrainingMemory(MemorySettings(dim=3))
    assert not fresh.restore(str(tmp_path), {"iteration": 40, "memory_pool": "memory_pool_0000099.pth"})
    assert not fresh.restore(str(tmp_path), {"iteration": 0}) and len(fresh.pool) == 0


def _argv(out, max_iter=6):
    return [
        "--config-file",
        QUICK_IA,
        "--deterministic",
        "--skip-val-in-train",
        "--skip-final-test",
        "SOLVER.MAX_ITER",
        str(max_iter),
        "SOLVER.STEPS",
        "(5,)",
        "SOLVER.CHECKPOINT_PERIOD",
        "3",
        "SOLVER.LOG_PERIOD",
        "1",
        "DATALOADER.NUM_WORKERS",
        "0",
        "OUTPUT_DIR",
        str(out),
    ]


def test_crashed_ia_run_resumes_with_its_memory_pool(tiny_data, tmp_path, monkeypatch):
    monkeypatch.setenv("ALPHACTION_DATA", tiny_data)
    train_net.main(_argv(tmp_path / "straight"))
    straight = tmp_path / "straight"
    assert sorted(n for n in os.listdir(straight) if n.startswith("memory_pool")) == ["memory_pool_0000006.pth"]
    final = torch.load(straight / "model_final.pth", weights_only=True)
    assert final["memory_pool"] == "memory_pool_0000006.pth"
    pool = torch.load(straight / "memory_pool_0000006.pth", weights_only=True)
    assert pool["extra"]["iteration"] == 6 and pool["features"].shape[1] == 576
    assert len(pool["video_ids"]) > 0

    # the same run crashes in step 5, after the checkpoint (and pool) of iteration 3
    step = Trainer.run_step

    def crashing_step(self, data_iter):
        if self.iter == 4:
            raise RuntimeError("simulated crash")
        return step(self, data_iter)

    crashed = tmp_path / "crashed"
    monkeypatch.setattr(Trainer, "run_step", crashing_step)
    with pytest.raises(RuntimeError, match="simulated crash"):
        train_net.main(_argv(crashed))
    monkeypatch.setattr(Trainer, "run_step", step)
    assert (crashed / "memory_pool_0000003.pth").is_file()
    no_pool = tmp_path / "no_pool"  # the same crashed run, its pool file lost
    no_pool.mkdir()
    for name in os.listdir(crashed):
        if name != "memory_pool_0000003.pth":
            (no_pool / name).write_bytes((crashed / name).read_bytes())

    train_net.main(_argv(crashed))  # rerun: resumes at 3 with the pool of iteration 3
    resumed = torch.load(crashed / "model_final.pth", weights_only=True)
    for k in final["model"]:
        torch.testing.assert_close(resumed["model"][k], final["model"][k], rtol=0, atol=1e-6, msg=k)
    assert "Restored the IA memory pool" in (crashed / "log.txt").read_text()

    train_net.main(_argv(no_pool))  # without its pool the resumed run sees other memory: other weights
    assert "IA memory starts empty" in (no_pool / "log.txt").read_text()
    lost = torch.load(no_pool / "model_final.pth", weights_only=True)
    assert any((lost["model"][k].float() - final["model"][k].float()).abs().max() > 1e-5 for k in final["model"])
