"""tools/generate_finetune_config.py: the linear scaling rule (by hand), _BASE_, loading, errors, --interactive."""
from __future__ import annotations

import os

import pytest

from alphaction.config import get_cfg
from alphaction.engine.defaults import REPO_ROOT
from alphaction.utils.errors import run_cli
from tools import generate_finetune_config as gen

FLAGS = ["--dataset-train", "synthetic_tiny_train", "--dataset-test", "synthetic_tiny_val", "--num-classes", "10",
         "--class-groups", "5", "3", "2"]


def _load(path):
    cfg = get_cfg()
    cfg.merge_from_file(str(path))
    return cfg


@pytest.mark.parametrize("backbone,gpus,per_gpu,lr,steps,max_iter,warmup,body", [
    # reference 16 clips: lr 0.0004, (50000, 70000), 90000, 2000; batch b -> lr * b/16, iterations * 16/b
    ("r50_4x16", 8, 2, 0.0004, (50000, 70000), 90000, 2000, "Slowfast-Resnet50"),
    ("r50_4x16", 2, 2, 0.0001, (200000, 280000), 360000, 8000, "Slowfast-Resnet50"),
    ("r101_8x8", 4, 8, 0.0008, (25000, 35000), 45000, 1000, "Slowfast-Resnet101"),
    ("r50_4x16", 1, 3, 0.000075, (266667, 373333), 480000, 10667, "Slowfast-Resnet50"),
])
def test_scaling_rule_and_base(tmp_path, backbone, gpus, per_gpu, lr, steps, max_iter, warmup, body):
    out = tmp_path / "cfgs" / "my_config.yaml"
    assert gen.main(FLAGS + ["--backbone", backbone, "--num-gpus", str(gpus), "--videos-per-gpu", str(per_gpu),
                             "--output", str(out)]) == 0
    text = out.read_text()
    base = "resnet50_4x16f_baseline.yaml" if backbone == "r50_4x16" else "resnet101_8x8f_baseline.yaml"
    rel = text.split("_BASE_:")[1].split("\n")[0].strip()
    assert not os.path.isabs(rel) and os.path.basename(rel) == base
    cfg = _load(out)
    assert cfg.SOLVER.BASE_LR == pytest.approx(lr)
    assert tuple(cfg.SOLVER.STEPS) == steps and cfg.SOLVER.MAX_ITER == max_iter
    assert cfg.SOLVER.WARMUP_ITERS == warmup
    assert cfg.SOLVER.VIDEOS_PER_BATCH == cfg.TEST.VIDEOS_PER_BATCH == gpus * per_gpu
    assert cfg.MODEL.BACKBONE.CONV_BODY == body
    head = cfg.MODEL.ROI_ACTION_HEAD
    assert (head.NUM_CLASSES, head.NUM_PERSON_MOVEMENT_CLASSES, head.NUM_OBJECT_MANIPULATION_CLASSES,
            head.NUM_PERSON_INTERACTION_CLASSES) == (10, 5, 3, 2)
    assert cfg.DATASETS.TRAIN == ("synthetic_tiny_train",) and cfg.DATASETS.TEST == ("synthetic_tiny_val",)
    assert cfg.OUTPUT_DIR == os.path.join("data", "output", "my_config")
    assert cfg.MODEL.IA_STRUCTURE.ACTIVE is False


def test_memory_hint_weights_catalog_and_output_dir(tmp_path):
    catalog = tmp_path / "cat.yaml"
    catalog.write_text("mine_train:\n  root: /x\n  video_root: clips\n  ann_file: a.json\n")
    out = tmp_path / "c.yaml"
    assert gen.main(["--catalog", str(catalog), "--dataset-train", "mine_train", "--num-classes", "80",
                     "--gpu-memory", "24", "--num-gpus", "2", "--base-weights", "w.pth", "--output-dir", "runs/x",
                     "--output", str(out)]) == 0
    cfg = _load(out)
    assert cfg.SOLVER.VIDEOS_PER_BATCH == 2 * 4  # 24 GiB / 5 GiB per R50 clip -> 4 per GPU
    assert cfg.DATASETS.CATALOG == str(catalog) and cfg.MODEL.WEIGHT == "w.pth" and cfg.OUTPUT_DIR == "runs/x"
    assert cfg.MODEL.ROI_ACTION_HEAD.NUM_PERSON_MOVEMENT_CLASSES == 14  # AVA's groups for 80 classes


