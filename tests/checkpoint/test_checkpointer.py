from __future__ import annotations

import logging
import os
import pickle

import numpy as np
import pytest
import torch
from torch import nn

from alphaction.checkpoint import (
    Checkpointer,
    CheckpointError,
    CorruptCheckpointError,
    load_caffe2_pkl,
    match_state_dict,
    strip_prefix,
    strip_wrappers,
)
from alphaction.checkpoint.convert import ConversionError, caffe2_to_pyslowfast_name, convert_caffe2, convert_mmaction2

HEAD = ("roi_heads.",)


class Tiny(nn.Module):
    def __init__(self, classes=3):
        super().__init__()
        self.backbone = nn.Linear(4, 4)
        self.roi_heads = nn.Linear(4, classes)

    def forward(self, x):
        return self.roi_heads(self.backbone(x))


def _setup(tmp_path, classes=3, keep_last=0):
    torch.manual_seed(0)
    model = Tiny(classes)
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    sched = torch.optim.lr_scheduler.StepLR(opt, 2)
    return model, opt, sched, Checkpointer(model, opt, sched, str(tmp_path), head_prefixes=HEAD, keep_last=keep_last)


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
    assert ck2.report.skipped == [] and ck2.report.missing == []


def test_transfer_no_head_loads_backbone_only(tmp_path):
    src, _, _, ck = _setup(tmp_path / "src", classes=5)
    path = ck.save("model_final", iteration=100)
    torch.manual_seed(1)
    dst = Tiny(3)
    head_before = dst.roi_heads.weight.clone()
    loader = Checkpointer(dst, head_prefixes=HEAD)
    extras = loader.load(path, transfer=True, no_head=True)
    assert extras["iteration"] == 0
    assert torch.equal(dst.backbone.weight, src.backbone.weight)
    assert torch.equal(dst.roi_heads.weight, head_before)
    assert sorted(loader.report.skipped) == ["roi_heads.bias", "roi_heads.weight"]
    assert sorted(loader.report.loaded) == ["backbone.bias", "backbone.weight"]


def test_no_head_needs_a_declared_head(tmp_path):
    _, _, _, ck = _setup(tmp_path)
    path = ck.save("model_final")
    with pytest.raises(CheckpointError, match="declares no head"):
        Checkpointer(Tiny()).load(path, no_head=True)


def test_head_shape_mismatch_is_loud(tmp_path):
    _, _, _, ck = _setup(tmp_path / "src", classes=5)
    path = ck.save("model_final")
    with pytest.raises(CheckpointError) as e:
        Checkpointer(Tiny(3), head_prefixes=HEAD).load(path, transfer=True)
    assert "roi_heads.weight" in str(e.value) and "--no-head" in str(e.value)


def test_missing_backbone_is_an_error_missing_head_only_when_unexplained(tmp_path):
    src = Tiny()
    torch.save({"model": {"roi_heads.weight": src.roi_heads.weight}}, tmp_path / "head_only.pth")
    with pytest.raises(CheckpointError, match="backbone keys are missing"):
        Checkpointer(Tiny(), head_prefixes=HEAD).load(str(tmp_path / "head_only.pth"))
    # a backbone-only file explains its missing head when finetuning ...
    torch.save(
        {"model": {k: v for k, v in src.state_dict().items() if k.startswith("backbone.")}},
        tmp_path / "backbone_only.pth",
    )
    dst = Tiny()
    Checkpointer(dst, head_prefixes=HEAD).load(str(tmp_path / "backbone_only.pth"))
    assert torch.equal(dst.backbone.weight, src.backbone.weight)
    # ... but not at test time
    with pytest.raises(CheckpointError, match="head keys are missing"):
        Checkpointer(Tiny(), head_prefixes=HEAD).load(str(tmp_path / "backbone_only.pth"), purpose="test")
    # a partial head is not explained by anything but --no-head
    partial = dict(src.state_dict())
    del partial["roi_heads.bias"]
    torch.save(partial, tmp_path / "partial.pth")
    with pytest.raises(CheckpointError, match="--no-head"):
        Checkpointer(Tiny(), head_prefixes=HEAD).load(str(tmp_path / "partial.pth"))


