"""tools/demo.py on a movie made from the tiny synthetic clips, with GT boxes and a random tiny model."""

from __future__ import annotations

import csv
import json
import os

import av
import numpy as np
import pytest
import torch

from alphaction.apis.tracker import IoUTracker
from alphaction.checkpoint import Checkpointer
from alphaction.config import get_cfg
from alphaction.data.video_io import write_clip
from alphaction.engine.defaults import REPO_ROOT
from alphaction.modeling import build_model
from tools import demo

QUICK = os.path.join(REPO_ROOT, "config_files", "quick_schedules", "synthetic_tiny_r14.yaml")


def gt_box_file(ann_file, video_id: str, out_path) -> list[dict]:
    """The GT person boxes of one video as the demo's box file (timestamp = the second in the movie)."""
    ann = json.loads(open(ann_file).read())
    images = {im["id"]: im for im in ann["images"] if im["movie"] == video_id}
    dets = [
        {"timestamp": images[a["image_id"]]["timestamp"], "bbox": a["bbox"], "score": 1.0, "category_id": 1}
        for a in ann["annotations"]
        if a["image_id"] in images
    ]
    with open(out_path, "w") as f:
        json.dump(dets, f)
    return dets


@pytest.fixture(scope="module")
def random_model(tmp_path_factory):
    cfg = get_cfg()
    cfg.merge_from_file(QUICK)
    torch.manual_seed(0)
    out = tmp_path_factory.mktemp("model")
    Checkpointer(build_model(cfg), save_dir=str(out)).save("model_random")
    return out / "model_random.pth"


def _decode(path):
    with av.open(str(path)) as c:
        return [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]


def test_demo_writes_playable_mp4_csv_and_screenshot(tiny_root, random_model, tmp_path, concat_clips):
    ann = json.loads((tiny_root / "annotations" / "val.json").read_text())
    vid = ann["images"][0]["movie"]
    movie = tmp_path / f"{vid}.mp4"
    n_frames = concat_clips(tiny_root / "clips" / vid, movie)
    dets = gt_box_file(tiny_root / "annotations" / "val.json", vid, tmp_path / "boxes.json")
    out, table, shot = tmp_path / "out" / "demo.mp4", tmp_path / "out" / "demo.csv", tmp_path / "out" / "shot.png"
    assert (
        demo.main(
            [
                "--video",
                str(movie),
                "--output",
                str(out),
                "--config",
                QUICK,
                "--weights",
                str(random_model),
                "--boxes",
                str(tmp_path / "boxes.json"),
                "--cpu",
                "--csv",
                str(table),
                "--screenshot",
                str(shot),
                "--labelmap",
                str(tiny_root / "annotations" / "action_list.pbtxt"),
            ]
        )
        == 0
    )

    frames = _decode(out)
    assert len(frames) == n_frames == 125  # 5 s at 25 fps
    assert frames[0].shape == (96, 128, 3)  # the tiny dataset's 128x96, kept (short side < 360)
    # the drawing changes the frames where a person is, and only there is a box colour
    src = _decode(movie)
    assert any(np.abs(a.astype(int) - b.astype(int)).max() > 60 for a, b in zip(frames, src))

    rows = list(csv.DictReader(open(table)))
    per_box = {}
    for r in rows:
        per_box.setdefault((int(r["second"]), int(r["track_id"])), []).append(r)
        assert 0.0 <= float(r["score"]) <= 1.0
        assert 0 <= float(r["x1"]) <= float(r["x2"]) <= 1 and 0 <= float(r["y1"]) <= float(r["y2"]) <= 1
    # threshold 0: every class of every GT box of every second, 12 classes each
    assert len(rows) == 12 * len(dets)
    assert len(per_box) == len(dets)
    for group in per_box.values():
        assert sorted(int(r["action_id"]) for r in group) == list(range(1, 13))
        pose = sum(float(r["score"]) for r in group if int(r["action_id"]) <= 5)
        assert pose == pytest.approx(1.0, abs=3e-3)  # softmax over the 5 pose classes
    assert {r["action_name"] for r in rows} >= {"stand", "walk"}
    import cv2

    img = cv2.imread(str(shot))
    assert img is not None and img.shape == (96, 128, 3)


def test_demo_with_detector_random_init(tiny_root, random_model, tmp_path, concat_clips):
    vid = sorted(os.listdir(tiny_root / "clips"))[0]
    movie = tmp_path / "m.mp4"
    concat_clips(tiny_root / "clips" / vid, movie)
    out = tmp_path / "d.mp4"
    assert (
        demo.main(
            [
                "--video",
                str(movie),
                "--output",
                str(out),
                "--config",
                QUICK,
                "--weights",
                str(random_model),
                "--detector-random-init",
                "--detector-min-size",
                "64",
                "--person-thresh",
                "0",
                "--max-seconds",
                "2",
                "--cpu",
            ]
        )
        == 0
    )
    assert len(_decode(out)) == 50


