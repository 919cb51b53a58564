"""Rawframes layout: list parsing, filename template and start index, frame selection, catalog wiring."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from alphaction.config.paths_catalog import CLASSIFICATION_FACTORIES
from alphaction.data.datasets.clips import ClipViewTransform
from alphaction.data.datasets.rawframes import RawframesDataset, parse_rawframe_list
from alphaction.data.kinds import DATA_KINDS


def _write_frames(folder, n, tmpl, start):
    """Frame k (0-based) is a flat grey image of value 10 * k (PNG: lossless, so values survive exactly)."""
    folder.mkdir(parents=True)
    for k in range(n):
        cv2.imwrite(str(folder / tmpl.format(start + k)), np.full((8, 12, 3), 10 * k, np.uint8))


def _identity_transform(clip_len):
    # no resize change (min_size = short side 8), no crop, mean 0 / std 1: pixel values pass through as float
    return ClipViewTransform(False, clip_len, 1, 8, 12, [0, 0, 0], [1, 1, 1], tau=1, alpha=1)


def test_list_parsing_and_bad_lines(tmp_path):
    f = tmp_path / "train_rawframes.txt"
    f.write_text("# c\nvid_a 30 2\n\nsub/vid_b 5 0\n")
    assert parse_rawframe_list(str(f)) == [("vid_a", 30, [2]), ("sub/vid_b", 5, [0])]
    f.write_text("ok 3 1\nmissing_count 1\nneg 0 1\nword x 2\n")
    with pytest.raises(ValueError) as e:
        parse_rawframe_list(str(f))
    assert "3 bad line(s)" in str(e.value)
    for line in (2, 3, 4):
        assert f"{f}:{line}:" in str(e.value)


def test_template_start_index_and_sampled_frames(tmp_path):
    tmpl = "frame_{:04d}.png"
    _write_frames(tmp_path / "frames" / "v0", 6, tmpl, start=0)
    (tmp_path / "list.txt").write_text("v0 6 1\n")
    ds = RawframesDataset(
        str(tmp_path / "list.txt"),
        _identity_transform(4),
        num_classes=3,
        video_root=str(tmp_path / "frames"),
        filename_tmpl=tmpl,
        start_index=0,
    )
    assert ds.frame_path(0, 0).endswith("v0/frame_0000.png")
    item = ds[0]
    assert int(item["label"]) == 1
    # centre clip of 4 out of 6 frames starts at frame 1: values 10, 20, 30, 40
    values = item["fast"][0, 0, :, 0, 0].round().tolist()
    assert values == [10.0, 20.0, 30.0, 40.0]


def test_wrong_start_index_names_the_missing_file(tmp_path):
    _write_frames(tmp_path / "v0", 3, "img_{:05d}.jpg", start=1)
    (tmp_path / "list.txt").write_text("v0 3 0\n")
    ds = RawframesDataset(str(tmp_path / "list.txt"), _identity_transform(2), num_classes=1, start_index=0)
    with pytest.raises(RuntimeError, match="img_00000.jpg"):
        ds[0]


def test_bad_template_is_rejected(tmp_path):
    (tmp_path / "list.txt").write_text("v0 3 0\n")
    with pytest.raises(ValueError, match="filename_tmpl"):
        RawframesDataset(str(tmp_path / "list.txt"), _identity_transform(2), num_classes=1, filename_tmpl="{a}.jpg")


def test_registered_in_catalog_and_builder():
    assert DATA_KINDS["ClipClassifier"].factories["RawframesDataset"] is RawframesDataset
    assert "filename_tmpl" in CLASSIFICATION_FACTORIES["RawframesDataset"][2]
