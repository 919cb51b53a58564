#!/usr/bin/env python
"""A folder of videos -> train/val lists, class index and catalog for clip classification.

    # labels from the file name prefix (walk_001.mp4 -> walk), stratified 80 / 20 split
    python tools/prepare_custom_dataset.py --video-dir /path/to/videos --output-dir data/my_dataset \\
        --val-ratio 0.2
    # labels from a CSV, videos copied into videos_train/<class>/ and videos_val/<class>/
    python tools/prepare_custom_dataset.py --video-dir /path/to/videos --output-dir data/my_dataset \\
        --label-csv labels.csv --video-col filename --label-col class --organize-by-class --copy-files
    # labels from the parent folder (<class>/<video>), class folders of symbolic links
    python tools/prepare_custom_dataset.py --video-dir /path/to/videos --output-dir data/my_dataset \\
        --label-extractor parent --organize-by-class

Writes <output-dir>/annotations/{train_list,val_list,class_index}.txt (MMAction2's formats), class_summary.csv,
skipped_videos.txt and <output-dir>/catalog.yaml (entries <name>_train / <name>_val). Your videos are never
moved: the lists name them in place, or --organize-by-class makes relative symbolic links (--copy-files:
copies). Every video is probed with PyAV; unreadable ones are reported and left out. Existing outputs are
replaced only with --force. Exit status: 0 done, 1 done with videos left out, 2 nothing written (bad input).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys

from alphaction.data.prep.clip_lists import prepare_clip_dataset
from alphaction.utils.errors import UserError, run_cli


def _summary_table(result) -> str:
    width = max([len("class")] + [len(c) for c in result.classes])
    lines = [f"{'index':>5}  {'class':<{width}}  {'train':>6}  {'val':>6}  {'total':>6}"]
    for i, c in enumerate(result.classes):
        tr, va = result.counts[c]
        lines.append(f"{i:>5}  {c:<{width}}  {tr:>6}  {va:>6}  {tr + va:>6}")
    lines.append(
        f"{'':>5}  {'all':<{width}}  {len(result.train):>6}  {len(result.val):>6}  "
        f"{len(result.train) + len(result.val):>6}"
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--video-dir", required=True, help="folder of videos (searched recursively)")
    parser.add_argument("--output-dir", required=True, help="where annotations/, catalog.yaml (and videos_*/) go")
    parser.add_argument(
        "--label-extractor",
        choices=("prefix", "parent", "csv"),
        default=None,
        help="label source: file name prefix (default), parent folder, or --label-csv",
    )
    parser.add_argument("--prefix-sep", default="_", help="prefix labels: the text before this in the file name")
    parser.add_argument("--label-csv", default="", help="CSV with a header row, one row per video")
    parser.add_argument(
        "--video-col",
        default="video",
        help="CSV column naming the video (relative path, file name, or file name without extension)",
    )
    parser.add_argument("--label-col", default="label", help="CSV column holding the class name")
    parser.add_argument("--val-ratio", type=float, default=0.2, help="fraction of videos for validation")
    parser.add_argument(
        "--stratify",
        dest="stratify",
        action="store_true",
        default=True,
        help="split every class by --val-ratio (the default)",
    )
    parser.add_argument(
        "--no-stratify",
        dest="stratify",
        action="store_false",
        help="draw the validation videos from all classes at once (a small class may get none)",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the split")
    parser.add_argument(
        "--organize-by-class",
        action="store_true",
        help="make videos_train/<class>/ and videos_val/<class>/ (symbolic links by default)",
    )
    parser.add_argument("--copy-files", action="store_true", help="copy videos instead of linking them")
    parser.add_argument("--name", default="", help="catalog entry prefix (default: the output folder's name)")
    parser.add_argument("--force", action="store_true", help="replace earlier outputs in --output-dir")
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s: %(message)s")
    source = args.label_extractor or ("csv" if args.label_csv else "prefix")
    if source == "csv" and not args.label_csv:
        parser.error("--label-extractor csv needs --label-csv")
    if args.label_csv and source != "csv":
        parser.error(f"--label-csv and --label-extractor {source} contradict each other; give one")
    try:
        result = prepare_clip_dataset(
            args.video_dir,
            args.output_dir,
            source,
            args.label_csv,
            args.video_col,
            args.label_col,
            args.prefix_sep,
            args.val_ratio,
            args.stratify,
            args.seed,
            args.organize_by_class,
            args.copy_files,
            args.force,
            args.name,
            progress=not args.no_progress,
        )
    except ValueError as e:
        if isinstance(e, UserError):
            raise
        raise UserError(str(e), fix="check the options and the files the message names") from None
    print(_summary_table(result))
    for c in result.classes:
        train_n, val_n = result.counts[c]
        if train_n == 0 or (result.val and val_n == 0):
            split = "training" if train_n == 0 else "validation"
            print(
                f"warning: class {c!r} has no {split} video ({train_n} train, {val_n} val): it "
                f"{'cannot be learned' if train_n == 0 else 'is not measured'}; add videos of it"
                f"{'' if args.stratify else ' or leave --no-stratify out'}",
                file=sys.stderr,
            )
    for video, reason in result.skipped:
        print(f"SKIPPED {video}: {reason}", file=sys.stderr)
    if result.skipped:
        print(f"{len(result.skipped)} video(s) left out (listed in annotations/skipped_videos.txt)", file=sys.stderr)
    catalog = os.path.join(args.output_dir, "catalog.yaml")
    test = f"DATASETS.TEST '(\"{result.name}_val\",)' " if result.val else ""
    # the CPU-sized base config; any classification config of config_files/classification takes the same keys
    print(
        f"\nWrote {', '.join(result.written)} under {args.output_dir}. Train with:\n"
        f"python train_net.py --config-file config_files/classification/synthetic_clips_r14_cpu.yaml \\\n"
        f"    DATASETS.CATALOG {catalog} DATASETS.TRAIN '(\"{result.name}_train\",)' \\\n"
        f"    {test}MODEL.CLIP_HEAD.NUM_CLASSES {len(result.classes)} "
        f"OUTPUT_DIR {os.path.join('data', 'output', result.name)}"
    )
    return 1 if result.skipped else 0


if __name__ == "__main__":
    sys.exit(run_cli(main))  # user errors: 'error: ...' / 'fix: ...', exit 2 (--debug: traceback)
