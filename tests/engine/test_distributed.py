"""A 2-process gloo DDP job on the CPU, through the environment torchrun sets (``launch_local``): train on the
quick schedule, validate during and after training, then compare what the two processes hold."""

from __future__ import annotations

import os

import pytest
import torch

from alphaction.engine.defaults import REPO_ROOT
from alphaction.engine.launch import launch_local

QUICK = os.path.join(REPO_ROOT, "config_files", "quick_schedules", "synthetic_tiny_r14.yaml")

VAL = "synthetic_tiny_val"


def _worker(out_dir: str, result_dir: str) -> None:
    """One rank: ``train_net``'s steps (setup -> run_train), recording the dataset indices it predicted."""
    torch.set_num_threads(1)  # two processes on two cores
    import alphaction.engine.evaluate_detection as inference_module
    from alphaction.engine.defaults import default_argument_parser, setup
    from alphaction.engine.runner import run_train

    seen: list[list[int]] = []
    predict = inference_module.predict

    def recording_predict(*args, **kwargs):
        out = predict(*args, **kwargs)
        seen.append(out["indices"].tolist())
        return out

    inference_module.predict = recording_predict
    from alphaction.data.datasets import AVAVideoDataset

    built: list[list] = []  # [is_train, how the index came] of every dataset this rank constructed
    init = AVAVideoDataset.__init__

    def recording_init(self, *a, **k):
        init(self, *a, **k)
        built.append([bool(self.is_train), self.index_status])

    AVAVideoDataset.__init__ = recording_init
    args = default_argument_parser().parse_args(
        [
            "--config-file",
            QUICK,
            "SOLVER.MAX_ITER",
            "3",
            "SOLVER.EVAL_PERIOD",
            "2",
            "SOLVER.CHECKPOINT_PERIOD",
            "0",
            "SOLVER.LOG_PERIOD",
            "1",
            "OUTPUT_DIR",
            out_dir,
        ]
    )
    cfg, ctx = setup(args)
    model, results = run_train(cfg, ctx, args)
    torch.save(
        {
            "state": model.module.state_dict(),
            "seen": seen,
            "results": results,
            "built": built,
            "world_size": ctx.world_size,
        },
        os.path.join(result_dir, f"rank{ctx.rank}.pth"),
    )


@pytest.fixture(scope="module")
def ddp_run(tiny_data, tmp_path_factory):
    base = tmp_path_factory.mktemp("ddp")
    mp = pytest.MonkeyPatch()
    mp.setenv("ALPHACTION_DATA", tiny_data)
    mp.setenv("OMP_NUM_THREADS", "1")
    try:
        launch_local(_worker, 2, (str(base / "out"), str(base)))
    finally:
        mp.undo()
    ranks = [torch.load(base / f"rank{r}.pth", weights_only=True) for r in range(2)]
    return base, ranks


def test_both_ranks_hold_the_same_model(ddp_run):
    base, ranks = ddp_run
    assert [r["world_size"] for r in ranks] == [2, 2]
    a, b = ranks[0]["state"], ranks[1]["state"]
    assert a.keys() == b.keys()
    differ = [k for k in a if not torch.equal(a[k], b[k])]
    assert not differ, f"ranks disagree on {differ[:5]}"
    # what rank 0 saved is that model, and training moved it away from any fresh initialisation
    final = torch.load(base / "out" / "model_final.pth", weights_only=True)
    assert final["iteration"] == 3
    assert all(torch.equal(final["model"][k], a[k]) for k in a)
    assert len(final["rng_states"]) == 2  # one RNG state per rank, for an exact resume


def test_every_validation_clip_is_predicted_exactly_once(ddp_run, tiny_data, monkeypatch):
    _, ranks = ddp_run
    monkeypatch.setenv("ALPHACTION_DATA", tiny_data)
    from alphaction.config import get_cfg
    from alphaction.data import build_dataset

    cfg = get_cfg()
    cfg.merge_from_file(QUICK)
    n_val = len(build_dataset(cfg, VAL, is_train=False))
    assert n_val >= 3  # an odd count would also do; at least one clip per rank
    evaluations = [r["seen"] for r in ranks]
    assert len(evaluations[0]) == len(evaluations[1]) == 2  # the validation at iteration 2 and the final test
    for run in range(2):
        per_rank = [evaluations[r][run] for r in range(2)]
        assert all(per_rank), "a rank predicted nothing"
        together = per_rank[0] + per_rank[1]
        assert sorted(together) == list(range(n_val)), per_rank  # all clips, none twice
    # rank 0 alone reports the metrics, gathered from both ranks
    assert 0.0 <= ranks[0]["results"][VAL]["mAP@0.5"] <= 1.0 and ranks[1]["results"] == {VAL: {}}


