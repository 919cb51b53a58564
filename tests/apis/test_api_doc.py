"""docs/API.md's runnable examples run: its Python blocks (those that need no outside file) and its commands, from
a folder laid out as the repository root after the docs' training commands (data/ and data/output/ point at this
session's synthetic data and two-iteration checkpoints)."""

from __future__ import annotations

import csv
import os
import re
import shlex

import pytest

from alphaction.engine.defaults import REPO_ROOT, default_argument_parser, load_config

DOC = os.path.join(REPO_ROOT, "docs", "API.md")
OUTPUT_DIRS = {"quick_schedule": "detector_checkpoint", "synthetic_clips_tiny_quick": "classifier_checkpoint"}


def _blocks(kind: str) -> list[str]:
    return re.findall(rf"```{kind}\n(.*?)```", open(DOC, encoding="utf-8").read(), flags=re.S)


@pytest.fixture()
def repo_like(tmp_path, api_data, detector_checkpoint, classifier_checkpoint, monkeypatch):
    checkpoints = {"detector_checkpoint": detector_checkpoint, "classifier_checkpoint": classifier_checkpoint}
    (tmp_path / "data" / "output").mkdir(parents=True)
    os.symlink(api_data / "synthetic", tmp_path / "data" / "synthetic")
    os.symlink(os.path.join(REPO_ROOT, "config_files"), tmp_path / "config_files")
    for name, fixture in OUTPUT_DIRS.items():
        os.symlink(os.path.dirname(checkpoints[fixture]), tmp_path / "data" / "output" / name)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_the_python_examples_run(repo_like, capsys):
    runnable = [b for b in _blocks("python") if 'init_model("config_files/' in b and "/path/to/" not in b]
    assert len(runnable) == 2  # detection and classification
    for block in runnable:
        exec(compile(block, DOC, "exec"), {"__name__": "__main__"})
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("['stand', 'walk', 'run'")  # the detector's class names, from its checkpoint
    assert any(" [('" in line for line in lines[1:])  # per-person actions
    assert sum(line.startswith("videos/val/") and " label " in line for line in lines) == 3


def test_the_commands_parse_and_the_folder_tool_runs(repo_like):
    commands = [
        shlex.split(re.sub(r"\\\n\s*", " ", line)) for b in _blocks("bash") for line in b.splitlines() if line.strip()
    ]
    trains = [c for c in commands if c[:2] == ["python", "train_net.py"]]
    assert len(trains) == 2
    for argv in trains:
        cfg = load_config(default_argument_parser(train=True).parse_args(argv[2:]))
        name = os.path.basename(cfg.OUTPUT_DIR)
        assert name in OUTPUT_DIRS  # where the Python examples look for model_final.pth
    from tools import inference_videos

    (tool,) = [c for c in commands if c[:2] == ["python", "tools/inference_videos.py"]]
    assert inference_videos.main(tool[2:] + ["--cpu"]) == 0
    rows = list(csv.DictReader(open(repo_like / tool[5], encoding="utf-8")))
    assert len(rows) == 8 and all(r["top1"] and float(r["score1"]) >= float(r["score5"]) for r in rows)
