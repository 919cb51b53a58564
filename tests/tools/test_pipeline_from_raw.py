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
from tools import ava_csv_to_coco, detect_boxes, generate_finetune_config, prepare_ava_videos, validate_dataset

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
        assert sorted(n for n in os.listdir(root / "clips" / vid) if n.endswith(".mp4")) == [
            f"{s}.mp4" for s in range(5)
        ]
    # 2. annotations
    for split in ("train", "val"):
        assert (
            ava_csv_to_coco.main(
                [
                    str(ann / f"{split}.csv"),
                    "--keyframe-root",
                    str(root / "keyframes"),
                    "--output",
                    str(ann / f"{split}.json"),
                ]
            )
            == 0
        )
    train_json = json.loads((ann / "train.json").read_text())
    expected_keyframes = {tuple(r[:2]) for r in csv.reader(open(ann / "train.csv"))}
    assert len(train_json["images"]) == len(expected_keyframes)
    # 3. person boxes: a 2-class detector (background, person) with random weights, so every box is a person
    assert (
        detect_boxes.main(
            [
                "--ann-file",
                str(ann / "val.json"),
                "--keyframe-root",
                str(root / "keyframes"),
                "--output-dir",
                str(root / "boxes"),
                "--random-init",
                "--num-classes",
                "2",
                "--score-thresh",
                "0",
                "--min-size",
                "64",
                "--max-size",
                "128",
                "--device",
                "cpu",
                "--no-progress",
            ]
        )
        == 0
    )
    assert json.loads((root / "boxes" / "val_person_bbox.json").read_text())
    # 5. register (the catalog of docs/CUSTOM_DATASET_PREPARATION.md step 5)
    catalog = root / "catalog.yaml"
    common = {"root": str(root), "video_root": "clips"}
    catalog.write_text(
        yaml.safe_dump(
            {
                "my_videos_train": {
                    **common,
                    "ann_file": "annotations/train.json",
                    "eval_file_paths": {"labelmap_file": "annotations/action_list.pbtxt"},
                },
                "my_videos_val": {
                    **common,
                    "ann_file": "annotations/val.json",
                    "box_file": "boxes/val_person_bbox.json",
                    "object_file": "boxes/val_object_bbox.json",
                    "eval_file_paths": {
                        "csv_gt_file": "annotations/val.csv",
                        "labelmap_file": "annotations/action_list.pbtxt",
                        "exclusion_file": "",
                    },
                },
            }
        )
    )
    # 4. validate
    assert (
        validate_dataset.main(
            ["my_videos_train", "my_videos_val", "--catalog", str(catalog), "--frame-num", "16", "--sample-rate", "2"]
        )
        == 0
    )
    assert "error" not in capsys.readouterr().out.lower().replace("0 error", "")
    # generate the config (the CPU quick schedule as base: batch 2 = its batch, so nothing is rescaled)
    config, out = tmp_path / "configs" / "my_config.yaml", tmp_path / "output"
    assert (
        generate_finetune_config.main(
            [
                "--catalog",
                str(catalog),
                "--dataset-train",
                "my_videos_train",
                "--dataset-test",
                "my_videos_val",
                "--num-classes",
                "12",
                "--class-groups",
                "5",
                "3",
                "4",
                "--base-config",
                QUICK,
                "--num-gpus",
                "1",
                "--videos-per-gpu",
                "2",
                "--output",
                str(config),
                "--output-dir",
                str(out),
            ]
        )
        == 0
    )
    # 7. train and test; random-weight person scores are low, so every detected box is tested
    results = train_net.main(["--config-file", str(config), "--skip-val-in-train", "TEST.BOX_THRESH", "0.0"])
    assert (out / "model_final.pth").is_file() and (out / "last_checkpoint").read_text() == "model_final.pth"
    again = test_net.main(
        [
            "--config-file",
            str(config),
            "MODEL.WEIGHT",
            str(out / "model_final.pth"),
            "TEST.BOX_THRESH",
            "0.0",
            "OUTPUT_DIR",
            str(tmp_path / "test"),
        ]
    )
    assert set(results) == set(again) == {"my_videos_val"}
    assert 0.0 <= again["my_videos_val"]["mAP@0.5"] <= 1.0
    assert again["my_videos_val"]["mAP@0.5"] == results["my_videos_val"]["mAP@0.5"]
    rows = list(csv.reader(open(tmp_path / "test" / "inference" / "my_videos_val" / "result.csv")))
    assert rows and {r[0] for r in rows} <= set(videos)