class TinyIA(Tiny):
    """Tiny with an add-on module inside its head (like the IA structure in the ROI head)."""

    def __init__(self, classes=3):
        super().__init__(classes)
        self.roi_heads = nn.Sequential(nn.Linear(4, 4), nn.Linear(4, classes))


ADDON = ("roi_heads.0.",)


def test_a_plain_checkpoint_finetunes_a_model_with_an_addon(tmp_path):
    torch.manual_seed(0)
    plain = TinyIA()
    state = {k: v for k, v in plain.state_dict().items() if not k.startswith("roi_heads.0.")}
    torch.save({"model": state}, tmp_path / "plain.pth")
    torch.manual_seed(1)
    dst = TinyIA()
    addon_before = dst.roi_heads[0].weight.clone()
    Checkpointer(dst, head_prefixes=HEAD, addon_prefixes=ADDON).load(str(tmp_path / "plain.pth"), transfer=True)
    assert torch.equal(dst.roi_heads[1].weight, plain.roi_heads[1].weight)  # the rest of the head is loaded
    assert torch.equal(dst.roi_heads[0].weight, addon_before)  # the add-on keeps its initialisation
    # without the declaration the same load is a half-load and fails; so does a checkpoint with part of the add-on
    with pytest.raises(CheckpointError, match="head keys are missing"):
        Checkpointer(TinyIA(), head_prefixes=HEAD).load(str(tmp_path / "plain.pth"), transfer=True)
    torch.save({"model": {**state, "roi_heads.0.weight": plain.roi_heads[0].weight}}, tmp_path / "part.pth")
    with pytest.raises(CheckpointError, match="roi_heads.0.bias"):
        Checkpointer(TinyIA(), head_prefixes=HEAD, addon_prefixes=ADDON).load(str(tmp_path / "part.pth"))
    # and testing a model whose add-on the checkpoint lacks is never allowed
    with pytest.raises(CheckpointError, match="head keys are missing"):
        Checkpointer(TinyIA(), head_prefixes=HEAD, addon_prefixes=ADDON).load(
            str(tmp_path / "plain.pth"), purpose="test"
        )


def test_ddp_compile_prefixes_and_raw_state_dict(tmp_path):
    src = Tiny()
    raw = {f"module._orig_mod.{k}": v for k, v in src.state_dict().items()}
    path = tmp_path / "raw.pth"
    torch.save(raw, path)
    dst = Tiny()
    Checkpointer(dst, head_prefixes=HEAD).load(str(path))
    assert torch.equal(dst.roi_heads.bias, src.roi_heads.bias)
    assert strip_wrappers({"backbone._orig_mod.x": 1}) == {"backbone.x": 1}


def test_no_suffix_matching(tmp_path):
    src = Tiny()
    torch.save(
        {f"extra.{k}": v for k, v in src.state_dict().items()} | {"backbone.weight": src.backbone.weight},
        tmp_path / "x.pth",
    )
    with pytest.raises(CheckpointError) as e:
        Checkpointer(Tiny(), head_prefixes=HEAD).load(str(tmp_path / "x.pth"))
    assert "backbone.bias" in str(e.value)  # "extra.backbone.bias" does not count as "backbone.bias"


