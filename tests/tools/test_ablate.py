"""tools/ablate.py: which test set the configs are compared on, and the side-by-side table."""

from __future__ import annotations

import json

import pytest

from tools import ablate


def test_default_configs_are_tested_on_the_large_test_set():
    args = ablate.parse_args([])
    assert args.configs == ablate.DEFAULT_CONFIGS
    assert args.opts[-2:] == ["DATASETS.TEST", '("synthetic_test",)']
    assert ablate.test_dataset(args.configs[1], args.opts) == "synthetic_test"


def test_own_configs_or_an_override_keep_their_test_set(tmp_path):
    cfg = tmp_path / "mine.yaml"
    cfg.write_text('DATASETS:\n  TEST: ("synthetic_tiny_val",)\n')
    args = ablate.parse_args(["--configs", str(cfg)])
    assert "DATASETS.TEST" not in args.opts and ablate.test_dataset(str(cfg), args.opts) == "synthetic_tiny_val"
    args = ablate.parse_args(["DATASETS.TEST", '("synthetic_large_val",)'])
    assert args.opts == ["DATASETS.TEST", '("synthetic_large_val",)']
    args = ablate.parse_args(["--configs", str(cfg), "--test-dataset", "synthetic_test"])
    assert ablate.test_dataset(str(cfg), args.opts) == "synthetic_test"
    with pytest.raises(SystemExit):
        ablate.parse_args(["--test-dataset", "synthetic_test", "DATASETS.TEST", '("synthetic_val",)'])


def test_main_tabulates_each_configs_result(tmp_path, monkeypatch, capsys):
    results = {
        "a": {"mAP@0.5": 0.5, "mAP@0.5/pose": 0.75, "per_class_AP@0.5": {"stand": 0.25}},
        "b": {"mAP@0.5": 0.125, "mAP@0.5/pose": float("nan"), "per_class_AP@0.5": {"stand": 1.0}},
    }
    calls = []

    def fake_run(config, out_dir, seed, opts, transfer=None):
        calls.append((config, seed, list(opts), transfer))
        name = out_dir.rsplit("/", 1)[-1]
        (tmp_path / name / "inference" / "synthetic_test").mkdir(parents=True)
        (tmp_path / name / "inference" / "synthetic_test" / "result.json").write_text(json.dumps(results[name]))
        return 1.0

    monkeypatch.setattr(ablate, "run_one", fake_run)
    assert ablate.main(["--names", "a", "b", "--output-dir", str(tmp_path), "--seed", "5"]) == 0
    assert [c[1] for c in calls] == [5, 5] and all(c[2][-1] == '("synthetic_test",)' for c in calls)
    lines = capsys.readouterr().out.splitlines()
    row = next(line for line in lines if line.startswith("frame-mAP@0.5"))
    assert row.split()[1:] == ["0.5000", "0.1250"]
    assert next(line for line in lines if "group pose" in line).split()[2:] == ["0.7500", "-"]
    assert next(line for line in lines if line.strip().startswith("stand")).split()[1:] == ["0.2500", "1.0000"]
    report = json.loads((tmp_path / "ablation.json").read_text())
    assert report["seed"] == 5 and report["results"]["b"]["mAP@0.5"] == 0.125


@pytest.fixture
def commands(monkeypatch):
    """The command lines ablate.py would run (each as if it succeeded)."""
    ran = []

    class Done:
        returncode = 0

    monkeypatch.setattr(ablate.subprocess, "run", lambda cmd, cwd=None: ran.append(cmd) or Done())
    return ran


def test_transfer_starts_every_config_from_the_checkpoint(tmp_path, commands):
    ablate.run_one("a.yaml", str(tmp_path / "a"), 2, ["SOLVER.MAX_ITER", "10"], transfer="base/model_final.pth")
    ablate.run_one("b.yaml", str(tmp_path / "b"), 2, ["SOLVER.MAX_ITER", "10"])
    with_weight, plain = commands
    assert "--transfer" in with_weight and "--transfer" not in plain
    i = with_weight.index("MODEL.WEIGHT")
    assert with_weight[i + 1] == "base/model_final.pth"
    # the checkpoint wins over a MODEL.WEIGHT among the overrides (yacs: the last value), and OUTPUT_DIR stays last
    assert i > with_weight.index("SOLVER.MAX_ITER") and with_weight[-2:] == ["OUTPUT_DIR", str(tmp_path / "a")]
    assert "MODEL.WEIGHT" not in plain
    assert ablate.parse_args(["--transfer", "w.pth"]).transfer == "w.pth"


def test_head_only_trains_the_heads_on_the_checkpoints_features_then_tests(tmp_path, commands):
    with pytest.raises(SystemExit):
        ablate.parse_args(["--head-only", "100"])  # no backbone to train on
    args = ablate.parse_args(
        [
            "--transfer",
            "base/model_final.pth",
            "--head-only",
            "100",
            "DATASETS.TRAIN",
            '("synthetic_large_train",)',
            "MODEL.IA_STRUCTURE.MEMORY_NORM",
            "True",
        ]
    )
    out = tmp_path / "ia"
    ablate.run_head_only(args.configs[1], str(out), 7, args.opts, args.transfer, args.head_only)
    probe, test = commands
    assert probe[1].endswith("probe_ia_head.py") and test[1].endswith("test_net.py")
    value = {probe[i]: probe[i + 1] for i in range(2, 18, 2)}
    assert value["--config-file"] == args.configs[1] and value["--weight"] == "base/model_final.pth"
    assert value["--steps"] == "100" and value["--seed"] == "7" and value["--save-dir"] == str(out)
    assert value["--train-dataset"] == "synthetic_large_train" and value["--test-dataset"] == "synthetic_test"
    assert value["--output"] == str(out / "probe.json") and probe[18:] == args.opts  # the overrides, test set included
    # the saved detector is tested with the config it was trained with
    assert test[2:] == [
        "--config-file",
        str(out / "config.yaml"),
        "MODEL.WEIGHT",
        str(out / "model_final.pth"),
        "OUTPUT_DIR",
        str(out),
    ]
    # a head already trained is only tested again
    out.mkdir()
    (out / "model_final.pth").write_bytes(b"")
    commands.clear()
    ablate.run_head_only(args.configs[1], str(out), 7, args.opts, args.transfer, args.head_only)
    assert len(commands) == 1 and commands[0][1].endswith("test_net.py")
