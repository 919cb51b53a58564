"""Transforms: resize rule, flip of frames + persons + objects, normalization, SlowFast indices."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from alphaction.data.transforms import ClipTransform, color_jitter, normalize, resize_size, slowfast_indices

MEAN, STD = [122.7717, 115.9465, 102.9801], [57.375, 57.375, 57.375]


def make(is_train, tau=4, alpha=4, min_size=48, max_size=1000, **kw):
    return ClipTransform(is_train, min_size, max_size, MEAN, STD, False, tau, alpha, **kw)


def test_resize_rule():
    assert resize_size(360, 640, 256, 464) == (256, 455)  # 16:9 -> 256 x 455 (AlphAction)
    # capped: short = round(464 * 360 / 1280) = 130, long = int(130 * 1280 / 360) = 462
    assert resize_size(360, 1280, 256, 464) == (130, 462)
    assert resize_size(640, 360, 256, 464) == (455, 256)  # portrait
    assert resize_size(256, 300, 256, 464) == (256, 300)  # already there


def test_resize_scales_boxes_and_objects():
    frames = np.zeros((4, 48, 64, 3), np.uint8)
    boxes = torch.tensor([[8.0, 4.0, 32.0, 40.0]])
    objects = torch.tensor([[0.0, 0.0, 64.0, 48.0]])
    out = make(False, min_size=96)(frames, boxes, objects)
    assert out["image_size"] == (96, 128) and out["slow"].shape[-2:] == (96, 128)
    torch.testing.assert_close(out["boxes"], boxes * 2)
    torch.testing.assert_close(out["objects"], objects * 2)


def test_box_size_differs_from_frames():
    # frames already decoded at the output size; boxes still in keyframe pixels (box_size)
    frames = np.zeros((4, 96, 128, 3), np.uint8)
    out = make(False, min_size=96)(frames, torch.tensor([[8.0, 4.0, 32.0, 40.0]]), box_size=(48, 64))
    torch.testing.assert_close(out["boxes"], torch.tensor([[16.0, 8.0, 64.0, 80.0]]))


def _bright_at(video: torch.Tensor, box: torch.Tensor) -> bool:
    x = int((box[0] + box[2]) / 2)
    y = int((box[1] + box[3]) / 2)
    return bool((video[:, :, y, x] > 1.0).all())  # white is (255 - ~115) / 57 > 2 after normalizing


@pytest.mark.parametrize("flip", [True, False])
def test_flip_moves_frames_persons_and_objects(flip):
    frames = np.zeros((8, 48, 64, 3), np.uint8)
    frames[:, 10:20, 4:14] = 255  # person marker, left
    frames[:, 30:40, 20:26] = 255  # object marker
    person = torch.tensor([[4.0, 10.0, 14.0, 20.0]])
    obj = torch.tensor([[20.0, 30.0, 26.0, 40.0]])
    t = make(True, flip_prob=1.0 if flip else 0.0)
    out = t(frames, person, obj, rng=np.random.default_rng(0))
    if flip:
        torch.testing.assert_close(out["boxes"], torch.tensor([[50.0, 10.0, 60.0, 20.0]]))
        torch.testing.assert_close(out["objects"], torch.tensor([[38.0, 30.0, 44.0, 40.0]]))
    for video in (out["slow"], out["fast"]):
        assert _bright_at(video, out["boxes"][0]) and _bright_at(video, out["objects"][0])
        assert not _bright_at(video, torch.tensor([54.0, 30.0, 58.0, 40.0]) if not flip else obj[0])


@pytest.mark.parametrize("convention", ["continuous", "alphaction"])
def test_flipped_box_covers_the_flipped_pixels_in_its_convention(convention):
    # a marker on columns 4..13 and rows 10..19 of a 64-wide frame; after the flip it is on columns 50..59.
    # continuous boxes span [4, 14) -> [50, 60); alphaction boxes name the pixels, [4, 13] -> [50, 59]
    frames = np.zeros((8, 48, 64, 3), np.uint8)
    frames[:, 10:20, 4:14] = 255
    end = 14.0 if convention == "continuous" else 13.0
    person = torch.tensor([[4.0, 10.0, end, 20.0 if convention == "continuous" else 19.0]])
    out = make(True, flip_prob=1.0, box_convention=convention)(frames, person, person, rng=np.random.default_rng(0))
    columns = np.flatnonzero(out["slow"][0, 0, 15].numpy() > 1.0)
    assert columns.tolist() == list(range(50, 60))
    expected = [[50.0, 10.0, 60.0, 20.0]] if convention == "continuous" else [[50.0, 10.0, 59.0, 19.0]]
    assert out["boxes"].tolist() == expected and out["objects"].tolist() == expected


def test_no_flip_in_testing():
    frames = np.zeros((4, 48, 64, 3), np.uint8)
    t = make(False, flip_prob=1.0)
    box = torch.tensor([[1.0, 2.0, 3.0, 4.0]])
    for seed in range(5):
        torch.testing.assert_close(t(frames, box, rng=np.random.default_rng(seed))["boxes"], box)


def test_normalize_and_bgr():
    frames = np.zeros((2, 4, 4, 3), np.uint8)
    frames[..., 0], frames[..., 1], frames[..., 2] = 200, 100, 50
    x = normalize(frames, MEAN, STD)
    assert x.shape == (3, 2, 4, 4) and x.dtype == torch.float32
    assert x[0, 0, 0, 0].item() == pytest.approx((200 - MEAN[0]) / STD[0], rel=1e-6)
    y = normalize(frames, MEAN, STD, to_bgr=True)
    torch.testing.assert_close(y, x.flip(0))


@pytest.mark.parametrize(
    "tau,alpha,start,slow,fast",
    [
        (4, 4, None, list(range(1, 32, 4)), list(range(32))),  # slow every 4th, fast every frame
        (8, 4, None, [3, 11, 19, 27], list(range(0, 32, 2))),  # fast every 2nd
        (8, 8, 0, [0, 8, 16, 24], list(range(32))),
        (16, 2, 15, [15, 31], list(range(3, 32, 8))),
    ],
)
def test_slowfast_indices(tau, alpha, start, slow, fast):
    s, f = slowfast_indices(32, tau, alpha, start)
    assert s.tolist() == slow and f.tolist() == fast


def test_slowfast_rejects_bad_ratio():
    with pytest.raises(ValueError, match="TAU"):
        slowfast_indices(32, 8, 3)
    with pytest.raises(ValueError, match="TAU"):
        make(False, tau=4, alpha=8)


def test_slowfast_split_of_frames():
    # frame k has value k: the pathways must hold exactly the documented frames
    frames = np.stack([np.full((4, 4, 3), k, np.uint8) for k in range(32)])
    out = ClipTransform(False, 4, 1000, [0, 0, 0], [1, 1, 1], False, 8, 4)(frames, torch.zeros(0, 4))
    assert out["slow"][0, :, 0, 0].tolist() == [3, 11, 19, 27]
    assert out["fast"][0, :, 0, 0].tolist() == list(range(0, 32, 2))
    assert out["slow"].shape == (3, 4, 4, 4) and out["fast"].shape == (3, 16, 4, 4)


def test_slow_jitter_only_in_training():
    frames = np.stack([np.full((4, 4, 3), k, np.uint8) for k in range(32)])

    def first_slow(is_train, seed):
        t = ClipTransform(is_train, 4, 1000, [0, 0, 0], [1, 1, 1], False, 8, 4, slow_jitter=True, flip_prob=0.0)
        return int(t(frames, torch.zeros(0, 4), rng=np.random.default_rng(seed))["slow"][0, 0, 0, 0])

    starts = {first_slow(True, seed) for seed in range(30)}
    assert starts <= set(range(8)) and len(starts) > 3
    assert {first_slow(False, seed) for seed in range(10)} == {3}


def test_color_jitter_one_shift_per_clip():
    rng = np.random.default_rng(0)
    frames = np.full((3, 4, 4, 3), (120, 80, 40), np.uint8)
    out = color_jitter(frames, 20.0, 0.1, 0.1, rng)
    assert (out == out[0]).all()  # same shift on every frame
    assert np.abs(out.astype(int) - frames.astype(int)).max() <= 60
    assert np.array_equal(color_jitter(frames, 0.0, 0.0, 0.0, rng), frames)
