"""AVA frame-mAP evaluation (the official ActivityNet protocol) and the AVA CSV / label-map formats.

``python -m alphaction.evaluation.ava --groundtruth GT.csv --detections DET.csv --labelmap L.pbtxt
[--exclusions E.csv] [--json out.json]`` prints the same numbers. See ``docs/evaluation.md``.
"""

from .evaluator import AVA_CLASS_GROUPS, class_groups_from_counts, frame_map, require_groundtruth
from .formats import (
    AvaColumns,
    frame_key,
    read_csv,
    read_csv_columns,
    read_exclusions,
    read_labelmap,
    round_like_csv,
    write_csv,
)

__all__ = [
    "AVA_CLASS_GROUPS",
    "AvaColumns",
    "class_groups_from_counts",
    "frame_map",
    "frame_key",
    "read_csv",
    "read_csv_columns",
    "read_exclusions",
    "read_labelmap",
    "require_groundtruth",
    "round_like_csv",
    "write_csv",
]
