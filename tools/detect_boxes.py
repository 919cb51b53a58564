#!/usr/bin/env python
"""Person and object boxes for every keyframe of an annotation JSON (torchvision detector).

    python tools/detect_boxes.py --ann-file data/my_videos/annotations/val.json \\
        --keyframe-root data/my_videos/keyframes --output-dir data/my_videos/boxes \\
        --arch fasterrcnn_resnet50_fpn --weights DEFAULT --device cuda

Writes <output-dir>/<split>_person_bbox.json and <split>_object_bbox.json (<split>: --split, default the
annotation file's name without extension): COCO detection-result lists [{image_id, bbox [x,y,w,h], score,
category_id}] with the image ids of --ann-file. --weights DEFAULT (or a weights name of --arch, e.g. COCO_V1) takes
torchvision's COCO weights from its cache ($TORCH_HOME/hub/checkpoints), downloading them there once when the
machine can; or give the checkpoint as a local file. --random-init skips loading (plumbing tests only: the boxes
are noise).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys

import torch

from alphaction.data.prep.annotations import read_json, write_json
from alphaction.data.prep.detect import (
    ARCHITECTURES,
    build_detector,
    detect_keyframes,
    load_detector_weights,
    resolve_detector_weights,
    split_detections,
)
from alphaction.utils.errors import run_cli


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ann-file", required=True, help="annotation JSON whose images are detected")
    parser.add_argument("--keyframe-root", required=True, help="keyframes/<video_id>/<second>.jpg")
    parser.add_argument("--output-dir", required=True, help="folder for <split>_person_bbox.json / _object_bbox.json")
    parser.add_argument("--split", default="", help="file name prefix (default: the annotation file's stem)")
    parser.add_argument("--arch", choices=ARCHITECTURES, default="fasterrcnn_resnet50_fpn")
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument(
        "--weights",
        help="DEFAULT / a torchvision weights name of --arch (from its cache), or a local checkpoint file (state dict)",
    )
    group.add_argument("--random-init", action="store_true", help="no weights (tests of the plumbing only)")
    parser.add_argument("--num-classes", type=int, default=91, help="detector classes (COCO: 91)")
    parser.add_argument("--person-category", type=int, default=1, help="the detector's person class (COCO: 1)")
    parser.add_argument("--score-thresh", type=float, default=0.05, help="keep detections scoring at least this")
    parser.add_argument("--min-size", type=int, default=800, help="detector input short side (torchvision default 800)")
    parser.add_argument("--max-size", type=int, default=1333, help="detector input long side cap")
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu", help="cpu or cuda")
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s: %(message)s")

    if args.device.startswith("cuda") and not torch.cuda.is_available():
        parser.error("--device cuda but CUDA is not available; use --device cpu")
    torch.manual_seed(0)
    model = build_detector(args.arch, args.num_classes, args.min_size, args.max_size, args.score_thresh)
    if args.weights:
        load_detector_weights(model, resolve_detector_weights(args.arch, args.weights))
    images = read_json(args.ann_file)["images"]
    results = detect_keyframes(
        model, images, args.keyframe_root, args.device, args.batch_size, progress=not args.no_progress
    )
    persons, objects = split_detections(results, args.person_category)
    split = args.split or os.path.splitext(os.path.basename(args.ann_file))[0]
    person_file = os.path.join(args.output_dir, f"{split}_person_bbox.json")
    object_file = os.path.join(args.output_dir, f"{split}_object_bbox.json")
    write_json(person_file, persons)
    write_json(object_file, objects)
    print(
        f"{len(images)} keyframes: {len(persons)} person boxes -> {person_file}; "
        f"{len(objects)} object boxes -> {object_file}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))  # user errors: 'error: ...' / 'fix: ...', exit 2 (--debug: traceback)
