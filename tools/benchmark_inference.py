#!/usr/bin/env python
"""Peak memory and time of inference on long user videos; prints (and optionally saves) JSON.

For each duration (default 60 s and 10 min) a synthetic 1280x720 video at 29.97 fps is made once (H.264, three
moving persons over a textured scene, a scene cut half way) together with its person box file, and each path
runs in its own child process (peak RSS = the child's ``ru_maxrss`` from ``wait4``):

- ``demo``: ``tools/demo.py --boxes`` with the CPU-sized detector (config_files/synthetic/slowfast_r14_cpu.yaml,
  random weights): decode, track, score every second, write the annotated MP4 and the CSV, streaming;
- ``recognize``: ``alphaction.apis.recognize`` with the CPU-sized clip classifier (random weights), which
  decodes the file once and keeps only the frames its test views sample;
- ``in_memory`` (reference, the shorter video only): the whole video decoded into memory at the demo's size
  (``demo.read_video``) and scored by ``demo.predict_video``, the pre-streaming path.

    python tools/benchmark_inference.py [--durations 60 600] [--work DIR] [--out benchmark_inference.json]

Nothing is downloaded. Videos and checkpoints stay in ``--work`` (default: a folder under the system's
temporary directory) so a rerun does not remake them.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import subprocess
import sys
import tempfile
import time
from fractions import Fraction

import numpy as np

from alphaction.engine.defaults import REPO_ROOT
from alphaction.utils.errors import run_cli
from alphaction.utils.report import emit_json

DET_CONFIG = os.path.join(REPO_ROOT, "config_files", "synthetic", "slowfast_r14_cpu.yaml")
CLS_CONFIG = os.path.join(REPO_ROOT, "config_files", "classification", "synthetic_clips_r14_cpu.yaml")
WIDTH, HEIGHT, RATE = 1280, 720, Fraction(30000, 1001)


def make_video(path: str, seconds: float, seed: int = 0) -> list[dict]:
    """Write the synthetic 720p video; returns its person boxes (the demo's --boxes format, one per second)."""
    import av

    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:HEIGHT, 0:WIDTH]
    scenes = []
    for k in range(2):  # two shots: a cut half way
        base = np.stack([xx * 255 // WIDTH, yy * 255 // HEIGHT, (xx + yy) % 256], -1) * (0.5 + 0.4 * k)
        base += rng.integers(0, 24, size=(HEIGHT // 8, WIDTH // 8, 1)).repeat(8, 0).repeat(8, 1)
        scenes.append(np.clip(base, 0, 255).astype(np.uint8))
    count = int(round(seconds * float(RATE)))
    start = rng.uniform([50, 150], [1000, 300], size=(3, 2))
    speed = rng.uniform(-60, 60, size=(3, 2))  # pixels per second
    colours = rng.integers(0, 256, size=(3, 3))
    boxes = []
    tmp = path + ".tmp.mp4"
    with av.open(tmp, "w") as c:
        st = c.add_stream("libx264", rate=RATE)
        st.width, st.height, st.pix_fmt = WIDTH, HEIGHT, "yuv420p"
        st.options = {"preset": "ultrafast", "crf": "26"}
        for i in range(count):
            t = i / float(RATE)
            img = scenes[int(t >= seconds / 2)].copy()
            for p in range(3):
                x, y = start[p] + speed[p] * t
                x, y = int(x % (WIDTH - 160)), int(np.clip(y, 0, HEIGHT - 400))
                img[y : y + 380, x : x + 140] = colours[p]
                if i == math.ceil(int(t) * RATE):  # the first frame of second int(t): its keyframe
                    boxes.append({"timestamp": int(t), "bbox": [x, y, 140, 380], "score": 1.0})
            for packet in st.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                c.mux(packet)
        for packet in st.encode():
            c.mux(packet)
    os.replace(tmp, path)
    return boxes


def make_checkpoint(config: str, path: str, named: bool = False) -> None:
    """A random-weights checkpoint of ``config`` (with class names ``class_1, ...`` when ``named``)."""
    import torch

    from alphaction.checkpoint import Checkpointer
    from alphaction.config import get_cfg
    from alphaction.modeling import build_model

    cfg = get_cfg()
    cfg.merge_from_file(config)
    torch.manual_seed(0)
    model = build_model(cfg)
    extra = {"class_names": [f"class_{k + 1}" for k in range(cfg.MODEL.CLIP_HEAD.NUM_CLASSES)]} if named else {}
    Checkpointer(model, save_dir=os.path.dirname(path)).save(os.path.basename(path)[:-4], **extra)


def run_child(argv: list[str], log_path: str) -> dict:
    """Run ``argv``; ``{"seconds", "peak_rss_mib", "returncode"}`` from the child's own resource usage."""
    start = time.perf_counter()
    with open(log_path, "w") as log:
        proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, cwd=REPO_ROOT)
        _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - start
    code = os.waitstatus_to_exitcode(status)
    out = {"seconds": round(seconds, 1), "peak_rss_mib": round(usage.ru_maxrss / 1024, 1), "returncode": code}
    if code:
        out["log"] = log_path  # what went wrong
    return out


def _child_recognize(video: str, checkpoint: str, device: str = "cpu") -> int:
    from alphaction.apis import init_model, recognize

    model = init_model(CLS_CONFIG, checkpoint, device=device)
    print(json.dumps(recognize(model, video, topk=3)))
    return 0


def _child_in_memory(video: str, checkpoint: str, boxes_path: str, device: str = "cpu") -> int:
    import torch

    from alphaction.apis import demo
    from alphaction.config import get_cfg

    cfg = get_cfg()
    cfg.merge_from_file(DET_CONFIG)
    frames, orig = demo.read_video(video)
    boxes = demo.load_box_file(boxes_path, 25, 0.0, frame_size=orig)
    model = demo.build_action_model(cfg, checkpoint, torch.device(device))
    results = demo.predict_video(cfg, model, frames, orig, boxes, 25, torch.device(device))
    print(f"{len(results)} seconds scored")
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--durations", type=float, nargs="+", default=[60.0, 600.0], help="video lengths in seconds")
    p.add_argument("--work", default=os.path.join(tempfile.gettempdir(), "alphaction_benchmark_inference"))
    p.add_argument("--out", default="", help="JSON file to write")
    p.add_argument("--skip", nargs="*", default=[], choices=["demo", "recognize", "in_memory"])
    p.add_argument("--device", default="cpu", help="cpu or cuda (the models; decoding is on the CPU either way)")
    p.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        kind, *rest = args.child
        return _child_recognize(*rest) if kind == "recognize" else _child_in_memory(*rest)

    os.makedirs(args.work, exist_ok=True)
    det_ckpt = os.path.join(args.work, "detector_random.pth")
    cls_ckpt = os.path.join(args.work, "classifier_random.pth")
    if not os.path.isfile(det_ckpt):
        make_checkpoint(DET_CONFIG, det_ckpt)
    if not os.path.isfile(cls_ckpt):
        make_checkpoint(CLS_CONFIG, cls_ckpt, named=True)
    import torch

    report = {
        "machine": {
            "python": platform.python_version(),
            "torch": torch.__version__,
            "cpus": os.cpu_count(),
            "threads": torch.get_num_threads(),
            "device": args.device,
            "gpu": torch.cuda.get_device_name(0) if args.device.startswith("cuda") else "",
        },
        "video": {"size": f"{WIDTH}x{HEIGHT}", "fps": "30000/1001", "codec": "h264"},
        "runs": [],
    }
    for seconds in args.durations:
        name = f"synthetic_720p_{int(seconds)}s"
        video = os.path.join(args.work, name + ".mp4")
        boxes_path = os.path.join(args.work, name + "_boxes.json")
        if not (os.path.isfile(video) and os.path.isfile(boxes_path)):
            t = time.perf_counter()
            boxes = make_video(video, seconds)
            with open(boxes_path, "w") as f:
                json.dump(boxes, f)
            print(f"made {video} in {time.perf_counter() - t:.0f} s", file=sys.stderr)
        runs = {
            "demo": [
                sys.executable,
                os.path.join(REPO_ROOT, "tools", "demo.py"),
                "--video",
                video,
                "--output",
                os.path.join(args.work, name + "_demo.mp4"),
                "--config",
                DET_CONFIG,
                "--weights",
                det_ckpt,
                "--boxes",
                boxes_path,
                "--csv",
                os.path.join(args.work, name + "_demo.csv"),
            ]
            + (["--cpu"] if args.device == "cpu" else []),
            "recognize": [
                sys.executable,
                os.path.abspath(__file__),
                "--child",
                "recognize",
                video,
                cls_ckpt,
                args.device,
            ],
        }
        if seconds == min(args.durations):
            runs["in_memory"] = [
                sys.executable,
                os.path.abspath(__file__),
                "--child",
                "in_memory",
                video,
                det_ckpt,
                boxes_path,
                args.device,
            ]
        for path, argv_ in runs.items():
            if path in args.skip:
                continue
            out = run_child(argv_, os.path.join(args.work, f"{name}_{path}.log"))
            out.update(path=path, video_seconds=seconds)
            print(f"{name} {path}: {out['seconds']} s, peak RSS {out['peak_rss_mib']} MiB", file=sys.stderr)
            report["runs"].append(out)
    report["note"] = (
        "peak_rss_mib includes about 0.85 GiB of PyTorch and the model; the in_memory reference holds "
        "the whole video at the demo's 360p"
    )
    emit_json(report, args.out or None)
    return 0 if all(r["returncode"] == 0 for r in report["runs"]) else 1


if __name__ == "__main__":
    sys.exit(run_cli(main))  # user errors: 'error: ...' / 'fix: ...', exit 2 (--debug: traceback)
