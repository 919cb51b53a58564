"""train_net.py --dry-run: everything built, one batch forward / backward, a report, nothing trained or saved."""

from __future__ import annotations

import os

import yaml

import train_net
from alphaction.config import get_cfg
from alphaction.engine.defaults import REPO_ROOT
from alphaction.modeling import build_model

QUICK = os.path.join(REPO_ROOT, "config_files", "quick_schedules", "synthetic_tiny_r14.yaml")


def test_dry_run_reports_and_writes_no_checkpoint(tiny_data, tmp_path, monkeypatch):
    monkeypatch.setenv("ALPHACTION_DATA", tiny_data)
    out = tmp_path / "dry"
    report = train_net.main(["--config-file", QUICK, "--dry-run", "OUTPUT_DIR", str(out), "DATASETS.TRAIN_SUBSET", "3"])
    assert not list(out.glob("*.pth")) and not (out / "last_checkpoint").exists()

    cfg = get_cfg()
    cfg.merge_from_file(QUICK)
    # the batch as the config shapes it: VIDEOS_PER_BATCH clips, FRAME_NUM fast frames, FRAME_NUM / ALPHA slow
    slow, fast = report["batch"]["slow"], report["batch"]["fast"]
    b, t = cfg.SOLVER.VIDEOS_PER_BATCH, cfg.INPUT.FRAME_NUM
    assert slow.startswith(f"({b}, 3, {t // cfg.INPUT.ALPHA},") and fast.startswith(f"({b}, 3, {t},")
    assert report["batch"]["boxes"].startswith(f"list of {b}")
    assert report["train_samples"] == 3 and report["max_iter"] == cfg.SOLVER.MAX_ITER
    assert report["parameters"] == sum(p.numel() for p in build_model(cfg).parameters())
    # gradients reached the head and every backbone pathway
    assert report["grad_norms"]
    assert all(v > 0 for v in report["grad_norms"].values())
    assert any(g.startswith("backbone.slow") for g in report["grad_norms"])
    assert any(g.startswith("backbone.fast") for g in report["grad_norms"])
    assert any(g.startswith("roi_heads") for g in report["grad_norms"])
    assert report["memory"]["peak_rss_mb"] > 0
    effective = yaml.safe_load(report["config"])
    assert effective["DATASETS"]["TRAIN_SUBSET"] == 3 and effective["OUTPUT_DIR"] == str(out)
    log = (out / "log.txt").read_text()
    assert "dry run passed" in log and "effective config" in log and "fast: (2, 3, 16," in log
