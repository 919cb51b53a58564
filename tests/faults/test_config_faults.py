"""Bad config values and command lines: refused at start-up, naming the key and what is allowed; nothing is
written and an existing run is left as it was."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from fault_helpers import QUICK, assert_clear, fingerprint

import test_net
import train_net
from alphaction.config import get_cfg
from alphaction.config.checks import check_config
from alphaction.config.paths_catalog import DatasetCatalog
from alphaction.engine.defaults import default_argument_parser


@pytest.fixture
def run_dir(tmp_path, tiny_data, monkeypatch):
    """An OUTPUT_DIR holding a finished tiny run (what a fault must not damage)."""
    monkeypatch.setenv("ALPHACTION_DATA", tiny_data)
    out = tmp_path / "run"
    train_net.main(
        [
            "--config-file",
            QUICK,
            "--skip-val-in-train",
            "--skip-final-test",
            "SOLVER.MAX_ITER",
            "2",
            "OUTPUT_DIR",
            str(out),
        ]
    )
    return out


@pytest.mark.parametrize(
    "key, value",
    [
        ("SOLVER.MAX_ITER", "-5"),
        ("SOLVER.MAX_ITER", "0"),
        ("SOLVER.VIDEOS_PER_BATCH", "0"),
        ("SOLVER.BASE_LR", "-1"),
        ("TEST.VIDEOS_PER_BATCH", "0"),
        ("SOLVER.MOMENTUM", "1.5"),
        ("INPUT.FRAME_NUM", "0"),
        ("SOLVER.OPTIMIZER", "Adagrad"),
        ("TEST.BOX_THRESH", "2.0"),
    ],
)
def test_out_of_range_values_stop_before_anything_runs(command, run_dir, key, value):
    before = fingerprint(run_dir)
    status, err = command(train_net.main, ["--config-file", QUICK, key, value, "OUTPUT_DIR", run_dir])
    assert_clear(status, err, key, value)
    assert fingerprint(run_dir) == before  # no config.yaml rewritten, no checkpoint touched


def test_a_value_of_the_wrong_type_names_the_key(command, tmp_path):
    status, err = command(
        train_net.main, ["--config-file", QUICK, "SOLVER.MAX_ITER", "abc", "OUTPUT_DIR", tmp_path / "out"]
    )
    assert_clear(status, err, "SOLVER.MAX_ITER", "abc")


def test_unknown_key_suggests_the_closest(command, tmp_path):
    status, err = command(train_net.main, ["--config-file", QUICK, "SOLVER.BASE_RL", "0.1"])
    assert_clear(status, err, "SOLVER.BASE_RL", "SOLVER.BASE_LR")


def test_odd_number_of_overrides(command):
    status, err = command(train_net.main, ["--config-file", QUICK, "SOLVER.MAX_ITER", "2", "SOLVER.BASE_LR"])
    assert_clear(status, err, "KEY VALUE", "SOLVER.BASE_LR")


def test_flags_may_follow_the_overrides():
    # docs/TRAINING.md writes them after the KEY VALUE pairs
    args = default_argument_parser(train=True).parse_args(
        ["SOLVER.MAX_ITER", "-5", "--transfer", "OUTPUT_DIR", "x", "--seed", "3", "--no-head"]
    )
    assert args.transfer and args.no_head and args.seed == 3
    assert args.opts == ["SOLVER.MAX_ITER", "-5", "OUTPUT_DIR", "x"]


def test_a_flag_the_command_does_not_have_is_refused(capsys):
    # test_net has no --no-head: argparse's usage error (exit 2), not an odd number of overrides
    with pytest.raises(SystemExit) as e:
        test_net.main(["--config-file", QUICK, "MODEL.WEIGHT", "w.pth", "--no-head"])
    assert e.value.code == 2 and "unrecognized arguments: --no-head" in capsys.readouterr().err


def test_output_dir_that_is_a_file_or_under_a_file(command, tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    for out in (blocker, blocker / "run"):
        status, err = command(train_net.main, ["--config-file", QUICK, "OUTPUT_DIR", out])
        assert_clear(status, err, "OUTPUT_DIR", str(blocker))
    assert blocker.read_text() == "not a folder"


def test_warm_up_longer_than_the_run_is_a_warning():
    cfg = get_cfg()
    cfg.merge_from_file(QUICK)
    cfg.merge_from_list(["SOLVER.MAX_ITER", "10", "SOLVER.WARMUP_ITERS", "500"])
    (warning,) = check_config(cfg)
    assert "SOLVER.WARMUP_ITERS = 500" in warning and "SOLVER.MAX_ITER = 10" in warning


def test_a_test_dataset_typo_stops_the_run_before_training(command, tmp_path, tiny_data, monkeypatch):
    monkeypatch.setenv("ALPHACTION_DATA", tiny_data)
    out = tmp_path / "out"
    status, err = command(
        train_net.main, ["--config-file", QUICK, "DATASETS.TEST", "('synthetic_tiny_vall',)", "OUTPUT_DIR", out]
    )
    assert_clear(status, err, "synthetic_tiny_vall", "synthetic_tiny_val")  # the name, and the closest one
    assert not list(out.glob("model_*.pth")) and "iter:" not in (out / "log.txt").read_text()


def test_a_missing_test_clip_stops_the_run_before_training(command, tmp_path, tiny_data, monkeypatch):
    # SOLVER.EVAL_PERIOD 0: without the start-up check the clip would be found missing after training
    data = tmp_path / "data"
    shutil.copytree(tiny_data, data)
    monkeypatch.setenv("ALPHACTION_DATA", str(data))
    clips = Path(DatasetCatalog.get("synthetic_tiny_val")["args"]["video_root"])
    video = sorted(p.name for p in clips.iterdir())[0]
    for clip in (clips / video).glob("*.mp4"):
        clip.unlink()
    out = tmp_path / "out"
    status, err = command(train_net.main, ["--config-file", QUICK, "SOLVER.EVAL_PERIOD", "0", "OUTPUT_DIR", out])
    assert_clear(status, err, video)
    assert not list(out.glob("model_*.pth"))


@pytest.mark.parametrize(
    "key, value",
    [
        ("MODEL.BACKBONE.CONV_BODY", "Slowfast-Resnet51"),
        ("MODEL.IA_STRUCTURE.STRUCTURE", "diagonal"),
        ("MODEL.ROI_ACTION_HEAD.NUM_CLASSES", "13"),  # the groups no longer sum to it
    ],
)
def test_values_only_the_model_builder_can_check(command, tmp_path, key, value):
    args = ["--config-file", QUICK, key, value, "OUTPUT_DIR", tmp_path / "out"]
    if key.startswith("MODEL.IA"):
        args += ["MODEL.IA_STRUCTURE.ACTIVE", "True"]
    status, err = command(test_net.main, args)
    assert_clear(status, err, key, value)


def test_a_head_of_another_class_count_than_the_label_map_is_refused(command, tmp_path, tiny_data, monkeypatch):
    # the tiny synthetic label map names 12 actions; a 14-class head would write ids 13 and 14
    monkeypatch.setenv("ALPHACTION_DATA", tiny_data)
    status, err = command(
        train_net.main,
        [
            "--config-file",
            QUICK,
            "MODEL.ROI_ACTION_HEAD.NUM_CLASSES",
            "14",
            "MODEL.ROI_ACTION_HEAD.NUM_PERSON_INTERACTION_CLASSES",
            "6",
            "OUTPUT_DIR",
            tmp_path / "out",
        ],
    )
    assert_clear(status, err, "NUM_CLASSES = 14", "ids up to 12", "NUM_CLASSES 12")
    assert not list((tmp_path / "out").glob("model_*.pth"))


def test_report_groups_of_other_classes_stop_the_run_before_training(command, tmp_path, tiny_data, monkeypatch):
    monkeypatch.setenv("ALPHACTION_DATA", tiny_data)
    status, err = command(
        train_net.main,
        ["--config-file", QUICK, "TEST.CLASS_GROUPS", "('pose:1-5', 'far:20-30')", "OUTPUT_DIR", tmp_path / "out"],
    )
    assert_clear(status, err, "TEST.CLASS_GROUPS", "far:20-30")
    assert not list((tmp_path / "out").glob("model_*.pth"))
