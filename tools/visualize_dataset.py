#!/usr/bin/env python
"""Draw ground-truth (or predicted) person boxes and action labels on keyframes (PNG) or clips (MP4).

    python tools/visualize_dataset.py --ann-file data/my_videos/annotations/train.json \\
        --keyframe-root data/my_videos/keyframes --labelmap data/my_videos/annotations/action_list.pbtxt \\
        --output-dir vis/train --num 20
    python tools/visualize_dataset.py --ann-file data/my_videos/annotations/val.json \\
        --predictions output/inference/my_videos_val/result.csv --keyframe-root data/my_videos/keyframes \\
        --video-root data/my_videos/clips --labelmap data/my_videos/annotations/action_list.pbtxt \\
        --output-dir vis/val --clips --seconds-around 1

Writes <output-dir>/<video_id>_<second>.png per keyframe, or with --clips an MP4 of the clips of seconds
t-k..t+k (k = --seconds-around) with the keyframe's boxes drawn on every frame. --predictions takes an AVA result
CSV (video_id,timestamp,x1,y1,x2,y2,action_id,score); the top --top-k actions scoring at least --score-thresh
are shown per box. The annotation file gives the keyframes (and their sizes).
"""

from __future__ import annotations

import argparse
import os
import sys

from alphaction.data.prep.annotations import is_plain_coco, merge_plain_coco, read_json
from alphaction.data.prep.visualize import (
    gt_boxes,
    predicted_boxes,
    write_clip_mp4,
    write_keyframe_png,
)
from alphaction.evaluation.ava import read_csv, read_labelmap
from alphaction.utils.errors import run_cli


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ann-file", required=True, help="annotation JSON (keyframes, sizes, GT boxes)")
    parser.add_argument("--keyframe-root", default="", help="keyframes/<video_id>/<second>.jpg (PNG output)")
    parser.add_argument("--video-root", default="", help="clips/<video_id>/<second>.mp4 (--clips output)")
    parser.add_argument("--predictions", default="", help="AVA result CSV to draw instead of the GT")
    parser.add_argument("--labelmap", default="", help="label map .pbtxt (action names)")
    parser.add_argument("--output-dir", required=True)
    parser.add_argument("--num", type=int, default=10, help="keyframes to draw (0: all)")
    parser.add_argument("--video-id", default="", help="only this video")
    parser.add_argument("--clips", action="store_true", help="write MP4s of the clips instead of keyframe PNGs")
    parser.add_argument("--seconds-around", type=int, default=0, help="--clips: also the k seconds before / after")
    parser.add_argument("--score-thresh", type=float, default=0.3, help="--predictions: minimum score shown")
    parser.add_argument("--top-k", type=int, default=3, help="--predictions: actions shown per box")
    args = parser.parse_args(argv)
    if args.clips and not args.video_root:
        parser.error("--clips needs --video-root")
    if not args.clips and not args.keyframe_root:
        parser.error("keyframe PNGs need --keyframe-root (or use --clips with --video-root)")

    labelmap = read_labelmap(args.labelmap) if args.labelmap else None
    coco = read_json(args.ann_file)
    if is_plain_coco(coco):
        coco = merge_plain_coco(coco)
    if args.predictions:
        sizes = {(str(im["movie"]), int(im["timestamp"])): (im["height"], im["width"]) for im in coco["images"]}
        frames = predicted_boxes(read_csv(args.predictions), sizes, labelmap, args.score_thresh, args.top_k)
    else:
        frames = gt_boxes(coco, labelmap)
    keys = [k for k in frames if not args.video_id or k[0] == args.video_id]
    keys = keys[: args.num] if args.num else keys
    written = []
    for vid, ts in keys:
        if args.clips:
            paths = [
                os.path.join(args.video_root, vid, f"{s}.mp4")
                for s in range(ts - args.seconds_around, ts + args.seconds_around + 1)
            ]
            paths = [p for p in paths if os.path.isfile(p)]
            out = os.path.join(args.output_dir, f"{vid}_{ts}.mp4")
            write_clip_mp4(paths, frames[(vid, ts)], out)
        else:
            out = os.path.join(args.output_dir, f"{vid}_{ts}.png")
            write_keyframe_png(os.path.join(args.keyframe_root, vid, f"{ts}.jpg"), frames[(vid, ts)], out)
        written.append(out)
    print(f"wrote {len(written)} file(s) to {args.output_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))  # user errors: 'error: ...' / 'fix: ...', exit 2 (--debug: traceback)
