"""tools/visualize_dataset.py writes PNGs with the boxes drawn, and MP4s of clips."""

from __future__ import annotations

import json

import av
import cv2
import numpy as np

from tools import visualize_dataset


def test_gt_png_and_predictions(tiny_root, tmp_path):
    ann = tiny_root / "annotations" / "train.json"
    out = tmp_path / "vis"
    assert (
        visualize_dataset.main(
            [
                "--ann-file",
                str(ann),
                "--keyframe-root",
                str(tiny_root / "keyframes"),
                "--labelmap",
                str(tiny_root / "annotations" / "action_list.pbtxt"),
                "--output-dir",
                str(out),
                "--num",
                "1",
            ]
        )
        == 0
    )
    coco = json.loads(ann.read_text())
    im = coco["images"][0]
    png = cv2.imread(str(out / f"{im['movie']}_{im['timestamp']}.png"))
    key = cv2.imread(str(tiny_root / "keyframes" / im["movie"] / f"{im['timestamp']}.jpg"))
    assert png.shape == key.shape
    box = next(a["bbox"] for a in coco["annotations"] if a["image_id"] == im["id"])
    x2, y2 = int(round(box[0] + box[2])), int(round(box[1] + box[3]))
    # the right edge of a box is drawn: pixels there changed, a corner far from every box did not
    assert np.abs(png[y2 - 2, x2].astype(int) - key[y2 - 2, x2].astype(int)).sum() > 60

    # predictions: an AVA result CSV with scores
    rows = "".join(f"{im['movie']},{im['timestamp']:04d},0.1,0.1,0.5,0.9,{a},{s}\n" for a, s in ((1, 0.9), (6, 0.6)))
    result = tmp_path / "result.csv"
    result.write_text(rows)
    out2 = tmp_path / "vis_pred"
    assert (
        visualize_dataset.main(
            [
                "--ann-file",
                str(ann),
                "--keyframe-root",
                str(tiny_root / "keyframes"),
                "--predictions",
                str(result),
                "--output-dir",
                str(out2),
            ]
        )
        == 0
    )
    assert [p.name for p in out2.iterdir()] == [f"{im['movie']}_{im['timestamp']}.png"]


def test_clip_mp4(tiny_root, tmp_path):
    out = tmp_path / "vis"
    assert (
        visualize_dataset.main(
            [
                "--ann-file",
                str(tiny_root / "annotations" / "val.json"),
                "--video-root",
                str(tiny_root / "clips"),
                "--output-dir",
                str(out),
                "--num",
                "1",
                "--clips",
                "--seconds-around",
                "1",
            ]
        )
        == 0
    )
    (mp4,) = out.iterdir()
    with av.open(str(mp4)) as c:
        assert sum(1 for _ in c.decode(video=0)) == 75


def test_labels_on_a_small_frame_are_drawn_whole_at_the_right_edge():
    """176x144 (QCIF) frame: a box at the right edge gets the same label as one at the left edge, moved inside
    the frame, not cut off: the same number of label-coloured and text pixels (a translation invariant)."""
    import numpy as np

    from alphaction.data.prep.visualize import draw_boxes

    frame = np.zeros((144, 176, 3), np.uint8)
    labels = ["#3", "stand 0.93", "talk to 0.71"]
    left = draw_boxes(frame, [((2, 20, 40, 140), labels)])
    right = draw_boxes(frame, [((150, 20, 175, 140), labels)])
    # anti-aliased text pixels: darker than the label colours, not black background
    text = lambda img: int(((img.sum(axis=2) > 0) & (img.max(axis=2) < 100)).sum())  # noqa: E731
    assert text(right) > 0 and text(left) == text(right)
