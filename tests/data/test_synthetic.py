"""The synthetic dataset: file layout and formats of docs/internals.md, consistency between files, determinism."""

from __future__ import annotations

import csv
import hashlib
import json
import os
import re

import av
import cv2
import numpy as np
import pytest

from alphaction.data import synthetic
from alphaction.data.synthetic import dataset as synthetic_dataset

SPLITS = ("train", "val")
SPEC = synthetic.SIZES["tiny"]


@pytest.fixture(scope="module")
def root(tmp_path_factory) -> str:
    path = str(tmp_path_factory.mktemp("synthetic") / "tiny")
    synthetic.make_synthetic_dataset(path, "tiny", seed=0, progress=False)
    return path


def _json(path: str):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def _label_map(root: str) -> dict[str, int]:
    with open(os.path.join(root, "annotations", "action_list.pbtxt"), encoding="utf-8") as f:
        text = f.read()
    items = re.findall(r'item\s*\{\s*name:\s*"([^"]+)"\s*id:\s*(\d+)\s*label_type:\s*(\w+)\s*\}', text)
    assert len(items) == text.count("item"), "every item must have a name, an id and a label_type"
    # AVA's label types in id order give the CPU configs' head groups: 5 pose, 3 object, 4 interaction
    types = [t for _, _, t in items]
    assert types == ["PERSON_MOVEMENT"] * 5 + ["OBJECT_MANIPULATION"] * 3 + ["PERSON_INTERACTION"] * 4
    return {name: int(i) for name, i, _ in items}


def _iou(a, b) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


def _xyxy(bbox):
    x, y, w, h = bbox
    return x, y, x + w, y + h


def test_layout_and_done_marker(root):
    for rel in ("annotations/action_list.pbtxt", "DONE.json"):
        assert os.path.isfile(os.path.join(root, rel))
    for split in SPLITS:
        for rel in (
            f"annotations/{split}.json",
            f"annotations/{split}.csv",
            f"annotations/{split}_excluded_timestamps.csv",
            f"boxes/{split}_person_bbox.json",
            f"boxes/{split}_object_bbox.json",
        ):
            assert os.path.isfile(os.path.join(root, rel)), rel
        videos = sorted(v for v in os.listdir(os.path.join(root, "clips")) if v.startswith(f"syn_{split}_"))
        assert videos == [f"syn_{split}_{i:03d}" for i in range(SPEC["videos"][split])]
    done = _json(os.path.join(root, "DONE.json"))
    assert (done["size"], done["seed"], done["format_version"]) == ("tiny", 0, synthetic.FORMAT_VERSION)
    # no temporary folder left next to the dataset
    assert os.listdir(os.path.dirname(root)) in (["tiny"], ["tiny", ".tiny.lock"], [".tiny.lock", "tiny"])


def test_every_clip_decodes_to_25_frames_of_the_frame_size(root):
    clips = 0
    for video in os.listdir(os.path.join(root, "clips")):
        names = sorted(os.listdir(os.path.join(root, "clips", video)), key=lambda n: int(n.split(".")[0]))
        assert names == [f"{s}.mp4" for s in range(SPEC["seconds"])]
        for name in names:
            with av.open(os.path.join(root, "clips", video, name)) as container:
                stream = container.streams.video[0]
                assert stream.codec_context.name == "h264"
                frames = list(container.decode(video=0))
            assert len(frames) == 25
            assert {(f.width, f.height, f.format.name) for f in frames} == {(SPEC["width"], SPEC["height"], "yuv420p")}
            clips += 1
    assert clips == SPEC["seconds"] * sum(SPEC["videos"].values())


