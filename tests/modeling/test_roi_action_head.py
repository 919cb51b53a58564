from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from alphaction.modeling import build_roi_action_head, class_groups, loss_weights
from alphaction.modeling.roi_heads import ActionLoss, ClassGroups, MLPFeatureExtractor, action_probabilities


def test_probabilities_softmax_over_pose_sigmoid_over_the_rest():
    torch.manual_seed(0)
    logits = torch.randn(5, 10) * 3
    probs = action_probabilities(logits, num_pose=5)
    torch.testing.assert_close(probs[:, :5].sum(1), torch.ones(5))
    torch.testing.assert_close(probs[:, 5:], torch.sigmoid(logits[:, 5:]))
    assert action_probabilities(torch.zeros(0, 10), 5).shape == (0, 10)


def test_loss_weights_follow_alphaction_convention(tiny_cfg):
    assert loss_weights(tiny_cfg) == (1.2, 49.0, 17.0)  # defaults: pose 1.2, object/person -1
    head = tiny_cfg.MODEL.ROI_ACTION_HEAD
    head.NUM_CLASSES, head.NUM_PERSON_MOVEMENT_CLASSES = 10, 5
    head.NUM_OBJECT_MANIPULATION_CLASSES, head.NUM_PERSON_INTERACTION_CLASSES = 3, 2
    head.POSE_LOSS_WEIGHT, head.OBJECT_LOSS_WEIGHT, head.PERSON_LOSS_WEIGHT = -1.0, 0.5, -1.0
    assert loss_weights(tiny_cfg) == (5.0, 0.5, 2.0)


def test_groups_must_sum_to_num_classes(tiny_cfg):
    tiny_cfg.MODEL.ROI_ACTION_HEAD.NUM_CLASSES = 60
    with pytest.raises(ValueError, match="NUM_PERSON_INTERACTION_CLASSES.*NUM_CLASSES = 60"):
        class_groups(tiny_cfg)


def test_loss_with_gamma_zero_is_ce_plus_mean_bce_per_box():
    torch.manual_seed(0)
    groups = ClassGroups(3, 4, 2)
    logits = torch.randn(5, 9)
    labels = torch.zeros(5, 9)
    labels[torch.arange(5), torch.tensor([0, 2, 1, 1, 0])] = 1
    labels[:, 3:] = (torch.rand(5, 6) > 0.5).float()
    losses = ActionLoss(groups, (1.5, 4.0, 2.0), gamma=0.0, alpha=-1.0)(logits, labels)
    pose = F.cross_entropy(logits[:, :3], torch.tensor([0, 2, 1, 1, 0]), reduction="sum") / 5 * 1.5
    obj = F.binary_cross_entropy_with_logits(logits[:, 3:7], labels[:, 3:7]) * 4.0  # mean over boxes x classes
    person = F.binary_cross_entropy_with_logits(logits[:, 7:], labels[:, 7:]) * 2.0
    torch.testing.assert_close(losses["loss_pose_action"], pose)
    torch.testing.assert_close(losses["loss_object_interaction"], obj)
    torch.testing.assert_close(losses["loss_person_interaction"], person)


def test_empty_group_is_skipped_and_empty_batch_gives_zero():
    loss = ActionLoss(ClassGroups(3, 2, 0), (1.0, 1.0, 1.0))
    logits = torch.zeros(0, 5, requires_grad=True)
    losses = loss(logits, torch.zeros(0, 5))
    assert set(losses) == {"loss_pose_action", "loss_object_interaction"}
    assert all(v.item() == 0.0 for v in losses.values())
    sum(losses.values()).backward()


def test_extractor_max_pools_space_over_concatenated_pathways():
    extractor = MLPFeatureExtractor(3, 4, resolution=2, scale=1.0)
    slow = torch.zeros(1, 2, 1, 8, 8)
    slow[0, 0, 0, 5, 5] = 7.0  # a peak inside the box, away from its edges
    slow[0, 1] = -1.0
    fast = torch.full((1, 1, 4, 8, 8), 3.0)
    pooled = extractor.pool((slow, fast), [torch.tensor([[2.0, 2.0, 8.0, 8.0]])])
    # ROIAlign samples bilinearly, so the slow peak is smeared: check bounds and the exact constant channels
    assert 0 < pooled[0, 0].item() <= 7.0
    assert pooled[0, 1:].tolist() == [-1.0, 3.0]


def test_training_samples_at_most_proposals_per_clip_and_jitters_inside_the_image(tiny_cfg):
    tiny_cfg.MODEL.ROI_ACTION_HEAD.PROPOSAL_PER_CLIP = 3
    head = build_roi_action_head(tiny_cfg, dim_in=6)
    boxes = [torch.tensor([[10.0, 10.0, 30.0, 40.0]]).repeat(5, 1), torch.zeros(0, 4)]
    labels = [torch.eye(80)[:5], torch.zeros(0, 80)]
    out_boxes, out_labels = head.sample_proposals(boxes, labels, [(48, 32), (48, 32)])
    assert [b.shape[0] for b in out_boxes] == [3, 0]
    assert len(set(out_labels[0].argmax(1).tolist())) == 3  # three distinct GT rows
    b = out_boxes[0]
    # jitter (0.2, 0.1, 0.1, 0.05) of a 20 x 30 box: x1 in [6, 12], y1 in [7, 11.5], clipped to 32 x 48
    assert torch.all((b[:, 0] >= 6) & (b[:, 0] <= 12) & (b[:, 1] >= 7) & (b[:, 1] <= 11.5))
    assert torch.all((b[:, 2] <= 32) & (b[:, 3] <= 48))


def test_inference_widens_boxes_and_keeps_clip_alignment(tiny_cfg):
    head = build_roi_action_head(tiny_cfg, dim_in=6).eval()
    seen = []
    original_pool = head.feature_extractor.pool
    head.feature_extractor.pool = lambda feats, boxes: seen.append(boxes) or original_pool(feats, boxes)
    feats = (torch.randn(3, 4, 1, 4, 4), torch.randn(3, 2, 4, 4, 4))
    boxes = [torch.tensor([[10.0, 10.0, 30.0, 50.0]]), torch.zeros(0, 4), torch.tensor([[0.0, 0.0, 8.0, 8.0]] * 2)]
    with torch.no_grad():
        probs = head(feats, boxes, [(64, 64)] * 3)
    assert [p.shape for p in probs] == [(1, 80), (0, 80), (2, 80)]
    # EXTEND_SCALE (0.1, 0.05): 20 x 40 box grows by 1 px left/right and 1 px up/down
    assert seen[0][0].tolist() == [[9.0, 9.0, 31.0, 51.0]]
    torch.testing.assert_close(probs[2][:, :14].sum(1), torch.ones(2))
