#!/usr/bin/env python
"""Check a registered dataset and print a readable report (exit status 1 on errors).

    python tools/validate_dataset.py my_videos_train --catalog data/my_videos/catalog.yaml \\
        --config-file config_files/my_config.yaml

Checks every file the catalog entry names, that every annotated keyframe has its clip and the neighbouring clips
the frame span needs (INPUT.FRAME_NUM * INPUT.FRAME_SAMPLE_RATE of --config-file, or --frame-num/--sample-rate),
that boxes lie inside their keyframes, that action ids are in the label map (the entry's labelmap_file or
--labelmap), and prints the boxes per action. Several names may be given (e.g. the train and val entries).
"""

from __future__ import annotations

import argparse
import os
import sys

from alphaction.config.paths_catalog import DatasetCatalog
from alphaction.data.prep.validate import validate_dataset
from alphaction.evaluation.ava import read_labelmap
from alphaction.utils.errors import run_cli


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("names", nargs="+", help="catalog entry name(s)")
    parser.add_argument("--catalog", default="", help="user catalog file (YAML/JSON)")
    parser.add_argument("--config-file", default="", help="read FRAME_NUM, FRAME_SAMPLE_RATE, NUM_CLASSES from it")
    parser.add_argument("--frame-num", type=int, default=None, help="INPUT.FRAME_NUM (default: config or 32)")
    parser.add_argument("--sample-rate", type=int, default=None, help="INPUT.FRAME_SAMPLE_RATE (default: config or 2)")
    parser.add_argument("--num-classes", type=int, default=None, help="check action ids <= this")
    parser.add_argument("--labelmap", default="", help="label map .pbtxt (default: the entry's labelmap_file)")
    parser.add_argument("--quick", action="store_true", help="check the clips of 64 random keyframes only")
    parser.add_argument("--tolerance", type=float, default=1.0, help="pixels a box may reach outside its keyframe")
    args = parser.parse_args(argv)

    frame_num, sample_rate, num_classes, catalog = 32, 2, args.num_classes, args.catalog
    if args.config_file:
        from alphaction.config import get_cfg

        cfg = get_cfg()
        cfg.merge_from_file(args.config_file)
        frame_num, sample_rate = cfg.INPUT.FRAME_NUM, cfg.INPUT.FRAME_SAMPLE_RATE
        num_classes = num_classes or cfg.MODEL.ROI_ACTION_HEAD.NUM_CLASSES
        catalog = catalog or cfg.DATASETS.CATALOG
    frame_num = args.frame_num or frame_num
    sample_rate = args.sample_rate or sample_rate

    failed = False
    for name in args.names:
        spec = DatasetCatalog.get(name, catalog)
        if spec.get("synthetic"):  # built-in synthetic entries are generated on first use
            from alphaction.data.synthetic import ensure_synthetic_dataset

            syn = spec["synthetic"]
            ensure_synthetic_dataset(syn["root"], syn["size"], syn.get("seed", 0), progress=False)
        labelmap_file = args.labelmap or spec["args"].get("eval_file_paths", {}).get("labelmap_file", "")
        labelmap = read_labelmap(labelmap_file) if labelmap_file and os.path.isfile(labelmap_file) else None
        report = validate_dataset(
            spec,
            frame_num * sample_rate,
            labelmap,
            num_classes,
            sample=64 if args.quick else None,
            tolerance=args.tolerance,
        )
        report.info.insert(
            0,
            f"frame span {frame_num} x {sample_rate} = {frame_num * sample_rate} frames; "
            f"label map: {labelmap_file or 'none'}",
        )
        print(report.format())
        failed |= not report.ok
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(run_cli(main))  # user errors: 'error: ...' / 'fix: ...', exit 2 (--debug: traceback)
