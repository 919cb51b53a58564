"""The evaluator's command line given bad or mismatched files: exit 2 naming the argument or the file and line,
never a metric that looks like a result."""

from __future__ import annotations

import logging

import pytest
from fault_helpers import assert_clear

from alphaction.evaluation.ava.__main__ import _evaluate

LABELMAP = 'item {\n  name: "stand"\n  id: 1\n}\nitem {\n  name: "sit"\n  id: 2\n}\n'
GT = "vid,0902,0.1,0.1,0.5,0.5,1,0\nvid,0902,0.5,0.5,0.9,0.9,2,1\nvid,0903,0.1,0.1,0.5,0.5,1,0\n"
DET = "vid,0902,0.1,0.1,0.5,0.5,1,0.9\nvid,0902,0.5,0.5,0.9,0.9,2,0.8\nvid,0903,0.1,0.1,0.5,0.5,1,0.7\n"


@pytest.fixture
def files(tmp_path):
    paths = {name: tmp_path / f"{name}.{ext}" for name, ext in (("gt", "csv"), ("det", "csv"), ("map", "pbtxt"))}
    paths["gt"].write_text(GT)
    paths["det"].write_text(DET)
    paths["map"].write_text(LABELMAP)
    return paths


def _args(files, *extra):
    return ["--groundtruth", files["gt"], "--detections", files["det"], "--labelmap", files["map"], *extra]


def test_the_good_files_score_one(command, files):
    status, err = command(_evaluate, _args(files))
    assert status == 0, err


@pytest.mark.parametrize("flag", ["--groundtruth", "--detections", "--labelmap", "--exclusions"])
def test_a_missing_file_names_its_argument(command, files, tmp_path, flag):
    args = _args(files, "--exclusions", tmp_path / "ex.csv")
    (tmp_path / "ex.csv").write_text("")
    args[args.index(flag) + 1] = tmp_path / "missing.csv"
    status, err = command(_evaluate, args)
    assert_clear(status, err, "missing.csv", flag)


def test_detections_of_other_videos_are_an_error_unless_allowed(command, files):
    files["det"].write_text(DET.replace("vid,", "other_vid,"))
    status, err = command(_evaluate, _args(files))
    assert_clear(status, err, "det.csv", "share no frame", "--allow-disjoint")
    status, err = command(_evaluate, _args(files, "--allow-disjoint"))
    assert status == 0


@pytest.mark.parametrize("content", ["", "\n\n", "vid,0902,0.1,0.1,0.5,0.5,7,0\n"])
def test_a_ground_truth_with_nothing_to_compare_is_an_error(command, files, content):
    files["gt"].write_text(content)  # empty, blank, or only a class outside the label map
    status, err = command(_evaluate, _args(files, "--allow-disjoint"))
    assert_clear(status, err, "gt.csv", "nothing to evaluate")


def test_a_nan_score_names_file_and_line(command, files):
    files["det"].write_text(DET.replace("0.8\n", "nan\n"))
    status, err = command(_evaluate, _args(files))
    assert_clear(status, err, "det.csv:2", "non-finite score")


def test_an_inverted_ground_truth_box_names_file_and_line(command, files):
    files["gt"].write_text(GT.replace("vid,0903,0.1,0.1,0.5,0.5", "vid,0903,0.6,0.1,0.5,0.5"))
    status, err = command(_evaluate, _args(files))
    assert_clear(status, err, "gt.csv:3", "x1 > x2")


def test_a_byte_that_is_not_utf8_names_file_and_line(command, files):
    files["det"].write_bytes(DET.encode().replace(b"vid,0903", b"v\xe9d,0903"))
    status, err = command(_evaluate, _args(files))
    assert_clear(status, err, "det.csv:3", "UTF-8")


def test_a_malformed_row_and_a_malformed_label_map_name_file_and_line(command, files):
    files["det"].write_text(DET.replace("0.7", "seven"))
    status, err = command(_evaluate, _args(files))
    assert_clear(status, err, "det.csv:3", "seven")
    files["det"].write_text(DET)
    files["map"].write_text(LABELMAP.replace("id: 2", "id: two"))
    status, err = command(_evaluate, _args(files))
    assert_clear(status, err, "map.pbtxt:7", "two")


def test_ground_truth_ids_outside_the_label_map_are_reported(command, files, caplog):
    files["gt"].write_text(GT + "vid,0903,0.5,0.5,0.9,0.9,9,1\n")
    with caplog.at_level(logging.WARNING, logger="alphaction.evaluation.ava.evaluator"):
        status, _ = command(_evaluate, _args(files))
    assert status == 0
    assert "1 ground-truth rows have action ids not in the label map (9; first at" in caplog.text
    assert "gt.csv:4" in caplog.text
