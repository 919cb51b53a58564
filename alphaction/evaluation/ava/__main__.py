"""``python -m alphaction.evaluation.ava``: score an AVA detection CSV against GT (official frame-mAP@0.5).

Exit status: 0 on success, 2 on bad arguments or unreadable / malformed input (``error: ...`` naming the argument,
or the file and line, then ``fix: ...`` on stderr; no traceback unless ``--debug``). Detections that share no
frame with the ground truth, or an empty ground truth, are errors too (``--allow-disjoint`` scores the former).
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import sys
from typing import Optional, Sequence

from ...utils.errors import MissingFileError, UserError, run_cli
from .evaluator import AVA_CLASS_GROUPS, frame_map, require_groundtruth


def parse_class_groups(specs: Sequence[str]) -> dict[str, tuple[int, ...]]:
    """``["ava"]`` or ``["pose=1-14", "object=15-63", "interaction=64-80"]`` (ids and ``a-b`` ranges, comma
    separated) -> ``{group: ids}``."""
    if list(specs) == ["ava"]:
        return dict(AVA_CLASS_GROUPS)
    groups = {}
    for spec in specs:
        name, sep, ids = spec.partition("=")
        if not sep or not name:
            raise ValueError(f"class group {spec!r}: expected NAME=IDS, e.g. pose=1-14 or object=15,16,20-30")
        members: list[int] = []
        try:
            for part in ids.split(","):
                lo, dash, hi = part.partition("-")
                members.extend(range(int(lo), int(hi) + 1) if dash else [int(lo)])
        except ValueError:
            raise ValueError(f"class group {spec!r}: ids must be integers or ranges a-b") from None
        groups[name] = tuple(members)
    return groups


def main(argv: Optional[Sequence[str]] = None) -> dict:
    """The command; returns the result dict, or raises ``SystemExit(2)`` after printing a user error."""
    result: dict = {}
    status = run_cli(lambda args: result.update(_evaluate(args)), argv)
    if status:
        raise SystemExit(status)
    return result


def _evaluate(argv: Sequence[str]) -> dict:
    parser = argparse.ArgumentParser(
        prog="python -m alphaction.evaluation.ava",
        description="AVA frame-mAP@0.5IOU, computed as the official ActivityNet get_ava_performance.py does.",
    )
    parser.add_argument(
        "--groundtruth",
        "--gt",
        "-g",
        dest="groundtruth",
        required=True,
        help="GT CSV (video_id,timestamp,x1,y1,x2,y2,action_id,person_id)",
    )
    parser.add_argument(
        "--detections",
        "--det",
        "-d",
        dest="detections",
        required=True,
        help="detection CSV (video_id,timestamp,x1,y1,x2,y2,action_id,score)",
    )
    parser.add_argument("--labelmap", "-l", required=True, help="label map .pbtxt; only its ids are evaluated")
    parser.add_argument("--exclusions", "-e", default=None, help="excluded timestamps CSV (video_id,timestamp)")
    parser.add_argument(
        "--json",
        default=None,
        help="also write the result here (per-class dicts keyed by action id; NaN written as null)",
    )
    parser.add_argument(
        "--class-groups",
        nargs="+",
        default=None,
        metavar="GROUP",
        help="report a mAP per class group: 'ava' (pose 1-14, object 15-63, interaction 64-80) "
        "or NAME=IDS items such as pose=1-5 object=6-8 interaction=9,10",
    )
    parser.add_argument(
        "--allow-disjoint",
        action="store_true",
        help="score detections that share no frame with the ground truth (mAP 0) instead of stopping with an error",
    )
    parser.add_argument("--debug", action="store_true", help="show the traceback of an error")
    args = parser.parse_args(argv)

    for flag, path in (
        ("--groundtruth", args.groundtruth),
        ("--detections", args.detections),
        ("--labelmap", args.labelmap),
        ("--exclusions", args.exclusions),
    ):
        if path is not None and not os.path.isfile(path):
            raise MissingFileError(
                f"{path} does not exist", where=flag, fix=f"give the path of an existing file to {flag}"
            )
    try:
        groups = parse_class_groups(args.class_groups) if args.class_groups else None
    except ValueError as e:
        raise UserError(str(e), where="--class-groups", fix="e.g. --class-groups pose=1-14 object=15-63") from None
    try:
        result = frame_map(
            args.groundtruth,
            args.detections,
            args.labelmap,
            args.exclusions,
            class_groups=groups,
            allow_disjoint=args.allow_disjoint,
        )
    except OSError as e:  # unreadable (permissions, a folder): the path is in the message
        raise UserError(
            f"cannot read {e.filename or ''}: {e.strerror or e}", fix="check the path and its permissions"
        ) from None
    require_groundtruth(result, args.groundtruth)

    names = result["class_names"]
    width = max([len(n) for n in names.values()] + [10])
    print(f"{'id':>4}  {'class':<{width}}  {'AP@0.5':>8}  {'#GT':>7}  {'#det':>8}")
    for class_id, ap in result["per_class"].items():
        ap_text = "     n/a" if math.isnan(ap) else f"{ap:8.4f}"
        print(
            f"{class_id:>4}  {names[class_id]:<{width}}  {ap_text}  {result['num_gt'][class_id]:>7}  "
            f"{result['num_detections'][class_id]:>8}"
        )
    for group, value in result["group_mAP"].items():
        print(f"mAP@0.5IOU [{group}]: {value:.4f}")
    print(f"mAP@0.5IOU: {result['mAP']:.4f}")
    if args.json:
        try:
            with open(args.json, "w") as f:
                json.dump(_nan_to_none(result), f, indent=2)
        except OSError as e:
            raise UserError(
                f"cannot write {args.json}: {e.strerror or e}",
                where="--json",
                fix="name a file in a folder you can write to",
            ) from None
    return result


def _nan_to_none(x):
    if isinstance(x, dict):
        return {k: _nan_to_none(v) for k, v in x.items()}
    if isinstance(x, float) and math.isnan(x):
        return None
    return x


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(message)s")  # warnings (e.g. ids outside the label map)
    main(sys.argv[1:])  # exits 2 on a user error
