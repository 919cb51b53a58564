#!/usr/bin/env python
"""Detect, track and label the actions of the persons in a video; writes an annotated MP4 and a CSV.

    python tools/demo.py --video input.mp4 --output demo.mp4 --config config_files/resnet50_4x16f_baseline.yaml \\
        --weights data/models/aia_models/resnet50_4x16f_baseline.pth \\
        --detector-weights /path/to/fasterrcnn_resnet50_fpn_coco-258fb6c6.pth --csv demo.csv
    python tools/demo.py --video input.mp4 --output demo.mp4 --config C --weights W --boxes boxes.json --cpu

Person boxes come from --boxes (a JSON list of COCO detection results in pixels of the video, each with a
"timestamp" (second) or a "frame" index, "bbox" [x, y, w, h] and "score") or from a torchvision detector whose
weights are a local file (--detector-weights; nothing is downloaded). Boxes are tracked from second to second by
IoU; for every second the action model sees the same frame window and test transform as test_net.py. The MP4
shows each person's track id and top actions (--top-k, scores >= --show-thresh); the CSV has one row per second,
person and action (second,track_id,x1,y1,x2,y2,action_id,action_name,score; boxes normalized).
"""

from __future__ import annotations

import argparse
import logging
import sys

import torch

from alphaction.utils.errors import run_cli


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--video", required=True, help="input video (any container PyAV reads)")
    p.add_argument("--output", required=True, help="annotated MP4 to write")
    p.add_argument("--config", required=True, help="the model's config (as for test_net.py)")
    p.add_argument("--weights", required=True, help="the action model's checkpoint")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument(
        "--boxes",
        help="person boxes: JSON list of {timestamp|frame, bbox [x,y,w,h], score}, or "
        "tools/detect_boxes.py's {image_id, ...} with --boxes-ann; pixels, or normalised "
        "coordinates (all within [0, 1])",
    )
    src.add_argument(
        "--detector-weights",
        help="DEFAULT (torchvision's COCO weights, from its cache) or a local detector checkpoint (COCO, person = 1)",
    )
    src.add_argument("--detector-random-init", action="store_true", help=argparse.SUPPRESS)  # plumbing tests
    p.add_argument(
        "--boxes-ann",
        default="",
        help="the annotation JSON whose image ids --boxes names (tools/detect_boxes.py's --ann-file)",
    )
    p.add_argument(
        "--boxes-video", default="", help="the video of --boxes-ann the demo's video is (when it holds several)"
    )
    p.add_argument(
        "--detector-arch",
        default="fasterrcnn_resnet50_fpn",
        help="fasterrcnn_resnet50_fpn | fasterrcnn_resnet50_fpn_v2 | retinanet_resnet50_fpn",
    )
    p.add_argument("--detector-min-size", type=int, default=800, help="detector input short side")
    p.add_argument(
        "--person-thresh",
        type=float,
        default=None,
        help="keep person boxes scoring at least this (default: the config's TEST.BOX_THRESH)",
    )
    p.add_argument(
        "--labelmap",
        default="",
        help="label map .pbtxt for action names (default: the names the "
        "checkpoint holds, else the config's first test dataset's)",
    )
    p.add_argument("--csv", default="", help="CSV of predictions to write")
    p.add_argument("--csv-thresh", type=float, default=0.0, help="CSV rows for actions scoring at least this")
    p.add_argument("--screenshot", default="", help="PNG of the annotated keyframe with the most persons")
    p.add_argument("--top-k", type=int, default=3, help="actions shown per person")
    p.add_argument("--show-thresh", type=float, default=0.1, help="actions shown when scoring at least this")
    p.add_argument("--render-scale", type=float, default=1.0, help="enlarge the output video (small inputs)")
    p.add_argument("--fps", type=int, default=25, help="frame rate the model expects (the clips' rate)")
    p.add_argument("--short-side", type=int, default=360, help="decode at most this short side (0: full size)")
    p.add_argument("--max-seconds", type=float, default=None, help="only the first N seconds of the video")
    p.add_argument("--cpu", action="store_true", help="run on the CPU even when a GPU is available")
    p.add_argument("opts", nargs=argparse.REMAINDER, help="KEY VALUE config overrides")
    return p


def _labelmap(cfg, path: str, checkpoint_names: list[str] | None) -> dict[int, str]:
    from alphaction.data.labels import labelmap_of
    from alphaction.evaluation.ava import read_labelmap

    # --labelmap, else the names the checkpoint holds, else the config's datasets' label map; numbers without any
    if path:
        return read_labelmap(path)
    if checkpoint_names:
        return {i + 1: name for i, name in enumerate(checkpoint_names)}
    return labelmap_of(cfg)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s: %(message)s")
    from alphaction.apis import demo
    from alphaction.config import get_cfg

    cfg = get_cfg()
    cfg.merge_from_file(args.config)
    cfg.merge_from_list(args.opts)
    cfg.freeze()
    device = torch.device("cuda" if torch.cuda.is_available() and not args.cpu else "cpu")
    from alphaction.data.video_io import VideoFrames

    # decoded, scored and drawn as a stream: memory holds a few seconds of frames whatever the video's length
    frames = VideoFrames(args.video, args.fps, args.short_side, args.max_seconds)
    orig = frames.orig_size
    print(
        f"{args.video}: {orig[1]}x{orig[0]}, read at {args.fps} fps"
        + (f" (first {args.max_seconds:g} s)" if args.max_seconds is not None else "")
    )
    thresh = cfg.TEST.BOX_THRESH if args.person_thresh is None else args.person_thresh
    boxes, detector = None, None
    if args.boxes:
        boxes = demo.load_box_file(
            args.boxes, args.fps, thresh, frame_size=orig, ann_file=args.boxes_ann, video_id=args.boxes_video
        )
    else:
        from alphaction.data.prep.detect import build_detector, load_detector_weights, resolve_detector_weights

        torch.manual_seed(0)
        detector = build_detector(args.detector_arch, min_size=args.detector_min_size)
        if args.detector_weights:
            load_detector_weights(detector, resolve_detector_weights(args.detector_arch, args.detector_weights))
    model = demo.build_action_model(cfg, args.weights, device)
    labelmap = _labelmap(cfg, args.labelmap, getattr(model, "class_names", None))
    renderer = demo.Renderer(
        args.output,
        frames.size,
        orig,
        args.fps,
        labelmap,
        args.top_k,
        args.show_thresh,
        args.screenshot,
        args.render_scale,
    )
    try:
        results = demo.run_video(
            cfg,
            model,
            frames,
            orig,
            args.fps,
            device,
            person_boxes=boxes,
            detector=detector,
            person_thresh=thresh,
            on_frame=renderer,
        )
    finally:
        renderer.close()
    if boxes:
        late = sorted(s for s in boxes if s >= len(results))
        if late:
            logging.getLogger("demo").warning(
                "%s: boxes for seconds %s past the video's end (%d s) were not used",
                args.boxes,
                late[:10],
                len(results),
            )
    print(
        f"wrote {args.output} ({renderer.count} frames, {len(results)} s, "
        f"{sum(len(r.boxes) for r in results)} person boxes in "
        f"{len({t for r in results for t in r.track_ids})} tracks)"
    )
    if args.csv:
        rows = demo.write_predictions_csv(args.csv, results, orig, labelmap, args.csv_thresh)
        print(f"wrote {args.csv} ({rows} rows)")
    if args.screenshot:
        print(f"wrote {args.screenshot}")
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))  # user errors: 'error: ...' / 'fix: ...', exit 2 (--debug: traceback)
