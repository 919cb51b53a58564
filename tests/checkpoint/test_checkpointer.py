from __future__ import annotations

import os

import pytest
import torch
from torch import nn

from alphaction.checkpoint import Checkpointer, CheckpointError, match_state_dict, strip_prefix


class Tiny(nn.Module):
    def __init__(self, classes=3):
        super().__init__()
        self.backbone = nn.Linear(4, 4)
        self.roi_heads = nn.Linear(4, classes)

    def forward(self, x):
        return self.roi_heads(self.backbone(x))


def _setup(tmp_path, classes=3):
    torch.manual_seed(0)
    model = Tiny(classes)
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    sched = torch.optim.lr_scheduler.StepLR(opt, 2)
    return model, opt, sched, Checkpointer(model, opt, sched, str(tmp_path))


def test_save_is_atomic_and_updates_last_checkpoint(tmp_path):
    model, opt, sched, ck = _setup(tmp_path)
    path = ck.save("model_0000005", iteration=5)
    assert os.path.isfile(path) and not os.path.exists(path + ".tmp")
    assert (tmp_path / "last_checkpoint").read_text() == "model_0000005.pth"
    assert ck.last_checkpoint() == path


def test_resume_restores_everything(tmp_path):
    model, opt, sched, ck = _setup(tmp_path)
    model(torch.ones(1, 4)).sum().backward()
    opt.step()
    sched.step()
    ck.save("model_0000001", iteration=1)
    model2, opt2, sched2, ck2 = _setup(tmp_path)
    extras = ck2.resume_or_load("", transfer=True, no_head=True)  # flags are ignored for a resume
    assert extras["iteration"] == 1
    for a, b in zip(model.state_dict().values(), model2.state_dict().values()):
        assert torch.equal(a, b)
    assert opt2.state_dict()["state"][0]["momentum_buffer"].equal(opt.state_dict()["state"][0]["momentum_buffer"])
    assert sched2.last_epoch == 1


def test_transfer_no_head_loads_backbone_only(tmp_path):
    src, _, _, ck = _setup(tmp_path / "src", classes=5)
    path = ck.save("model_final", iteration=100)
    torch.manual_seed(1)
    dst = Tiny(3)
    head_before = dst.roi_heads.weight.clone()
    extras = Checkpointer(dst).load(path, transfer=True, no_head=True)
    assert extras["iteration"] == 0
    assert torch.equal(dst.backbone.weight, src.backbone.weight)
    assert torch.equal(dst.roi_heads.weight, head_before)


def test_head_shape_mismatch_is_loud(tmp_path):
    _, _, _, ck = _setup(tmp_path / "src", classes=5)
    path = ck.save("model_final")
    with pytest.raises(CheckpointError) as e:
        Checkpointer(Tiny(3)).load(path, transfer=True)
    assert "roi_heads.weight" in str(e.value) and "--no-head" in str(e.value)


def test_ddp_prefix_and_raw_state_dict(tmp_path):
    src = Tiny()
    raw = {f"module.{k}": v for k, v in src.state_dict().items()}
    path = tmp_path / "raw.pth"
    torch.save(raw, path)
    dst = Tiny()
    Checkpointer(dst).load(str(path))
    assert torch.equal(dst.roi_heads.bias, src.roi_heads.bias)


def test_match_report():
    model_state = {"a": torch.zeros(2), "b": torch.zeros(3), "h.w": torch.zeros(1)}
    loaded = {"a": torch.ones(2), "b": torch.ones(4), "c": torch.ones(1), "h.w": torch.ones(1)}
    to_load, report = match_state_dict(model_state, loaded, skip_prefixes=("h.",))
    assert set(to_load) == {"a"}
    assert report["unexpected"] == ["c"] and report["skipped"] == ["h.w"]
    assert report["shape_mismatch"] == [("b", (4,), (3,))]
    assert set(report["missing"]) == {"b", "h.w"}
    assert strip_prefix({"module.x": 1}) == {"x": 1} and strip_prefix({"module.x": 1, "y": 2}) == {"module.x": 1, "y": 2}


def test_stale_last_checkpoint_is_explained(tmp_path):
    (tmp_path / "last_checkpoint").write_text("model_gone.pth")
    with pytest.raises(CheckpointError, match="does not exist"):
        Checkpointer(Tiny(), save_dir=str(tmp_path)).last_checkpoint()
