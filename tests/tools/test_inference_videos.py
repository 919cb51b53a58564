"""tools/inference_videos.py on videos made here with PyAV (mp4 and avi, one in a sub-folder) plus a corrupt and
an empty file: one row per readable video with recognize()'s top classes, the others skipped and counted."""

from __future__ import annotations

import csv
import os

import av
import numpy as np
import pytest
import torch

from alphaction.apis import init_model, recognize
from alphaction.checkpoint import Checkpointer
from alphaction.config import get_cfg
from alphaction.engine.defaults import REPO_ROOT
from alphaction.modeling import build_model
from tools import inference_videos

CLIPS_CFG = os.path.join(REPO_ROOT, "config_files", "classification", "synthetic_clips_tiny_quick.yaml")
NAMES = ["stand", "walk", "run", "jump", "crouch", "hold", "carry", "throw"]


def _write_video(path, n_frames: int, seed: int, codec: str = "libx264") -> None:
    rng = np.random.default_rng(seed)
    with av.open(str(path), "w") as c:
        st = c.add_stream(codec, rate=25)
        st.height, st.width, st.pix_fmt = 48, 64, "yuv420p"
        for t in range(n_frames):
            img = np.full((48, 64, 3), 40, np.uint8)
            x = (3 * t + int(rng.integers(0, 20))) % 48
            img[10:40, x : x + 16] = rng.integers(100, 255, 3, dtype=np.uint8)
            for p in st.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                c.mux(p)
        for p in st.encode():
            c.mux(p)


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    """A random classifier saved with its class names, as train_net.py saves them."""
    cfg = get_cfg()
    cfg.merge_from_file(CLIPS_CFG)
    torch.manual_seed(0)
    out = tmp_path_factory.mktemp("cls_model")
    Checkpointer(build_model(cfg), save_dir=str(out)).save("model_random", class_names=NAMES)
    return str(out / "model_random.pth")


@pytest.fixture(scope="module")
def video_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("videos")
    _write_video(root / "a.mp4", 30, 0)
    _write_video(root / "b.avi", 12, 1, codec="mpeg4")  # shorter than the 16-frame window: padded
    (root / "sub").mkdir()
    _write_video(root / "sub" / "c with space.mp4", 40, 2)
    (root / "broken.mp4").write_bytes(os.urandom(2000))
    (root / "empty.mkv").write_bytes(b"")
    (root / "notes.txt").write_text("not a video")
    return root


def test_csv_has_the_top5_of_recognize_for_each_readable_video(checkpoint, video_dir, tmp_path, capsys, caplog):
    out = tmp_path / "out" / "pred.csv"
    with caplog.at_level("WARNING"):
        assert inference_videos.main([CLIPS_CFG, checkpoint, str(video_dir), str(out), "--cpu"]) == 0
    rows = list(csv.reader(open(out, encoding="utf-8")))
    assert rows[0] == ["video"] + [c for i in range(1, 6) for c in (f"top{i}", f"score{i}")]
    assert [r[0] for r in rows[1:]] == ["a.mp4", "b.avi", "sub/c with space.mp4"]
    model = init_model(CLIPS_CFG, checkpoint)
    for row in rows[1:]:
        want = recognize(model, str(video_dir / row[0]), topk=8)
        assert row[1::2] == [name for name, _ in want[:5]]
        np.testing.assert_allclose([float(s) for s in row[2::2]], [s for _, s in want[:5]], atol=1e-6)
        assert set(row[1::2]) <= set(NAMES) and len(set(row[1::2])) == 5
    # the two unreadable files: a warning each and the summary
    assert "skipping broken.mp4" in caplog.text and "skipping empty.mkv" in caplog.text
    summary = capsys.readouterr().out
    assert "3 videos classified, 2 unreadable skipped" in summary
    assert "skipped broken.mp4" in summary and "skipped empty.mkv" in summary
    assert not os.path.exists(str(out) + ".tmp")


def test_topk_columns_and_folders_without_readable_videos(checkpoint, video_dir, tmp_path):
    out = tmp_path / "top2.csv"
    assert (
        inference_videos.main(
            [CLIPS_CFG, checkpoint, str(video_dir), str(out), "--topk", "2", "--cpu", "INPUT.NUM_CLIPS_TEST", "1"]
        )
        == 0
    )
    assert next(csv.reader(open(out))) == ["video", "top1", "score1", "top2", "score2"]
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "x.webm").write_bytes(b"nope")
    assert inference_videos.main([CLIPS_CFG, checkpoint, str(bad), str(tmp_path / "none.csv"), "--cpu"]) == 1
    (tmp_path / "no_videos").mkdir()
    with pytest.raises(FileNotFoundError, match="holds no video files"):
        inference_videos.main([CLIPS_CFG, checkpoint, str(tmp_path / "no_videos"), str(out), "--cpu"])
    with pytest.raises(FileNotFoundError, match="is not a folder"):
        inference_videos.main([CLIPS_CFG, checkpoint, str(tmp_path / "missing"), str(out), "--cpu"])


def test_the_runs_own_config_beside_the_checkpoint_is_the_default(checkpoint, video_dir, tmp_path, capsys):
    """As after train_net.py: OUTPUT_DIR holds config.yaml (here with 8 classes) beside the weights. Without a
    config argument the tool uses it and gives what the explicit config gives; without one it says what to do."""
    import shutil

    from alphaction.utils.errors import run_cli

    run = tmp_path / "run"
    run.mkdir()
    shutil.copy(checkpoint, run / "model_final.pth")
    cfg = get_cfg()
    cfg.merge_from_file(CLIPS_CFG)
    (run / "config.yaml").write_text(cfg.dump())
    default, explicit = tmp_path / "default.csv", tmp_path / "explicit.csv"
    assert inference_videos.main([str(run / "model_final.pth"), str(video_dir), str(default), "--cpu"]) == 0
    assert inference_videos.main([CLIPS_CFG, str(run / "model_final.pth"), str(video_dir), str(explicit), "--cpu"]) == 0
    assert default.read_text() == explicit.read_text()

    os.remove(run / "config.yaml")
    assert run_cli(inference_videos.main, [str(run / "model_final.pth"), str(video_dir), str(default), "--cpu"]) == 2
    err = capsys.readouterr().err
    assert "no config.yaml beside the checkpoint" in err and "fix: give the classifier's config" in err
