from __future__ import annotations

import pathlib

import pytest

from alphaction.config import ConfigError, get_cfg

CONFIG_DIR = pathlib.Path(__file__).resolve().parents[2] / "config_files"
CONFIG_FILES = sorted(CONFIG_DIR.rglob("*.yaml"))


def test_there_are_config_files():
    names = {p.name for p in CONFIG_FILES}
    assert {"resnet50_4x16f_baseline.yaml", "resnet101_8x8f_baseline.yaml"} <= names


@pytest.mark.parametrize("path", CONFIG_FILES, ids=lambda p: str(p.relative_to(CONFIG_DIR)))
def test_every_config_file_loads(path):
    cfg = get_cfg()
    cfg.merge_from_file(str(path))
    cfg.freeze()
    assert cfg.OUTPUT_DIR != "."  # every shipped config says where its outputs go


def test_get_cfg_returns_independent_clones():
    a, b = get_cfg(), get_cfg()
    a.SOLVER.BASE_LR = 123.0
    assert b.SOLVER.BASE_LR == 0.02


def test_alphaction_published_settings():
    cfg = get_cfg()
    cfg.merge_from_file(str(CONFIG_DIR / "resnet101_8x8f_baseline.yaml"))
    # R101 inherits everything else from the R50 file through _BASE_
    assert cfg.MODEL.BACKBONE.CONV_BODY == "Slowfast-Resnet101"
    assert (cfg.INPUT.TAU, cfg.INPUT.ALPHA, cfg.INPUT.FRAME_NUM, cfg.INPUT.FRAME_SAMPLE_RATE) == (8, 4, 64, 1)
    assert cfg.MODEL.BACKBONE.FROZEN_BN is True
    assert cfg.SOLVER.BASE_LR == pytest.approx(0.0004)
    assert tuple(cfg.SOLVER.STEPS) == (50000, 70000) and cfg.SOLVER.MAX_ITER == 90000
    assert (cfg.SOLVER.WARMUP_ITERS, cfg.SOLVER.WARMUP_FACTOR) == (2000, 0.25)
    assert cfg.SOLVER.VIDEOS_PER_BATCH == 16


def test_base_inheritance_and_override(tmp_path):
    (tmp_path / "base.yaml").write_text("SOLVER:\n  BASE_LR: 0.5\n  MAX_ITER: 10\n")
    (tmp_path / "child.yaml").write_text("_BASE_: base.yaml\nSOLVER:\n  MAX_ITER: 20\n")
    cfg = get_cfg()
    cfg.merge_from_file(str(tmp_path / "child.yaml"))
    assert cfg.SOLVER.BASE_LR == 0.5 and cfg.SOLVER.MAX_ITER == 20


def test_command_line_overrides_as_in_the_guides():
    cfg = get_cfg()
    cfg.merge_from_list(["SOLVER.BASE_LR", "0.0001", "SOLVER.STEPS", "(560000, 720000)"])
    assert cfg.SOLVER.BASE_LR == 0.0001 and tuple(cfg.SOLVER.STEPS) == (560000, 720000)


def test_unknown_key_in_file_names_key_file_and_suggestion(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("SOLVER:\n  BASE_LRR: 0.1\n")
    with pytest.raises(ConfigError) as e:
        get_cfg().merge_from_file(str(bad))
    msg = str(e.value)
    assert "SOLVER.BASE_LRR" in msg and str(bad) in msg and "SOLVER.BASE_LR" in msg


def test_unknown_key_on_command_line():
    with pytest.raises(ConfigError, match="MODEL.ROI_ACTION_HEAD.NUM_CLASSES"):
        get_cfg().merge_from_list(["MODEL.ROI_ACTION_HEAD.NUM_CLASS", "10"])


def test_odd_override_list_fails():
    with pytest.raises(ConfigError, match="KEY VALUE"):
        get_cfg().merge_from_list(["SOLVER.BASE_LR"])


def test_base_cycle_is_reported(tmp_path):
    (tmp_path / "a.yaml").write_text("_BASE_: b.yaml\n")
    (tmp_path / "b.yaml").write_text("_BASE_: a.yaml\n")
    with pytest.raises(ConfigError, match="cycle"):
        get_cfg().merge_from_file(str(tmp_path / "a.yaml"))


def test_every_key_has_a_comment():
    src = (pathlib.Path(__file__).resolve().parents[2] / "alphaction" / "config" / "defaults.py").read_text()
    missing = [
        line for line in src.splitlines() if line.startswith("_C.") and " = CN()" not in line and "#" not in line
    ]
    assert not missing, missing


def test_an_integer_for_a_float_key_is_taken_as_that_float(tmp_path):
    cfg = get_cfg()
    cfg.merge_from_list(["SOLVER.EPOCHS", "3", "SOLVER.MAX_ITER", "7"])
    assert cfg.SOLVER.EPOCHS == 3.0 and isinstance(cfg.SOLVER.EPOCHS, float)
    assert cfg.SOLVER.MAX_ITER == 7 and isinstance(cfg.SOLVER.MAX_ITER, int)  # int keys stay int
    f = tmp_path / "c.yaml"
    f.write_text("SOLVER:\n  BASE_LR: 1\n  WARMUP_EPOCHS: 2\n")
    cfg.merge_from_file(str(f))
    assert cfg.SOLVER.BASE_LR == 1.0 and isinstance(cfg.SOLVER.BASE_LR, float) and cfg.SOLVER.WARMUP_EPOCHS == 2.0
    with pytest.raises(ValueError, match="SOLVER.EPOCHS"):  # a word is still refused
        cfg.merge_from_list(["SOLVER.EPOCHS", "three"])
