from __future__ import annotations

import json

import pytest

from alphaction.config import ConfigError
from alphaction.config.paths_catalog import DatasetCatalog, validate_spec


def test_ava_entries_under_alphaction_names(monkeypatch, tmp_path):
    monkeypatch.setenv("ALPHACTION_DATA", str(tmp_path))
    spec = DatasetCatalog.get("ava_video_val_v2.2")
    args = spec["args"]
    assert args["video_root"] == str(tmp_path / "AVA/clips/trainval")
    assert args["ann_file"] == str(tmp_path / "AVA/annotations/ava_val_v2.2_min.json")
    assert args["box_file"].endswith("AVA/boxes/ava_val_det_person_bbox.json")
    assert args["eval_file_paths"]["labelmap_file"].endswith("ava_action_list_v2.2_for_activitynet_2019.pbtxt")
    assert DatasetCatalog.get("ava_video_train_v2.2")["args"]["box_file"] == ""


def test_unknown_name_lists_registered():
    with pytest.raises(ConfigError) as e:
        DatasetCatalog.get("ava_video_val_v9")
    assert "ava_video_val_v2.2" in str(e.value) and "synthetic_train" in str(e.value)


def test_user_catalog_registers_without_code(tmp_path):
    root = tmp_path / "mydata"
    (root / "clips").mkdir(parents=True)
    (root / "ann.json").write_text("{}")
    cat = tmp_path / "catalog.yaml"
    cat.write_text(f"my_train:\n  root: {root}\n  video_root: clips\n  ann_file: ann.json\n")
    assert "my_train" in DatasetCatalog.names(str(cat))
    spec = DatasetCatalog.get("my_train", str(cat))
    assert spec["args"]["video_root"] == str(root / "clips")
    assert spec["args"]["box_file"] == "" and spec["args"]["eval_file_paths"] == {}
    validate_spec(spec)  # everything it names exists


def test_json_catalog_relative_to_its_folder(tmp_path):
    cat = tmp_path / "c.json"
    cat.write_text(json.dumps({"x": {"video_root": "v", "ann_file": "a.json"}}))
    assert DatasetCatalog.get("x", str(cat))["args"]["ann_file"] == str(tmp_path / "a.json")


def test_missing_file_named_with_entry(tmp_path):
    cat = tmp_path / "c.yaml"
    cat.write_text("x:\n  video_root: clips\n  ann_file: ann.json\n  eval_file_paths:\n    csv_gt_file: gt.csv\n")
    (tmp_path / "clips").mkdir()
    with pytest.raises(FileNotFoundError) as e:
        validate_spec(DatasetCatalog.get("x", str(cat)))
    msg = str(e.value)
    assert "'x'" in msg and "ann_file" in msg and str(tmp_path / "gt.csv") in msg


def test_bad_entry_fields(tmp_path):
    cat = tmp_path / "c.yaml"
    cat.write_text("x:\n  video_root: clips\n")
    with pytest.raises(ConfigError, match="ann_file"):
        DatasetCatalog.get("x", str(cat))
    cat.write_text("x:\n  video_root: clips\n  ann_file: a\n  box_fille: b\n")
    with pytest.raises(ConfigError, match="box_fille"):
        DatasetCatalog.get("x", str(cat))
