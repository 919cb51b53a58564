"""AlphAction's loss normaliser under DDP: each rank divides its summed detection losses by the number of boxes
averaged over the ranks (the same divisor everywhere), not by its own count. The model makes no collective call;
the engine's DDP set-up (``prepare_model``) gives the loss that normaliser. Two gloo ranks with different box
counts, against the cross-entropy / BCE formulas written here (gamma 0 makes the focal losses plain CE / BCE)."""

from __future__ import annotations

import os

import torch
import torch.nn.functional as F

from alphaction.config import get_cfg
from alphaction.engine.defaults import REPO_ROOT
from alphaction.engine.launch import DistContext, launch_local
from alphaction.engine.runner import prepare_model
from alphaction.modeling import build_model

QUICK = os.path.join(REPO_ROOT, "config_files", "quick_schedules", "synthetic_tiny_r14.yaml")

BOXES = {0: 2, 1: 6}  # rank -> boxes of its batch: the mean count is 4


def _inputs(rank: int, groups: tuple[int, int, int]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    n, k = BOXES[rank], sum(groups)
    gen = torch.Generator().manual_seed(rank)
    logits = torch.randn(n, k, generator=gen)
    pose = torch.randint(0, groups[0], (n,), generator=gen)
    labels = (torch.rand(n, k, generator=gen) > 0.6).float()
    labels[:, : groups[0]] = F.one_hot(pose, groups[0]).float()
    return logits, labels, pose


def _bce_per_box_sum(logits: torch.Tensor, labels: torch.Tensor) -> float:
    return F.binary_cross_entropy_with_logits(logits, labels, reduction="none").mean(dim=1).sum().item()


def _expected(logits, labels, pose, groups, weights, norm: float) -> dict[str, float]:
    p, o, _ = groups
    return {
        "loss_pose_action": F.cross_entropy(logits[:, :p], pose, reduction="sum").item() / norm * weights[0],
        "loss_object_interaction": _bce_per_box_sum(logits[:, p : p + o], labels[:, p : p + o]) / norm * weights[1],
        "loss_person_interaction": _bce_per_box_sum(logits[:, p + o :], labels[:, p + o :]) / norm * weights[2],
    }


def _worker(result_dir: str) -> None:
    torch.set_num_threads(1)
    torch.distributed.init_process_group("gloo")
    rank = torch.distributed.get_rank()
    cfg = get_cfg()
    cfg.merge_from_file(QUICK)
    cfg.MODEL.ROI_ACTION_HEAD.FOCAL_LOSS.GAMMA = 0.0
    model = build_model(cfg)
    loss = model.roi_heads["action"].loss  # the object the training forward calls
    groups = (loss.groups.num_pose, loss.groups.num_object, loss.groups.num_person)
    logits, labels, pose = _inputs(rank, groups)
    own = {k: v.item() for k, v in loss(logits, labels).items()}  # before the DDP set-up: its own count
    wrapped = prepare_model(cfg, model, DistContext(rank=rank, local_rank=rank, world_size=2))
    assert wrapped.module is model
    averaged = {k: v.item() for k, v in loss(logits, labels).items()}
    torch.save(
        {"own": own, "averaged": averaged, "groups": groups, "weights": loss.weights},
        os.path.join(result_dir, f"rank{rank}.pth"),
    )


def test_ddp_ranks_divide_by_the_box_count_averaged_over_ranks(tmp_path, monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    launch_local(_worker, 2, (str(tmp_path),))
    mean = sum(BOXES.values()) / len(BOXES)
    for rank in BOXES:
        got = torch.load(tmp_path / f"rank{rank}.pth", weights_only=True)
        inputs = _inputs(rank, got["groups"])
        for key, value in _expected(*inputs, got["groups"], got["weights"], mean).items():
            assert abs(got["averaged"][key] - value) <= 1e-5 * max(1.0, abs(value)), (rank, key)
        for key, value in _expected(*inputs, got["groups"], got["weights"], BOXES[rank]).items():
            assert abs(got["own"][key] - value) <= 1e-5 * max(1.0, abs(value)), (rank, key)
