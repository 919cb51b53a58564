"""Kill a training run with SIGKILL, rerun the same command: it resumes; then finetune to other classes.

The command is AlphAction's documented finetune command (``--transfer --no-head MODEL.WEIGHT ...``), the one
that restarted at iteration 0 and dropped the trained head after an interruption in AlphAction.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time

import pytest
import torch

import train_net
from alphaction.config import get_cfg
from alphaction.engine.defaults import REPO_ROOT
from alphaction.modeling import build_model

QUICK = os.path.join(REPO_ROOT, "config_files", "quick_schedules", "synthetic_tiny_r14.yaml")
MAX_ITER = 5  # checkpoints at 2 and 4; the run is killed right after the first one


def _command(init: str, out: str) -> list[str]:
    return [
        sys.executable,
        os.path.join(REPO_ROOT, "train_net.py"),
        "--config-file",
        QUICK,
        "--transfer",
        "--no-head",
        "--skip-val-in-train",
        "--skip-final-test",
        "MODEL.WEIGHT",
        init,
        "SOLVER.MAX_ITER",
        str(MAX_ITER),
        "SOLVER.CHECKPOINT_PERIOD",
        "2",
        "SOLVER.LOG_PERIOD",
        "1",
        "OUTPUT_DIR",
        out,
    ]


@pytest.fixture(scope="module")
def killed_and_resumed(tmp_path_factory):
    base = tmp_path_factory.mktemp("resume")
    env = dict(os.environ, ALPHACTION_DATA=str(base / "data"), OMP_NUM_THREADS="2")
    cfg = get_cfg()
    cfg.merge_from_file(QUICK)
    torch.manual_seed(0)
    init = str(base / "init.pth")  # stands in for a pretrained checkpoint
    torch.save({"model": build_model(cfg).state_dict()}, init)
    out = base / "train"
    cmd = _command(init, str(out))
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while not (out / "last_checkpoint").is_file():
        if proc.poll() is not None:
            raise AssertionError(f"training ended before its first checkpoint:\n{proc.stderr.read().decode()}")
        if time.monotonic() > deadline:
            proc.kill()
            raise AssertionError("no checkpoint within 120 s")
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    proc.stderr.close()
    assert proc.returncode == -signal.SIGKILL
    killed_at = int(re.fullmatch(r"model_(\d+)\.pth", (out / "last_checkpoint").read_text()).group(1))
    assert not (out / "model_final.pth").exists(), "the run finished before it was killed"
    saved = torch.load(out / f"model_{killed_at:07d}.pth", weights_only=True)
    first_log = (out / "log.txt").read_text()
    mp = pytest.MonkeyPatch()
    mp.setenv("ALPHACTION_DATA", str(base / "data"))
    try:
        train_net.main(cmd[2:])  # the same command again, in-process (saves an interpreter start)
    finally:
        mp.undo()
    rerun_log = (out / "log.txt").read_text()[len(first_log) :]
    return base, out, killed_at, saved, rerun_log


def test_rerun_resumes_at_the_right_iteration_with_the_trained_head(killed_and_resumed):
    _, out, killed_at, saved, log = killed_and_resumed
    assert killed_at >= 2 and saved["iteration"] == killed_at
    assert re.search(rf"Resuming from \S*model_{killed_at:07d}\.pth at iteration {killed_at} ", log), log[-3000:]
    assert "--transfer / --no-head apply only to the initial weights" in log
    # every key of the saved model, its trained head included, came back; nothing was skipped
    n = len(saved["model"])
    assert re.search(rf"\(resume\): {n} loaded, 0 missing, 0 unexpected, 0 wrong shape, 0 skipped", log)
    iters = [int(i) for i in re.findall(r"iter: (\d+)/", log)]
    assert iters[0] == killed_at + 1 and iters[-1] == MAX_ITER
    final = torch.load(out / "model_final.pth", weights_only=True)
    assert final["iteration"] == MAX_ITER


def _six_class_catalog(base) -> str:
    """A new dataset with 6 classes: the tiny train split with action ids above 6 removed, registered in a
    catalog file (how a user points the toolkit at their own data)."""
    from alphaction.config.paths_catalog import DatasetCatalog

    spec = DatasetCatalog.get("synthetic_tiny_train")["args"]
    coco = json.loads(open(spec["ann_file"]).read())
    for ann in coco["annotations"]:
        ann["action_ids"] = [i for i in ann["action_ids"] if i <= 6] or [1]
    ann_file = base / "six_classes.json"
    ann_file.write_text(json.dumps(coco))
    catalog = base / "catalog.yaml"
    catalog.write_text(f"six_train:\n  video_root: {spec['video_root']}\n  ann_file: {ann_file}\n")
    return str(catalog)


def test_finetune_to_other_classes_skips_exactly_the_head(killed_and_resumed, monkeypatch):
    base, out, _, _, _ = killed_and_resumed
    monkeypatch.setenv("ALPHACTION_DATA", str(base / "data"))
    catalog = _six_class_catalog(base)
    trained = str(out / "model_final.pth")  # trained on the synthetic data, 12 classes
    ckpt = torch.load(trained, weights_only=True)["model"]
    head = sorted(k for k in ckpt if k.startswith("roi_heads."))
    body = [k for k in ckpt if not k.startswith("roi_heads.")]
    assert head and body
    finetune = base / "finetune"
    train_net.main(
        [
            "--config-file",
            QUICK,
            "--transfer",
            "--no-head",
            "--skip-final-test",
            "--skip-val-in-train",
            "--catalog",
            catalog,
            "DATASETS.TRAIN",
            "('six_train',)",
            "MODEL.WEIGHT",
            trained,
            "MODEL.ROI_ACTION_HEAD.NUM_CLASSES",
            "6",
            "MODEL.ROI_ACTION_HEAD.NUM_PERSON_MOVEMENT_CLASSES",
            "3",
            "MODEL.ROI_ACTION_HEAD.NUM_OBJECT_MANIPULATION_CLASSES",
            "2",
            "MODEL.ROI_ACTION_HEAD.NUM_PERSON_INTERACTION_CLASSES",
            "1",
            "SOLVER.MAX_ITER",
            "1",
            "OUTPUT_DIR",
            str(finetune),
        ]
    )
    log = (finetune / "log.txt").read_text()
    skipped = re.search(r"Not loaded on purpose \(--no-head, the model's head\): (.*)", log).group(1).split(", ")
    assert sorted(skipped) == head
    assert re.search(
        rf"\(finetune, --no-head\): {len(body)} loaded, {len(head)} missing, 0 unexpected, "
        rf"0 wrong shape, {len(head)} skipped",
        log,
    )
    # without --no-head the new class count is a loud error naming the head and the option
    with pytest.raises(Exception, match="--no-head"):
        train_net.main(
            [
                "--config-file",
                QUICK,
                "--transfer",
                "--skip-final-test",
                "--skip-val-in-train",
                "--catalog",
                catalog,
                "DATASETS.TRAIN",
                "('six_train',)",
                "MODEL.WEIGHT",
                trained,
                "MODEL.ROI_ACTION_HEAD.NUM_CLASSES",
                "6",
                "MODEL.ROI_ACTION_HEAD.NUM_PERSON_MOVEMENT_CLASSES",
                "3",
                "MODEL.ROI_ACTION_HEAD.NUM_OBJECT_MANIPULATION_CLASSES",
                "2",
                "MODEL.ROI_ACTION_HEAD.NUM_PERSON_INTERACTION_CLASSES",
                "1",
                "SOLVER.MAX_ITER",
                "1",
                "OUTPUT_DIR",
                str(base / "finetune2"),
            ]
        )