def test_each_rank_builds_the_test_set_once_and_the_second_rank_reads_the_first_ones_index(ddp_run):
    _, ranks = ddp_run
    assert len(ranks[0]["seen"]) == 2  # two evaluations...
    for r in ranks:
        assert sorted(is_train for is_train, _ in r["built"]) == [False, True]  # ...one test set, one train set
    # rank 1 waits for rank 0 (the machine's first rank), then maps the index it built or found
    assert [status for _, status in ranks[1]["built"]] == ["cached", "cached"]


QUICK_IA = os.path.join(REPO_ROOT, "config_files", "quick_schedules", "synthetic_tiny_r14_ia.yaml")


def _ia_worker(out_dir: str, result_dir: str) -> None:
    """One rank of an IA (memory) run: records the clips it stored and its pool after every step."""
    torch.set_num_threads(1)
    from alphaction.engine.defaults import default_argument_parser, setup
    from alphaction.engine.ia_memory import TrainingMemory
    from alphaction.engine.runner import run_train

    stored: list[list] = []
    store, end_step = TrainingMemory.store, TrainingMemory.end_step

    def recording_store(self, video_ids, timestamps, persons):
        stored.append([[str(v), int(t)] for v, t in zip(video_ids, timestamps)])
        return store(self, video_ids, timestamps, persons)

    def recording_end_step(self, loss):
        end_step(self, loss)
        self.last_state = self.pool.state_dict()

    TrainingMemory.store, TrainingMemory.end_step = recording_store, recording_end_step
    args = default_argument_parser().parse_args(
        [
            "--config-file",
            QUICK_IA,
            "SOLVER.MAX_ITER",
            "3",
            "SOLVER.EVAL_PERIOD",
            "2",
            "SOLVER.CHECKPOINT_PERIOD",
            "0",
            "SOLVER.LOG_PERIOD",
            "1",
            "OUTPUT_DIR",
            out_dir,
        ]
    )
    cfg, ctx = setup(args)
    memories = []
    init = TrainingMemory.__init__

    def keep(self, settings):
        init(self, settings)
        memories.append(self)

    TrainingMemory.__init__ = keep
    model, results = run_train(cfg, ctx, args)
    torch.save(
        {"state": model.module.state_dict(), "pool": memories[0].last_state, "stored": stored, "results": results},
        os.path.join(result_dir, f"ia_rank{ctx.rank}.pth"),
    )


def test_ia_memory_pools_agree_across_ranks(tiny_data, tmp_path, monkeypatch):
    monkeypatch.setenv("ALPHACTION_DATA", tiny_data)
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    launch_local(_ia_worker, 2, (str(tmp_path / "out"), str(tmp_path)))
    ranks = [torch.load(tmp_path / f"ia_rank{r}.pth", weights_only=True) for r in range(2)]
    a, b = ranks[0]["state"], ranks[1]["state"]
    assert not [k for k in a if not torch.equal(a[k], b[k])]
    pa, pb = ranks[0]["pool"], ranks[1]["pool"]
    assert pa["video_ids"] == pb["video_ids"] and torch.equal(pa["timestamps"], pb["timestamps"])
    assert torch.equal(pa["features"], pb["features"]) and torch.equal(pa["tags"], pb["tags"])
    keys = set(zip(pa["video_ids"], pa["timestamps"].tolist()))
    seen = [{(v, t) for batch in r["stored"] for v, t in batch} for r in ranks]
    assert seen[0] and seen[1] and seen[0] != seen[1]  # the ranks trained on different clips...
    assert seen[0] | seen[1] == keys  # ...and each holds what both stored
    # validation (two-stage, pools merged across ranks) ran during and after training
    assert 0.0 <= ranks[0]["results"][VAL]["mAP@0.5"] <= 1.0
    assert (tmp_path / "out" / "memory_pool_0000003.pth").is_file()
