"""train_net -> test_net in-process on the quick schedule (tiny synthetic data, a few iterations)."""

from __future__ import annotations

import csv
import os

import pytest

import test_net
import train_net
from alphaction.engine.defaults import REPO_ROOT

QUICK = os.path.join(REPO_ROOT, "config_files", "quick_schedules", "synthetic_tiny_r14.yaml")
VAL = "synthetic_tiny_val"


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    base = tmp_path_factory.mktemp("e2e")
    mp = pytest.MonkeyPatch()
    mp.setenv("ALPHACTION_DATA", str(base / "data"))
    out = base / "train"
    results = train_net.main(["--config-file", QUICK, "--use-tfboard", "OUTPUT_DIR", str(out)])
    yield base, out, results
    mp.undo()


def test_training_writes_checkpoints_and_results(trained):
    _, out, results = trained
    for name in ("model_0000002.pth", "model_final.pth", "last_checkpoint", "config.yaml", "log.txt"):
        assert (out / name).is_file(), name
    assert (out / "last_checkpoint").read_text() == "model_final.pth"
    assert any(p.name.startswith("events.out.tfevents") for p in (out / "tb").iterdir())
    m = results[VAL]["mAP@0.5"]
    assert 0.0 <= m <= 1.0
    rows = list(csv.reader(open(out / "inference" / VAL / "result.csv")))
    assert rows, "no detections written"
    for r in rows:
        assert len(r) == 8
        assert len(r[1]) == 4 and r[1].isdigit()  # 4-digit timestamp
        x1, y1, x2, y2 = map(float, r[2:6])
        assert 0 <= x1 <= x2 <= 1 and 0 <= y1 <= y2 <= 1
        assert 1 <= int(r[6]) <= 12 and 0 <= float(r[7]) <= 1  # the 12 synthetic classes


def test_test_net_reproduces_the_map_from_the_checkpoint(trained):
    base, out, results = trained
    again = test_net.main(
        ["--config-file", QUICK, "MODEL.WEIGHT", str(out / "model_final.pth"), "OUTPUT_DIR", str(base / "test")]
    )
    assert again[VAL]["mAP@0.5"] == results[VAL]["mAP@0.5"]
    first = open(out / "inference" / VAL / "result.csv").read()
    second = open(base / "test" / "inference" / VAL / "result.csv").read()
    assert first == second


def test_rerun_resumes_instead_of_retraining(trained):
    _, out, results = trained
    mtime = os.path.getmtime(out / "model_final.pth")
    again = train_net.main(["--config-file", QUICK, "OUTPUT_DIR", str(out)])
    assert os.path.getmtime(out / "model_final.pth") == mtime  # nothing trained, nothing saved
    assert again[VAL]["mAP@0.5"] == results[VAL]["mAP@0.5"]
