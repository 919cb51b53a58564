"""Checkpoints that cannot be used as asked: one error block naming the file (or MODEL.WEIGHT / OUTPUT_DIR) and
the real fix for the command at hand; unsafe files never run; a run folder is left as it was."""

from __future__ import annotations

import os
import pickle

import pytest
import torch
from fault_helpers import QUICK, assert_clear, fingerprint

import test_net
import train_net
from alphaction.config import get_cfg
from alphaction.modeling import build_model

SIX_CLASSES = [
    "MODEL.ROI_ACTION_HEAD.NUM_CLASSES",
    "6",
    "MODEL.ROI_ACTION_HEAD.NUM_PERSON_MOVEMENT_CLASSES",
    "3",
    "MODEL.ROI_ACTION_HEAD.NUM_OBJECT_MANIPULATION_CLASSES",
    "2",
    "MODEL.ROI_ACTION_HEAD.NUM_PERSON_INTERACTION_CLASSES",
    "1",
]


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    """The quick config's model weights, as a {"model": ...} checkpoint."""
    cfg = get_cfg()
    cfg.merge_from_file(QUICK)
    path = tmp_path_factory.mktemp("weights") / "quick.pth"
    torch.save({"model": build_model(cfg).state_dict()}, path)
    return path


class _RunsCode:
    """Unpickling this creates a marker file: proof that loading would have run code."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_missing_weights_name_model_weight(command, tmp_path):
    status, err = command(
        test_net.main, ["--config-file", QUICK, "MODEL.WEIGHT", tmp_path / "nope.pth", "OUTPUT_DIR", tmp_path / "out"]
    )
    assert_clear(status, err, "nope.pth", "MODEL.WEIGHT")


def test_truncated_checkpoint(command, tmp_path, weights):
    broken = tmp_path / "broken.pth"
    data = weights.read_bytes()
    broken.write_bytes(data[: len(data) // 3])
    status, err = command(test_net.main, ["--config-file", QUICK, "MODEL.WEIGHT", broken, "OUTPUT_DIR", tmp_path])
    assert_clear(status, err, "broken.pth", "truncated or corrupt")


@pytest.mark.parametrize("form", ["torch.save", "raw pickle"])
def test_a_file_that_would_run_code_is_refused_for_safety(command, tmp_path, form):
    marker = tmp_path / "code_ran"
    evil = tmp_path / "evil.pth"
    payload = {"model": {}, "extra": _RunsCode(str(marker))}
    if form == "torch.save":
        torch.save(payload, evil)
    else:
        evil.write_bytes(pickle.dumps(payload, protocol=4))
    status, err = command(test_net.main, ["--config-file", QUICK, "MODEL.WEIGHT", evil, "OUTPUT_DIR", tmp_path])
    assert_clear(status, err, "evil.pth", "refused for safety", "weights_only=False")
    assert not marker.exists()


def test_finetune_to_other_classes_without_no_head_says_no_head(command, tmp_path, tiny_data, weights, monkeypatch):
    monkeypatch.setenv("ALPHACTION_DATA", tiny_data)
    status, err = command(
        train_net.main,
        ["--config-file", QUICK, "--transfer", "MODEL.WEIGHT", weights, *SIX_CLASSES, "OUTPUT_DIR", tmp_path / "out"],
    )
    assert_clear(status, err, "quick.pth", "wrong shape", "--no-head")


def test_testing_with_another_class_count_does_not_suggest_a_training_flag(command, tmp_path, weights):
    status, err = command(
        test_net.main, ["--config-file", QUICK, "MODEL.WEIGHT", weights, *SIX_CLASSES, "OUTPUT_DIR", tmp_path]
    )
    assert_clear(status, err, "quick.pth", "config")
    assert "--no-head" not in err


def test_another_backbone_width_blames_the_config_not_a_conversion(command, tmp_path, weights):
    status, err = command(
        test_net.main,
        ["--config-file", QUICK, "MODEL.WEIGHT", weights, "MODEL.BACKBONE.WIDTH_MULT", "0.5", "OUTPUT_DIR", tmp_path],
    )
    assert_clear(status, err, "quick.pth", "wrong shape", "the config the checkpoint was trained with")
    assert "convert" not in err.split("\nfix: ")[1]


def test_resuming_a_run_of_another_model_says_use_another_output_dir(command, tmp_path, tiny_data, monkeypatch):
    monkeypatch.setenv("ALPHACTION_DATA", tiny_data)
    out = tmp_path / "run"
    train_net.main(
        [
            "--config-file",
            QUICK,
            "--skip-val-in-train",
            "--skip-final-test",
            "SOLVER.MAX_ITER",
            "3",
            "SOLVER.CHECKPOINT_PERIOD",
            "1",
            "OUTPUT_DIR",
            str(out),
        ]
    )
    os.remove(out / "model_final.pth")  # an interrupted run: last_checkpoint names model_0000002.pth
    (out / "last_checkpoint").write_text("model_0000002.pth")
    before = fingerprint(out)
    status, err = command(train_net.main, ["--config-file", QUICK, *SIX_CLASSES, "OUTPUT_DIR", out])
    assert_clear(status, err, "model_0000002.pth", "another OUTPUT_DIR", "last_checkpoint")
    assert "--no-head" not in err
    after = fingerprint(out)  # the run's checkpoints and its config.yaml as they were; only the log grew
    assert {k: v for k, v in after.items() if k != "log.txt"} == {k: v for k, v in before.items() if k != "log.txt"}
