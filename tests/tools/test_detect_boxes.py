"""tools/detect_boxes.py with randomly initialized weights from a local file: plumbing and output format."""
from __future__ import annotations

import json

import pytest
import torch

from alphaction.data.prep.detect import build_detector, load_detector_weights
from tools import detect_boxes


def test_detect_boxes_format(tiny_root, tmp_path):
    torch.manual_seed(0)
    weights = tmp_path / "det.pth"
    # 3 classes (background, person, one object class) keep the random-weight run small
    torch.save(build_detector("fasterrcnn_resnet50_fpn", num_classes=3).state_dict(), weights)
    out = tmp_path / "boxes"
    ann = tiny_root / "annotations" / "val.json"
    assert detect_boxes.main(["--ann-file", str(ann), "--keyframe-root", str(tiny_root / "keyframes"),
                              "--output-dir", str(out), "--weights", str(weights), "--num-classes", "3",
                              "--score-thresh", "0", "--min-size", "96", "--max-size", "128",
                              "--batch-size", "2", "--device", "cpu", "--no-progress"]) == 0
    images = {im["id"]: im for im in json.loads(ann.read_text())["images"]}
    persons = json.loads((out / "val_person_bbox.json").read_text())
    objects = json.loads((out / "val_object_bbox.json").read_text())
    assert persons or objects
    for dets, is_person in ((persons, True), (objects, False)):
        for d in dets:
            assert set(d) == {"image_id", "bbox", "score", "category_id"}
            assert (d["category_id"] == 1) == is_person and d["category_id"] in (1, 2)
            im = images[d["image_id"]]
            x, y, w, h = d["bbox"]
            assert w >= 0 and h >= 0 and x >= -0.01 and y >= -0.01
            assert x + w <= im["width"] + 0.01 and y + h <= im["height"] + 0.01
            assert 0.0 <= d["score"] <= 1.0
    assert {d["image_id"] for d in persons + objects} <= set(images)


def test_weights_must_match(tmp_path):
    weights = tmp_path / "det.pth"
    torch.save(build_detector("retinanet_resnet50_fpn", num_classes=3).state_dict(), weights)
    model = build_detector("fasterrcnn_resnet50_fpn", num_classes=3)
    with pytest.raises(ValueError, match="missing keys: .*unexpected keys"):
        load_detector_weights(model, str(weights))