@pytest.mark.parametrize("extra,message", [
    (["--ia", "serial", "--backbone", "r101_8x8"], "AlphAction published no such config"),
    (["--class-groups", "5", "3", "3"], "summing to"),
    (["--dataset-test", "nope_val"], "'nope_val' is not in"),
])
def test_errors(tmp_path, capsys, extra, message):
    args = FLAGS + ["--output", str(tmp_path / "c.yaml")]
    if extra[0] in args:  # replace the flag's values
        i = args.index(extra[0])
        n = 3 if extra[0] == "--class-groups" else 1
        args = args[:i] + args[i + 1 + n:]
    assert run_cli(gen.main, args + extra) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "c.yaml").exists()


def test_groups_needed_for_non_ava_class_counts(tmp_path, capsys):
    assert run_cli(gen.main, ["--dataset-train", "synthetic_tiny_train", "--num-classes", "7",
                              "--output", str(tmp_path / "c.yaml")]) == 2
    assert "--class-groups P O I is needed" in capsys.readouterr().err


def test_interactive_gives_the_same_file_as_the_flags(tmp_path, monkeypatch):
    by_flags = tmp_path / "a" / "my.yaml"
    assert gen.main(FLAGS + ["--backbone", "r101_8x8", "--num-gpus", "4", "--videos-per-gpu", "2",
                             "--output", str(by_flags)]) == 0
    by_prompts = tmp_path / "b" / "my.yaml"
    answers = iter(["", "synthetic_tiny_train", "synthetic_tiny_val", "10", "5 3 2", "r101_8x8", "", "4", "",
                    "2", "", str(by_prompts), ""])
    monkeypatch.setattr("builtins.input", lambda prompt="": next(answers))
    assert gen.main(["--interactive"]) == 0
    assert by_prompts.read_text() == by_flags.read_text()


@pytest.mark.parametrize("ia,backbone,base,structure", [
    ("on", "r50_4x16", "resnet50_4x16f_denseserial.yaml", "dense"),
    ("parallel", "r50_4x16", "resnet50_4x16f_parallel.yaml", "parallel"),
    ("dense", "r101_8x8", "resnet101_8x8f_denseserial.yaml", "dense"),
])
def test_ia_inherits_the_published_ia_config(tmp_path, ia, backbone, base, structure):
    out = tmp_path / "ia.yaml"
    assert gen.main(FLAGS + ["--backbone", backbone, "--ia", ia, "--num-gpus", "8", "--videos-per-gpu", "2",
                             "--output", str(out)]) == 0
    assert os.path.basename(out.read_text().split("_BASE_:")[1].split("\n")[0].strip()) == base
    cfg = _load(out)
    assert cfg.MODEL.IA_STRUCTURE.ACTIVE is True and cfg.MODEL.IA_STRUCTURE.STRUCTURE == structure
    # 16 clips per iteration: AlphAction's IA schedule as published
    assert tuple(cfg.SOLVER.STEPS) == (70000, 90000) and cfg.SOLVER.MAX_ITER == 110000
    assert cfg.SOLVER.IA_LR_FACTOR == 10.0


def test_another_class_list_clears_the_base_configs_report_groups(tmp_path):
    # the synthetic base reports 12-class groups ("object:6-8", "talk:9", ...); a 5-class head reports its own
    base = os.path.join(REPO_ROOT, "config_files", "synthetic", "slowfast_r14_cpu.yaml")
    out = tmp_path / "five.yaml"
    assert gen.main(["--base-config", base, "--dataset-train", "synthetic_tiny_train", "--num-classes", "5",
                     "--class-groups", "3", "1", "1", "--output", str(out)]) == 0
    cfg = _load(out)
    assert cfg.TEST.CLASS_GROUPS == () and cfg.MODEL.ROI_ACTION_HEAD.NUM_CLASSES == 5
    same = tmp_path / "same.yaml"  # the same class list keeps them
    assert gen.main(["--base-config", base, "--dataset-train", "synthetic_tiny_train", "--num-classes", "12",
                     "--class-groups", "5", "3", "4", "--output", str(same)]) == 0
    assert len(_load(same).TEST.CLASS_GROUPS) == 5