def test_custom_dataset_preparation_doc_runs_as_written(tiny_root, tmp_path, monkeypatch, capsys, concat_clips):
    """Every command of docs/CUSTOM_DATASET_PREPARATION.md in its order, in a fresh folder holding the user's raw
    movies and CSVs (made from the tiny synthetic videos), with the docs' own catalog block. Substitutions, and
    why: torchvision's DEFAULT detector weights are a random COCO checkpoint placed in a temporary TORCH_HOME (no
    download; its person logit is raised so that it finds persons), run on the CPU at a small size keeping every
    box; YOUR_CONFIG.yaml is the quick CPU schedule with every box tested. The plain-COCO import line is the
    alternative to the CSV one."""
    import re
    import shlex

    import torch

    from alphaction.data.prep.detect import build_detector
    from tools import coco_to_ava_csv, visualize_dataset

    monkeypatch.chdir(tmp_path)
    data = tmp_path / "data" / "my_videos"
    (data / "raw").mkdir(parents=True)
    (data / "annotations").mkdir()
    for vid in sorted(os.listdir(tiny_root / "clips")):
        concat_clips(tiny_root / "clips" / vid, data / "raw" / f"{vid}.mp4")
    for name in ("train.csv", "val.csv", "action_list.pbtxt"):
        shutil.copy(tiny_root / "annotations" / name, data / "annotations" / name)
    cache = tmp_path / "torch_home" / "hub" / "checkpoints"
    cache.mkdir(parents=True)
    torch.manual_seed(0)
    state = build_detector("fasterrcnn_resnet50_fpn").state_dict()
    state["roi_heads.box_predictor.cls_score.bias"][1] = 10.0  # random weights that call every proposal a person
    torch.save(state, cache / "fasterrcnn_resnet50_fpn_coco-258fb6c6.pth")
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch_home"))

    text = open(os.path.join(REPO_ROOT, "docs", "CUSTOM_DATASET_PREPARATION.md"), encoding="utf-8").read()
    commands = [
        shlex.split(line)
        for block in re.findall(r"```bash\n(.*?)```", text, re.S)
        for line in block.replace("\\\n", " ").splitlines()
        if line.startswith("python ")
    ]
    catalog_block = re.search(r"```yaml\n(my_videos_train:.*?)```", text, re.S).group(1)
    tools = {
        "tools/prepare_ava_videos.py": prepare_ava_videos,
        "tools/ava_csv_to_coco.py": ava_csv_to_coco,
        "tools/coco_to_ava_csv.py": coco_to_ava_csv,
        "tools/detect_boxes.py": detect_boxes,
        "tools/validate_dataset.py": validate_dataset,
        "tools/visualize_dataset.py": visualize_dataset,
    }
    ran = []
    for cmd in commands:
        script, argv = cmd[1], cmd[2:]
        if script == "tools/ava_csv_to_coco.py" and argv[0] == "exported_train.json":
            continue  # the plain COCO route, instead of the CSV
        if script == "tools/validate_dataset.py" and not (data / "catalog.yaml").exists():
            (data / "catalog.yaml").write_text(catalog_block)  # step 5 registers before validating
        if script == "tools/detect_boxes.py":
            argv = [a if a != "cuda" else "cpu" for a in argv] + [
                "--min-size",
                "64",
                "--max-size",
                "128",
                "--score-thresh",
                "0",
            ]
        if script in ("tools/prepare_ava_videos.py", "tools/detect_boxes.py"):
            argv = argv + ["--no-progress"]
        if script == "train_net.py":
            argv = [QUICK if a == "YOUR_CONFIG.yaml" else a for a in argv] + [
                "--skip-val-in-train",
                "TEST.BOX_THRESH",
                "0.0",
            ]
            results = train_net.main(argv)
        else:
            assert tools[script].main(argv) == 0, (script, capsys.readouterr())
        ran.append(script)
    assert ran == [
        "tools/prepare_ava_videos.py",
        "tools/ava_csv_to_coco.py",
        "tools/ava_csv_to_coco.py",
        "tools/coco_to_ava_csv.py",
        "tools/detect_boxes.py",
        "tools/validate_dataset.py",
        "tools/visualize_dataset.py",
        "train_net.py",
    ]
    assert 0.0 <= results["my_videos_val"]["mAP@0.5"] <= 1.0
    out = tmp_path / "data" / "output" / "my_videos"  # the dataset's own output folder, as the docs name it
    assert (out / "model_final.pth").is_file() and (out / "inference" / "my_videos_val" / "result.csv").is_file()
