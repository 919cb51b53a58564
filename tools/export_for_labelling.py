#!/usr/bin/env python
"""Prepared keyframes and person boxes -> a project to label in VIA 3 or CVAT, boxes pre-filled (docs/LABELLING.md).

    python tools/export_for_labelling.py --keyframe-root data/my_videos/keyframes \\
        --boxes data/my_videos/boxes/persons.csv --labelmap data/my_videos/annotations/action_list.pbtxt \\
        --output data/my_videos/labelling/round1_via.json

--boxes is a CSV of boxes (video_id,timestamp,x1,y1,x2,y2, normalised), an AVA CSV (its person ids are kept when
every row has one, its actions are pre-ticked; --csv-scores: the 8th column is a score, as in test_net.py's
result.csv) or tools/detect_boxes.py's person JSON (with --ann-file, the JSON whose image ids it names;
--score-threshold keeps the surer boxes). Without --boxes the keyframes come without boxes. Boxes without person ids
get them from the demo's IoU tracker over each video's keyframes in time order (a new id after a gap or a scene
cut). --format via|cvat (default: from the extension of --output, .json VIA 3, .xml "CVAT for images 1.1"; CVAT
also gets <output>_labels.json, the task's labels for CVAT's Raw label editor).
Model-assisted labelling: --model CONFIG WEIGHTS --threshold T --video-root RAW_VIDEOS pre-ticks the actions the
model scores above T (instead of the CSV's).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections import OrderedDict

from alphaction.data.datasets.clip_sources import VIDEO_EXTENSIONS
from alphaction.data.prep.annotations import image_video_and_second, read_json, write_json, write_text
from alphaction.data.prep.labelling.cvat import cvat_annotations, cvat_label_spec
from alphaction.data.prep.labelling.keyframes import Person, list_keyframes
from alphaction.data.prep.labelling.via import via_project
from alphaction.evaluation.ava import read_csv, read_labelmap
from alphaction.utils.errors import InputFileError, MissingFileError, run_cli


def _clip01(box) -> tuple[float, float, float, float]:
    return tuple(min(max(float(v), 0.0), 1.0) for v in box)  # type: ignore[return-value]


def _box_rows(path: str) -> list[tuple] | None:
    """The rows of a boxes-only CSV (``video_id,timestamp,x1,y1,x2,y2``, an optional header) as AVA rows without
    action or person id; None when the file has more columns (an AVA CSV)."""
    import csv

    with open(path, newline="", encoding="utf-8") as f:
        lines = [r for r in csv.reader(f) if r]
    if lines and not lines[0][1].strip().isdigit():
        lines = lines[1:]  # a header
    if not lines or any(len(r) != 6 for r in lines):
        return None
    try:
        return [(r[0], int(r[1]), *(float(v) for v in r[2:6]), None, None) for r in lines]
    except ValueError as e:
        raise InputFileError(f"bad box row ({e})", where=path, fix="each row is video_id,second,x1,y1,x2,y2") from None


def boxes_from_csv(path: str, scores: bool, threshold: float | None):
    """``({(video, second): [(box, actions)]}, {(video, second): [person ids]} or None)`` of an AVA CSV."""
    rows = _box_rows(path)
    if rows is None:
        rows = read_csv(path, allow_header=True)
    if not rows:
        raise InputFileError("the CSV holds no rows", where=path, fix="give one row per person box (and action)")
    if any(v > 1.0 or v < 0.0 for r in rows for v in r[2:6]):
        raise InputFileError(
            "box coordinates outside [0, 1]: --boxes takes normalised coordinates (AVA's form)",
            where=path,
            fix="divide the pixel coordinates by the keyframe's width and height",
        )
    with_ids = not scores and all(r[7] is not None for r in rows)
    grouped: "OrderedDict[tuple, list[int]]" = OrderedDict()
    for r in rows:
        pid = int(r[7]) if with_ids else None
        actions = grouped.setdefault((r[0], int(r[1]), tuple(r[2:6]), pid), [])
        tick = (r[7] is not None and threshold is not None and r[7] > threshold) if scores else r[6] is not None
        if tick and int(r[6]) not in actions:
            actions.append(int(r[6]))
    boxes: dict = {}
    ids: dict = {}
    for (video, second, box, pid), actions in grouped.items():
        boxes.setdefault((video, second), []).append((_clip01(box), actions))
        ids.setdefault((video, second), []).append(pid)
    return boxes, (ids if with_ids else None)


def boxes_from_detections(path: str, ann_file: str, score_threshold: float) -> dict:
    """``{(video, second): [(box, [])]}`` of tools/detect_boxes.py's person JSON (image ids of ``ann_file``)."""
    if not ann_file:
        raise InputFileError(
            "detection results name image ids",
            where="--boxes",
            fix="give --ann-file, the annotation JSON tools/detect_boxes.py read",
        )
    entries = read_json(path)
    images = {int(im["id"]): im for im in read_json(ann_file).get("images", [])}
    boxes: dict = {}
    for n, e in enumerate(entries if isinstance(entries, list) else []):
        if int(e.get("category_id", 1)) != 1 or float(e.get("score", 1.0)) < score_threshold:
            continue
        im = images.get(int(e["image_id"]))
        if im is None:
            raise InputFileError(
                f"entry {n}: image id {e['image_id']} is not in {ann_file}",
                where=path,
                fix="give the --ann-file tools/detect_boxes.py read for these boxes",
            )
        video, second = image_video_and_second(im)
        x, y, w, h = (float(v) for v in e["bbox"])
        W, H = float(im["width"]), float(im["height"])
        boxes.setdefault((video, second), []).append((_clip01((x / W, y / H, (x + w) / W, (y + h) / H)), []))
    return boxes


