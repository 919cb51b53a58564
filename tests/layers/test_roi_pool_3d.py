from __future__ import annotations

import pytest
import torch
from torchvision.ops import roi_align, roi_pool

from alphaction.layers import boxes_to_rois, pool_rois_3d
from alphaction.layers.roi_pool import _pool_2d


def _by_hand(features, boxes, op, mean_before, **kw):
    """Loop over clips, boxes and frames with the 2-D torchvision op on single 4-D slices."""
    rows = []
    for b, clip_boxes in enumerate(boxes):
        for box in clip_boxes:
            roi = torch.cat([torch.zeros(1), box]).view(1, 5)
            if mean_before:
                rows.append(op(features[b : b + 1].mean(2), roi, **kw)[0])
            else:
                per_frame = [op(features[b : b + 1, :, t], roi, **kw)[0] for t in range(features.shape[2])]
                rows.append(torch.stack(per_frame).mean(0))
    return torch.stack(rows)


@pytest.fixture
def clip_data():
    torch.manual_seed(0)
    features = torch.randn(2, 3, 4, 8, 10)
    boxes = [torch.tensor([[0.0, 0.0, 40.0, 32.0], [13.0, 7.0, 29.0, 30.0]]), torch.tensor([[50.0, 3.0, 70.0, 60.0]])]
    return features, boxes


@pytest.mark.parametrize("mean_before", [True, False])
def test_roi_align_3d_equals_per_frame_torchvision(clip_data, mean_before):
    features, boxes = clip_data
    out = pool_rois_3d(features, boxes, 3, 0.125, sampling_ratio=2, mean_before_pooler=mean_before)
    expected = _by_hand(
        features, boxes, roi_align, mean_before, output_size=3, spatial_scale=0.125, sampling_ratio=2, aligned=False
    )
    assert out.shape == (3, 3, 3, 3)
    torch.testing.assert_close(out, expected)


@pytest.mark.parametrize("mean_before", [True, False])
def test_roi_pool_3d_equals_per_frame_torchvision(clip_data, mean_before):
    features, boxes = clip_data
    out = pool_rois_3d(features, boxes, 2, 0.125, mean_before_pooler=mean_before, pooler_type="pooling3d")
    expected = _by_hand(features, boxes, roi_pool, mean_before, output_size=2, spatial_scale=0.125)
    torch.testing.assert_close(out, expected)


def test_roi_align_on_a_linear_ramp_samples_the_box_centre():
    # f(y, x) = x: one bin with one sample reads the ramp at the box centre (no half-pixel offset)
    ramp = torch.arange(16.0).view(1, 1, 1, 1, 16).expand(1, 1, 3, 16, 16).contiguous()
    out = pool_rois_3d(ramp, [torch.tensor([[4.0, 2.0, 10.0, 8.0]])], 1, 1.0, sampling_ratio=1)
    assert out.item() == pytest.approx(7.0)


def test_two_d_ops_refuse_five_d_input():
    with pytest.raises(AssertionError):
        _pool_2d(torch.zeros(1, 1, 2, 4, 4), torch.zeros(1, 5), "align3d", 2, 1.0, 0)


def test_rois_carry_the_clip_index_and_clips_without_boxes_add_no_rows():
    boxes = [torch.zeros(0, 4), torch.tensor([[1.0, 2.0, 3.0, 4.0]])]
    assert boxes_to_rois(boxes).tolist() == [[1.0, 1.0, 2.0, 3.0, 4.0]]
    out = pool_rois_3d(torch.randn(2, 5, 2, 6, 6), boxes, 7, 1.0, mean_before_pooler=False)
    assert out.shape == (1, 5, 7, 7)
    assert pool_rois_3d(torch.randn(1, 5, 2, 6, 6), [torch.zeros(0, 4)], 7, 1.0).shape == (0, 5, 7, 7)


def test_half_precision_features_keep_float32_box_coordinates():
    torch.manual_seed(0)
    features = torch.randn(1, 2, 2, 40, 40)
    boxes = [torch.tensor([[301.3, 97.7, 517.9, 611.1]])]
    out = pool_rois_3d(features.to(torch.bfloat16), boxes, 2, 1.0 / 16, sampling_ratio=2)
    rois = torch.tensor([[0.0, 301.3, 97.7, 517.9, 611.1]])  # float32 coordinates
    expected = roi_align(
        features.to(torch.bfloat16).float().mean(2), rois, 2, spatial_scale=1.0 / 16, sampling_ratio=2, aligned=False
    )
    assert out.dtype == torch.bfloat16
    torch.testing.assert_close(out.float(), expected, atol=1e-2, rtol=1e-2)
