"""ClipClassifier: losses against hand-written formulas, eval probabilities, shared backbone keys, --no-head."""

from __future__ import annotations

import pytest
import torch

from alphaction.checkpoint import Checkpointer
from alphaction.modeling import ActionDetector, ClipClassifier, build_model


@pytest.fixture
def cls_cfg(tiny_cfg):
    cfg = tiny_cfg.clone()
    cfg.MODEL.META_ARCHITECTURE = "ClipClassifier"
    cfg.MODEL.CLIP_HEAD.NUM_CLASSES = 5
    cfg.MODEL.CLIP_HEAD.DROPOUT_RATE = 0.0
    return cfg


def _clips(b=3):
    g = torch.Generator().manual_seed(0)
    return torch.randn(b, 3, 2, 32, 32, generator=g), torch.randn(b, 3, 8, 32, 32, generator=g)


def test_build_model_selects_the_classifier(cls_cfg, tiny_cfg):
    assert isinstance(build_model(cls_cfg), ClipClassifier)
    assert isinstance(build_model(tiny_cfg), ActionDetector)
    cls_cfg.MODEL.META_ARCHITECTURE = "Recognizer3D"
    with pytest.raises(ValueError, match="ClipClassifier"):
        build_model(cls_cfg)


def test_weighted_cross_entropy_matches_the_formula(cls_cfg):
    cls_cfg.MODEL.CLIP_HEAD.CLASS_WEIGHTS = [1.0, 2.0, 0.5, 1.0, 3.0]
    torch.manual_seed(0)
    model = build_model(cls_cfg).train()
    slow, fast = _clips()
    labels = torch.tensor([1, 4, 2])
    loss = model(slow, fast, labels)["loss_cls"]
    logits = model.logits(slow, fast)  # train-mode BN: same batch, same statistics
    w = torch.tensor([2.0, 3.0, 0.5])
    nll = -torch.log(torch.exp(logits) / torch.exp(logits).sum(1, keepdim=True))[torch.arange(3), labels]
    assert torch.allclose(loss, (w * nll).sum() / w.sum(), atol=1e-5)


def test_multi_label_bce_and_sigmoid_probabilities(cls_cfg):
    cls_cfg.MODEL.CLIP_HEAD.MULTI_LABEL = True
    torch.manual_seed(0)
    model = build_model(cls_cfg).train()
    slow, fast = _clips(2)
    target = torch.tensor([[1, 0, 1, 0, 0], [0, 0, 0, 0, 1]], dtype=torch.float32)
    loss = model(slow, fast, target)["loss_cls"]
    p = torch.sigmoid(model.logits(slow, fast))
    expected = -(target * torch.log(p) + (1 - target) * torch.log(1 - p)).mean()
    assert torch.allclose(loss, expected, atol=1e-5)
    probs = model.eval()(slow, fast)
    assert probs.shape == (2, 5) and ((probs > 0) & (probs < 1)).all()


def test_eval_returns_softmax_probabilities_and_grads_reach_head_and_backbone(cls_cfg):
    model = build_model(cls_cfg)
    slow, fast = _clips()
    model.train()(slow, fast, torch.tensor([0, 1, 2]))["loss_cls"].backward()
    assert model.head.proj.weight.grad.abs().sum() > 0
    assert model.backbone.slow.conv1.weight.grad.abs().sum() > 0
    probs = model.eval()(slow, fast)
    assert probs.shape == (3, 5) and torch.allclose(probs.sum(1), torch.ones(3), atol=1e-6)


def test_backbone_keys_shared_with_the_detector_and_no_head_transfer(cls_cfg, tiny_cfg, tmp_path):
    detector, classifier = build_model(tiny_cfg), build_model(cls_cfg)
    det_keys = {k for k in detector.state_dict() if k.startswith("backbone.")}
    cls_keys = set(classifier.state_dict())
    assert det_keys == {k for k in cls_keys if k.startswith("backbone.")}
    assert all(k.startswith(ClipClassifier.head_prefixes) for k in cls_keys - det_keys)
    Checkpointer(detector, save_dir=str(tmp_path)).save("det")
    Checkpointer(classifier, head_prefixes=classifier.head_prefixes).load(
        str(tmp_path / "det.pth"), transfer=True, no_head=True
    )
    for k in det_keys:
        assert torch.equal(classifier.state_dict()[k], detector.state_dict()[k]), k
    # and back: classification pretraining -> detection finetuning
    Checkpointer(classifier, save_dir=str(tmp_path)).save("cls")
    fresh = build_model(tiny_cfg)
    Checkpointer(fresh, head_prefixes=fresh.head_prefixes).load(str(tmp_path / "cls.pth"), transfer=True, no_head=True)
    assert torch.equal(
        fresh.state_dict()["backbone.slow.conv1.weight"], classifier.state_dict()["backbone.slow.conv1.weight"]
    )


def test_wrong_number_of_class_weights_is_refused(cls_cfg):
    cls_cfg.MODEL.CLIP_HEAD.CLASS_WEIGHTS = [1.0, 2.0]
    with pytest.raises(ValueError, match="CLASS_WEIGHTS"):
        build_model(cls_cfg)
