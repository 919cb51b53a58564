"""The vectorised dataset index against a per-box reference loop, and its cache (keys, sharing, fallbacks)."""

from __future__ import annotations

import json
import os
import pickle

import numpy as np
import pytest

from alphaction.data.datasets import AVAVideoDataset
from alphaction.data.datasets.ava_index import build_index, cached_index
from alphaction.data.datasets.ava_json import read_annotation_columns, read_detection_columns
from alphaction.data.transforms import ClipTransform
from alphaction.data.video_io import clip_path, write_clip

NUM_CLASSES = 6


def _fixture(seed=0):
    rng = np.random.default_rng(seed)
    images = [
        {
            "id": int(i),
            "video_path": f"v{int(i) % 3}/{int(i)}.mp4",
            "height": 48,
            "width": 64,
            "movie": f"v{int(i) % 3}",
            "timestamp": int(i),
        }
        for i in rng.permutation(np.arange(10, 40))
    ]
    anns = []
    for im in images[:25]:
        for p in range(int(rng.integers(0, 4))):
            x, y = rng.uniform(-5, 60), rng.uniform(-5, 44)
            w, h = rng.choice([0.5, 3.0, 20.0, 70.0]), rng.uniform(0.5, 40)
            anns.append(
                {
                    "id": len(anns) + 1,
                    "image_id": im["id"],
                    "bbox": [x, y, w, h],
                    "person_id": p,
                    "action_ids": sorted(set(rng.integers(1, NUM_CLASSES + 1, int(rng.integers(1, 3))).tolist())),
                }
            )
    anns.append({"id": 999, "image_id": 5, "bbox": [1, 1, 5, 5], "action_ids": [1], "person_id": 0})  # no such image
    dets = []
    for _ in range(150):
        image_id = int(rng.integers(5, 42))
        score = float(rng.choice([0.3, 0.85, 0.9, 0.95, 0.95]))  # ties
        dets.append(
            {
                "image_id": image_id,
                "bbox": [
                    float(rng.uniform(-3, 60)),
                    float(rng.uniform(-3, 40)),
                    float(rng.choice([-2.0, 0.5, 8.0, 30.0])),
                    12.0,
                ],
                "score": score,
                "category_id": 1,
            }
        )
    return {"images": images, "annotations": anns}, dets


def _ref_xyxy(b, off, size):
    x, y, w, h = b
    box = [x, y, x + max(w - off, 0.0), y + max(h - off, 0.0)]
    if off and size is not None:
        H, W = size
        box = [min(max(v, 0.0), (W if k % 2 == 0 else H) - off) for k, v in enumerate(box)]
        if box[2] <= box[0] or box[3] <= box[1]:
            return None
    return box


def _ref_dets(dets, sizes, min_score, top_k, off, clip):
    out = {}
    for d in dets:
        if d["image_id"] not in sizes or d["score"] < min_score or not (d["bbox"][2] > 0 and d["bbox"][3] > 0):
            continue
        box = _ref_xyxy(d["bbox"], off, sizes[d["image_id"]] if clip else None)
        if box is not None:
            out.setdefault(d["image_id"], []).append(box + [d["score"]])
    for rows in out.values():
        rows.sort(key=lambda r: -r[4])  # stable
        del rows[top_k or len(rows) :]
    return out


def reference(coco, dets, objs, is_train, box_thresh, max_objects, off):
    """The index the docs describe, one box at a time (the per-box loops of the earlier implementation)."""
    sizes = {im["id"]: (im["height"], im["width"]) for im in coco["images"]}
    persons = {}
    if is_train or dets is None:
        for a in coco["annotations"]:
            if a["image_id"] not in sizes:
                continue
            box = _ref_xyxy(a["bbox"], off, sizes[a["image_id"]] if off else None)
            if box is None:
                continue
            hot = np.zeros(NUM_CLASSES, bool)
            hot[np.array(a["action_ids"]) - 1] = True
            persons.setdefault(a["image_id"], []).append((box, 1.0, a["person_id"], np.packbits(hot)))
    else:
        for i, rows in _ref_dets(dets, sizes, box_thresh, None, off, bool(off)).items():
            persons[i] = [(r[:4], r[4], -1, None) for r in rows]
    kept = [i for i in sorted(sizes) if persons.get(i)]
    objects = _ref_dets(objs, sizes, float("-inf"), max_objects, off, False) if max_objects else {}
    return kept, persons, objects


