"""tools/generate_finetune_config.py: the linear scaling rule (by hand), _BASE_, loading, errors, --interactive."""

from __future__ import annotations

import json
import os

import pytest

from alphaction.config import get_cfg
from alphaction.engine.defaults import REPO_ROOT
from alphaction.utils.errors import run_cli
from tools import generate_finetune_config as gen

CATALOG_DIR = None  # set by the autouse fixture below


def _labelmap(names_types) -> str:
    return "".join(
        f'label {{\n  name: "{n}"\n  label_id: {i}\n' + (f"  label_type: {t}\n" if t else "") + "}\n"
        for i, (n, t) in enumerate(names_types, 1)
    )


@pytest.fixture(autouse=True, scope="module")
def _catalog(tmp_path_factory):
    """A catalog of the datasets these tests name: ``mine_*`` (10 classes, no label_type), ``typed_train`` (AVA's
    pbtxt form with label_type: 3 pose, 2 object, 1 interaction; 4 annotated keyframes of 5)."""
    global CATALOG_DIR
    root = tmp_path_factory.mktemp("catalog")
    (root / "mine.pbtxt").write_text(_labelmap([(f"a{i}", None) for i in range(10)]))
    (root / "typed.pbtxt").write_text(
        _labelmap(
            [
                ("stand", "PERSON_MOVEMENT"),
                ("sit", "PERSON_MOVEMENT"),
                ("walk", "PERSON_MOVEMENT"),
                ("carry", "OBJECT_MANIPULATION"),
                ("drink", "OBJECT_MANIPULATION"),
                ("talk", "PERSON_INTERACTION"),
            ]
        )
    )
    (root / "typed.json").write_text(
        json.dumps(
            {
                "images": [{"id": i} for i in range(5)],
                "annotations": [{"id": k, "image_id": i} for k, i in enumerate([0, 0, 1, 2, 3])],
            }
        )
    )
    entry = "  video_root: clips\n  ann_file: {ann}\n  eval_file_paths:\n    labelmap_file: {lm}\n"
    (root / "catalog.yaml").write_text(
        "".join(
            f"{name}:\n" + entry.format(ann=ann, lm=lm)
            for name, ann, lm in [
                ("mine_train", "mine.json", "mine.pbtxt"),
                ("mine_val", "mine.json", "mine.pbtxt"),
                ("typed_train", "typed.json", "typed.pbtxt"),
                ("nolabels_train", "x.json", "missing.pbtxt"),
            ]
        )
    )
    CATALOG_DIR = root
    yield root


def flags() -> list[str]:
    return [
        "--catalog",
        str(CATALOG_DIR / "catalog.yaml"),
        "--dataset-train",
        "mine_train",
        "--dataset-test",
        "mine_val",
        "--num-classes",
        "10",
        "--class-groups",
        "5",
        "3",
        "2",
    ]


def _load(path):
    cfg = get_cfg()
    cfg.merge_from_file(str(path))
    return cfg


@pytest.mark.parametrize(
    "backbone,gpus,per_gpu,lr,steps,max_iter,warmup,body",
    [
        # reference 16 clips: lr 0.0004, (50000, 70000), 90000, 2000; batch b -> lr * b/16, iterations * 16/b
        ("r50_4x16", 8, 2, 0.0004, (50000, 70000), 90000, 2000, "Slowfast-Resnet50"),
        ("r50_4x16", 2, 2, 0.0001, (200000, 280000), 360000, 8000, "Slowfast-Resnet50"),
        ("r101_8x8", 4, 8, 0.0008, (25000, 35000), 45000, 1000, "Slowfast-Resnet101"),
        ("r50_4x16", 1, 3, 0.000075, (266667, 373333), 480000, 10667, "Slowfast-Resnet50"),
    ],
)
def test_scaling_rule_and_base(tmp_path, backbone, gpus, per_gpu, lr, steps, max_iter, warmup, body):
    out = tmp_path / "cfgs" / "my_config.yaml"
    assert (
        gen.main(
            flags()
            + ["--backbone", backbone, "--num-gpus", str(gpus), "--videos-per-gpu", str(per_gpu), "--output", str(out)]
        )
        == 0
    )
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
    assert (
        head.NUM_CLASSES,
        head.NUM_PERSON_MOVEMENT_CLASSES,
        head.NUM_OBJECT_MANIPULATION_CLASSES,
        head.NUM_PERSON_INTERACTION_CLASSES,
    ) == (10, 5, 3, 2)
    assert cfg.DATASETS.TRAIN == ("mine_train",) and cfg.DATASETS.TEST == ("mine_val",)
    assert cfg.OUTPUT_DIR == os.path.join("data", "output", "my_config")
    assert cfg.MODEL.IA_STRUCTURE.ACTIVE is False


