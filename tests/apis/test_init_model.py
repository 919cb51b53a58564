"""init_model(): class names saved with the checkpoint, loud loading, config as a path or a CfgNode."""

from __future__ import annotations

import argparse
import logging
import os

import pytest
import torch

from alphaction.apis import init_model
from alphaction.checkpoint import CheckpointError
from alphaction.config import get_cfg
from alphaction.engine.defaults import REPO_ROOT

CLIPS_CFG = os.path.join(REPO_ROOT, "config_files", "classification", "synthetic_clips_tiny_quick.yaml")
DETECTION_CFG = os.path.join(REPO_ROOT, "config_files", "quick_schedules", "synthetic_tiny_r14.yaml")


def _class_index_by_hand(data_root) -> list[str]:
    lines = (data_root / "synthetic" / "clips_tiny" / "class_index.txt").read_text().splitlines()
    pairs = [line.split(" ", 1) for line in lines if line.strip()]
    assert [int(i) for i, _ in pairs] == list(range(len(pairs)))
    return [name for _, name in pairs]


def _labelmap_by_hand(data_root) -> dict[int, str]:
    text = (data_root / "synthetic" / "tiny" / "annotations" / "action_list.pbtxt").read_text()
    names = [line.split('"')[1] for line in text.splitlines() if line.strip().startswith("name:")]
    ids = [int(line.split(":")[1]) for line in text.splitlines() if line.strip().startswith("id:")]
    return dict(zip(ids, names))


def _no_datasets(config: str):
    cfg = get_cfg()
    cfg.merge_from_file(config)
    cfg.DATASETS.TRAIN = ()
    cfg.DATASETS.TEST = ()
    return cfg


def test_classifier_names_come_from_the_checkpoint_when_the_config_names_none(classifier_checkpoint, api_data):
    want = _class_index_by_hand(api_data)
    assert len(want) == 8 and want[0] == "stand"
    saved = torch.load(classifier_checkpoint, weights_only=True)["class_names"]
    assert saved == want
    model = init_model(_no_datasets(CLIPS_CFG), classifier_checkpoint)
    assert model.class_names == want and model.is_classifier and not model.module.training


def test_detector_names_come_from_the_checkpoint_when_the_config_names_none(detector_checkpoint, api_data):
    labelmap = _labelmap_by_hand(api_data)
    model = init_model(_no_datasets(DETECTION_CFG), detector_checkpoint)
    # output c is action id c + 1
    assert model.class_names == [labelmap[c + 1] for c in range(len(model.class_names))]
    assert len(model.class_names) == len(labelmap) == 12 and not model.is_classifier


def test_names_from_the_config_or_numbers_for_a_bare_state_dict(classifier_checkpoint, api_data, tmp_path, caplog):
    bare = tmp_path / "bare.pth"
    torch.save({"model": torch.load(classifier_checkpoint, weights_only=True)["model"]}, bare)
    # the config's datasets name the classes (their files exist under ALPHACTION_DATA)
    assert init_model(CLIPS_CFG, str(bare)).class_names == _class_index_by_hand(api_data)
    with caplog.at_level(logging.WARNING, logger="alphaction.apis.predict"):
        numbered = init_model(_no_datasets(CLIPS_CFG), str(bare))
    assert numbered.class_names == [str(c) for c in range(8)]
    assert "named by number" in caplog.text
    given = [f"c{i}" for i in range(8)]
    assert init_model(CLIPS_CFG, str(bare), class_names=given).class_names == given
    with pytest.raises(ValueError, match="3 names, the model has 8 outputs"):
        init_model(CLIPS_CFG, str(bare), class_names=["a", "b", "c"])


def test_missing_keys_fail_and_unexpected_keys_are_named(classifier_checkpoint, detector_checkpoint, tmp_path, caplog):
    state = torch.load(classifier_checkpoint, weights_only=True)
    weights = dict(state["model"])
    del weights["head.proj.bias"]
    torch.save({"model": weights}, tmp_path / "no_bias.pth")
    with pytest.raises(CheckpointError, match=r"head\.proj\.bias"):
        init_model(CLIPS_CFG, str(tmp_path / "no_bias.pth"))

    weights = dict(state["model"], **{"extra.scale": torch.ones(1)})
    torch.save({"model": weights, "class_names": state["class_names"]}, tmp_path / "extra.pth")
    with caplog.at_level(logging.WARNING):
        model = init_model(CLIPS_CFG, str(tmp_path / "extra.pth"))
    assert "extra.scale" in caplog.text
    assert model.report.unexpected == ["extra.scale"] and not model.report.missing

    # a detector checkpoint is not a classifier: the head keys are missing, named in the error
    with pytest.raises(CheckpointError, match=r"head keys are missing: head\.proj"):
        init_model(CLIPS_CFG, detector_checkpoint)


def test_weights_only_loading_refuses_pickled_objects(tmp_path):
    path = tmp_path / "evil.pth"
    torch.save({"model": {}, "args": argparse.Namespace(lr=0.1)}, path)
    with pytest.raises(CheckpointError, match="weights_only"):
        init_model(CLIPS_CFG, str(path))


def test_config_errors_and_devices(classifier_checkpoint, tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.yaml"):
        init_model(str(tmp_path / "nope.yaml"), classifier_checkpoint)
    if not torch.cuda.is_available():
        with pytest.raises(RuntimeError, match="no CUDA device"):
            init_model(CLIPS_CFG, classifier_checkpoint, device="cuda")
    cfg = get_cfg()
    cfg.merge_from_file(CLIPS_CFG)
    from_node = init_model(cfg, classifier_checkpoint, overrides=["INPUT.NUM_CLIPS_TEST", "1"])
    assert from_node.cfg.INPUT.NUM_CLIPS_TEST == 1 and cfg.INPUT.NUM_CLIPS_TEST == 2  # the caller's node untouched
    assert from_node.cfg.is_frozen() and os.path.isfile(classifier_checkpoint)
