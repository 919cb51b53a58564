from __future__ import annotations

import os

import pytest

from alphaction.config import ConfigError
from alphaction.engine.defaults import DEFAULT_CONFIG, REPO_ROOT, default_argument_parser, load_config
from alphaction.utils.metrics import SmoothedValue


@pytest.mark.parametrize("flag", ["--local_rank", "--local-rank"])
def test_both_launcher_spellings(flag):
    args = default_argument_parser().parse_args([flag, "3", "--transfer", "--no-head"])
    assert args.local_rank == 3 and args.transfer and args.no_head


def test_default_config_is_the_synthetic_job(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # found relative to the repository, not the working directory
    cfg = load_config(default_argument_parser().parse_args([]))
    assert os.path.isfile(os.path.join(REPO_ROOT, DEFAULT_CONFIG))
    assert cfg.DATASETS.TRAIN == ("synthetic_train",) and cfg.is_frozen()


def test_overrides_and_catalog_flag(tmp_path):
    args = default_argument_parser().parse_args(
        ["--catalog", "my.yaml", "SOLVER.MAX_ITER", "7", "SOLVER.STEPS", "(3, 5)"]
    )
    cfg = load_config(args)
    assert cfg.DATASETS.CATALOG == "my.yaml" and cfg.SOLVER.MAX_ITER == 7 and tuple(cfg.SOLVER.STEPS) == (3, 5)
    with pytest.raises(ConfigError, match="SOLVER.MAX_ITERS"):
        load_config(default_argument_parser().parse_args(["SOLVER.MAX_ITERS", "7"]))


def test_smoothed_value_median_and_average():
    v = SmoothedValue(window=3)
    for x in (5, 1, 3, 100):
        v.update(x)
    assert v.median == 3  # window (1, 3, 100)
    assert v.global_avg == pytest.approx(109 / 4)
