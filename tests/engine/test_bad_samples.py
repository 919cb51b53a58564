"""DATALOADER.ON_BAD_SAMPLE: a corrupt clip stops training with its path ("error"), or is skipped and counted
("skip")."""

from __future__ import annotations

import os
import shutil

import pytest

import train_net
from alphaction.data.video_io import VideoDecodeError
from alphaction.engine.defaults import REPO_ROOT
from alphaction.utils.errors import UserError

QUICK = os.path.join(REPO_ROOT, "config_files", "quick_schedules", "synthetic_tiny_r14.yaml")


@pytest.fixture()
def corrupt_data(tiny_data, tmp_path):
    root = tmp_path / "data"
    shutil.copytree(tiny_data, root)
    clips = root / "synthetic" / "tiny" / "clips"
    video = sorted(p for p in os.listdir(clips) if "train" in p)[0]
    for second in sorted(os.listdir(clips / video)):  # every clip of one training video: garbage bytes
        (clips / video / second).write_bytes(b"not an mp4 at all" * 64)
    return str(root), video


def _argv(out, *extra):
    return [
        "--config-file",
        QUICK,
        "--skip-val-in-train",
        "--skip-final-test",
        "SOLVER.MAX_ITER",
        "3",
        "SOLVER.VIDEOS_PER_BATCH",
        "4",
        "OUTPUT_DIR",
        str(out),
        *extra,
    ]


def test_error_names_the_corrupt_file(corrupt_data, tmp_path, monkeypatch):
    root, video = corrupt_data
    monkeypatch.setenv("ALPHACTION_DATA", root)
    # the start-up check decodes the clips of a few keyframes: the run stops before its first iteration
    with pytest.raises(UserError, match=f"{video}/0.mp4: cannot be decoded"):
        train_net.main(_argv(tmp_path / "out"))
    assert not list((tmp_path / "out").glob("model_*.pth"))
    # past that check (a clip it did not sample), the loader names the file as it fails
    from alphaction.data import build as data_build
    from alphaction.data.prep.validate import ValidationReport

    monkeypatch.setattr(data_build, "check_keyframe_clips", lambda *a, **k: ValidationReport("skipped"))
    with pytest.raises(VideoDecodeError, match=video):
        train_net.main(_argv(tmp_path / "out2"))


def test_skip_drops_and_counts(corrupt_data, tmp_path, monkeypatch):
    root, video = corrupt_data
    monkeypatch.setenv("ALPHACTION_DATA", root)
    train_net.main(_argv(tmp_path / "out", "DATALOADER.ON_BAD_SAMPLE", "skip"))
    log = (tmp_path / "out" / "log.txt").read_text()
    assert (tmp_path / "out" / "model_final.pth").is_file()
    assert "skipped samples:" in log and "could not be decoded and were skipped" in log


def test_skip_at_test_time_counts_the_clip_as_missed(tiny_data, tmp_path, monkeypatch):
    root = tmp_path / "data"
    shutil.copytree(tiny_data, root)
    clips = root / "synthetic" / "tiny" / "clips"
    video = sorted(p for p in os.listdir(clips) if "val" in p)[0]
    (clips / video / "2.mp4").write_bytes(b"garbage" * 100)  # a keyframe's own clip in the val split
    monkeypatch.setenv("ALPHACTION_DATA", str(root))
    import test_net

    res = test_net.main(["--config-file", QUICK, "DATALOADER.ON_BAD_SAMPLE", "skip", "OUTPUT_DIR", str(tmp_path / "t")])
    assert 0.0 <= res["synthetic_tiny_val"]["mAP@0.5"] <= 1.0
    log = (tmp_path / "t" / "log.txt").read_text()
    assert "could not be decoded and were skipped" in log