def test_memory_hint_weights_catalog_and_output_dir(tmp_path):
    catalog = tmp_path / "cat.yaml"
    catalog.write_text("mine_train:\n  root: /x\n  video_root: clips\n  ann_file: a.json\n")
    out = tmp_path / "c.yaml"
    assert (
        gen.main(
            [
                "--catalog",
                str(catalog),
                "--dataset-train",
                "mine_train",
                "--num-classes",
                "80",
                "--gpu-memory",
                "24",
                "--num-gpus",
                "2",
                "--base-weights",
                "w.pth",
                "--output-dir",
                "runs/x",
                "--output",
                str(out),
            ]
        )
        == 0
    )
    cfg = _load(out)
    assert cfg.SOLVER.VIDEOS_PER_BATCH == 2 * 4  # 24 GiB / 5 GiB per R50 clip -> 4 per GPU
    assert cfg.DATASETS.CATALOG == str(catalog) and cfg.MODEL.WEIGHT == "w.pth" and cfg.OUTPUT_DIR == "runs/x"
    assert cfg.MODEL.ROI_ACTION_HEAD.NUM_PERSON_MOVEMENT_CLASSES == 14  # AVA's groups for 80 classes


@pytest.mark.parametrize(
    "extra,message",
    [
        (["--ia", "serial", "--backbone", "r101_8x8"], "AlphAction published no such config"),
        (["--class-groups", "5", "3", "3"], "summing to"),
        (["--dataset-test", "nope_val"], "'nope_val' is not in"),
    ],
)
def test_errors(tmp_path, capsys, extra, message):
    args = flags() + ["--output", str(tmp_path / "c.yaml")]
    if extra[0] in args:  # replace the flag's values
        i = args.index(extra[0])
        n = 3 if extra[0] == "--class-groups" else 1
        args = args[:i] + args[i + 1 + n :]
    assert run_cli(gen.main, args + extra) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "c.yaml").exists()


def test_groups_needed_for_non_ava_class_counts(tmp_path, capsys):
    # the label map gives 10 classes but no label_type: the groups must be given
    assert (
        run_cli(
            gen.main,
            [
                "--catalog",
                str(CATALOG_DIR / "catalog.yaml"),
                "--dataset-train",
                "mine_train",
                "--output",
                str(tmp_path / "c.yaml"),
            ],
        )
        == 2
    )
    assert "--class-groups P O I is needed for 10 classes" in capsys.readouterr().err
    # a class count the label map contradicts is refused before any training
    assert (
        run_cli(
            gen.main,
            [
                "--catalog",
                str(CATALOG_DIR / "catalog.yaml"),
                "--dataset-train",
                "mine_train",
                "--num-classes",
                "7",
                "--class-groups",
                "7",
                "0",
                "0",
                "--output",
                str(tmp_path / "c.yaml"),
            ],
        )
        == 2
    )
    err = capsys.readouterr().err
    assert "--num-classes 7, but the label map" in err and "asks for 10 outputs" in err
    assert not (tmp_path / "c.yaml").exists()


