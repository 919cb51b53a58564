from __future__ import annotations

import torch

from alphaction.modeling import ActionDetector, build_model


def _batch():
    torch.manual_seed(0)
    slow, fast = torch.randn(2, 3, 2, 64, 64), torch.randn(2, 3, 8, 64, 64)
    boxes = [torch.tensor([[4.0, 4.0, 40.0, 60.0], [20.0, 8.0, 60.0, 50.0]]), torch.zeros(0, 4)]
    labels = [torch.zeros(2, 80), torch.zeros(0, 80)]
    labels[0][0, 3] = labels[0][0, 20] = labels[0][1, 70] = labels[0][1, 1] = 1
    return slow, fast, boxes, [(64, 64), (64, 64)], labels


def test_keys_are_prefixed_like_alphaction(tiny_cfg):
    model = build_model(tiny_cfg)
    assert isinstance(model, ActionDetector)
    prefixes = {k.split(".")[0] + "." + k.split(".")[1] for k in model.state_dict()}
    assert prefixes == {"backbone.slow", "backbone.fast", "roi_heads.action"}


def test_training_returns_weighted_losses_and_backpropagates(tiny_cfg):
    model = build_model(tiny_cfg).train()
    slow, fast, boxes, sizes, labels = _batch()
    losses = model(slow, fast, boxes, sizes, labels=labels)
    assert set(losses) == {"loss_pose_action", "loss_object_interaction", "loss_person_interaction"}
    assert all(torch.isfinite(v) and v.dim() == 0 for v in losses.values())
    sum(losses.values()).backward()
    assert model.backbone.slow.conv1.weight.grad.abs().sum() > 0
    assert model.roi_heads["action"].predictor.cls_score.weight.grad.abs().sum() > 0


def test_training_with_no_boxes_at_all_gives_zero_loss(tiny_cfg):
    model = build_model(tiny_cfg).train()
    slow, fast, _, sizes, _ = _batch()
    losses = model(slow, fast, [torch.zeros(0, 4)] * 2, sizes, labels=[torch.zeros(0, 80)] * 2)
    assert all(v.item() == 0.0 for v in losses.values())


def test_eval_returns_probabilities_per_input_box(tiny_cfg):
    model = build_model(tiny_cfg).eval()
    slow, fast, boxes, sizes, _ = _batch()
    with torch.no_grad():
        probs = model(slow, fast, boxes, sizes)
    assert [tuple(p.shape) for p in probs] == [(2, 80), (0, 80)]
    assert torch.all((probs[0] >= 0) & (probs[0] <= 1))
    torch.testing.assert_close(probs[0][:, :14].sum(1), torch.ones(2))


def test_every_shipped_config_builds_a_model():
    import pathlib

    from alphaction.config import get_cfg
    from alphaction.modeling import build_model as build

    root = pathlib.Path(__file__).resolve().parents[2] / "config_files"
    for path in sorted(root.rglob("*.yaml")):
        cfg = get_cfg()
        cfg.merge_from_file(str(path))
        with torch.device("meta"):
            model = build(cfg)
        if cfg.MODEL.META_ARCHITECTURE == "ClipClassifier":  # config_files/classification/
            assert model.head.proj.out_features == cfg.MODEL.CLIP_HEAD.NUM_CLASSES, path
            continue
        head = model.roi_heads["action"].predictor.cls_score
        assert head.out_features == cfg.MODEL.ROI_ACTION_HEAD.NUM_CLASSES, path
