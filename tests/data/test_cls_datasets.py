"""Clip-classification datasets: list parsing, class folders, HDF5 layouts, frame sampling and views."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from alphaction.data.datasets.clip_sources import (
    ClassFolderDataset,
    HDF5ClipDataset,
    VideoListDataset,
    index_class_folders,
    parse_video_list,
    read_class_index,
    to_rgb_uint8,
)
from alphaction.data.datasets.clips import ClipViewTransform, clip_indices, clip_starts, collate_clips, crop_offsets
from alphaction.data.video_io import write_clip

h5py = pytest.importorskip("h5py")


def _transform(is_train=False, clip_len=4, num_clips=1, num_crops=1, crop=0, size=32):
    return ClipViewTransform(
        is_train,
        clip_len,
        1,
        size,
        4 * size,
        [0, 0, 0],
        [1, 1, 1],
        tau=2,
        alpha=2,
        crop_size=crop,
        num_clips=num_clips,
        num_crops=num_crops,
    )


# --- list files -------------------------------------------------------------------------------------------------
def test_list_paths_with_spaces_comments_and_blank_lines(tmp_path):
    f = tmp_path / "train_list.txt"
    f.write_text("# header\nclass a/my video 1.mp4 3\n\nplain.mp4 0\r\n  indented/x.avi   12  \n")
    assert parse_video_list(str(f)) == [("class a/my video 1.mp4", [3]), ("plain.mp4", [0]), ("indented/x.avi", [12])]


def test_bad_lines_reported_with_file_and_line_numbers(tmp_path):
    f = tmp_path / "val_list.txt"
    f.write_text("ok.mp4 1\nno_label.mp4\nbad.mp4 one\nok2.mp4 2\n   7\n")
    with pytest.raises(ValueError) as e:
        parse_video_list(str(f))
    msg = str(e.value)
    assert "3 bad line(s)" in msg
    for line in (2, 3, 5):
        assert f"{f}:{line}:" in msg
    assert f"{f}:1:" not in msg and f"{f}:4:" not in msg


def test_custom_separator_and_multi_label(tmp_path):
    f = tmp_path / "list.csv"
    f.write_text("a b.mp4,2\nc.mp4, 0\n")
    assert parse_video_list(str(f), separator=",") == [("a b.mp4", [2]), ("c.mp4", [0])]
    g = tmp_path / "multi.txt"
    g.write_text("dir x/v 1.mp4 0 3 4\nw.mp4 2\n")
    assert parse_video_list(str(g), multi_label=True) == [("dir x/v 1.mp4", [0, 3, 4]), ("w.mp4", [2])]


def test_video_list_dataset_reads_videos_and_pads_short_ones(tmp_path):
    root = tmp_path / "videos with space"
    for name, value, n in (("a clip.mp4", 40, 6), ("b.mp4", 200, 3)):
        write_clip(str(root / name), np.full((n, 32, 32, 3), value, np.uint8))
    (tmp_path / "list.txt").write_text("a clip.mp4 1\nb.mp4 0\n")
    ds = VideoListDataset(str(tmp_path / "list.txt"), _transform(clip_len=4), num_classes=2, video_root=str(root))
    assert len(ds) == 2 and ds.labels == [1, 0]
    assert ds.read_frames(0).shape == (6, 32, 32, 3)
    s = ds[1]  # 3 frames for a 4-frame clip: padded by repeating the last frame
    assert s["slow"].shape == (1, 3, 2, 32, 32) and s["fast"].shape == (1, 3, 4, 32, 32)
    assert int(s["label"]) == 0
    assert abs(float(s["fast"].mean()) - 200) < 4  # mean 0, std 1: the raw pixel values (codec error aside)


def test_labels_outside_num_classes_are_refused(tmp_path):
    (tmp_path / "list.txt").write_text("a.mp4 5\n")
    with pytest.raises(ValueError, match="NUM_CLASSES"):
        VideoListDataset(str(tmp_path / "list.txt"), _transform(), num_classes=3)


# --- class folders ----------------------------------------------------------------------------------------------
def test_class_folders_sorted_and_index_written(tmp_path):
    for cls, names in (("walk", ["b.mp4", "a.MKV"]), ("Jump", ["x.webm"]), ("sit", ["notes.txt"])):
        for n in names:
            (tmp_path / cls).mkdir(exist_ok=True)
            (tmp_path / cls / n).write_bytes(b"")
    classes, samples = index_class_folders(str(tmp_path))
    assert classes == ["Jump", "sit", "walk"]  # sorted by code point, as os.listdir + sorted
    assert [(p.split("/")[-2:], lab) for p, lab in samples] == [
        (["Jump", "x.webm"], 0),
        (["walk", "a.MKV"], 2),
        (["walk", "b.mp4"], 2),
    ]
    ds = ClassFolderDataset(str(tmp_path), _transform(), num_classes=3, class_index=str(tmp_path / "ci.txt"))
    assert (tmp_path / "ci.txt").read_text() == "0 Jump\n1 sit\n2 walk\n"
    assert read_class_index(str(tmp_path / "ci.txt")) == ["Jump", "sit", "walk"] == ds.class_names


# --- HDF5 -------------------------------------------------------------------------------------------------------
def _h5(path, frames, labels, fkey="frames", lkey="labels"):
    with h5py.File(path, "w") as f:
        f.create_dataset(fkey, data=frames)
        f.create_dataset(lkey, data=labels)
    return str(path)


@pytest.mark.parametrize("layout", ["NTHW", "NTHWC1"])
def test_hdf5_single_channel_repeated_to_rgb_with_value_range(tmp_path, layout):
    frames = np.full((3, 5, 4, 6), 27.5, np.float32)  # (27.5 - 15) / 25 * 255 = 127.5 -> 128
    frames[1] = 15.0  # -> 0
    frames[2] = 50.0  # above the range -> 255
    if layout == "NTHWC1":
        frames = frames[..., None]
    path = _h5(tmp_path / "t.h5", frames, np.array([0, 2, 1]), "x", "y")
    ds = HDF5ClipDataset(
        path, _transform(clip_len=4), num_classes=3, frames_key="x", labels_key="y", value_range=[15, 40]
    )
    assert len(ds) == 3 and ds.labels == [0, 2, 1]
    for i, value in enumerate((128, 0, 255)):
        rgb = ds.read_frames(i)
        assert rgb.shape == (5, 4, 6, 3) and rgb.dtype == np.uint8
        assert (rgb == value).all()


def test_hdf5_rgb_uint8_passes_through_and_bad_layouts_fail(tmp_path):
    frames = np.random.default_rng(0).integers(0, 256, (2, 3, 4, 6, 3), dtype=np.uint8)
    ds = HDF5ClipDataset(_h5(tmp_path / "rgb.h5", frames, np.array([1, 0])), _transform(), num_classes=2)
    assert np.array_equal(ds.read_frames(1), frames[1])
    with pytest.raises(ValueError, match="expected"):
        HDF5ClipDataset(_h5(tmp_path / "bad.h5", np.zeros((2, 3, 4, 6, 2)), np.array([1, 0])), _transform(), 2)
    with pytest.raises(KeyError, match="frames_key"):
        HDF5ClipDataset(_h5(tmp_path / "k.h5", frames, np.array([1, 0]), "video"), _transform(), 2)


def test_per_sample_min_max_without_value_range():
    out = to_rgb_uint8(np.array([[[10.0, 20.0]], [[30.0, 30.0]]]))
    assert out.shape == (2, 1, 2, 3) and out[..., 0].tolist() == [[[0, 128]], [[255, 255]]]


# --- sampling and views -----------------------------------------------------------------------------------------
def test_clip_starts_uniform_centre_and_random():
    # 100 frames, span 16: valid starts 0..84; centres of 3 equal segments: 14, 42, 70
    assert clip_starts(100, 16, 3) == [14, 42, 70]
    assert clip_starts(100, 16, 1) == [42]
    assert clip_starts(10, 16, 2) == [0, 0]
    rng = np.random.default_rng(0)
    assert all(0 <= clip_starts(20, 16, rng=rng)[0] <= 4 for _ in range(50))


def test_short_videos_padded_by_repeating_the_last_frame():
    assert clip_indices(0, 8, 1, 5).tolist() == [0, 1, 2, 3, 4, 4, 4, 4]
    assert clip_indices(2, 4, 3, 8).tolist() == [2, 5, 7, 7]


def test_three_crops_span_the_long_side():
    assert crop_offsets(64, 96, 64, 3) == [(0, 0), (0, 16), (0, 32)]
    assert crop_offsets(96, 64, 64, 3) == [(0, 0), (16, 0), (32, 0)]
    assert crop_offsets(64, 96, 64, 1) == [(0, 16)]


def test_test_views_are_clips_times_crops_and_collate_flattens_them():
    frames = np.arange(20, dtype=np.uint8)[:, None, None, None].repeat(32, 1).repeat(48, 2).repeat(3, 3)
    t = _transform(clip_len=4, num_clips=2, num_crops=3, crop=32)
    slow, fast = t(frames, np.random.default_rng(0))
    assert slow.shape == (6, 3, 2, 32, 32) and fast.shape == (6, 3, 4, 32, 32)
    # clip starts 4 and 12 (slack 16, 2 clips): the fast pathway sees every frame of each clip
    assert fast[0, 0, :, 0, 0].tolist() == [4, 5, 6, 7] and fast[3, 0, :, 0, 0].tolist() == [12, 13, 14, 15]
    batch = collate_clips([{"slow": slow, "fast": fast, "label": torch.tensor(1), "index": 0, "video_id": "a"}] * 2)
    assert batch["slow"].shape == (12, 3, 2, 32, 32) and batch["num_views"] == 6
    assert batch["labels"].tolist() == [1, 1]


def test_class_balanced_sampler_draws_classes_equally_and_resumes_exactly():
    from alphaction.data.datasets.balanced_sampler import ClassBalancedBatchSampler, balanced_weights

    labels = [0] * 90 + [1] * 9 + [2]
    w = balanced_weights(labels)
    # 1/90 per sample of class 0 (x 90) = 1/9 per sample of class 1 (x 9) = 1 for class 2: a third each
    assert (
        w[:90].sum() == pytest.approx(1 / 3)
        and w[90:99].sum() == pytest.approx(1 / 3)
        and w[99] == pytest.approx(1 / 3)
    )
    draws = [i for b in ClassBalancedBatchSampler(w, 30, 100, seed=1) for i in b]
    share = np.bincount(np.asarray(labels)[draws], minlength=3) / len(draws)
    assert np.allclose(share, 1 / 3, atol=0.03)
    full = list(ClassBalancedBatchSampler(w, 4, 10, seed=3, rank=1, world_size=2))
    assert list(ClassBalancedBatchSampler(w, 4, 10, start_iter=6, seed=3, rank=1, world_size=2)) == full[6:]
    other = list(ClassBalancedBatchSampler(w, 4, 10, seed=3, rank=0, world_size=2))
    assert other != full and len(full) == 10 and all(len(b) == 4 for b in full)
