"""AVA CSV <-> COCO-style JSON round trip on the synthetic annotations; plain COCO merges to the same boxes."""

from __future__ import annotations

import json

import pytest

from alphaction.evaluation.ava import read_labelmap
from tools import ava_csv_to_coco, coco_to_ava_csv


@pytest.mark.parametrize("split", ["train", "val"])
def test_csv_json_csv_is_identity(tiny_root, tmp_path, split):
    ann = tiny_root / "annotations"
    out_json, out_csv = tmp_path / f"{split}.json", tmp_path / f"{split}.csv"
    assert (
        ava_csv_to_coco.main(
            [str(ann / f"{split}.csv"), "--keyframe-root", str(tiny_root / "keyframes"), "--output", str(out_json)]
        )
        == 0
    )
    assert coco_to_ava_csv.main([str(out_json), "--output", str(out_csv)]) == 0
    assert out_csv.read_text().splitlines() == (ann / f"{split}.csv").read_text().splitlines()

    # the JSON matches the generator's own JSON: same keyframes and sizes, same boxes (2-dp rounding of a 3-decimal
    # normalized CSV: within 0.0005 * size + 0.01 px) and action ids
    ours, ref = json.loads(out_json.read_text()), json.loads((ann / f"{split}.json").read_text())
    key = lambda im: (im["movie"], im["timestamp"])  # noqa: E731
    assert sorted((key(i), i["height"], i["width"]) for i in ours["images"]) == sorted(
        (key(i), i["height"], i["width"]) for i in ref["images"]
    )
    img_of = {d["id"]: d for d in ours["images"]}
    ref_img = {d["id"]: d for d in ref["images"]}
    ours_boxes = {(key(img_of[a["image_id"]]), a["person_id"]): a for a in ours["annotations"]}
    assert len(ours_boxes) == len(ref["annotations"])
    for a in ref["annotations"]:
        b = ours_boxes[(key(ref_img[a["image_id"]]), a["person_id"])]
        assert b["action_ids"] == sorted(a["action_ids"])
        assert max(abs(x - y) for x, y in zip(a["bbox"], b["bbox"])) < 0.0005 * 128 * 2 + 0.02
    # AlphAction's ids: image = video index * 10000 + second (videos sorted), annotation = image * 1000 + person
    videos = sorted({i["movie"] for i in ours["images"]})
    assert all(i["id"] == videos.index(i["movie"]) * 10000 + i["timestamp"] for i in ours["images"])
    assert all(a["id"] == a["image_id"] * 1000 + a["person_id"] for a in ours["annotations"])


def _explode(ref: dict, names: dict[int, str], with_person_id: bool) -> dict:
    """The seed guide's plain form: file_name, one annotation per (box, action), categories named after actions."""
    images = [
        {"id": i["id"], "file_name": f"{i['movie']}/{i['timestamp']}.jpg", "width": i["width"], "height": i["height"]}
        for i in ref["images"]
    ]
    anns = []
    for a in ref["annotations"]:
        for k, aid in enumerate(reversed(a["action_ids"])):  # any order; merging must not depend on it
            ann = {
                "id": len(anns),
                "image_id": a["image_id"],
                "category_id": aid,
                "bbox": list(a["bbox"]),
                "area": a["area"],
                "iscrowd": 0,
            }
            if with_person_id:
                ann["track_id"] = a["person_id"]
            else:
                # annotator jitter on the repeated boxes (the first one is kept by the merge)
                ann["bbox"] = [v + 0.3 for v in ann["bbox"]] if k else ann["bbox"]
            anns.append(ann)
    return {"images": images, "annotations": anns, "categories": [{"id": i, "name": n} for i, n in names.items()]}


