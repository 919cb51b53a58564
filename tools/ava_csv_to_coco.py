#!/usr/bin/env python
"""AVA CSV (or the plain COCO form) -> the COCO-style annotation JSON the dataset reads.

    python tools/ava_csv_to_coco.py data/my_videos/annotations/train.csv \\
        --keyframe-root data/my_videos/keyframes --output data/my_videos/annotations/train.json

Image sizes come from the keyframe JPGs (or the clips, with --clip-root, when there are no keyframes). Ids follow
AlphAction's csv2COCO (image id = video index * 10000 + second; annotation id = image id * 1000 + person id);
--video-list fixes the video order (one id per line; default: sorted). A .json input is taken to be the plain
COCO form (one annotation per box and action via category_id, categories named after actions) and is merged into
multi-label boxes; --labelmap maps category names to action ids (default: category id = action id).
"""

from __future__ import annotations

import argparse
import functools
import os
import sys

from alphaction.data.prep.annotations import (
    image_size,
    is_plain_coco,
    merge_plain_coco,
    read_json,
    rows_to_coco,
    write_json,
)
from alphaction.evaluation.ava import read_csv, read_labelmap
from alphaction.utils.errors import InputFileError, run_cli


def normalised_rows(rows: list[tuple], size_of, path: str = "") -> tuple[list[tuple], str]:
    """AVA rows with boxes normalised to [0, 1], and what the input was taken to be. A file whose coordinates all
    lie within [0, 1] is normalised already (AVA's form); one with a coordinate above 1 is in pixels of the
    keyframes, divided here by each keyframe's size (``size_of(video_id, second) -> (height, width)``)."""
    if all(0.0 <= v <= 1.0 for r in rows for v in r[2:6]):
        return rows, "normalised (all within [0, 1], AVA's form)"
    out = []
    for r in rows:
        h, w = size_of(r[0], r[1])
        x1, y1, x2, y2 = r[2] / w, r[3] / h, r[4] / w, r[5] / h
        if min(x1, y1) < -0.01 or max(x2, y2) > 1.01:
            raise InputFileError(
                f"box {r[2:6]} of (video_id={r[0]!r}, timestamp={r[1]}) lies outside its {w}x{h} keyframe",
                where=path,
                fix="give boxes in pixels of the keyframes or normalised to [0, 1], not mixed",
            )
        out.append(
            (
                r[0],
                r[1],
                min(max(x1, 0.0), 1.0),
                min(max(y1, 0.0), 1.0),
                min(max(x2, 0.0), 1.0),
                min(max(y2, 0.0), 1.0),
                *r[6:],
            )
        )
    return out, "pixels of the keyframes (a coordinate above 1), normalised by each keyframe's size"


def _strip_ext(name: str) -> str:
    stem, ext = os.path.splitext(name)
    return stem if ext.lower() in {".mp4", ".mkv", ".webm", ".avi", ".mov", ".m4v", ".mpg", ".mpeg"} else name


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("input", help="AVA CSV (video_id,timestamp,x1,y1,x2,y2,action_id,person_id) or plain COCO JSON")
    parser.add_argument("--output", required=True, help="the annotation JSON to write")
    parser.add_argument("--keyframe-root", default="", help="keyframes/<video_id>/<second>.jpg (image sizes)")
    parser.add_argument("--clip-root", default="", help="clips/<video_id>/<second>.mp4 (sizes when no keyframe)")
    parser.add_argument("--video-list", default="", help="file with one video id per line: the image-id order")
    parser.add_argument(
        "--all-keyframes",
        action="store_true",
        help="add an image for every keyframe of the CSV's videos, annotated or not (test sets)",
    )
    parser.add_argument("--labelmap", default="", help="plain COCO input: map category names to these action ids")
    parser.add_argument("--tolerance", type=float, default=1.0, help="plain COCO input: same box within N pixels")
    parser.add_argument("--indent", type=int, default=None, help="pretty-print the JSON")
    args = parser.parse_args(argv)

    if args.input.endswith(".json"):
        coco = read_json(args.input)
        if not is_plain_coco(coco):
            print(f"{args.input} already has action_ids; nothing to merge", file=sys.stderr)
        else:
            name_to_id = None
            if args.labelmap:
                name_to_id = {name: i for i, name in read_labelmap(args.labelmap).items()}
            coco = merge_plain_coco(coco, name_to_id, args.tolerance)
    else:
        if not (args.keyframe_root or args.clip_root):
            parser.error("give --keyframe-root (or --clip-root): the image sizes are read from them")
        rows = read_csv(args.input, allow_header=True)  # a header line (as in the docs' example) is skipped
        if not rows:
            raise InputFileError(
                f"{args.input} holds no annotation rows",
                where=args.input,
                fix="one row per person box and action: video_id,timestamp,x1,y1,x2,y2,action_id,person_id",
            )
        # each keyframe's size is read once: pixel boxes are normalised by it and the JSON records it
        size_of = functools.lru_cache(maxsize=None)(lambda v, t: image_size(args.keyframe_root, args.clip_root, v, t))
        rows, unit = normalised_rows(rows, size_of, args.input)
        print(f"{args.input}: box coordinates taken as {unit}", file=sys.stderr)
        video_ids = None
        if args.video_list:
            with open(args.video_list, encoding="utf-8") as f:
                # AVA's ava_file_names_trainval_v2.1.txt lists file names: drop a video extension
                video_ids = [_strip_ext(line.strip()) for line in f if line.strip()]
        extra = None
        if args.all_keyframes:
            root = args.keyframe_root or args.clip_root
            ext = ".jpg" if args.keyframe_root else ".mp4"
            extra = {}
            for vid in sorted({r[0] for r in rows}):
                folder = os.path.join(root, vid)
                extra[vid] = [int(n[:-4]) for n in os.listdir(folder) if n.endswith(ext) and n[:-4].isdigit()]
        coco = rows_to_coco(rows, size_of, video_ids, extra)
    write_json(args.output, coco, args.indent)
    n_actions = sum(len(a["action_ids"]) for a in coco["annotations"])
    print(
        f"wrote {args.output}: {len(coco['images'])} images, {len(coco['annotations'])} person boxes, "
        f"{n_actions} box-action labels"
    )
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))  # user errors: 'error: ...' / 'fix: ...', exit 2 (--debug: traceback)