def test_match_report_and_grouped_table():
    model_state = {"a.x": torch.zeros(2), "b.y": torch.zeros(3), "h.w": torch.zeros(1)}
    loaded = {"a.x": torch.ones(2), "b.y": torch.ones(4), "c": torch.ones(1), "h.w": torch.ones(1)}
    to_load, report = match_state_dict(model_state, loaded, skip_prefixes=("h.",))
    assert set(to_load) == {"a.x"} and report.loaded == ["a.x"]
    assert report["unexpected"] == ["c"] and report["skipped"] == ["h.w"]
    assert report["shape_mismatch"] == [("b.y", (4,), (3,))]
    assert set(report["missing"]) == {"b.y", "h.w"}
    rows = {line.split()[0]: line.split()[1:] for line in report.table(depth=1).splitlines()[1:]}
    assert rows == {
        "a": ["1", "0", "0", "0", "0"],
        "b": ["0", "1", "0", "1", "0"],
        "c": ["0", "0", "1", "0", "0"],
        "h": ["0", "1", "0", "0", "1"],
    }
    assert strip_prefix({"module.x": 1}) == {"x": 1} and strip_prefix({"module.x": 1, "y": 2}) == {
        "module.x": 1,
        "y": 2,
    }


def test_stale_last_checkpoint_is_explained(tmp_path):
    (tmp_path / "last_checkpoint").write_text("model_gone.pth")
    with pytest.raises(CheckpointError, match="does not exist"):
        Checkpointer(Tiny(), save_dir=str(tmp_path)).last_checkpoint()


class Payload:
    """Stands for any object a checkpoint may pickle (AlphAction's MemoryPool, an exploit)."""


def test_pickled_arbitrary_object_is_refused(tmp_path):
    path = tmp_path / "evil.pth"
    torch.save({"model": Tiny().state_dict(), "person_pool": Payload()}, path)
    with pytest.raises(CheckpointError) as e:
        Checkpointer(Tiny(), head_prefixes=HEAD).load(str(path))
    assert "Payload" in str(e.value) and "arbitrary code" in str(e.value)
    assert not isinstance(e.value, CorruptCheckpointError)


def test_pkl_is_only_read_by_the_converter(tmp_path):
    path = tmp_path / "model.pkl"
    path.write_bytes(pickle.dumps({"blobs": {}}))
    with pytest.raises(CheckpointError, match="convert_checkpoint.py --from caffe2"):
        Checkpointer(Tiny()).load(str(path))


