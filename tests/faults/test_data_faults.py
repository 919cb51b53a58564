"""Bad boxes in a detection file: never an inverted box in result.csv."""

from __future__ import annotations

import json
import logging

import torch

from alphaction.config.paths_catalog import DatasetCatalog
from alphaction.data.datasets import AVAVideoDataset
from alphaction.data.transforms import ClipTransform


def test_a_negative_width_detection_is_left_out_with_a_warning(tmp_path, tiny_data, monkeypatch, caplog):
    monkeypatch.setenv("ALPHACTION_DATA", tiny_data)
    args = DatasetCatalog.get("synthetic_tiny_val")["args"]
    dets = json.loads(open(args["box_file"]).read())
    first = dets[0]
    x, y, w, h = first["bbox"]
    dets.insert(1, {**first, "bbox": [x + w, y, -w, h], "score": 1.0})  # the same box, written inverted
    box_file = tmp_path / "boxes.json"
    box_file.write_text(json.dumps(dets))
    transforms = ClipTransform(False, 64, 1000, [0, 0, 0], [1, 1, 1], False, 4, 4)
    with caplog.at_level(logging.WARNING, logger="alphaction.data.datasets.ava"):
        ds = AVAVideoDataset(
            args["video_root"],
            args["ann_file"],
            box_file=str(box_file),
            frame_num=8,
            sample_rate=1,
            is_train=False,
            box_thresh=0.0,
            num_classes=12,
            transforms=transforms,
        )
    assert "boxes.json: 1 detection(s) with a width or height <= 0 are left out (first: entry 1" in caplog.text
    boxes = torch.cat([ds[i]["boxes"] for i in range(len(ds))])
    assert (boxes[:, 2] > boxes[:, 0]).all() and (boxes[:, 3] > boxes[:, 1]).all()