def test_classes_and_groups_come_from_the_label_map(tmp_path, capsys):
    """AVA's pbtxt form with label_type: 6 classes, groups 3 2 1 (counted by hand from the file written above)."""
    out = tmp_path / "typed.yaml"
    assert (
        gen.main(
            ["--catalog", str(CATALOG_DIR / "catalog.yaml"), "--dataset-train", "typed_train", "--output", str(out)]
        )
        == 0
    )
    head = _load(out).MODEL.ROI_ACTION_HEAD
    assert (
        head.NUM_CLASSES,
        head.NUM_PERSON_MOVEMENT_CLASSES,
        head.NUM_OBJECT_MANIPULATION_CLASSES,
        head.NUM_PERSON_INTERACTION_CLASSES,
    ) == (6, 3, 2, 1)
    assert "NUM_CLASSES 6, groups 3 2 1 from its label_type fields" in capsys.readouterr().out
    assert "# Classes: NUM_CLASSES 6" in out.read_text()
    # groups contradicting label_type are refused
    assert (
        run_cli(
            gen.main,
            [
                "--catalog",
                str(CATALOG_DIR / "catalog.yaml"),
                "--dataset-train",
                "typed_train",
                "--class-groups",
                "6",
                "0",
                "0",
                "--output",
                str(tmp_path / "x.yaml"),
            ],
        )
        == 2
    )
    assert "label_type fields" in capsys.readouterr().err


def test_label_types_out_of_the_heads_order_are_refused(tmp_path):
    from alphaction.utils.labelmap import class_layout

    path = tmp_path / "l.pbtxt"
    path.write_text(_labelmap([("carry", "OBJECT_MANIPULATION"), ("stand", "PERSON_MOVEMENT")]))
    with pytest.raises(ValueError, match="id 2 is PERSON_MOVEMENT after id 1 of type OBJECT_MANIPULATION"):
        class_layout(path)
    path.write_text(_labelmap([("stand", None), ("carry", None)]))
    assert class_layout(path) == (2, None)
    # AVA's 60-class evaluation list: ids up to 80 with gaps -> an 80-output head, groups not derivable
    path.write_text(
        "".join(f'label {{ name: "c{i}" label_id: {i} label_type: PERSON_MOVEMENT }}\n' for i in (1, 3, 80))
    )
    assert class_layout(path) == (80, None)


def test_epochs_size_the_schedule_from_the_training_keyframes(tmp_path):
    """4 annotated keyframes (image 4 has no box), 2 clips per iteration, 10 epochs: MAX_ITER 20 by hand; the
    R50 base's STEPS (50000, 70000) / 90000 and WARMUP 2000 keep their share: 11, 16 and 0.44 -> 1."""
    out = tmp_path / "e.yaml"
    assert (
        gen.main(
            [
                "--catalog",
                str(CATALOG_DIR / "catalog.yaml"),
                "--dataset-train",
                "typed_train",
                "--videos-per-gpu",
                "2",
                "--epochs",
                "10",
                "--output",
                str(out),
            ]
        )
        == 0
    )
    cfg = _load(out)
    assert cfg.SOLVER.MAX_ITER == 20 and tuple(cfg.SOLVER.STEPS) == (11, 16) and cfg.SOLVER.WARMUP_ITERS == 1


def test_interactive_stops_cleanly_at_end_of_input(tmp_path, monkeypatch, capsys):
    answers = iter([str(CATALOG_DIR / "catalog.yaml"), "typed_train"])

    def fake_input(prompt=""):
        try:
            return next(answers)
        except StopIteration:
            raise EOFError from None

    monkeypatch.setattr("builtins.input", fake_input)
    assert run_cli(gen.main, ["--interactive", "--output", str(tmp_path / "c.yaml")]) == 2
    err = capsys.readouterr().err
    assert "input ended before every question was answered; no config was written" in err
    assert "Traceback" not in err and not (tmp_path / "c.yaml").exists()


