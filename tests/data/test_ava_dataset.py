"""AVAVideoDataset on a tiny hand-made COCO-style dataset."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
import torch

from alphaction.data.collate import collate
from alphaction.data.datasets import AVAVideoDataset
from alphaction.data.transforms import ClipTransform
from alphaction.data.video_io import MissingClipError, clip_path, write_clip

KEYS = {
    "slow",
    "fast",
    "boxes",
    "labels",
    "scores",
    "objects",
    "image_size",
    "keyframe_size",
    "video_id",
    "timestamp",
    "index",
}


def write_dataset(root, extra_ann=None):
    """vidA: landscape 48x64, seconds 0-3; vidB: portrait 64x48, seconds 0-2 (6 frames per clip)."""
    for vid, (h, w), seconds in (("vidA", (48, 64), 4), ("vidB", (64, 48), 3)):
        for s in range(seconds):
            frames = np.full((6, h, w, 3), 40 * s, np.uint8)
            write_clip(clip_path(str(root / "clips"), vid, s), frames, fps=6)
    images = [
        {
            "id": 101,
            "video_path": "vidA/1.mp4",
            "img_path": "vidA/1.jpg",
            "height": 48,
            "width": 64,
            "movie": "vidA",
            "timestamp": 1,
        },
        {
            "id": 102,
            "video_path": "vidA/2.mp4",
            "img_path": "vidA/2.jpg",
            "height": 48,
            "width": 64,
            "movie": "vidA",
            "timestamp": 2,
        },
        {
            "id": 103,
            "video_path": "vidA/3.mp4",
            "img_path": "vidA/3.jpg",
            "height": 48,
            "width": 64,
            "movie": "vidA",
            "timestamp": 3,
        },
        {
            "id": 201,
            "video_path": "vidB/1.mp4",
            "img_path": "vidB/1.jpg",
            "height": 64,
            "width": 48,
            "movie": "vidB",
            "timestamp": 1,
        },
        {
            "id": 209,
            "video_path": "vidB/9.mp4",
            "img_path": "vidB/9.jpg",
            "height": 64,
            "width": 48,
            "movie": "vidB",
            "timestamp": 9,
        },
    ]
    anns = [
        {
            "id": 1,
            "image_id": 101,
            "category_id": 1,
            "action_ids": [1, 3],
            "person_id": 0,
            "bbox": [8, 4, 24, 36],
            "area": 864,
            "iscrowd": 0,
        },
        {
            "id": 2,
            "image_id": 101,
            "category_id": 1,
            "action_ids": [5],
            "person_id": 1,
            "bbox": [40, 0, 20, 40],
            "area": 800,
            "iscrowd": 0,
        },
        {
            "id": 3,
            "image_id": 102,
            "category_id": 1,
            "action_ids": [2],
            "person_id": 0,
            "bbox": [0, 0, 10, 10],
            "area": 100,
            "iscrowd": 0,
        },
        {
            "id": 4,
            "image_id": 201,
            "category_id": 1,
            "action_ids": [6],
            "person_id": 0,
            "bbox": [4, 4, 20, 40],
            "area": 800,
            "iscrowd": 0,
        },
    ] + (extra_ann or [])
    coco = {
        "images": images,
        "annotations": anns,
        "categories": [{"id": 1, "name": "person", "supercategory": "person"}],
    }
    os.makedirs(root / "ann", exist_ok=True)
    with open(root / "ann" / "train.json", "w") as f:
        json.dump(coco, f)
    dets = [
        {"image_id": 101, "bbox": [8, 4, 24, 36], "score": 0.95, "category_id": 1},
        {"image_id": 101, "bbox": [40, 0, 20, 40], "score": 0.5, "category_id": 1},  # below threshold
        {"image_id": 102, "bbox": [0, 0, 10, 10], "score": 0.3, "category_id": 1},  # 102 has none kept
        {"image_id": 103, "bbox": [2, 2, 10, 10], "score": 0.85, "category_id": 1},
        {"image_id": 999, "bbox": [2, 2, 10, 10], "score": 0.99, "category_id": 1},  # unknown image
    ]
    with open(root / "ann" / "person.json", "w") as f:
        json.dump(dets, f)
    objs = [
        {"image_id": 101, "bbox": [0, 0, 4, 4], "score": 0.2, "category_id": 3},
        {"image_id": 101, "bbox": [10, 10, 4, 4], "score": 0.9, "category_id": 3},
        {"image_id": 101, "bbox": [20, 20, 4, 4], "score": 0.5, "category_id": 3},
    ]
    with open(root / "ann" / "objects.json", "w") as f:
        json.dump(objs, f)
    return root


def make(root, is_train=True, max_objects=0, num_classes=8, **kw):
    transforms = ClipTransform(is_train, 32, 1000, [0, 0, 0], [1, 1, 1], False, 4, 2, flip_prob=0.0)
    args = dict(
        video_root=str(root / "clips"),
        ann_file=str(root / "ann" / "train.json"),
        box_file=str(root / "ann" / "person.json"),
        eval_file_paths={},
        object_file=str(root / "ann" / "objects.json"),
        frame_num=4,
        sample_rate=2,
        is_train=is_train,
        box_thresh=0.8,
        num_classes=num_classes,
        max_objects=max_objects,
        transforms=transforms,
        name="tiny_train",
    )
    args.update(kw)
    return AVAVideoDataset(**args)


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    return write_dataset(tmp_path_factory.mktemp("ds"))


def test_train_index_and_sample(root):
    ds = make(root)
    assert len(ds) == 3  # 103 and 209 have no GT box
    infos = [ds.get_video_info(i) for i in range(len(ds))]
    assert infos[0] == {"video_id": "vidA", "timestamp": 1, "height": 48, "width": 64}
    assert [(i["video_id"], i["timestamp"]) for i in infos] == [("vidA", 1), ("vidA", 2), ("vidB", 1)]
    s = ds[0]
    assert set(s) == KEYS and s["index"] == 0 and s["video_id"] == "vidA" and s["timestamp"] == 1
    # 48x64 -> 32x42 (short side 32, long int(32 * 64 / 48))
    assert s["image_size"] == (32, 42)
    assert s["slow"].shape == (3, 1, 32, 42) and s["fast"].shape == (3, 2, 32, 42)
    assert s["slow"].dtype == torch.float32
    expected = torch.tensor([[8, 4, 32, 40], [40, 0, 60, 40]], dtype=torch.float32) * torch.tensor(
        [42 / 64, 32 / 48] * 2
    )
    torch.testing.assert_close(s["boxes"], expected)
    labels = torch.zeros(2, 8)
    labels[0, [0, 2]] = 1  # action ids 1, 3 -> classes 0, 2
    labels[1, 4] = 1
    torch.testing.assert_close(s["labels"], labels)
    torch.testing.assert_close(s["scores"], torch.ones(2))
    assert s["objects"].shape == (0, 4)
    # window positions 0, 2, 4, 6 (keyframe at 4); fast takes 0 and 4: one frame of clip 0 (value 0), the keyframe (40)
    assert abs(float(s["fast"][0, 1].mean()) - 40) < 3 and abs(float(s["fast"][0, 0].mean()) - 0) < 3
    p = ds[2]
    assert p["image_size"] == (42, 32) and ds.aspect_ratio_groups().tolist() == [0, 0, 1]


def test_person_ids_follow_the_boxes(root):
    # ground-truth boxes carry the annotation's person_id in box order (image 101: ids 0, 1; 102: 0; 201: 0)
    ds = make(root)
    assert [ds.person_ids(i).tolist() for i in range(len(ds))] == [[0, 1], [0], [0]]
    assert ds.person_ids(0).dtype == np.int64
    # an annotation without person_id gives -1; detected test boxes have none
    root2 = write_dataset(
        root.parent / "no_pid",
        extra_ann=[
            {
                "id": 9,
                "image_id": 102,
                "category_id": 1,
                "action_ids": [1],
                "bbox": [20, 20, 5, 5],
                "area": 25,
                "iscrowd": 0,
            }
        ],
    )
    assert make(root2).person_ids(1).tolist() == [0, -1]
    test = make(root, is_train=False)
    assert [test.person_ids(i).tolist() for i in range(len(test))] == [[-1], [-1]]


def test_alphaction_box_convention_reads_coco_boxes_as_inclusive_pixels(root, tmp_path):
    # AlphAction's dataset: [x, y, w, h] -> [x, y, x + w - 1, y + h - 1], clipped to [0, W - 1] x [0, H - 1] of the
    # 64 x 48 keyframe; a box left empty by the clipping is dropped with its labels. Objects are converted only.
    root2 = write_dataset(
        tmp_path / "alph",
        extra_ann=[
            {
                "id": 7,
                "image_id": 101,
                "category_id": 1,
                "action_ids": [4],
                "person_id": 2,
                "bbox": [70, 10, 5, 5],
                "area": 25,
                "iscrowd": 0,
            },  # right of the image: x1 = x2 = 63 after clipping -> dropped
            {
                "id": 8,
                "image_id": 101,
                "category_id": 1,
                "action_ids": [7],
                "person_id": 3,
                "bbox": [60, 40, 10, 10],
                "area": 100,
                "iscrowd": 0,
            },  # over the corner: clipped to [60, 40, 63, 47]
        ],
    )
    ds = make(root2, box_convention="alphaction")
    s = ds[0]
    scale = torch.tensor([42 / 64, 32 / 48] * 2)
    torch.testing.assert_close(
        s["boxes"], torch.tensor([[8, 4, 31, 39], [40, 0, 59, 39], [60, 40, 63, 47]], dtype=torch.float32) * scale
    )
    assert s["labels"].argmax(1).tolist() == [0, 4, 6] and ds.person_ids(0).tolist() == [0, 1, 3]
    assert s["keyframe_size"] == (48, 64)
    test = make(root2, is_train=False, max_objects=1, box_convention="alphaction")
    t = test[0]
    torch.testing.assert_close(t["boxes"], torch.tensor([[8, 4, 31, 39]], dtype=torch.float32) * scale)
    torch.testing.assert_close(t["objects"], torch.tensor([[10, 10, 13, 13]], dtype=torch.float32) * scale)
    # the continuous convention keeps x + w and the box outside the image
    plain = make(root2)[0]["boxes"] / scale
    torch.testing.assert_close(
        plain, torch.tensor([[8, 4, 32, 40], [40, 0, 60, 40], [70, 10, 75, 15], [60, 40, 70, 50]], dtype=torch.float32)
    )


def test_index_is_numpy(root):
    ds = make(root)
    for key, value in vars(ds).items():
        assert not isinstance(value, (list, dict)) or key == "eval_file_paths", key


def test_test_mode_boxes_and_objects(root):
    ds = make(root, is_train=False, max_objects=2)
    assert [ds.get_video_info(i)["timestamp"] for i in range(len(ds))] == [1, 3]  # 102, 201 skipped
    s = ds[0]
    sx, sy = 42 / 64, 32 / 48
    torch.testing.assert_close(s["boxes"], torch.tensor([[8 * sx, 4 * sy, 32 * sx, 40 * sy]]))
    torch.testing.assert_close(s["scores"], torch.tensor([0.95]))
    torch.testing.assert_close(s["labels"], torch.zeros(1, 8))
    # top-2 objects by score: 0.9 then 0.5
    torch.testing.assert_close(
        s["objects"], torch.tensor([[10 * sx, 10 * sy, 14 * sx, 14 * sy], [20 * sx, 20 * sy, 24 * sx, 24 * sy]])
    )
    assert ds[1]["objects"].shape == (0, 4)


def test_action_id_out_of_range(tmp_path):
    root = write_dataset(
        tmp_path,
        extra_ann=[
            {
                "id": 77,
                "image_id": 102,
                "category_id": 1,
                "action_ids": [9],
                "person_id": 3,
                "bbox": [0, 0, 5, 5],
                "area": 25,
                "iscrowd": 0,
            }
        ],
    )
    with pytest.raises(ValueError) as err:
        make(root, num_classes=8)
    assert "train.json" in str(err.value) and "annotation id 77" in str(err.value)


def test_missing_files_name_the_entry(root, tmp_path):
    with pytest.raises(FileNotFoundError) as err:
        make(root, ann_file=str(tmp_path / "nope.json"))
    assert "nope.json" in str(err.value) and "tiny_train" in str(err.value) and "ann_file" in str(err.value)
    with pytest.raises(FileNotFoundError, match="box_file"):
        make(root, is_train=False, box_file=str(tmp_path / "boxes.json"))


def test_other_bad_arguments_are_named(root, tmp_path, caplog):
    with pytest.raises(FileNotFoundError, match="dataset 'tiny_train': video_root .*nowhere.* is not a folder"):
        make(root, video_root=str(tmp_path / "nowhere"))
    with pytest.raises(FileNotFoundError, match="object_file"):  # asked for (max_objects > 0) and missing
        make(root, max_objects=2, object_file=str(tmp_path / "objects.json"))
    with pytest.raises(ValueError, match="ON_BAD_SAMPLE must be 'error' or 'skip', got 'ignore'"):
        make(root, on_bad_sample="ignore")
    with pytest.raises(ValueError, match="needs transforms"):
        make(root, transforms=None)
    # testing: no keyframe keeps a detection scoring >= 0.99 (the unknown image 999 does not count)
    with pytest.raises(ValueError, match=r"no keyframe of .*train.json has a person box scoring >= 0.99 in .*person"):
        make(root, is_train=False, box_thresh=0.99, index_cache=False)
    caplog.clear()
    with caplog.at_level("WARNING"):
        ds = make(root, is_train=False, box_file="", max_objects=2, object_file="", index_cache=False)
    assert "no object_file; objects are empty" in caplog.text and "testing on the ground-truth boxes" in caplog.text
    assert len(ds) == 3  # the keyframes with a ground-truth box: images 101, 102 and 201


def test_missing_clip_names_annotation(root, tmp_path):
    # an annotation whose clip does not exist: vidB second 9 (image 209) given a GT box
    r = write_dataset(
        tmp_path,
        extra_ann=[
            {
                "id": 90,
                "image_id": 209,
                "category_id": 1,
                "action_ids": [1],
                "person_id": 0,
                "bbox": [0, 0, 5, 5],
                "area": 25,
                "iscrowd": 0,
            }
        ],
    )
    ds = make(r)
    i = [ds.get_video_info(k)["timestamp"] for k in range(len(ds))].index(9)
    with pytest.raises(MissingClipError) as err:
        ds[i]
    assert "9.mp4" in str(err.value) and "vidB" in str(err.value) and "timestamp=9" in str(err.value)


def test_skip_and_count_bad_samples(tmp_path):
    # the same missing clip as above, with DATALOADER.ON_BAD_SAMPLE skip: the sample is dropped and counted
    r = write_dataset(
        tmp_path,
        extra_ann=[
            {
                "id": 90,
                "image_id": 209,
                "category_id": 1,
                "action_ids": [1],
                "person_id": 0,
                "bbox": [0, 0, 5, 5],
                "area": 25,
                "iscrowd": 0,
            }
        ],
    )
    ds = make(r, on_bad_sample="skip")
    bad = [ds.get_video_info(k)["timestamp"] for k in range(len(ds))].index(9)
    good = 0 if bad != 0 else 1
    sample = ds[bad]
    assert sample["skipped"] and "9.mp4" in sample["error"]
    batch = collate([ds[good], sample], size_divisibility=16)
    assert batch["num_skipped"] == 1 and batch["indices"] == [good] and batch["slow"].shape[0] == 1
    empty = collate([sample], size_divisibility=16)  # nothing left: the engine decides (skip or stop)
    assert empty["empty"] and empty["num_skipped"] == 1 and "9.mp4" in empty["errors"][0]
    with pytest.raises(ValueError, match="ON_BAD_SAMPLE"):
        make(r, on_bad_sample="ignore")