def test_iou_tracker_keeps_ids_of_moving_boxes():
    tr = IoUTracker(iou_thresh=0.3)
    a, b = [0, 0, 10, 10], [50, 50, 60, 60]
    assert tr.update(np.array([a, b])) == [0, 1]
    # both moved a little and swapped order; a new person appears
    assert tr.update(np.array([[52, 51, 62, 61], [1, 1, 11, 11], [100, 0, 110, 10]])) == [1, 0, 2]
    assert tr.update(np.zeros((0, 4))) == []
    assert tr.update(np.array([[2, 1, 12, 11]])) == [0]  # max_age 1: one empty step is bridged


def test_demo_gives_an_ia_model_the_memory_of_past_seconds_only(tiny_root, concat_clips, tmp_path):
    """Online memory in the demo: second s is classified with the persons of seconds s-LENGTH[0] .. s-1 as the
    demo itself saw them; second 0 has no memory at all."""
    from alphaction.apis import demo as engine_demo
    from alphaction.modeling.ia import ClipMemory

    cfg = get_cfg()
    cfg.merge_from_file(os.path.join(REPO_ROOT, "config_files", "quick_schedules", "synthetic_tiny_r14_ia.yaml"))
    torch.manual_seed(0)
    model = build_model(cfg).eval()
    with torch.no_grad():  # an initialised IA barely moves the outputs: give memory a visible effect
        for p in model.roi_heads["action"].feature_extractor.ia_structure.parameters():
            if p.dim() > 1:
                p.normal_(0.0, 0.08)
    vid = sorted(os.listdir(tiny_root / "clips"))[0]
    movie = tmp_path / "m.mp4"
    concat_clips(tiny_root / "clips" / vid, movie)
    frames, orig_size = engine_demo.read_video(str(movie))
    boxes = {s: np.array([[10, 20, 40, 90, 1.0], [60, 15, 95, 92, 0.9]], np.float32) for s in range(4)}
    results = engine_demo.predict_video(cfg, model, frames, orig_size, boxes, 25, torch.device("cpu"))

    # the same seconds by hand: features of each second, then each classified with the earlier ones as memory
    captured = {}
    extract = model.extract_features

    def spy(*args, **kwargs):
        captured["last"] = out = extract(*args, **kwargs)
        return out

    model.extract_features = spy
    before = cfg.MODEL.IA_STRUCTURE.LENGTH[0]
    persons = {}
    for s in range(4):
        engine_demo.predict_video(cfg, model, frames, orig_size, {s: boxes[s]}, 25, torch.device("cpu"))
        pooled = captured["last"]
        persons[s] = pooled.persons[0]
        past = [k for k in range(s - before, s) if k in persons]
        memory = (
            ClipMemory(
                torch.cat([persons[k] for k in past]),
                torch.cat([torch.full((persons[k].shape[0],), before + k - s) for k in past]),
            )
            if past
            else ClipMemory.empty(persons[s].shape[1])
        )
        with torch.no_grad():
            want = model.predict_from_features(pooled, [memory])[0].numpy()
            alone = model.predict_from_features(pooled, None)[0].numpy()
        np.testing.assert_allclose(results[s].probs, want, rtol=0, atol=1e-5)
        assert (np.abs(want - alone).max() > 1e-4) == (s > 0)  # memory from the second second on


def test_demo_names_the_actions_from_the_checkpoint_without_the_dataset(tiny_root, tmp_path, concat_clips, monkeypatch):
    # a checkpoint train_net.py saved holds the class names; the dataset (and its label map) is not on this disk
    cfg = get_cfg()
    cfg.merge_from_file(QUICK)
    torch.manual_seed(0)
    names = [f"action_{i}" for i in range(1, 13)]
    Checkpointer(build_model(cfg), save_dir=str(tmp_path)).save("named", class_names=names)
    monkeypatch.setenv("ALPHACTION_DATA", str(tmp_path / "no_data_here"))
    ann = json.loads((tiny_root / "annotations" / "val.json").read_text())
    vid = ann["images"][0]["movie"]
    movie = tmp_path / f"{vid}.mp4"
    concat_clips(tiny_root / "clips" / vid, movie)
    gt_box_file(tiny_root / "annotations" / "val.json", vid, tmp_path / "boxes.json")
    table = tmp_path / "demo.csv"
    assert (
        demo.main(
            [
                "--video",
                str(movie),
                "--output",
                str(tmp_path / "demo.mp4"),
                "--config",
                QUICK,
                "--weights",
                str(tmp_path / "named.pth"),
                "--boxes",
                str(tmp_path / "boxes.json"),
                "--cpu",
                "--csv",
                str(table),
            ]
        )
        == 0
    )
    rows = list(csv.DictReader(open(table)))
    assert rows and {r["action_name"] for r in rows} == set(names)
    assert all(r["action_name"] == f"action_{r['action_id']}" for r in rows)