@pytest.mark.parametrize("convention_offset", [0.0, 1.0])
@pytest.mark.parametrize("is_train,with_dets", [(True, False), (False, True), (False, False)])
def test_index_equals_the_per_box_reference(tmp_path, convention_offset, is_train, with_dets):
    coco, dets = _fixture()
    objs = [dict(d, category_id=3) for d in dets[::-1]]
    (tmp_path / "ann.json").write_text(json.dumps(coco))
    (tmp_path / "dets.json").write_text(json.dumps(dets))
    (tmp_path / "objs.json").write_text(json.dumps(objs))
    keyframes, boxes, _ = read_annotation_columns(str(tmp_path / "ann.json"))
    index = build_index(
        keyframes,
        boxes,
        read_detection_columns(str(tmp_path / "dets.json")) if with_dets else None,
        read_detection_columns(str(tmp_path / "objs.json")),
        is_train=is_train,
        box_thresh=0.8,
        num_classes=NUM_CLASSES,
        max_objects=2,
        offset=convention_offset,
        ann_file="ann.json",
    )
    kept, persons, objects = reference(coco, dets if with_dets else None, objs, is_train, 0.8, 2, convention_offset)
    assert index["image_ids"].tolist() == kept
    for k, image_id in enumerate(kept):
        a, b = index["box_ptr"][k], index["box_ptr"][k + 1]
        rows = persons[image_id]
        np.testing.assert_array_equal(index["boxes"][a:b], np.array([r[0] for r in rows], np.float32))
        np.testing.assert_array_equal(index["scores"][a:b], np.array([r[1] for r in rows], np.float32))
        assert index["person_ids"][a:b].tolist() == [r[2] for r in rows]
        if is_train:
            np.testing.assert_array_equal(index["labels"][a:b], np.stack([r[3] for r in rows]))
        oa, ob = index["obj_ptr"][k], index["obj_ptr"][k + 1]
        np.testing.assert_array_equal(
            index["objects"][oa:ob], np.array([r[:4] for r in objects.get(image_id, [])], np.float32).reshape(-1, 4)
        )
        im = next(i for i in coco["images"] if i["id"] == image_id)
        assert index["video_ids"][index["video_index"][k]].decode() == im["movie"]
        assert index["timestamps"][k] == im["timestamp"] and index["sizes"][k].tolist() == [48, 64]
    assert "labels" in index if is_train else "labels" not in index


def _dataset(root, **kw):
    transforms = ClipTransform(False, 32, 1000, [0, 0, 0], [1, 1, 1], False, 4, 2, flip_prob=0.0)
    args = dict(
        video_root=str(root / "clips"),
        ann_file=str(root / "ann.json"),
        frame_num=4,
        sample_rate=2,
        is_train=True,
        num_classes=NUM_CLASSES,
        transforms=transforms,
        name="tiny",
    )
    args.update(kw)
    return AVAVideoDataset(**args)


@pytest.fixture
def small(tmp_path):
    coco, _ = _fixture()
    (tmp_path / "ann.json").write_text(json.dumps(coco))
    for v in range(3):
        write_clip(clip_path(str(tmp_path / "clips"), f"v{v}", 10), np.zeros((4, 48, 64, 3), np.uint8), fps=4)
    return tmp_path


def test_a_second_build_reads_the_cache_memory_mapped_and_equal(small):
    cold = _dataset(small)
    warm = _dataset(small)
    assert (cold.index_status, warm.index_status) == ("built", "cached")
    assert isinstance(warm._boxes, np.memmap)
    for name in ("_image_ids", "_box_ptr", "_boxes", "_labels", "_video_dirs", "_sizes"):
        np.testing.assert_array_equal(getattr(cold, name), getattr(warm, name))
    uncached = _dataset(small, index_cache=False)
    assert uncached.index_status == "built" and not isinstance(uncached._boxes, np.memmap)
    np.testing.assert_array_equal(uncached._boxes, warm._boxes)
    # other arguments are another index
    assert _dataset(small, num_classes=NUM_CLASSES + 2).index_status == "built"
    # a pickle (a spawned worker) carries the cache's name, not the arrays, and maps them again
    blob = pickle.dumps(warm)
    assert len(blob) < warm._boxes.nbytes + 5000 or warm._boxes.nbytes < 5000
    again = pickle.loads(blob)
    np.testing.assert_array_equal(again._boxes, warm._boxes)


def test_an_edited_annotation_file_is_never_read_from_a_stale_cache(small):
    first = _dataset(small)
    path = small / "ann.json"
    stat = os.stat(path)
    coco = json.loads(path.read_text())
    coco["annotations"][0]["bbox"][0] += 1.0  # same length in most cases; same mtime restored below
    text = json.dumps(coco)
    path.write_text(text)
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    second = _dataset(small)
    assert second.index_status == "built"
    assert not np.array_equal(first._boxes, second._boxes)
    # the content hash told them apart; an edit that changes the modification time also prunes the stale folders
    assert len(os.listdir(small / ".alphaction_cache")) == 2
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    assert _dataset(small).index_status == "built"
    assert len(os.listdir(small / ".alphaction_cache")) == 1


def test_an_unwritable_annotation_folder_caches_in_the_user_folder(small, tmp_path_factory, monkeypatch):
    user = tmp_path_factory.mktemp("user_cache")
    monkeypatch.setenv("ALPHACTION_CACHE", str(user))
    (small / ".alphaction_cache").write_text("a file where the cache folder would go")  # makes it unusable
    first = _dataset(small)
    assert first.index_status == "built" and os.listdir(user / "index")
    assert _dataset(small).index_status == "cached"


def test_a_corrupt_cache_is_rebuilt(small):
    _dataset(small)
    folder = next((small / ".alphaction_cache").iterdir())
    (folder / "boxes.npy").write_bytes(b"not an array")
    again = _dataset(small)
    assert again.index_status == "built" and len(again) > 0


def test_cached_index_without_a_writable_place_builds_in_memory(tmp_path, monkeypatch):
    (tmp_path / "a.json").write_text("{}")
    monkeypatch.setattr("alphaction.data.datasets.ava_index._cache_roots", lambda ann: [])
    arrays, status, source = cached_index(
        str(tmp_path / "a.json"), [str(tmp_path / "a.json")], {}, lambda: {"x": np.arange(3)}
    )
    assert status == "built" and source is None and arrays["x"].tolist() == [0, 1, 2]