def test_interactive_defaults_come_from_the_label_map_and_the_training_set(tmp_path, monkeypatch, capsys):
    out = tmp_path / "i.yaml"
    # catalog, train, test (none), then Enter for classes and groups (from the label map), backbone, IA, GPUs,
    # memory, clips per GPU; epochs: Enter keeps AlphAction's 6.8; weights, file, output dir
    answers = iter(
        [str(CATALOG_DIR / "catalog.yaml"), "typed_train", "", "", "", "", "", "", "", "", "", "", str(out), ""]
    )
    monkeypatch.setattr("builtins.input", lambda prompt="": next(answers))
    assert gen.main(["--interactive"]) == 0
    text = capsys.readouterr().out
    assert "6 classes, groups 3 2 1 (label_type)" in text
    assert "4 annotated training keyframes; at 2 clips per iteration one epoch is 2 iterations" in text
    cfg = _load(out)
    assert cfg.MODEL.ROI_ACTION_HEAD.NUM_CLASSES == 6 and cfg.SOLVER.MAX_ITER == 14  # ceil(6.8 * 4 / 2)


def test_interactive_gives_the_same_file_as_the_flags(tmp_path, monkeypatch):
    by_flags = tmp_path / "a" / "my.yaml"
    assert (
        gen.main(
            flags() + ["--backbone", "r101_8x8", "--num-gpus", "4", "--videos-per-gpu", "2", "--output", str(by_flags)]
        )
        == 0
    )
    by_prompts = tmp_path / "b" / "my.yaml"
    answers = iter(
        [
            str(CATALOG_DIR / "catalog.yaml"),
            "mine_train",
            "mine_val",
            "10",
            "5 3 2",
            "r101_8x8",
            "",
            "4",
            "",
            "2",
            "",
            str(by_prompts),
            "",
        ]
    )
    monkeypatch.setattr("builtins.input", lambda prompt="": next(answers))
    assert gen.main(["--interactive"]) == 0
    assert by_prompts.read_text() == by_flags.read_text()


@pytest.mark.parametrize(
    "ia,backbone,base,structure",
    [
        ("on", "r50_4x16", "resnet50_4x16f_denseserial.yaml", "dense"),
        ("parallel", "r50_4x16", "resnet50_4x16f_parallel.yaml", "parallel"),
        ("dense", "r101_8x8", "resnet101_8x8f_denseserial.yaml", "dense"),
    ],
)
def test_ia_inherits_the_published_ia_config(tmp_path, ia, backbone, base, structure):
    out = tmp_path / "ia.yaml"
    assert (
        gen.main(
            flags()
            + ["--backbone", backbone, "--ia", ia, "--num-gpus", "8", "--videos-per-gpu", "2", "--output", str(out)]
        )
        == 0
    )
    assert os.path.basename(out.read_text().split("_BASE_:")[1].split("\n")[0].strip()) == base
    cfg = _load(out)
    assert cfg.MODEL.IA_STRUCTURE.ACTIVE is True and cfg.MODEL.IA_STRUCTURE.STRUCTURE == structure
    # 16 clips per iteration: AlphAction's IA schedule as published
    assert tuple(cfg.SOLVER.STEPS) == (70000, 90000) and cfg.SOLVER.MAX_ITER == 110000
    assert cfg.SOLVER.IA_LR_FACTOR == 10.0


def test_another_class_list_clears_the_base_configs_report_groups(tmp_path):
    # the synthetic base reports 12-class groups ("object:6-8", "talk:9", ...); a 10-class head reports its own
    base = os.path.join(REPO_ROOT, "config_files", "synthetic", "slowfast_r14_cpu.yaml")
    out = tmp_path / "ten.yaml"
    assert (
        gen.main(
            [
                "--base-config",
                base,
                "--catalog",
                str(CATALOG_DIR / "catalog.yaml"),
                "--dataset-train",
                "mine_train",
                "--class-groups",
                "3",
                "5",
                "2",
                "--output",
                str(out),
            ]
        )
        == 0
    )
    cfg = _load(out)
    assert cfg.TEST.CLASS_GROUPS == () and cfg.MODEL.ROI_ACTION_HEAD.NUM_CLASSES == 10
    same = tmp_path / "same.yaml"  # the same class list keeps them
    assert (
        gen.main(
            [
                "--base-config",
                base,
                "--dataset-train",
                "synthetic_tiny_train",
                "--num-classes",
                "12",
                "--class-groups",
                "5",
                "3",
                "4",
                "--output",
                str(same),
            ]
        )
        == 0
    )
    assert len(_load(same).TEST.CLASS_GROUPS) == 5
