"""The head-only probe (projects/ia_head_probe: head_probe.py, probe_ia_head.py) on hand-built features."""

from __future__ import annotations

import json
import math
import os

import numpy as np
import pytest
import torch

from alphaction.config import get_cfg
from alphaction.engine.defaults import REPO_ROOT
from alphaction.engine.ia_memory import memory_settings
from alphaction.modeling import build_model
from alphaction.modeling.ia.blocks import InteractionBlock
from alphaction.modeling.ia.inputs import ClipLayout
from alphaction.utils.errors import UserError
from projects.ia_head_probe.head_probe import FeatureSet, evaluate_head, identity_retrieval, memory_attention

QUICK = os.path.join(REPO_ROOT, "config_files", "quick_schedules", "synthetic_tiny_r14.yaml")
QUICK_IA = os.path.join(REPO_ROOT, "config_files", "quick_schedules", "synthetic_tiny_r14_ia.yaml")


def _feature_set(clips, dim, num_classes=12, seed=0):
    """clips: (video, second, person ids, {person id: [class indices]}) -> FeatureSet with random features."""
    g = torch.Generator().manual_seed(seed)
    fs = FeatureSet([], [], [], None, [], [], [])
    for video, second, ids, classes in clips:
        fs.video_ids.append(video)
        fs.timestamps.append(second)
        fs.persons.append(torch.rand(len(ids), dim, generator=g))
        labels = torch.zeros(len(ids), num_classes)
        for row, pid in enumerate(ids):
            labels[row, classes.get(pid, [0])] = 1.0
        fs.labels.append(labels)
        fs.person_ids.append(np.asarray(ids, dtype=np.int64))
        fs.boxes.append(np.array([[0.1 * k, 0.1, 0.1 * k + 0.08, 0.5] for k in range(len(ids))]))
    return fs


