"""``python -m alphaction.evaluation.ava``: score an AVA detection CSV against GT (official frame-mAP@0.5)."""
from __future__ import annotations

import argparse
import json
import logging
import math
import sys
from typing import Optional, Sequence

from .evaluator import frame_map


def main(argv: Optional[Sequence[str]] = None) -> dict:
    parser = argparse.ArgumentParser(
        prog="python -m alphaction.evaluation.ava",
        description="AVA frame-mAP@0.5IOU, computed as the official ActivityNet get_ava_performance.py does.")
    parser.add_argument("--gt", required=True, help="GT CSV (video_id,timestamp,x1,y1,x2,y2,action_id,person_id)")
    parser.add_argument("--det", required=True, help="detection CSV (video_id,timestamp,x1,y1,x2,y2,action_id,score)")
    parser.add_argument("--labelmap", required=True, help="label map .pbtxt; only its ids are evaluated")
    parser.add_argument("--exclusions", default=None, help="excluded timestamps CSV (video_id,timestamp)")
    parser.add_argument("--json", default=None, help="also write the result dict here (NaN written as null)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")

    result = frame_map(args.gt, args.det, args.labelmap, args.exclusions)
    width = max([len(n) for n in result["per_class"]] + [10])
    print(f"{'id':>4}  {'class':<{width}}  {'AP@0.5':>8}  {'#GT':>7}  {'#det':>8}")
    for name, ap in result["per_class"].items():
        ap_text = "     n/a" if math.isnan(ap) else f"{ap:8.4f}"
        print(f"{result['class_ids'][name]:>4}  {name:<{width}}  {ap_text}  {result['num_gt'][name]:>7}  "
              f"{result['num_detections'][name]:>8}")
    print(f"mAP@0.5IOU: {result['mAP']:.4f}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(_nan_to_none(result), f, indent=2)
    return result


def _nan_to_none(x):
    if isinstance(x, dict):
        return {k: _nan_to_none(v) for k, v in x.items()}
    if isinstance(x, float) and math.isnan(x):
        return None
    return x


if __name__ == "__main__":
    main(sys.argv[1:])
