"""AVA frame-mAP evaluation (the official ActivityNet protocol) and the AVA CSV / label-map formats.

``python -m alphaction.evaluation.ava --gt GT.csv --det DET.csv --labelmap L.pbtxt [--exclusions E.csv]
[--json out.json]`` prints the same numbers.
"""
from .evaluator import frame_map
from .formats import frame_key, read_csv, read_exclusions, read_labelmap, write_csv

__all__ = ["frame_map", "frame_key", "read_csv", "read_exclusions", "read_labelmap", "write_csv"]