@pytest.mark.parametrize("damage", ["truncate", "garbage", "empty"])
def test_corrupt_checkpoint_is_detected_and_resume_falls_back(tmp_path, damage, caplog):
    model, opt, sched, ck = _setup(tmp_path)
    ck.save("model_0000002", iteration=2)
    good = model.backbone.weight.detach().clone()
    with torch.no_grad():
        model.backbone.weight.add_(1.0)
    newest = ck.save("model_0000004", iteration=4)
    data = open(newest, "rb").read()
    open(newest, "wb").write(
        {"truncate": data[: len(data) // 2], "garbage": b"not a checkpoint" * 8, "empty": b""}[damage]
    )
    with pytest.raises(CorruptCheckpointError, match="truncated or corrupt"):
        Checkpointer(Tiny(), head_prefixes=HEAD).load(newest)
    model2, _, _, ck2 = _setup(tmp_path)
    with caplog.at_level(logging.INFO, logger="alphaction.checkpoint.checkpointer"):
        extras = ck2.resume_or_load("")
    assert extras["iteration"] == 2 and torch.equal(model2.backbone.weight, good)
    assert "model_0000004.pth is truncated or corrupt" in caplog.text
    assert "after falling back" in caplog.text
    assert (tmp_path / "last_checkpoint").read_text() == "model_0000002.pth"


def test_keep_last_k_periodic_checkpoints(tmp_path):
    _, _, _, ck = _setup(tmp_path, keep_last=2)
    for it in (2, 4, 6, 8):
        ck.save(f"model_{it:07d}", iteration=it)
    ck.save("model_final", iteration=9)
    assert sorted(os.listdir(tmp_path)) == [
        "last_checkpoint",
        "model_0000006.pth",
        "model_0000008.pth",
        "model_final.pth",
    ]


def test_adjust_lr_keeps_iteration_and_rebuilds_the_schedule(tmp_path):
    from alphaction.solver.lr_scheduler import WarmupMultiStepLR

    model = Tiny()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    sched = WarmupMultiStepLR(opt, steps=(5,), gamma=0.1, warmup_iters=0)
    ck = Checkpointer(model, opt, sched, str(tmp_path), head_prefixes=HEAD)
    for _ in range(4):
        opt.step()
        sched.step()
    ck.save("model_0000004", iteration=4)
    # new settings: base lr 2.0, step at 3 -> at iteration 4 the lr must be 2.0 * 0.1
    model2 = Tiny()
    opt2 = torch.optim.SGD(model2.parameters(), lr=2.0)
    sched2 = WarmupMultiStepLR(opt2, steps=(3,), gamma=0.1, warmup_iters=0)
    ck2 = Checkpointer(model2, opt2, sched2, str(tmp_path), head_prefixes=HEAD)
    extras = ck2.resume_or_load("", adjust_lr=True)
    assert extras["iteration"] == 4 and sched2.last_epoch == 4
    assert opt2.param_groups[0]["lr"] == pytest.approx(0.2)
    opt2.step()
    sched2.step()
    assert opt2.param_groups[0]["lr"] == pytest.approx(0.2) and sched2.last_epoch == 5
    # without --adjust-lr, changed settings apply too (the recovery after a NaN: rerun with a lower BASE_LR)
    model3 = Tiny()
    opt3 = torch.optim.SGD(model3.parameters(), lr=2.0)
    sched3 = WarmupMultiStepLR(opt3, steps=(3,), gamma=0.1, warmup_iters=0)
    Checkpointer(model3, opt3, sched3, str(tmp_path), head_prefixes=HEAD).resume_or_load("")
    assert sched3.steps == [3] and sched3.last_epoch == 4
    assert opt3.param_groups[0]["lr"] == pytest.approx(0.2)
    # unchanged settings: the saved schedule state comes back as it was (base lr 0.1, step at 5, lr 0.1)
    model4 = Tiny()
    opt4 = torch.optim.SGD(model4.parameters(), lr=0.1)
    sched4 = WarmupMultiStepLR(opt4, steps=(5,), gamma=0.1, warmup_iters=0)
    Checkpointer(model4, opt4, sched4, str(tmp_path), head_prefixes=HEAD).resume_or_load("")
    assert sched4.steps == [5] and sched4.last_epoch == 4 and sched4.state_dict() == sched.state_dict()
    assert opt4.param_groups[0]["lr"] == pytest.approx(0.1)


# --- Caffe2 .pkl -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "c2, ours",
    [  # expectations written by hand from PySlowFast's c2_model_loading comments
        ("conv1_w", "s1.pathway0_stem.conv.weight"),
        ("res_conv1_bn_riv", "s1.pathway0_stem.bn.running_var"),
        ("t_conv1_w", "s1.pathway1_stem.conv.weight"),
        ("t_res_conv1_bn_s", "s1.pathway1_stem.bn.weight"),
        ("res4_4_branch2c_bn_s", "s4.pathway0_res4.branch2.c_bn.weight"),
        ("res4_0_branch1_w", "s4.pathway0_res0.branch1.weight"),
        ("t_res2_0_branch1_bn_b", "s2.pathway1_res0.branch1_bn.bias"),
        ("t_res3_1_branch2a_w", "s3.pathway1_res1.branch2.a.weight"),
        ("t_pool1_subsample_w", "s1_fuse.conv_f2s.weight"),
        ("t_pool1_subsample_bn_rm", "s1_fuse.bn.running_mean"),
        ("t_res4_5_branch2c_bn_subsample_bn_rm", "s4_fuse.bn.running_mean"),
        ("t_res2_2_branch2c_bn_subsample_w", "s2_fuse.conv_f2s.weight"),
        ("pred_b", "head.projection.bias"),
    ],
)
def test_caffe2_names(c2, ours):
    assert caffe2_to_pyslowfast_name(c2) == ours


def test_caffe2_blobs_convert_to_our_names():
    blobs = {
        "conv1_w": np.ones((4, 3, 1, 7, 7), np.float32),
        "t_conv1_w": np.ones((1, 3, 5, 7, 7), np.float32),
        "t_pool1_subsample_w": np.ones((2, 1, 7, 1, 1), np.float32),
        "res4_0_branch2a_bn_s": np.ones(3, np.float32),
        "conv1_w_momentum": np.ones(1, np.float32),
        "model_iter": np.array(5),
        "pred_w": np.ones((400, 20), np.float32),
    }
    conv = convert_caffe2(blobs)
    assert set(conv.state) == {
        "backbone.slow.conv1.weight",
        "backbone.fast.conv1.weight",
        "backbone.fast.Tconv1.conv.weight",
        "backbone.slow.res_nl3.res_0.btnk.conv1.bn.weight",
    }
    assert conv.backbone_config["LATERAL_KERNEL"] == 7
    dropped = {s for s, d, _ in conv.table if d == "-"}
    assert dropped == {"conv1_w_momentum", "model_iter", "pred_w"}


def test_caffe2_pkl_reads_numpy_and_refuses_other_globals(tmp_path):
    ok = tmp_path / "ok.pkl"
    ok.write_bytes(pickle.dumps({"blobs": {"conv1_w": np.arange(6, dtype=np.float32).reshape(2, 3)}}, protocol=2))
    blobs = load_caffe2_pkl(str(ok))
    assert np.array_equal(blobs["conv1_w"], np.arange(6, dtype=np.float32).reshape(2, 3))

    class Exploit:
        def __reduce__(self):
            return (os.system, ("echo pwned",))

    bad = tmp_path / "bad.pkl"
    bad.write_bytes(pickle.dumps({"blobs": {"x": Exploit()}}, protocol=2))
    with pytest.raises(pickle.UnpicklingError, match="refusing to load global"):
        load_caffe2_pkl(str(bad))


def test_mmaction2_refuses_what_does_not_fit():
    base = {"backbone.slow_path.conv1.conv.weight": torch.zeros(1)}
    with pytest.raises(ConversionError, match="non-local"):
        convert_mmaction2(base | {"backbone.slow_path.layer2.1.non_local_block.g.conv.weight": torch.zeros(1)})
    with pytest.raises(ConversionError, match="BasicBlock"):
        convert_mmaction2(base | {"backbone.slow_path.layer1.0.conv2.conv.weight": torch.zeros(1)})
    with pytest.raises(ConversionError, match="fast pathway"):
        convert_mmaction2(base | {"backbone.fast_path.conv1_lateral.conv.weight": torch.zeros(1)})


def test_failed_save_keeps_the_previous_checkpoint_and_says_so(tmp_path, monkeypatch):
    model, opt, sched, ck = _setup(tmp_path)
    ck.save("model_0000001", iteration=1)

    def disk_full(obj, f, *args, **kwargs):
        f.write(b"partial")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(torch, "save", disk_full)
    with pytest.raises(CheckpointError) as e:
        ck.save("model_0000002", iteration=2)
    msg = str(e.value)
    assert "No space left on device" in msg and "model_0000001.pth" in msg and "rerun" in msg
    assert not (tmp_path / "model_0000002.pth.tmp").exists() and not (tmp_path / "model_0000002.pth").exists()
    assert (tmp_path / "last_checkpoint").read_text() == "model_0000001.pth"
    monkeypatch.undo()
    assert torch.load(tmp_path / "model_0000001.pth", weights_only=True)["iteration"] == 1


def test_loaded_info_keeps_the_files_extras_without_weights_or_optimizer(tmp_path):
    model, opt, sched, ck = _setup(tmp_path)
    path = ck.save("model_0000003", iteration=3, class_names=["a", "b", "c"])
    _, _, _, ck2 = _setup(tmp_path)
    assert ck2.loaded_info == {}
    ck2.load(path, transfer=True, purpose="test")
    assert ck2.loaded_info["class_names"] == ["a", "b", "c"] and ck2.loaded_info["iteration"] == 3
    assert not {"model", "optimizer", "scheduler"} & set(ck2.loaded_info)
