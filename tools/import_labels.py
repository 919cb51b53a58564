#!/usr/bin/env python
"""A labelled VIA 3 project or CVAT XML -> AVA CSV (docs/LABELLING.md).

    python tools/import_labels.py data/my_videos/labelling/round1_via.json \\
        --labelmap data/my_videos/annotations/action_list.pbtxt --keyframes data/my_videos/keyframes \\
        --output data/my_videos/annotations/train.csv

The file says which tool it is from (JSON: VIA 3 project; XML: "CVAT for images 1.1"). Its images are named
<video_id>/<second>.<ext> under --keyframes, whose pixel sizes normalise the boxes. Writes
video_id,timestamp,x1,y1,x2,y2,action_id,person_id (normalised, --decimals digits, default 3 as in AVA): one row per
box and ticked action, the action id found by name in the label map. Boxes are clipped to their keyframe; a box
without any action is reported and left out (or written with --no-action-id N). Unknown action names, empty boxes
and missing keyframes stop the import naming the file, the keyframe and the region. The CSV is written atomically.
"""

from __future__ import annotations

import argparse
import sys

from alphaction.data.prep.annotations import format_csv_lines, write_text
from alphaction.data.prep.labelling.cvat import PERSON_LABEL
from alphaction.data.prep.labelling.importer import import_project
from alphaction.evaluation.ava import read_labelmap
from alphaction.utils.errors import run_cli


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("project", metavar="PROJECT_FILE", help="VIA 3 project JSON or CVAT for images 1.1 XML")
    parser.add_argument("--labelmap", required=True, help="the label map .pbtxt (action ids by name)")
    parser.add_argument("--keyframes", required=True, help="keyframe root: the project's images <video>/<second>.jpg")
    parser.add_argument("--output", required=True, help="the AVA CSV to write")
    parser.add_argument(
        "--no-action-id",
        type=int,
        default=None,
        help="write boxes without an action with this action id (default: leave them out)",
    )
    parser.add_argument("--person-label", default=PERSON_LABEL, help="CVAT: the label of the person boxes")
    parser.add_argument("--decimals", type=int, default=3, help="digits per normalised coordinate")
    args = parser.parse_args(argv)

    result = import_project(
        args.project, read_labelmap(args.labelmap), args.keyframes, args.no_action_id, args.person_label
    )
    for line in result.warnings:
        print(f"warning: {line}", file=sys.stderr)
    lines = format_csv_lines(result.rows, args.decimals)
    write_text(args.output, "".join(line + "\n" for line in lines))
    boxes = len({(r[0], r[1], r[7]) for r in result.rows})
    print(
        f"{args.project} ({result.tool}): {result.regions} box(es) read; wrote {args.output}: {len(lines)} rows, "
        f"{boxes} labelled person boxes, {len(result.unlabelled)} box(es) without an action"
    )
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))  # user errors: 'error: ...' / 'fix: ...', exit 2 (--debug: traceback)