def test_keyframe_jpg_is_the_first_decoded_frame(root):
    ann = _json(os.path.join(root, "annotations", "val.json"))
    for image in ann["images"]:
        with av.open(os.path.join(root, "clips", image["video_path"])) as container:
            first = next(container.decode(video=0)).to_ndarray(format="bgr24")
        jpg = cv2.imread(os.path.join(root, "keyframes", image["img_path"]))
        assert jpg.shape == (image["height"], image["width"], 3)
        assert np.abs(jpg.astype(float) - first).mean() < 3.0  # JPEG loss only
        with av.open(os.path.join(root, "clips", image["video_path"])) as container:
            second = list(container.decode(video=0))[12].to_ndarray(format="bgr24")
        assert np.abs(jpg.astype(float) - second).mean() > np.abs(jpg.astype(float) - first).mean()


def test_images_are_the_seconds_with_a_full_clip_on_both_sides(root):
    for split in SPLITS:
        ann = _json(os.path.join(root, "annotations", f"{split}.json"))
        got = sorted((im["movie"], im["timestamp"]) for im in ann["images"])
        want = sorted(
            (f"syn_{split}_{v:03d}", s) for v in range(SPEC["videos"][split]) for s in range(1, SPEC["seconds"] - 1)
        )
        assert got == want
        for im in ann["images"]:
            assert im["video_path"] == f"{im['movie']}/{im['timestamp']}.mp4"
            assert im["img_path"] == f"{im['movie']}/{im['timestamp']}.jpg"
            assert (im["height"], im["width"]) == (SPEC["height"], SPEC["width"])
        assert ann["categories"] == [{"id": 1, "name": "person", "supercategory": "person"}]


def test_boxes_inside_frame_and_labels_valid(root):
    label_map = _label_map(root)
    ids = set(label_map.values())
    pose_ids = {label_map[n] for n in synthetic.POSE_CLASSES}
    object_ids = {label_map[n] for n in synthetic.OBJECT_CLASSES}
    person_ids = {label_map[n] for n in synthetic.PERSON_CLASSES}
    memory_ids = {label_map[n] for n in synthetic.MEMORY_CLASSES}
    # AlphAction's group order: pose ids, then object ids, then person-interaction ids, contiguous from 1; the
    # memory class closes the last sigmoid group
    assert max(pose_ids) < min(object_ids) and max(object_ids) < min(person_ids) < max(person_ids) < min(memory_ids)
    assert sorted(ids) == list(range(1, len(ids) + 1))
    for split in SPLITS:
        ann = _json(os.path.join(root, "annotations", f"{split}.json"))
        images = {im["id"]: im for im in ann["images"]}
        assert len({a["id"] for a in ann["annotations"]}) == len(ann["annotations"])
        for a in ann["annotations"]:
            im = images[a["image_id"]]
            x1, y1, x2, y2 = _xyxy(a["bbox"])
            assert 0 <= x1 < x2 <= im["width"] and 0 <= y1 < y2 <= im["height"], a
            assert a["bbox"][3] >= 0.25 * im["height"], "persons are tens of pixels tall"
            assert a["category_id"] == 1 and a["iscrowd"] == 0
            assert a["area"] == pytest.approx(a["bbox"][2] * a["bbox"][3], abs=0.05)
            assert set(a["action_ids"]) <= ids
            assert len(set(a["action_ids"]) & pose_ids) == 1, "exactly one pose label per box"
            assert len(set(a["action_ids"])) == len(a["action_ids"])


def test_json_and_csv_hold_the_same_boxes(root):
    for split in SPLITS:
        ann = _json(os.path.join(root, "annotations", f"{split}.json"))
        images = {im["id"]: im for im in ann["images"]}
        from_json = []
        for a in ann["annotations"]:
            im = images[a["image_id"]]
            x1, y1, x2, y2 = _xyxy(a["bbox"])
            box = (x1 / im["width"], y1 / im["height"], x2 / im["width"], y2 / im["height"])
            for aid in a["action_ids"]:
                from_json.append((im["movie"], im["timestamp"], aid, a["person_id"], box))
        with open(os.path.join(root, "annotations", f"{split}.csv"), newline="") as f:
            rows = list(csv.reader(f))
        from_csv = []
        for row in rows:
            assert len(row) == 8 and len(row[1]) == 4, row
            box = tuple(float(v) for v in row[2:6])
            assert all(0.0 <= v <= 1.0 for v in box)
            from_csv.append((row[0], int(row[1]), int(row[6]), int(row[7]), box))
        assert len(from_csv) == len(from_json)
        for j, c in zip(sorted(from_json), sorted(from_csv)):
            assert j[:4] == c[:4]
            np.testing.assert_allclose(j[4], c[4], atol=6e-4)


