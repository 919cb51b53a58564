"""From raw movies to a trained and tested model with the documented commands (docs/CUSTOM_DATASET_PREPARATION.md,
docs/GETTING_STARTED.md): prepare -> convert -> detect (random weights) -> validate -> register -> generate config
-> train (quick schedule) -> test. The tools run in-process through their ``main(argv)`` (the argv is what the docs
give after ``python tools/X.py``), which keeps the test to seconds."""
from __future__ import annotations

import csv
import json
import os
import shutil

import yaml

import test_net
import train_net
from alphaction.engine.defaults import REPO_ROOT
from tools import (ava_csv_to_coco, detect_boxes, generate_finetune_config, prepare_ava_videos,
                   validate_dataset)

QUICK = os.path.join(REPO_ROOT, "config_files", "quick_schedules", "synthetic_tiny_r14.yaml")


def test_raw_movies_to_trained_and_tested_model(tiny_root, tmp_path, capsys, concat_clips):
    root = tmp_path / "my_videos"
    raw, ann = root / "raw", root / "annotations"
    raw.mkdir(parents=True)
    ann.mkdir()
    videos = sorted(os.listdir(tiny_root / "clips"))
    for vid in videos:
        assert concat_clips(tiny_root / "clips" / vid, raw / f"{vid}.mp4") == 125  # 5 s movies
    for name in ("train.csv", "val.csv", "action_list.pbtxt"):  # the user's annotations
        shutil.copy(tiny_root / "annotations" / name, ann / name)

    # 1. clips and keyframes
    assert prepare_ava_videos.main([str(raw), "--output-root", str(root), "--workers", "2", "--no-progress"]) == 0
    for vid in videos:
        assert sorted(n for n in os.listdir(root / "clips" / vid) if n.endswith(".mp4")) == [f"{s}.mp4" for s in range(5)]
    # 2. annotations
    for split in ("train", "val"):
        assert ava_csv_to_coco.main([str(ann / f"{split}.csv"), "--keyframe-root", str(root / "keyframes"),
                                     "--output", str(ann / f"{split}.json")]) == 0
    train_json = json.loads((ann / "train.json").read_text())
    expected_keyframes = {tuple(r[:2]) for r in csv.reader(open(ann / "train.csv"))}
    assert len(train_json["images"]) == len(expected_keyframes)
    # 3. person boxes: a 2-class detector (background, person) with random weights, so every box is a person
    assert detect_boxes.main(["--ann-file", str(ann / "val.json"), "--keyframe-root", str(root / "keyframes"),
                              "--output-dir", str(root / "boxes"), "--random-init", "--num-classes", "2",
                              "--score-thresh", "0", "--min-size", "64", "--max-size", "128", "--device", "cpu",
                              "--no-progress"]) == 0
    assert json.loads((root / "boxes" / "val_person_bbox.json").read_text())
    # 5. register (the catalog of docs/CUSTOM_DATASET_PREPARATION.md step 5)
    catalog = root / "catalog.yaml"
    common = {"root": str(root), "video_root": "clips"}
    catalog.write_text(yaml.safe_dump({
        "my_videos_train": {**common, "ann_file": "annotations/train.json",
                            "eval_file_paths": {"labelmap_file": "annotations/action_list.pbtxt"}},
        "my_videos_val": {**common, "ann_file": "annotations/val.json", "box_file": "boxes/val_person_bbox.json",
                          "object_file": "boxes/val_object_bbox.json",
                          "eval_file_paths": {"csv_gt_file": "annotations/val.csv",
                                              "labelmap_file": "annotations/action_list.pbtxt",
                                              "exclusion_file": ""}}}))
    # 4. validate
    assert validate_dataset.main(["my_videos_train", "my_videos_val", "--catalog", str(catalog),
                                  "--frame-num", "16", "--sample-rate", "2"]) == 0
    assert "error" not in capsys.readouterr().out.lower().replace("0 error", "")
    # generate the config (the CPU quick schedule as base: batch 2 = its batch, so nothing is rescaled)
    config, out = tmp_path / "configs" / "my_config.yaml", tmp_path / "output"
    assert generate_finetune_config.main([
        "--catalog", str(catalog), "--dataset-train", "my_videos_train", "--dataset-test", "my_videos_val",
        "--num-classes", "12", "--class-groups", "5", "3", "4", "--base-config", QUICK, "--num-gpus", "1",
        "--videos-per-gpu", "2", "--output", str(config), "--output-dir", str(out)]) == 0
    # 7. train and test; random-weight person scores are low, so every detected box is tested
    results = train_net.main(["--config-file", str(config), "--skip-val-in-train", "TEST.BOX_THRESH", "0.0"])
    assert (out / "model_final.pth").is_file() and (out / "last_checkpoint").read_text() == "model_final.pth"
    again = test_net.main(["--config-file", str(config), "MODEL.WEIGHT", str(out / "model_final.pth"),
                           "TEST.BOX_THRESH", "0.0", "OUTPUT_DIR", str(tmp_path / "test")])
    assert set(results) == set(again) == {"my_videos_val"}
    assert 0.0 <= again["my_videos_val"]["mAP@0.5"] <= 1.0
    assert again["my_videos_val"]["mAP@0.5"] == results["my_videos_val"]["mAP@0.5"]
    rows = list(csv.reader(open(tmp_path / "test" / "inference" / "my_videos_val" / "result.csv")))
    assert rows and {r[0] for r in rows} <= set(videos)
