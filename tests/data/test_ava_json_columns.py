"""The sliced JSON reader gives exactly what json.load gives, however the file is laid out."""

from __future__ import annotations

import json

import numpy as np
import pytest

from alphaction.data.datasets import ava_json
from alphaction.data.datasets.ava_json import read_annotation_columns, read_detection_columns
from alphaction.utils.errors import InputFileError


def _coco(n_images=40, seed=0):
    rng = np.random.default_rng(seed)
    images = [
        {
            "id": 1000 + i,
            "video_path": f"vid{i % 3}/{900 + i}.mp4",
            "height": 360,
            "width": 640,
            "movie": f"vid{i % 3}",
            "timestamp": 900 + i,
        }
        for i in range(n_images)
    ]
    anns = []
    for im in images:
        for p in range(int(rng.integers(0, 4))):
            anns.append(
                {
                    "id": len(anns) + 1,
                    "image_id": im["id"],
                    "bbox": rng.uniform(0, 300, 4).round(2).tolist(),
                    "action_ids": sorted(set(rng.integers(1, 9, int(rng.integers(0, 3))).tolist())),
                    "person_id": p,
                    # strings and nested values that hold the slice boundary's characters
                    "note": "a }, { b ] c",
                    "extra": [{"k": 1}, {"k": 2}],
                    "name": "é😀",
                }
            )
    return {"info": {"v": 1}, "images": images, "annotations": anns, "categories": [{"id": 1, "name": "person"}]}


@pytest.mark.parametrize("indent", [None, 2])
@pytest.mark.parametrize("slice_bytes", [64, 500, 1 << 22])
def test_columns_equal_what_json_load_reads(tmp_path, monkeypatch, indent, slice_bytes):
    monkeypatch.setattr(ava_json, "SLICE_BYTES", slice_bytes)  # many slices, cuts inside strings and nested lists
    coco = _coco()
    path = tmp_path / "ann.json"
    path.write_text(json.dumps(coco, indent=indent, ensure_ascii=False), encoding="utf-8")
    keyframes, boxes, others = read_annotation_columns(str(path))
    anns = coco["annotations"]
    assert keyframes.ids.tolist() == [im["id"] for im in coco["images"]]
    assert keyframes.timestamp.tolist() == [im["timestamp"] for im in coco["images"]]
    assert keyframes.folder.tolist() == [im["video_path"].split("/")[0] for im in coco["images"]]
    assert keyframes.movie.tolist() == [im["movie"] for im in coco["images"]]
    assert boxes.image_id.tolist() == [a["image_id"] for a in anns]
    assert boxes.bbox.tolist() == [a["bbox"] for a in anns]
    assert [boxes.action_ids[boxes.action_ptr[n] : boxes.action_ptr[n + 1]].tolist() for n in range(len(anns))] == [
        a["action_ids"] for a in anns
    ]
    assert boxes.person_id.tolist() == [a["person_id"] for a in anns]
    assert others["info"] == {"v": 1} and others["categories"] == coco["categories"]


def test_malformed_entries_are_marked_not_fatal(tmp_path):
    coco = {
        "images": [
            {"id": 1, "width": 64, "height": 48, "timestamp": 3, "movie": "v"},
            {"id": 2, "width": 64},
        ],  # lacks height, timestamp, movie
        "annotations": [
            {"id": 5, "image_id": 1, "bbox": [1, 2, 3], "action_ids": [1]},
            {"id": 6, "image_id": 1, "bbox": [1, 2, 3, 4]},
            {"id": 7, "image_id": 1, "bbox": [1, 2, 3, 4], "action_ids": [2, 3]},
        ],
    }
    path = tmp_path / "ann.json"
    path.write_text(json.dumps(coco))
    keyframes, boxes, _ = read_annotation_columns(str(path))
    assert keyframes.ok.tolist() == [True, False]
    assert keyframes.missing == [(1, 2, ["height", "timestamp", "movie"])]
    assert boxes.bbox_ok.tolist() == [False, True, True]
    assert boxes.has_actions.tolist() == [True, False, True]
    assert boxes.action_ids.tolist() == [1, 2, 3] and boxes.action_ptr.tolist() == [0, 1, 1, 3]


def test_broken_json_names_the_file_and_line(tmp_path):
    path = tmp_path / "ann.json"
    path.write_text('{"images": [\n{"id": 1},\n{"id": 2,,}\n], "annotations": []}')
    with pytest.raises(InputFileError) as e:
        read_annotation_columns(str(path))
    assert e.value.where == f"{path}:3"
    path.write_text("[1, 2]")
    with pytest.raises(InputFileError, match="COCO-style object"):
        read_annotation_columns(str(path))


def test_detections_equal_json_load_and_refuse_entries_without_a_box(tmp_path, monkeypatch):
    monkeypatch.setattr(ava_json, "SLICE_BYTES", 100)
    dets = [{"image_id": i // 3, "bbox": [i, 2.5, 10, 20], "score": i / 10, "category_id": 1} for i in range(20)]
    dets[4].pop("score")  # a missing score counts as 1.0
    path = tmp_path / "dets.json"
    path.write_text(json.dumps(dets, indent=1))
    columns = read_detection_columns(str(path))
    assert columns.image_id.tolist() == [d["image_id"] for d in dets]
    assert columns.bbox.tolist() == [d["bbox"] for d in dets]
    assert columns.score.tolist() == [d.get("score", 1.0) for d in dets]
    dets[7]["bbox"] = [1, 2]
    path.write_text(json.dumps(dets))
    with pytest.raises(InputFileError, match="entry 7"):
        read_detection_columns(str(path))
