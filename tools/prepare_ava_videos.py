#!/usr/bin/env python
"""Raw movies -> clips/<video_id>/<second>.mp4 and keyframes/<video_id>/<second>.jpg (PyAV; no ffmpeg binary).

    python tools/prepare_ava_videos.py data/my_videos/raw --output-root data/my_videos --workers 4
    python tools/prepare_ava_videos.py data/AVA/movies/trainval --output-root data/AVA \\
        --clip-dir data/AVA/clips/trainval --keyframe-dir data/AVA/keyframes/trainval --start 895 --end 1805

Inputs are video files or folders of them (any container PyAV reads); the video id is the file name without its
extension. Each second becomes a 1-s H.264 (yuv420p) clip of --fps frames (resampled by frame time) with the short
side capped at --short-side (even sizes), plus its first frame as a JPG. --start/--end (inclusive seconds) limit
the range; AVA keyframes are 902..1798, and a 64-frame window needs 895..1805 around them. Finished seconds are
skipped, so an interrupted run can be started again; failures are logged per video in <log-dir>/<video_id>.err
and the exit status is 1 when any video failed.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys

from alphaction.data.prep.videos import list_videos, prepare_videos
from alphaction.utils.errors import run_cli


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("inputs", nargs="+", help="video files or folders of video files")
    parser.add_argument("--output-root", default="", help="writes <root>/clips and <root>/keyframes")
    parser.add_argument("--clip-dir", default="", help="clip root (default <output-root>/clips)")
    parser.add_argument("--keyframe-dir", default="", help="keyframe root (default <output-root>/keyframes)")
    parser.add_argument("--log-dir", default="", help="per-video error logs (default <output-root>/logs)")
    parser.add_argument("--start", type=int, default=None, help="first second (inclusive; default 0)")
    parser.add_argument("--end", type=int, default=None, help="last second (inclusive; default: the whole video)")
    parser.add_argument("--fps", type=int, default=25, help="frames per clip")
    parser.add_argument("--short-side", type=int, default=360, help="cap of the short side in pixels (0: none)")
    parser.add_argument("--workers", type=int, default=1, help="videos processed in parallel")
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s: %(message)s")
    if not args.output_root and not (args.clip_dir and args.keyframe_dir):
        parser.error("give --output-root, or both --clip-dir and --keyframe-dir")
    clip_dir = args.clip_dir or os.path.join(args.output_root, "clips")
    keyframe_dir = args.keyframe_dir or os.path.join(args.output_root, "keyframes")
    log_dir = args.log_dir or os.path.join(args.output_root or os.path.dirname(os.path.abspath(clip_dir)), "logs")
    sources = list_videos(args.inputs)  # PrepareError: exit 2 through run_cli
    results = prepare_videos(
        sources,
        clip_dir,
        keyframe_dir,
        args.start,
        args.end,
        args.fps,
        args.short_side,
        args.workers,
        log_dir,
        progress=not args.no_progress,
    )
    failed = [r for r in results if r.error]
    written = sum(len(r.written) for r in results)
    skipped = sum(len(r.skipped) for r in results)
    print(
        f"{len(results)} video(s): {written} second(s) written, {skipped} already done, {len(failed)} failed; "
        f"clips in {clip_dir}, keyframes in {keyframe_dir}"
    )
    for r in failed:
        print(f"FAILED {r.source}: {r.error} (log: {r.error_log})", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(run_cli(main))  # user errors: 'error: ...' / 'fix: ...', exit 2 (--debug: traceback)