@pytest.mark.parametrize("with_person_id", [True, False])
def test_plain_coco_merges_to_action_ids_form(tiny_root, tmp_path, with_person_id):
    ann = tiny_root / "annotations"
    ref = json.loads((ann / "train.json").read_text())
    names = read_labelmap(ann / "action_list.pbtxt")
    plain = _explode(ref, names, with_person_id)
    # category ids shuffled away from the action ids: the label map maps them back by name
    plain["categories"] = [{"id": 100 + c["id"], "name": c["name"]} for c in plain["categories"]]
    for a in plain["annotations"]:
        a["category_id"] += 100
    src = tmp_path / "plain.json"
    src.write_text(json.dumps(plain))
    out = tmp_path / "merged.json"
    assert ava_csv_to_coco.main([str(src), "--labelmap", str(ann / "action_list.pbtxt"), "--output", str(out)]) == 0
    merged = json.loads(out.read_text())

    def boxes(coco):
        imgs = {i["id"]: (i["movie"], i["timestamp"]) for i in coco["images"]}
        return sorted(
            (imgs[a["image_id"]], [round(v) for v in a["bbox"]], tuple(sorted(a["action_ids"])))
            for a in coco["annotations"]
        )

    assert boxes(merged) == boxes(ref)
    # and the merged form converts to the same CSV rows as the generator's CSV
    out_csv = tmp_path / "merged.csv"
    assert coco_to_ava_csv.main([str(out), "--output", str(out_csv)]) == 0
    if with_person_id:
        assert sorted(out_csv.read_text().splitlines()) == sorted((ann / "train.csv").read_text().splitlines())


def _docs_csv_example() -> str:
    """The AVA CSV example of docs/CUSTOM_DATASET_PREPARATION.md step 2, header line included, as a user copies it."""
    import os
    import re

    from alphaction.engine.defaults import REPO_ROOT

    text = open(os.path.join(REPO_ROOT, "docs", "CUSTOM_DATASET_PREPARATION.md"), encoding="utf-8").read()
    block = re.search(r"Write an AVA-style CSV.*?```\n(.*?)```", text, re.S).group(1)
    assert block.startswith("video_id,timestamp,")
    return block


def test_docs_csv_example_with_its_header_and_a_pixel_copy_give_the_same_boxes(tmp_path, capsys):
    """The docs' example CSV (header line included) converts; the same boxes in pixels of the keyframes are
    detected as pixels and give the same normalised boxes (hand: x * W, y * H on a 320x240 keyframe)."""
    import cv2
    import numpy as np

    keyframes = tmp_path / "keyframes" / "my_video_01"
    keyframes.mkdir(parents=True)
    cv2.imwrite(str(keyframes / "12.jpg"), np.zeros((240, 320, 3), np.uint8))
    example = _docs_csv_example()
    (tmp_path / "norm.csv").write_text(example)
    rows = [line.split(",") for line in example.splitlines()[1:]]
    pixels = "\n".join(
        ",".join([r[0], r[1], *(f"{float(v) * d:.2f}" for v, d in zip(r[2:6], (320, 240, 320, 240))), *r[6:]])
        for r in rows
    )
    (tmp_path / "pix.csv").write_text(pixels + "\n")

    out = {}
    for name in ("norm", "pix"):
        assert (
            ava_csv_to_coco.main(
                [
                    str(tmp_path / f"{name}.csv"),
                    "--keyframe-root",
                    str(tmp_path / "keyframes"),
                    "--output",
                    str(tmp_path / f"{name}.json"),
                ]
            )
            == 0
        )
        out[name] = json.loads((tmp_path / f"{name}.json").read_text())
    err = capsys.readouterr().err
    assert "taken as normalised" in err and "taken as pixels" in err
    # one person (id 0) with actions 3 and 7, box 0.077,0.151,0.283,0.811 -> x 24.64, y 36.24, w 65.92, h 158.4
    for coco in out.values():
        (ann,) = coco["annotations"]
        assert ann["action_ids"] == [3, 7]
        assert ann["bbox"] == pytest.approx([24.64, 36.24, 65.92, 158.4], abs=0.011)


def test_pixel_boxes_outside_the_keyframe_are_refused(tmp_path):
    import cv2
    import numpy as np

    (tmp_path / "keyframes" / "v").mkdir(parents=True)
    cv2.imwrite(str(tmp_path / "keyframes" / "v" / "3.jpg"), np.zeros((240, 320, 3), np.uint8))
    (tmp_path / "a.csv").write_text("v,3,10,20,400,200,1,0\n")
    with pytest.raises(ValueError, match="outside its 320x240 keyframe"):
        ava_csv_to_coco.main(
            [
                str(tmp_path / "a.csv"),
                "--keyframe-root",
                str(tmp_path / "keyframes"),
                "--output",
                str(tmp_path / "a.json"),
            ]
        )
