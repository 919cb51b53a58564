"""Box helpers in both pixel conventions, against values computed by hand from AlphAction's rules (its
``BoxList`` with maskrcnn-benchmark's ``TO_REMOVE = 1``, read in MVIG-SJTU/AlphAction
``alphaction/structures/bounding_box.py``) and from plain continuous geometry. Image: W = 100, H = 50."""

from __future__ import annotations

import pytest
import torch

from alphaction.structures.boxes import (
    apply_box_jitter,
    box_area,
    clip_boxes,
    extend_boxes,
    flip_boxes,
    jitter_boxes,
    nonempty_boxes,
    output_boxes,
    pixel_offset,
    xywh_to_xyxy,
    xyxy_to_xywh,
)

W, H = 100, 50
BOX = torch.tensor([[10.0, 20.0, 39.0, 29.0]])


def _t(*rows):
    return torch.tensor(rows, dtype=torch.float32)


def test_coco_xywh_ends_one_pixel_earlier_in_alphaction_convention():
    xywh = _t([10, 20, 30, 10], [5, 5, 0.5, 0])  # the second is thinner than a pixel
    assert xywh_to_xyxy(xywh).tolist() == [[10, 20, 40, 30], [5, 5, 5.5, 5]]
    assert xywh_to_xyxy(xywh, "alphaction").tolist() == [[10, 20, 39, 29], [5, 5, 5, 5]]  # (w - 1) clamped at 0
    assert xyxy_to_xywh(_t([10, 20, 39, 29]), "alphaction").tolist() == [[10, 20, 30, 10]]  # the inverse


def test_clip_to_image_ends_at_the_last_pixel_in_alphaction_convention():
    box = _t([-5, -3, 120, 60])
    assert clip_boxes(box, H, W).tolist() == [[0, 0, 100, 50]]
    assert clip_boxes(box, H, W, "alphaction").tolist() == [[0, 0, 99, 49]]
    # a box right of the image collapses to the last column and is dropped (AlphAction's remove_empty)
    gone = clip_boxes(_t([101, 10, 120, 20], [10, 10, 20, 20]), H, W, "alphaction")
    assert gone[0].tolist() == [99, 10, 99, 20] and nonempty_boxes(gone).tolist() == [False, True]


def test_horizontal_flip():
    assert flip_boxes(BOX, W).tolist() == [[61, 20, 90, 29]]  # x -> W - x
    assert flip_boxes(BOX, W, "alphaction").tolist() == [[60, 20, 89, 29]]  # x -> W - x - 1
    for convention in ("continuous", "alphaction"):  # flipping twice gives the box back
        assert flip_boxes(flip_boxes(BOX, W, convention), W, convention).tolist() == BOX.tolist()


def test_area_counts_the_end_pixel_in_alphaction_convention():
    assert box_area(BOX).tolist() == [29 * 9]
    assert box_area(BOX, "alphaction").tolist() == [30 * 10]


def test_test_time_extension_by_hand():
    # EXTEND_SCALE (0.1, 0.05): pad 0.1 * w / 2 left and right, 0.05 * h / 2 top and bottom
    # alphaction: w = 39 - 10 + 1 = 30 -> 1.5 px, h = 29 - 20 + 1 = 10 -> 0.25 px
    torch.testing.assert_close(extend_boxes(BOX, (0.1, 0.05), H, W, "alphaction"), _t([8.5, 19.75, 40.5, 29.25]))
    # continuous: w = 29 -> 1.45 px, h = 9 -> 0.225 px
    torch.testing.assert_close(extend_boxes(BOX, (0.1, 0.05), H, W), _t([8.55, 19.775, 40.45, 29.225]))
    # a whole-image box: clipped back to [0, W - 1] x [0, H - 1], or [0, W] x [0, H]
    whole = _t([0, 0, 99, 49])
    assert extend_boxes(whole, (0.1, 0.05), H, W, "alphaction").tolist() == [[0, 0, 99, 49]]
    assert extend_boxes(whole, (0.1, 0.05), H, W).tolist() == [[0, 0, 100, 50]]


