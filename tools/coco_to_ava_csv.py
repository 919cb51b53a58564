#!/usr/bin/env python
"""The COCO-style annotation JSON (action_ids form, or the plain form) -> AVA CSV.

    python tools/coco_to_ava_csv.py data/my_videos/annotations/val.json --output data/my_videos/annotations/val.csv

Writes video_id,timestamp(4 digits),x1,y1,x2,y2 (normalized, --decimals, default 3 as in AVA),action_id,person_id:
one row per box and action, in annotation order. A plain-form JSON is merged first (--labelmap, --tolerance as in
tools/ava_csv_to_coco.py).
"""

from __future__ import annotations

import argparse
import os
import sys

from alphaction.data.prep.annotations import (
    coco_to_rows,
    format_csv_lines,
    is_plain_coco,
    merge_plain_coco,
    read_json,
)
from alphaction.evaluation.ava import read_labelmap
from alphaction.utils.errors import run_cli


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("input", help="annotation JSON")
    parser.add_argument("--output", required=True, help="the AVA CSV to write")
    parser.add_argument("--decimals", type=int, default=3, help="digits per normalized coordinate")
    parser.add_argument("--labelmap", default="", help="plain COCO input: map category names to these action ids")
    parser.add_argument("--tolerance", type=float, default=1.0, help="plain COCO input: same box within N pixels")
    args = parser.parse_args(argv)

    coco = read_json(args.input)
    if is_plain_coco(coco):
        name_to_id = {n: i for i, n in read_labelmap(args.labelmap).items()} if args.labelmap else None
        coco = merge_plain_coco(coco, name_to_id, args.tolerance)
    lines = format_csv_lines(coco_to_rows(coco), args.decimals)
    os.makedirs(os.path.dirname(os.path.abspath(args.output)), exist_ok=True)
    with open(args.output, "w", encoding="utf-8") as f:
        f.write("".join(line + "\n" for line in lines))
    print(f"wrote {args.output}: {len(lines)} rows")
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))  # user errors: 'error: ...' / 'fix: ...', exit 2 (--debug: traceback)
