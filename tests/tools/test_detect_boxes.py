"""tools/detect_boxes.py with randomly initialized weights from a local file: plumbing and output format."""

from __future__ import annotations

import json
import urllib.error

import pytest
import torch

from alphaction.data.prep.detect import build_detector, load_detector_weights, resolve_detector_weights
from alphaction.utils.errors import UserError, run_cli
from tools import detect_boxes


def test_detect_boxes_format(tiny_root, tmp_path):
    torch.manual_seed(0)
    weights = tmp_path / "det.pth"
    # 3 classes (background, person, one object class) keep the random-weight run small
    torch.save(build_detector("fasterrcnn_resnet50_fpn", num_classes=3).state_dict(), weights)
    out = tmp_path / "boxes"
    ann = tiny_root / "annotations" / "val.json"
    assert (
        detect_boxes.main(
            [
                "--ann-file",
                str(ann),
                "--keyframe-root",
                str(tiny_root / "keyframes"),
                "--output-dir",
                str(out),
                "--weights",
                str(weights),
                "--num-classes",
                "3",
                "--score-thresh",
                "0",
                "--min-size",
                "96",
                "--max-size",
                "128",
                "--batch-size",
                "2",
                "--device",
                "cpu",
                "--no-progress",
            ]
        )
        == 0
    )
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
    with pytest.raises(UserError, match="missing keys: .*unexpected keys"):
        load_detector_weights(model, str(weights))


def test_default_weights_come_from_torchvisions_cache(tiny_root, tmp_path, monkeypatch):
    # offline: a (random) COCO checkpoint placed where torchvision caches fasterrcnn_resnet50_fpn's DEFAULT weights
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch_home"))
    cache = tmp_path / "torch_home" / "hub" / "checkpoints"
    cache.mkdir(parents=True)
    torch.manual_seed(0)
    torch.save(
        build_detector("fasterrcnn_resnet50_fpn").state_dict(), cache / "fasterrcnn_resnet50_fpn_coco-258fb6c6.pth"
    )
    monkeypatch.setattr(torch.hub, "download_url_to_file", _no_network)
    for name in ("DEFAULT", "COCO_V1", "FasterRCNN_ResNet50_FPN_Weights.COCO_V1"):
        assert resolve_detector_weights("fasterrcnn_resnet50_fpn", name) == str(
            cache / "fasterrcnn_resnet50_fpn_coco-258fb6c6.pth"
        )
    out = tmp_path / "boxes"
    ann = tiny_root / "annotations" / "val.json"
    assert (
        run_cli(
            detect_boxes.main,
            [
                "--ann-file",
                str(ann),
                "--keyframe-root",
                str(tiny_root / "keyframes"),
                "--output-dir",
                str(out),
                "--weights",
                "DEFAULT",
                "--min-size",
                "96",
                "--max-size",
                "128",
                "--device",
                "cpu",
                "--no-progress",
            ],
        )
        == 0
    )
    assert (out / "val_person_bbox.json").is_file()


def _no_network(url, path, *args, **kwargs):
    raise urllib.error.URLError("no network in this test")


def test_missing_default_weights_name_the_file_and_the_folder(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch_home"))
    monkeypatch.setattr(torch.hub, "download_url_to_file", _no_network)
    expected = tmp_path / "torch_home" / "hub" / "checkpoints" / "retinanet_resnet50_fpn_coco-eeacb38b.pth"
    with pytest.raises(UserError) as e:
        resolve_detector_weights("retinanet_resnet50_fpn", "DEFAULT")
    assert (
        str(expected) in str(e.value)
        and "download.pytorch.org/models/retinanet_resnet50_fpn_coco-eeacb38b.pth" in e.value.fix
        and not expected.exists()
    )
    status = run_cli(
        detect_boxes.main,
        [
            "--ann-file",
            "a.json",
            "--keyframe-root",
            "k",
            "--output-dir",
            "o",
            "--arch",
            "retinanet_resnet50_fpn",
            "--weights",
            "DEFAULT",
        ],
    )
    err = capsys.readouterr().err
    assert status == 2 and err.startswith("error: ") and str(expected) in err and "Traceback" not in err
    with pytest.raises(UserError, match="COCO_V1"):  # an unknown name lists the right ones
        resolve_detector_weights("fasterrcnn_resnet50_fpn", "IMAGENET")
