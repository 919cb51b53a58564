"""tools/validate_dataset.py: a clean dataset passes; each kind of breakage is caught with a clear message."""

from __future__ import annotations

import json
import os

import pytest

from alphaction.config.paths_catalog import DatasetCatalog
from alphaction.data.prep.validate import DatasetValidationError, quick_check
from tools import validate_dataset


@pytest.fixture
def dataset(registered_copy):
    return registered_copy


def _run(catalog, capsys, *extra):
    rc = validate_dataset.main(["mine_train", "--catalog", catalog, "--frame-num", "32", "--sample-rate", "2", *extra])
    return rc, capsys.readouterr().out


def _edit_json(path, fn):
    data = json.loads(path.read_text())
    fn(data)
    path.write_text(json.dumps(data))


def test_clean_dataset_passes(dataset, capsys):
    rc, out = _run(dataset[1], capsys)
    assert rc == 0, out
    assert "dataset 'mine_train': OK" in out and "boxes per action" in out
    # annotated seconds 1..3 of clips 0..4: second 1's 64-frame window needs 32 frames (1.28 s) before it, past the
    # video's start; second 3's needs 32 from it on (clips 3 and 4): only second 1 is named, per video
    edge = out.split("keyframes at a video edge")[1].split("\n")[1]  # the line after the warning's title
    assert "syn_train_000/1" in edge and "syn_train_000/3" not in edge
    spec = DatasetCatalog.get("mine_train", dataset[1])
    quick_check(spec, 64).raise_on_errors()


def test_missing_clip(dataset, capsys):
    root, catalog = dataset
    os.remove(root / "clips" / "syn_train_001" / "2.mp4")
    rc, out = _run(catalog, capsys)
    assert rc == 1
    assert "missing clips" in out
    assert "keyframe (video 'syn_train_001', second 2" in out and "2.mp4 does not exist" in out
    with pytest.raises(DatasetValidationError, match="2.mp4 does not exist"):
        quick_check(DatasetCatalog.get("mine_train", catalog), 64).raise_on_errors()


def test_missing_neighbouring_clip(dataset, capsys):
    root, catalog = dataset
    # annotated seconds are 1..3 of 0..4; a 64-frame window at second 3 needs 1..4: remove 1.mp4's neighbour 2
    os.remove(root / "clips" / "syn_train_000" / "2.mp4")
    rc, out = _run(catalog, capsys)
    assert rc == 1
    assert "missing neighbouring clips" in out
    assert "second 3" in out and "needs clips 1..4, missing 2.mp4" in out
    # a short window (8 frames: 4 before the keyframe) at second 3 needs only clip 2 too; at second 1 only 0
    os.remove(root / "clips" / "syn_train_001" / "0.mp4")
    rc, out = _run(catalog, capsys, "--frame-num", "4")
    assert "syn_train_001" not in out.split("missing neighbouring clips")[-1].split("warning:")[0]


def test_box_outside_image(dataset, capsys):
    root, catalog = dataset
    _edit_json(
        root / "annotations" / "train.json",
        lambda d: d["annotations"][0].update(bbox=[100.0, 10.0, 60.0, 20.0], id=777),
    )
    rc, out = _run(catalog, capsys)
    assert rc == 1
    assert "boxes outside the image" in out and "annotation id 777" in out and "128x96 keyframe" in out


def test_action_id_not_in_label_map(dataset, capsys):
    root, catalog = dataset
    _edit_json(root / "annotations" / "train.json", lambda d: d["annotations"][1].update(action_ids=[2, 42], id=888))
    rc, out = _run(catalog, capsys)
    assert rc == 1
    assert "action ids not in the label map" in out and "annotation id 888" in out and "action id 42" in out


def test_missing_file_named_by_entry(dataset, capsys):
    root, catalog = dataset
    os.remove(root / "boxes" / "train_person_bbox.json")
    rc, out = _run(catalog, capsys)
    assert rc == 1 and "box_file: file not found" in out