def test_detection_files_refer_to_images_and_cover_the_persons(root):
    for split in SPLITS:
        ann = _json(os.path.join(root, "annotations", f"{split}.json"))
        image_ids = {im["id"] for im in ann["images"]}
        persons = _json(os.path.join(root, "boxes", f"{split}_person_bbox.json"))
        objects = _json(os.path.join(root, "boxes", f"{split}_object_bbox.json"))
        for det in persons + objects:
            assert det["image_id"] in image_ids
            assert set(det) == {"image_id", "bbox", "score", "category_id"}
            assert 0.0 <= det["score"] <= 1.0 and det["bbox"][2] > 0 and det["bbox"][3] > 0
        found = 0
        for a in ann["annotations"]:
            ious = [_iou(_xyxy(a["bbox"]), _xyxy(d["bbox"])) for d in persons if d["image_id"] == a["image_id"]]
            found += bool(ious) and max(ious) > 0.5
        assert found >= 0.8 * len(ann["annotations"])


def test_excluded_timestamps_are_annotated_val_seconds(root):
    ann = _json(os.path.join(root, "annotations", "val.json"))
    keyframes = {(im["movie"], im["timestamp"]) for im in ann["images"]}
    with open(os.path.join(root, "annotations", "val_excluded_timestamps.csv"), newline="") as f:
        rows = list(csv.reader(f))
    assert 1 <= len(rows) <= 2
    for video, ts in rows:
        assert len(ts) == 4 and (video, int(ts)) in keyframes


def test_done_stats_match_the_annotations(root):
    label_map = {i: n for n, i in _label_map(root).items()}
    stats = _json(os.path.join(root, "DONE.json"))["stats"]
    for split in SPLITS:
        ann = _json(os.path.join(root, "annotations", f"{split}.json"))
        counts = {name: 0 for name in label_map.values()}
        for a in ann["annotations"]:
            for aid in a["action_ids"]:
                counts[label_map[aid]] += 1
        assert stats[split]["actions"] == counts
        assert stats[split]["boxes"] == len(ann["annotations"])


def _digest(root: str) -> dict[str, str]:
    out = {}
    for dirpath, _, files in os.walk(root):
        for name in files:
            if name != "DONE.json":  # holds the generation time
                path = os.path.join(dirpath, name)
                with open(path, "rb") as f:
                    out[os.path.relpath(path, root)] = hashlib.md5(f.read()).hexdigest()
    return out


def test_same_seed_same_dataset_and_ensure_skips(root, tmp_path, monkeypatch):
    again = str(tmp_path / "again")
    synthetic.ensure_synthetic_dataset(again, "tiny", seed=0)  # absent: generates
    a, b = _digest(root), _digest(again)
    assert a.keys() == b.keys()
    annotation_files = [k for k in a if k.startswith(("annotations", "boxes"))]
    assert annotation_files and all(a[k] == b[k] for k in annotation_files)
    assert [k for k in a if a[k] != b[k]] == []  # video and keyframe bytes too

    def fail(*args, **kwargs):
        raise AssertionError("ensure_synthetic_dataset regenerated a complete dataset")

    monkeypatch.setattr(synthetic_dataset, "make_synthetic_dataset", fail)
    synthetic.ensure_synthetic_dataset(again, "tiny", seed=0)  # DONE.json matches: nothing happens
    with pytest.raises(AssertionError):
        synthetic.ensure_synthetic_dataset(again, "tiny", seed=1)  # another seed must regenerate