def find_video(video_root: str, video: str) -> str:
    """The raw video ``<video>.<ext>`` (any container the datasets read) in ``video_root``."""
    names = sorted(os.listdir(video_root)) if os.path.isdir(video_root) else []
    for name in names:
        stem, ext = os.path.splitext(name)
        if stem == video and ext.lower() in VIDEO_EXTENSIONS:
            return os.path.join(video_root, name)
    raise MissingFileError(
        f"no video {video}.<{'|'.join(e[1:] for e in VIDEO_EXTENSIONS)}> in {video_root}",
        where="--video-root",
        fix="give the folder of the raw videos the keyframes were prepared from",
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--keyframe-root", required=True, help="keyframes/<video_id>/<second>.jpg")
    parser.add_argument("--labelmap", required=True, help="the label map .pbtxt: its action names are the options")
    parser.add_argument("--output", required=True, help="the project to write (.json VIA 3, .xml CVAT)")
    parser.add_argument("--format", choices=("via", "cvat"), default="", help="default: from --output's extension")
    parser.add_argument("--boxes", default="", help="AVA CSV (normalised) or tools/detect_boxes.py person JSON")
    parser.add_argument("--ann-file", default="", help="JSON --boxes: the annotation JSON whose image ids it names")
    parser.add_argument("--score-threshold", type=float, default=0.5, help="JSON --boxes: keep boxes scoring >= this")
    parser.add_argument("--csv-scores", action="store_true", help="CSV --boxes: the 8th column is a score (result.csv)")
    parser.add_argument("--videos", nargs="*", default=None, help="only these video ids (default: those of --boxes)")
    parser.add_argument("--iou-thresh", type=float, default=0.3, help="tracker: IoU that continues a track")
    parser.add_argument("--model", nargs=2, metavar=("CONFIG", "WEIGHTS"), help="pre-tick this model's actions")
    parser.add_argument(
        "--threshold", type=float, default=None, help="--model (or --csv-scores): tick the actions scoring above this"
    )
    parser.add_argument("--video-root", default="", help="--model: folder of the raw videos <video_id>.<ext>")
    parser.add_argument("--device", default="cpu", help="--model: cpu or cuda")
    parser.add_argument(
        "--image-prefix", default=None, help="VIA: where the images are (default: the keyframe root's absolute path)"
    )
    parser.add_argument("--name", default="", help="project / task name (default: the output file's name)")
    args = parser.parse_args(argv)

    fmt = args.format or ("cvat" if args.output.lower().endswith(".xml") else "via")
    if args.model and (args.threshold is None or not args.video_root):
        parser.error("--model needs --threshold T and --video-root (the raw videos the model reads its frames from)")
    labelmap = read_labelmap(args.labelmap)
    ids = None
    if not args.boxes:
        boxes: dict = {}
    elif args.boxes.lower().endswith(".json"):
        boxes = boxes_from_detections(args.boxes, args.ann_file, args.score_threshold)
    else:
        boxes, ids = boxes_from_csv(args.boxes, args.csv_scores, args.threshold)
    videos = args.videos if args.videos is not None else (sorted({v for v, _ in boxes}) or None)
    keyframes = list_keyframes(args.keyframe_root, videos)
    boxes = {k: v for k, v in boxes.items() if videos is None or k[0] in videos}
    if ids is not None:
        persons = [
            Person(v, s, box, pid, list(actions))
            for (v, s), given in boxes.items()
            for (box, actions), pid in zip(given, ids[(v, s)])
        ]
        tracked = "person ids of the CSV"
    else:
        from alphaction.apis.labelling import track_persons

        persons = track_persons(boxes, keyframes, args.keyframe_root, args.iou_thresh)
        tracked = "person ids from the IoU tracker"
    if args.model:
        from alphaction.apis import init_model
        from alphaction.apis.labelling import predict_actions

        model = init_model(args.model[0], args.model[1], device=args.device)
        for video in sorted({p.video for p in persons}):
            predict_actions(
                model,
                find_video(args.video_root, video),
                [p for p in persons if p.video == video],
                labelmap,
                args.threshold,
            )
    name = args.name or os.path.splitext(os.path.basename(args.output))[0]
    if fmt == "via":
        prefix = (
            args.image_prefix
            if args.image_prefix is not None
            else os.path.abspath(args.keyframe_root).replace(os.sep, "/") + "/"
        )
        write_json(args.output, via_project(keyframes, persons, labelmap, name, prefix), indent=1)
        tool = "VIA 3 project"
    else:
        write_text(args.output, cvat_annotations(keyframes, persons, labelmap, name))
        labels = os.path.splitext(args.output)[0] + "_labels.json"
        write_json(labels, cvat_label_spec(labelmap), indent=1)
        tool = f"CVAT for images 1.1 XML; the task's labels for CVAT's Raw label editor in {labels}"
    ticks = sum(len(p.actions) for p in persons)
    print(
        f"wrote {args.output} ({tool}): {len(keyframes)} keyframes of {len({k.video for k in keyframes})} video(s), "
        f"{len(persons)} person boxes ({tracked}), {ticks} action(s) pre-ticked, {len(labelmap)} action options"
    )
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))  # user errors: 'error: ...' / 'fix: ...', exit 2 (--debug: traceback)
