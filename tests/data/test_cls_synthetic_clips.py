"""The synthetic clip-classification videos: deterministic, balanced, labels agree with what is drawn."""

from __future__ import annotations

import json
import os

import numpy as np

from alphaction.config.paths_catalog import DatasetCatalog
from alphaction.data.datasets.clip_sources import parse_video_list, read_class_index, read_video
from alphaction.data.synthetic.clips import CLASS_NAMES, SIZES, ensure_clip_dataset, make_clip_dataset
from alphaction.data.synthetic.plan import POSE_CLASSES


def _files(root: str) -> dict[str, bytes]:
    out = {}
    for folder, _, names in os.walk(root):
        for n in names:
            path = os.path.join(folder, n)
            if n != "DONE.json":  # holds the generation time
                out[os.path.relpath(path, root)] = open(path, "rb").read()
    return out


def test_tiny_clip_set_is_deterministic_balanced_and_parses(tmp_path):
    a, b = str(tmp_path / "a"), str(tmp_path / "b")
    make_clip_dataset(a, "tiny", seed=0)
    make_clip_dataset(b, "tiny", seed=0)
    fa, fb = _files(a), _files(b)
    assert sorted(fa) == sorted(fb)
    # same seed -> identical lists and plan; videos compared decoded (encoder bytes may depend on its threading)
    assert {k: v for k, v in fa.items() if not k.endswith(".mp4")} == {
        k: v for k, v in fb.items() if not k.endswith(".mp4")
    }
    for k in [k for k in fa if k.endswith(".mp4")][:4]:
        va, vb = read_video(os.path.join(a, k)), read_video(os.path.join(b, k))
        assert va.shape == vb.shape and np.abs(va.astype(float) - vb.astype(float)).mean() < 1.0, k
    names = read_class_index(os.path.join(a, "class_index.txt"))
    assert names == ["stand", "walk", "run", "jump", "crouch", "hold", "carry", "throw"]
    records = {r["path"]: r for r in json.load(open(os.path.join(a, "clips.json")))}
    for split in ("train", "val"):
        entries = parse_video_list(os.path.join(a, f"{split}_list.txt"))
        assert len(entries) == SIZES["tiny"][split]
        labels = [labs[0] for _, labs in entries]
        # 8 clips, 8 classes: each class exactly once
        assert sorted(labels) == list(range(8))
        for path, (label,) in entries:
            rec = records[path]
            assert rec["label"] == label and rec["class"] == names[label]
            # the label is the object action when there is one, else the pose
            assert (rec["object"] or rec["pose"]) == names[label]
            assert rec["pose"] in POSE_CLASSES
            moving = rec["pose"] in ("walk", "run")
            assert (rec["speed"] > 0) == moving or rec["pose"] == "crouch"
            frames = read_video(os.path.join(a, path))
            assert frames.shape == (2 * 25, 144, 192, 3)  # 2 s at 25 fps, the detection data's frame size
    make_clip_dataset(str(tmp_path / "c"), "tiny", seed=1)
    assert _files(str(tmp_path / "c")) != _files(a)


def test_walkers_move_and_standers_do_not(tmp_path):
    """Independent of the plan records: the person's pixels (colour far from the background median) move
    several pixels for walk / run clips, and hardly for stand clips."""
    root = str(tmp_path / "clips")
    ensure_clip_dataset(root, "tiny", seed=0)
    records = json.load(open(os.path.join(root, "clips.json")))
    shifts = {}
    for rec in records:
        if rec["class"] not in ("stand", "walk", "run"):
            continue
        frames = read_video(os.path.join(root, rec["path"])).astype(np.float32)
        # the background pans by at most a few pixels; the person is the biggest change from the temporal median
        median = np.median(frames, axis=0)
        cols = []
        for f in (frames[0], frames[-1]):
            mask = np.abs(f - median).sum(-1) > 60
            cols.append(np.nonzero(mask)[1].mean() if mask.any() else np.nan)
        shifts.setdefault(rec["class"], []).append(abs(cols[1] - cols[0]))
    assert max(shifts["stand"]) < 4.0
    assert min(shifts["walk"] + shifts["run"]) > 8.0


def test_catalog_entries_name_the_generated_files(tmp_path, monkeypatch):
    monkeypatch.setenv("ALPHACTION_DATA", str(tmp_path))
    spec = DatasetCatalog.get("synthetic_clips_tiny_train")
    assert spec["factory"] == "VideoListDataset"
    assert spec["args"]["ann_file"] == str(tmp_path / "synthetic/clips_tiny/train_list.txt")
    assert spec["synthetic_clips"] == {"root": str(tmp_path / "synthetic/clips_tiny"), "size": "tiny", "seed": 0}
    assert DatasetCatalog.get("synthetic_clips_val")["args"]["class_index"] == str(
        tmp_path / "synthetic/clips/class_index.txt"
    )
    assert len(CLASS_NAMES) == 8
