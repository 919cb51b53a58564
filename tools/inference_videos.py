#!/usr/bin/env python
"""Classify every video of a folder with a clip classifier; writes the top-5 classes and scores per video to a CSV.

    python tools/inference_videos.py config_files/classification/synthetic_clips_r14_cpu.yaml \\
        data/output/synthetic_clips_r14_cpu/model_final.pth my_videos/ predictions.csv
    python tools/inference_videos.py CONFIG CHECKPOINT VIDEO_DIR OUT.csv --topk 3 --cpu INPUT.NUM_CLIPS_TEST 3
    python tools/inference_videos.py data/output/my_clips/model_best.pth my_videos/ predictions.csv

Without a config (the first path, a .yaml, or --config) the run's own config.yaml beside the checkpoint is used:
train_net.py writes it into OUTPUT_DIR with the class counts the weights were trained with.

Videos are the files under VIDEO_DIR (sub-folders included, sorted) whose extension is one PyAV reads
(.mp4 .avi .mkv .webm .mov .m4v .mpg .mpeg); other files are ignored. Each goes through alphaction.apis.recognize:
the config's test transform (INPUT.NUM_CLIPS_TEST x NUM_CROPS_TEST views, probabilities averaged), as test_net.py.
Class names are those saved with the checkpoint (else the config's class index, else numbers).

CSV columns: video (path relative to VIDEO_DIR, with /), then top1, score1, ..., topK, scoreK (class name and
probability, best first; K = --topk, at most the number of classes). A file that cannot be decoded is skipped with
a warning; the final summary counts and names them. Exit status 0, or 1 when no video could be read.
"""

from __future__ import annotations

import argparse
import csv
import logging
import os
import sys

from alphaction.utils.errors import UserError, run_cli
from alphaction.utils.io import atomic_write

logger = logging.getLogger("inference_videos")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument(
        "paths",
        nargs="+",
        metavar="[CONFIG] CHECKPOINT VIDEO_DIR OUT_CSV [KEY VALUE ...]",
        help="the classifier's config (a .yaml; default: the run's config.yaml beside the checkpoint, "
        "which train_net.py writes), its checkpoint (model_final.pth / model_best.pth), the folder "
        "of videos (searched recursively), the CSV to write, then KEY VALUE config overrides",
    )
    p.add_argument("--config", default="", help="the config, as a flag (instead of the first path)")
    p.add_argument("--topk", type=int, default=5, help="classes listed per video")
    p.add_argument("--cpu", action="store_true", help="run on the CPU even when a GPU is available")
    return p


def split_paths(paths: list[str], config: str = "") -> tuple[str, str, str, str, list[str]]:
    """``(config, checkpoint, video_dir, out_csv, overrides)`` from the positional arguments: a first ``.yaml`` /
    ``.yml`` is the config; without one (and without ``--config``) it is ``config.yaml`` beside the checkpoint."""
    paths = list(paths)
    if not config and paths and paths[0].lower().endswith((".yaml", ".yml")):
        config = paths.pop(0)
    if len(paths) < 3:
        raise UserError(
            f"expected CHECKPOINT VIDEO_DIR OUT_CSV after the config, got {len(paths)} path(s): {' '.join(paths)}",
            where="arguments",
            fix="python tools/inference_videos.py [CONFIG.yaml] CHECKPOINT VIDEO_DIR OUT.csv",
        )
    checkpoint, video_dir, out_csv, opts = paths[0], paths[1], paths[2], paths[3:]
    if not config:
        config = os.path.join(os.path.dirname(os.path.abspath(checkpoint)), "config.yaml")
        if not os.path.isfile(config):
            raise UserError(
                f"no config given and no config.yaml beside the checkpoint ({config})",
                where="CONFIG",
                fix="give the classifier's config as the first path or with --config",
            )
        logger.info("config: %s (the run's own, beside the checkpoint)", config)
    return config, checkpoint, video_dir, out_csv, opts


def find_videos(video_dir: str) -> list[str]:
    """Paths relative to ``video_dir`` of its video files, sorted."""
    from alphaction.data.datasets.clip_sources import VIDEO_EXTENSIONS

    if not os.path.isdir(video_dir):
        raise FileNotFoundError(f"VIDEO_DIR {video_dir} is not a folder")
    found = []
    for root, dirs, files in os.walk(video_dir):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        found += [
            os.path.relpath(os.path.join(root, f), video_dir)
            for f in files
            if f.lower().endswith(VIDEO_EXTENSIONS) and not f.startswith(".")
        ]
    return sorted(found)


def classify_folder(model, video_dir: str, out_csv: str, topk: int = 5) -> tuple[int, list[tuple[str, str]]]:
    """Write ``out_csv`` for the videos of ``video_dir``; returns ``(videos written, [(video, reason)] skipped)``.

    The rows go to ``out_csv + ".tmp"`` as they come and the file takes its name when all videos are done."""
    from tqdm import tqdm
    from tqdm.contrib.logging import logging_redirect_tqdm

    from alphaction.apis import recognize
    from alphaction.data.datasets.clip_sources import VideoReadError
    from alphaction.utils.progress import bar_disable

    if topk < 1:
        raise ValueError(f"--topk must be >= 1, got {topk}")
    videos = find_videos(video_dir)
    if not videos:
        raise FileNotFoundError(f"{video_dir} holds no video files (extensions: mp4, avi, mkv, webm, mov, ...)")
    k = min(topk, len(model.class_names))
    written, skipped = 0, []
    with atomic_write(out_csv, newline="") as f, logging_redirect_tqdm():
        out = csv.writer(f)
        out.writerow(["video"] + [c for i in range(1, k + 1) for c in (f"top{i}", f"score{i}")])
        for rel in tqdm(videos, desc="videos", unit="video", disable=bar_disable(), dynamic_ncols=True):
            try:
                top = recognize(model, os.path.join(video_dir, rel), topk=k)
            except VideoReadError as e:
                logger.warning("skipping %s: %s", rel, e)
                skipped.append((rel, str(e)))
                continue
            out.writerow([rel.replace(os.sep, "/")] + [v for name, score in top for v in (name, f"{score:.6f}")])
            written += 1
    return written, skipped


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_intermixed_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s: %(message)s")
    import torch

    from alphaction.apis import init_model

    config, checkpoint, video_dir, out_csv, opts = split_paths(args.paths, args.config)
    device = "cuda" if torch.cuda.is_available() and not args.cpu else "cpu"
    model = init_model(config, checkpoint, device=device, overrides=opts)
    if not model.is_classifier:
        raise UserError(
            f"{config} builds an action detector; this tool needs a clip classifier "
            "(MODEL.META_ARCHITECTURE ClipClassifier)",
            where="config",
            fix="give a classification config, or use tools/demo.py for detection",
        )
    written, skipped = classify_folder(model, video_dir, out_csv, args.topk)
    print(
        f"wrote {out_csv}: {written} videos classified, {len(skipped)} unreadable skipped"
        + "".join(f"\n  skipped {rel}: {why}" for rel, why in skipped)
    )
    return 0 if written else 1


if __name__ == "__main__":
    sys.exit(run_cli(main))  # user errors: 'error: ...' / 'fix: ...', exit 2 (--debug: traceback)