@pytest.mark.parametrize("qk_norm", [False, True])
def test_attention_weights_are_the_forward_softmax(qk_norm):
    torch.manual_seed(0)
    block = InteractionBlock(
        6, 6, 6, 4, init_std=0.5, zero_init_out=False, layer_norm=True, num_time_slots=2, qk_norm=qk_norm
    )
    torch.nn.init.normal_(block.temporal_position_k, std=0.5)
    layout = ClipLayout([2, 1])
    query, others = torch.randn(3, 6), torch.randn(2, 4, 6)
    mask = torch.tensor([[True, True, False, True], [True, False, False, False]])
    weights = block.attention_weights(query, others, mask, layout).double()
    assert weights.shape == (3, 4)
    # by hand in float64: projections, per-slot key embedding, optional standardisation, masked softmax
    W = {n: (getattr(block, n).weight.flatten(1).double(), getattr(block, n).bias.double()) for n in ("query", "key")}
    clip_of = [0, 0, 1]
    for row in range(3):
        q = W["query"][0] @ query[row].double() + W["query"][1]
        logits = []
        for s in range(4):
            k = W["key"][0] @ others[clip_of[row], s].double() + W["key"][1]
            k = k + block.temporal_position_k[s // 2].flatten().double()
            if qk_norm:
                q_n = (q - q.mean()) / torch.sqrt(q.var(unbiased=False) + 1e-5)
                k = (k - k.mean()) / torch.sqrt(k.var(unbiased=False) + 1e-5)
            else:
                q_n = q
            logits.append(float((q_n @ k).detach()) / 2.0 if mask[clip_of[row], s] else -math.inf)
        expected = torch.tensor(logits, dtype=torch.float64).softmax(0)
        torch.testing.assert_close(weights[row], expected, atol=1e-5, rtol=1e-5)
    # and the forward output is those weights applied to the values
    _, _, v = block._project(query, others, layout)
    attended = torch.stack([weights[r].float() @ v[clip_of[r]] for r in range(3)])
    expected_out = block.shortcut(query) if block.shortcut is not None else query
    expected_out = expected_out + block.out(torch.relu(torch.nn.functional.layer_norm(attended, (4,))))
    block.eval()
    torch.testing.assert_close(block(query, others, mask, layout), expected_out, atol=1e-5, rtol=1e-5)


def test_identity_retrieval_by_hand():
    # persons 7, 8, 9 keep their feature direction over seconds 1-3 of video "a"; in video "b" second 2 swaps
    # the features of persons 1 and 2 (nearest is then the wrong person for both)
    base = torch.eye(4)[:3] * 5
    fs = FeatureSet([], [], [], None, [], [], [])
    for video, second, ids, rows in (
        ("a", 1, [7, 8, 9], [0, 1, 2]),
        ("a", 2, [9, 7, 8], [2, 0, 1]),
        ("a", 3, [8, 9], [1, 2]),
        ("b", 1, [1, 2], [0, 1]),
        ("b", 2, [1, 2], [1, 0]),
    ):
        fs.video_ids.append(video)
        fs.timestamps.append(second)
        fs.persons.append(base[rows] + 0.01 * torch.arange(len(rows))[:, None])
        fs.labels.append(torch.zeros(len(ids), 2))
        fs.person_ids.append(np.asarray(ids))
        fs.boxes.append(np.zeros((len(ids), 4)))
    out = identity_retrieval(fs, offsets=(1, 2))
    # d=1: a2 <- a1 (3 queries, all right, chance 1/3 each), a3 <- a2 (2 right, chance 1/3), b2 <- b1 (2 wrong, 1/2)
    assert out[1]["queries"] == 7
    assert out[1]["top1"] == pytest.approx(5 / 7)
    assert out[1]["chance"] == pytest.approx((5 * (1 / 3) + 2 * 0.5) / 7)
    # d=2: a3 <- a1 (2 queries, right)
    assert out[2] == {"queries": 2, "top1": 1.0, "chance": pytest.approx(1 / 3)}


def test_memory_attention_is_uniform_without_queries_and_keys():
    cfg = get_cfg()
    cfg.merge_from_file(QUICK_IA)
    cfg.MODEL.IA_STRUCTURE.ACTIVE = True
    model = build_model(cfg)
    head = model.roi_heads["action"]
    ia = head.feature_extractor.ia_structure
    for name, module in ia.named_children():
        if name.startswith("M_block"):
            for proj in (module.query, module.key):
                torch.nn.init.zeros_(proj.weight)
                torch.nn.init.zeros_(proj.bias)
    settings = memory_settings(cfg)
    assert settings.length == (2, 2)
    rest = 11
    clips = [("v", t, [0, 1], {0: [0, rest]} if t == 5 else {}) for t in range(1, 6)]
    fs = _feature_set(clips, dim=cfg.MODEL.IA_STRUCTURE.DIM_IN)
    fs.objects = [torch.zeros(0, cfg.MODEL.IA_STRUCTURE.DIM_IN) for _ in clips]
    out = memory_attention(head, fs, settings, rest, past=(2,))
    # the rest box (person 0 at t=5) sees t=3, t=4 (2 persons each) and its own second (2): 6 entries, one of
    # them its own entry 2 s earlier
    assert set(out) == {"M_block_1", "M_block_2"}
    for v in out.values():
        assert v["boxes"] == 1
        assert v["uniform_own_past"] == pytest.approx(1 / 6)
        assert v["own_past"] == pytest.approx(1 / 6, abs=1e-6)


class _FixedHead:
    """A stand-in head whose probabilities are given per clip."""

    def __init__(self, probs):
        self.probs = probs

    def eval(self):
        return self

    def predict_from_features(self, pooled, memory=None):
        return [self.probs[id(p)] for p in pooled.persons]


def test_evaluate_head_box_level_ap(tmp_path):
    gt = tmp_path / "gt.csv"
    # clip (v, 1): box A class 1 and 2; box B class 1. clip (v, 2): box C class 2.
    gt.write_text(
        "v,0001,0.000,0.100,0.080,0.500,1,0\nv,0001,0.000,0.100,0.080,0.500,2,0\n"
        "v,0001,0.100,0.100,0.180,0.500,1,1\nv,0002,0.000,0.100,0.080,0.500,2,0\n"
    )
    labelmap = tmp_path / "lm.pbtxt"
    labelmap.write_text('item {\n  name: "a"\n  id: 1\n}\nitem {\n  name: "b"\n  id: 2\n}\n')
    fs = _feature_set([("v", 1, [0, 1], {}), ("v", 2, [0], {})], dim=4, num_classes=2)
    # class 1: A 0.9, B 0.8 -> both right, AP 1. class 2: B (wrong) 0.7 ranks above A 0.6 and C 0.5: precision
    # 1/2 at recall 1/2 and 2/3 at recall 1; the VOC envelope (max precision at a higher recall) makes both 2/3
    probs = {id(fs.persons[0]): torch.tensor([[0.9, 0.6], [0.8, 0.7]]), id(fs.persons[1]): torch.tensor([[0.1, 0.5]])}
    res = evaluate_head(_FixedHead(probs), fs, {"csv_gt_file": str(gt), "labelmap_file": str(labelmap)})
    assert res["per_class"][1] == pytest.approx(1.0)
    assert res["per_class"][2] == pytest.approx(2 / 3)


def _tiny_baseline(tiny_data, tmp_path, monkeypatch) -> str:
    """A freshly initialised baseline detector of the tiny config, saved as ``tmp_path/baseline.pth``."""
    from alphaction.checkpoint import Checkpointer

    monkeypatch.setenv("ALPHACTION_DATA", tiny_data)
    cfg = get_cfg()
    cfg.merge_from_file(QUICK)
    torch.manual_seed(0)
    return Checkpointer(build_model(cfg), save_dir=str(tmp_path)).save("baseline")


def test_probe_tool_on_tiny_data(tiny_data, tmp_path, monkeypatch):
    from projects.ia_head_probe import probe_ia_head

    weight = _tiny_baseline(tiny_data, tmp_path, monkeypatch)
    out = tmp_path / "probe.json"
    args = [
        "--config-file",
        QUICK_IA,
        "--weight",
        weight,
        "--train-dataset",
        "synthetic_tiny_train",
        "--test-dataset",
        "synthetic_tiny_val",
        "--steps",
        "3",
        "--clips-per-step",
        "2",
        "--output",
        str(out),
        "DATALOADER.NUM_WORKERS",
        "0",
    ]
    assert probe_ia_head.main(args) == 0
    report = json.loads(out.read_text())
    assert set(report["results"]) == {"start", "trained", "trained, memory off"}
    assert {"all", "pose", "memory", "rest"} <= set(report["results"]["trained"])
    assert set(report["memory_attention"]) == {"M_block_1", "M_block_2"}
    assert set(report["identity_retrieval"]) == {"1", "2", "3", "4"}
    cache = os.path.join(tmp_path, "probe_features_baseline")
    assert sorted(os.listdir(cache)) == ["synthetic_tiny_train_objects.pth", "synthetic_tiny_val_objects.pth"]
    # the baseline config: the same head-only training without IA (no memory columns), from the same cache
    base_out = tmp_path / "base.json"
    base_args = ["--config-file", QUICK] + args[2:]
    base_args[base_args.index(str(out))] = str(base_out)
    assert probe_ia_head.main(base_args) == 0
    assert sorted(os.listdir(cache)) == [
        "synthetic_tiny_train.pth",
        "synthetic_tiny_train_objects.pth",
        "synthetic_tiny_val.pth",
        "synthetic_tiny_val_objects.pth",
    ]
    base = json.loads(base_out.read_text())
    assert "memory_attention" not in base and set(base["results"]) == {"start", "trained"}


def test_probe_tool_saves_a_testable_detector(tiny_data, tmp_path, monkeypatch):
    from alphaction.checkpoint import Checkpointer
    from alphaction.checkpoint.checkpointer import read_checkpoint
    from projects.ia_head_probe import probe_ia_head

    weight = _tiny_baseline(tiny_data, tmp_path, monkeypatch)
    start = read_checkpoint(weight)["model"]
    save_dir = tmp_path / "head_ia"
    args = [
        "--config-file",
        QUICK_IA,
        "--weight",
        weight,
        "--train-dataset",
        "synthetic_tiny_train",
        "--test-dataset",
        "synthetic_tiny_val",
        "--steps",
        "3",
        "--clips-per-step",
        "2",
        "--save-dir",
        str(save_dir),
        "DATALOADER.NUM_WORKERS",
        "0",
    ]
    assert probe_ia_head.main(args) == 0
    saved = read_checkpoint(str(save_dir / "model_final.pth"))
    assert saved["class_names"][0] == "stand"
    # the backbone is the loaded one, to the bit; the head has trained; the IA structure is new
    backbone = [k for k in start if k.startswith("backbone.")]
    assert backbone and all(torch.equal(saved["model"][k], start[k]) for k in backbone)
    head = [k for k in start if k.startswith("roi_heads.") and start[k].is_floating_point()]
    assert any(not torch.equal(saved["model"][k], start[k]) for k in head)
    assert any(k not in start for k in saved["model"])
    # the written config builds the same detector, which loads the file with nothing missing or left over
    ia_cfg = get_cfg()
    ia_cfg.merge_from_file(str(save_dir / "config.yaml"))
    model = build_model(ia_cfg)
    checkpointer = Checkpointer(model)
    checkpointer.load(str(save_dir / "model_final.pth"), purpose="test")
    assert set(model.state_dict()) == set(saved["model"])
    with pytest.raises(UserError, match="identity-signal"):
        probe_ia_head.main(["--identity-signal", "0.3"] + args)


def test_identity_signal_marks_each_person():
    fs = _feature_set([("v", 1, [3, 4, -1], {}), ("v", 2, [4, 3], {}), ("w", 1, [3, 4], {})], dim=16)
    mean_norm = float(torch.cat(fs.persons).norm(dim=1).mean())
    marked = fs.with_identity_signal(0.5, seed=1)
    added = [m - p for m, p in zip(marked.persons, fs.persons)]
    # one fixed vector per (video, person id), of norm 0.5 x the mean row norm; rows without an id unchanged
    torch.testing.assert_close(added[0][0], added[1][1])
    torch.testing.assert_close(added[0][1], added[1][0])
    assert not torch.allclose(added[0][0], added[2][0])  # person 3 of another video is another person
    for row in (added[0][0], added[0][1], added[2][1]):
        assert float(row.norm()) == pytest.approx(0.5 * mean_norm, rel=1e-5)
    assert float(added[0][2].abs().max()) == 0.0
    assert marked.labels is fs.labels and marked.person_ids is fs.person_ids
    # a strong signal makes every person the nearest to itself one second later
    assert identity_retrieval(fs.with_identity_signal(20.0), offsets=(1,))[1]["top1"] == 1.0