def _boxes_by_second(path, **kw):
    from alphaction.apis import demo as engine_demo

    return engine_demo.load_box_file(str(path), **kw)


def test_box_files_in_pixels_normalised_or_from_detect_boxes_give_the_same_boxes(tmp_path, caplog):
    import logging

    from alphaction.utils.errors import UserError

    frame = (96, 128)  # the video: 128 wide, 96 high
    pixels = [{"timestamp": 1, "bbox": [32.0, 24.0, 64.0, 48.0], "score": 0.9}]
    normalised = [{"timestamp": 1, "bbox": [0.25, 0.25, 0.5, 0.5], "score": 0.9}]
    # detect_boxes.py: image ids of an annotation file whose keyframes are 256 x 192 (twice the video)
    ann = {
        "images": [
            {"id": 70001, "movie": "v", "timestamp": 1, "height": 192, "width": 256},
            {"id": 80001, "movie": "w", "timestamp": 1, "height": 192, "width": 256},
        ]
    }
    detected = [
        {"image_id": 70001, "bbox": [64.0, 48.0, 128.0, 96.0], "score": 0.9, "category_id": 1},
        {"image_id": 80001, "bbox": [0.0, 0.0, 10.0, 10.0], "score": 0.9, "category_id": 1},
    ]
    for name, data in (("px", pixels), ("norm", normalised), ("det", detected), ("ann", ann)):
        (tmp_path / f"{name}.json").write_text(json.dumps(data))
    expected = {1: np.array([[32, 24, 96, 72, 0.9]], np.float32)}
    with caplog.at_level(logging.INFO, logger="alphaction.apis.demo"):
        by_pixels = _boxes_by_second(tmp_path / "px.json", frame_size=frame)
        by_norm = _boxes_by_second(tmp_path / "norm.json", frame_size=frame)
        by_det = _boxes_by_second(
            tmp_path / "det.json", frame_size=frame, ann_file=str(tmp_path / "ann.json"), video_id="v"
        )
    for boxes in (by_pixels, by_norm, by_det):
        np.testing.assert_allclose(boxes[1], expected[1])
    assert "taken as normalised" in caplog.text and "taken as pixels of the video" in caplog.text
    with pytest.raises(UserError, match="--boxes-ann"):  # image ids without their annotation file
        _boxes_by_second(tmp_path / "det.json", frame_size=frame)
    with pytest.raises(UserError, match="--boxes-video"):  # two videos in the file: which one
        _boxes_by_second(tmp_path / "det.json", frame_size=frame, ann_file=str(tmp_path / "ann.json"))


def test_tracks_end_at_a_gap_and_at_a_scene_cut(tiny_root, random_model, tmp_path, concat_clips):
    from alphaction.apis.tracker import scene_cut

    # a track that misses a second ends: the box that reappears is a new person
    tracker = IoUTracker(iou_thresh=0.3, max_age=0)
    box = np.array([[10.0, 10.0, 50.0, 80.0]])
    assert tracker.update(box) == [0] and tracker.update(np.zeros((0, 4))) == [] and tracker.update(box) == [1]
    # a movie of two synthetic videos back to back, the same box in every second: a new track after the cut
    first, second = sorted(p.name for p in (tiny_root / "clips").iterdir())[:2]
    parts = []
    for vid in (first, second):
        concat_clips(tiny_root / "clips" / vid, tmp_path / f"{vid}.mp4")
        parts += _decode(tmp_path / f"{vid}.mp4")
    assert not scene_cut(np.stack(parts[:25])) and scene_cut(np.stack(parts[120:130]))
    movie = tmp_path / "cut.mp4"
    write_clip(str(movie), np.stack(parts))
    seconds = len(parts) // 25
    (tmp_path / "same.json").write_text(
        json.dumps([{"timestamp": s, "bbox": [20, 10, 40, 70], "score": 1.0} for s in range(seconds)])
    )
    table = tmp_path / "cut.csv"
    assert (
        demo.main(
            [
                "--video",
                str(movie),
                "--output",
                str(tmp_path / "cut_out.mp4"),
                "--config",
                QUICK,
                "--weights",
                str(random_model),
                "--boxes",
                str(tmp_path / "same.json"),
                "--cpu",
                "--csv",
                str(table),
            ]
        )
        == 0
    )
    ids = {int(r["second"]): int(r["track_id"]) for r in csv.DictReader(open(table))}
    half = seconds // 2
    assert {ids[s] for s in range(half)} == {0} and {ids[s] for s in range(half, seconds)} == {1}