def test_other_seed_differs_and_incomplete_root_regenerates(tmp_path):
    other = str(tmp_path / "other")
    os.makedirs(os.path.join(other, "clips"))  # an interrupted run's leftovers: no DONE.json
    synthetic.ensure_synthetic_dataset(other, "tiny", seed=1)
    assert os.path.isfile(os.path.join(other, "DONE.json"))
    first = _json(os.path.join(other, "annotations", "train.json"))
    synthetic.make_synthetic_dataset(other, "tiny", seed=2, progress=False)
    assert _json(os.path.join(other, "annotations", "train.json")) != first


def test_refuses_to_replace_a_foreign_folder(tmp_path):
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "thesis.tex").write_text("keep me")
    with pytest.raises(FileExistsError, match="thesis.tex"):
        synthetic.make_synthetic_dataset(str(foreign), "tiny", progress=False)
    assert (foreign / "thesis.tex").read_text() == "keep me"


def test_rest_needs_memory_the_clip_window_shows_no_run():
    """``rest`` = standing after a run, the run outside the clip window: the keyframe window (32 frames, 16
    before the keyframe) of a rest second reaches back into segment k-1 only, and k-1 and k are standing still;
    the run lies 2-4 seconds earlier. Checked on the plans of many videos (no rendering)."""
    from alphaction.data.synthetic.plan import FPS, HALF_SEGMENT, make_actors, segment_of_frame

    window = 32  # FRAME_NUM 16 x FRAME_SAMPLE_RATE 2 of the synthetic configs
    rests = stands = 0
    for seed in range(60):
        for actor in make_actors(np.random.default_rng(seed), 10, 192, 144):
            plan = actor.plan
            for k, seg in enumerate(plan):
                if seg.after != "rest":
                    stands += seg.pose == "stand"
                    continue
                rests += 1
                assert seg.pose == "stand" and seg.speed == 0 and seg.obj is None
                frames = range(k * FPS - window // 2, k * FPS + window // 2)
                seen = {segment_of_frame(n) for n in frames if n >= 0}
                assert min(seen) == k - 1
                assert all(plan[j].pose == "stand" and plan[j].speed == 0 for j in seen if j <= k), (seed, k)
                runs = [j for j in range(max(0, k - 4), k) if plan[j].pose == "run"]
                assert runs and k - max(runs) >= 2, (seed, k, [p.pose for p in plan])
                assert all(plan[j].pose == "stand" for j in range(max(runs) + 1, k))
            for k, seg in enumerate(plan[:-2]):  # a run, then standing still for 2 s: the second one rests
                still = all(p.pose == "stand" and p.speed == 0 and p.obj is None for p in plan[k + 1 : k + 3])
                if seg.pose == "run" and still:
                    assert plan[k + 1].after is None and plan[k + 2].after == "rest", (seed, k)
    assert HALF_SEGMENT < window // 2 < FPS  # the window reaches into the neighbouring segments only
    assert rests > 50 and stands > 2 * rests, (rests, stands)  # frequent enough to learn, and a minority


def test_listen_and_watch_need_another_person_and_are_not_drawn():
    """``listen to`` / ``watch`` are given exactly while someone else talks / jumps, to persons standing (or, for
    watch, crouching) on the spot, and not to the talker; they change no pixel: the video drawn from the same
    plans with those labels (and rest) removed is identical."""
    from dataclasses import replace

    from alphaction.data.synthetic.plan import make_actors
    from alphaction.data.synthetic.render import render_frames

    counts = {"listen to": 0, "watch": 0, "standing alone": 0}
    for seed in range(60):
        actors = make_actors(np.random.default_rng(seed), 10, 192, 144)
        for a, actor in enumerate(actors):
            for k, seg in enumerate(actor.plan):
                others = [o.plan[k] for b, o in enumerate(actors) if b != a]
                talker = any(o.inter == "talk to" for o in others)
                jumper = any(o.pose == "jump" for o in others)
                still = seg.speed == 0 and seg.inter is None
                assert ("listen to" in seg.context) == (talker and still and seg.pose == "stand"), (seed, a, k)
                assert ("watch" in seg.context) == (jumper and still and seg.pose in ("stand", "crouch"))
                counts["listen to"] += "listen to" in seg.context
                counts["watch"] += "watch" in seg.context
                counts["standing alone"] += still and seg.pose == "stand" and not seg.context
    # frequent, and not given to most standing persons: a standing person's own look does not tell
    assert counts["listen to"] > 100 and counts["watch"] > 100 and counts["standing alone"] > counts["listen to"]

    def frames(actors):
        return [img for _, img, _ in render_frames(actors, np.random.default_rng(5), 4, 128, 96)]

    seed = next(
        s
        for s in range(100)
        if any("listen to" in seg.context for a in make_actors(np.random.default_rng(s), 4, 128, 96) for seg in a.plan)
    )
    actors = make_actors(np.random.default_rng(seed), 4, 128, 96)
    plain = make_actors(np.random.default_rng(seed), 4, 128, 96)
    for actor in plain:
        actor.plan = [replace(seg, context=(), after=None) for seg in actor.plan]
    assert all(np.array_equal(x, y) for x, y in zip(frames(actors), frames(plain)))


def test_staging_folder_swaps_on_success_and_keeps_root_on_failure(tmp_path):
    from alphaction.data.synthetic.dataset import staging_folder

    root = tmp_path / "set"
    root.mkdir()
    (root / "old.txt").write_text("old")
    with pytest.raises(RuntimeError):
        with staging_folder(str(root)) as tmp:
            with open(os.path.join(tmp, "new.txt"), "w") as f:
                f.write("half")
            raise RuntimeError("interrupted")
    assert sorted(os.listdir(root)) == ["old.txt"]
    assert sorted(os.listdir(tmp_path)) == ["set"]  # no temporary folder left behind
    checked = []
    with staging_folder(str(root), before_swap=lambda: checked.append(True)) as tmp:
        with open(os.path.join(tmp, "new.txt"), "w") as f:
            f.write("done")
    assert checked == [True]
    assert sorted(os.listdir(root)) == ["new.txt"]
    assert sorted(os.listdir(tmp_path)) == ["set"]


def test_map_jobs_keeps_job_order():
    from alphaction.data.synthetic.dataset import map_jobs

    assert list(map_jobs(abs, [-3, 1, -2], workers=1)) == [3, 1, 2]
    assert list(map_jobs(abs, [-3, 1, -2, 5], workers=2, chunksize=2)) == [3, 1, 2, 5]


def test_test_only_size_has_no_train_split_and_repeats_the_val_videos(root, tmp_path, monkeypatch):
    # the shipped "test" size: val videos only, many more than the default val split, same frame size / length
    test, default = synthetic.SIZES["test"], synthetic.SIZES["default"]
    assert test["videos"]["train"] == 0 and test["videos"]["val"] >= 10 * default["videos"]["val"]
    assert (test["width"], test["height"], test["seconds"]) == (default["width"], default["height"], default["seconds"])
    from alphaction.config.paths_catalog import DatasetCatalog

    entry = DatasetCatalog.DATASETS["synthetic_test"]
    assert entry["synthetic"]["size"] == "test" and entry["ann_file"].endswith("test/annotations/val.json")
    # a val-only size with the tiny frame size writes an empty train split and the same val video as "tiny"
    monkeypatch.setitem(synthetic_dataset.SIZES, "val_only", dict(SPEC, videos={"train": 0, "val": 1}))
    out = str(tmp_path / "val_only")
    stats = synthetic.make_synthetic_dataset(out, "val_only", seed=0, progress=False)
    assert stats["train"]["keyframes"] == 0 and _json(os.path.join(out, "annotations", "train.json"))["images"] == []
    for rel in ("annotations/val.csv", "annotations/val.json", "boxes/val_person_bbox.json"):
        with open(os.path.join(out, rel), "rb") as f, open(os.path.join(root, rel), "rb") as g:
            assert f.read() == g.read(), rel