def test_jitter_moves_sides_by_fractions_of_the_box_size():
    frac = _t([-0.2, -0.1, 0.2, 0.1])  # every side outwards by its maximum
    # alphaction: w = 30, h = 10 -> 6 px and 1 px; continuous: w = 29, h = 9 -> 5.8 px and 0.9 px
    torch.testing.assert_close(apply_box_jitter(BOX, frac, H, W, "alphaction"), _t([4, 19, 45, 30]))
    torch.testing.assert_close(apply_box_jitter(BOX, frac, H, W), _t([4.2, 19.1, 44.8, 29.9]))


def test_jitter_clamps_as_alphaction_random_aug():
    # near the bottom-right corner: x2 past the image is clamped to W - 1, y2 to H - 1
    corner = _t([90, 40, 99, 49])  # w = h = 10 (alphaction)
    out = apply_box_jitter(corner, _t([0.1, 0.05, 0.2, 0.1]), H, W, "alphaction")
    torch.testing.assert_close(out, _t([91, 40.5, 99, 49]))
    # sides that cross: x1 clamped to W - 2, then x2 >= x1 + 1 (and y likewise): a one-pixel box at the corner
    small = _t([95, 45, 99, 49])  # w = h = 5
    out = apply_box_jitter(small, _t([1.0, 1.0, -1.0, -1.0]), H, W, "alphaction")
    assert out.tolist() == [[98, 48, 99, 49]]
    # continuous: w = h = 4, x1 -> 99, x2 -> 95, kept >= one pixel inside [0, W]
    out = apply_box_jitter(small, _t([1.0, 1.0, -1.0, -1.0]), H, W)
    assert out.tolist() == [[99, 49, 100, 50]]


@pytest.mark.parametrize("convention", ["continuous", "alphaction"])
def test_random_jitter_stays_in_the_bounds_of_its_ratios(convention):
    boxes = _t([10, 20, 39, 29]).repeat(500, 1)
    out = jitter_boxes(boxes, (0.2, 0.1, 0.1, 0.05), H, W, torch.Generator().manual_seed(0), convention)
    off = pixel_offset(convention)
    w, h = 29 + off, 9 + off
    lo = _t([10 - 0.2 * w, 20 - 0.1 * h, 39 - 0.1 * w, 29 - 0.05 * h])[0]
    hi = _t([10 + 0.1 * w, 20 + 0.05 * h, 39 + 0.2 * w, 29 + 0.1 * h])[0]
    assert torch.all(out >= lo - 1e-5) and torch.all(out <= hi + 1e-5)
    assert (out.amax(0) - out.amin(0)).min() > 0.5 * (hi - lo).min()  # the draws spread over the range


def test_csv_boxes_get_the_pixel_back_on_the_keyframe():
    # a box on a 50 x 100 network input whose keyframe is 100 x 200: AlphAction resizes it to the keyframe
    # (x2 = 78, y2 = 58), adds 1 and divides by the keyframe size
    box = _t([8, 6, 39, 29])
    torch.testing.assert_close(output_boxes(box, H, W), _t([0.08, 0.12, 0.39, 0.58]))
    torch.testing.assert_close(output_boxes(box, H, W, "alphaction", (100, 200)), _t([0.08, 0.12, 0.395, 0.59]))
    assert output_boxes(_t([0, 0, 99.9, 49.9]), H, W, "alphaction").max() == 1.0  # clamped


@pytest.mark.parametrize("convention", ["continuous", "alphaction"])
def test_ava_box_round_trip_through_coco_pixels(convention):
    # an AVA CSV box on a 200 x 100 keyframe -> csv2COCO's [x, y, w, h] = [20, 20, 80, 40] -> xyxy -> CSV again
    xyxy = xywh_to_xyxy(_t([20, 20, 80, 40]), convention)
    assert xyxy.tolist() == ([[20, 20, 100, 60]] if convention == "continuous" else [[20, 20, 99, 59]])
    torch.testing.assert_close(output_boxes(xyxy, 100, 200, convention), _t([0.1, 0.2, 0.5, 0.6]))


def test_unknown_convention_is_refused():
    with pytest.raises(ValueError, match="INPUT.BOX_CONVENTION"):
        pixel_offset("legacy")
