#!/usr/bin/env python
"""Time and size the build of AVA-sized detection datasets; print (and optionally save) JSON.

    python tools/benchmark_dataset.py [--work-dir /tmp/ava_sized] [--ranks 8] [--out dataset.json]

The case is generated once in --work-dir (kept for later runs): an AVA-v2.2-train-sized annotation file (235
videos x 897 keyframes, seconds 902..1798, Poisson(3.5) person boxes each with 1-3 of 80 actions: ~211k
keyframes, ~739k boxes, ~170 MB of JSON written by the same code as tools/ava_csv_to_coco.py), an AVA-val-sized
test set (64 videos) with ~10 person detections per keyframe, and the clips (every second 895..1805 of every
video: hard links to one small clip, so the start-up check finds and decodes real files).

Phases, each in a fresh interpreter (``build_dataset`` of a catalog entry: checks included, as train_net does):
- ``train_cold`` / ``train_warm``: the training set without, then with, its index cache;
- ``test_cold`` / ``test_warm``: the same for the test set;
- ``evaluations``: ``build_test_datasets`` once, then the data loaders of evaluations 2..N (what a run with
  SOLVER.EVAL_PERIOD does at each evaluation);
- ``ranks``: --ranks processes in one gloo group (torchrun's environment) building the training set from a cold
  cache together: the machine's first rank builds, the others memory-map its index.
Memory: peak RSS over the interpreter's baseline (after imports) and PSS (the proportional set size, which splits
pages shared between processes) after every array of the index has been read, over the same baseline.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import platform
import resource
import shutil
import sys
import time

import numpy as np

from alphaction.utils.io import atomic_write_text
from alphaction.utils.report import emit_json

TRAIN_VIDEOS, VAL_VIDEOS, KEYFRAMES, FIRST = 235, 64, 897, 902
PREPARED = (895, 1805)  # seconds with clips (AVA prepares a few seconds around 902..1798)


def _kib(field: str, path: str = "/proc/self/status") -> int:
    with open(path) as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def rss_mb() -> float:
    return _kib("VmRSS") / 1024


def pss_mb() -> float:
    return _kib("Pss", "/proc/self/smaps_rollup") / 1024


def peak_mb() -> float:
    """This process's peak RSS (``VmHWM``; ``ru_maxrss`` would include the parent's RSS at the fork)."""
    return (_kib("VmHWM") or resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) / 1024


def _write_annotations(path: str, videos: list[str], rng: np.random.Generator, size=(360, 640)) -> int:
    from alphaction.data.prep.annotations import rows_to_coco, write_json

    rows = []
    for vid in videos:
        for ts in range(FIRST, FIRST + KEYFRAMES):
            for p in range(int(rng.poisson(3.5))):
                x1, y1 = rng.uniform(0, 0.7, 2)
                x2, y2 = x1 + rng.uniform(0.05, 0.3), y1 + rng.uniform(0.1, 0.3)
                for a in sorted(set(rng.integers(1, 81, int(rng.integers(1, 4))).tolist())):
                    rows.append((vid, ts, round(x1, 3), round(y1, 3), round(x2, 3), round(y2, 3), a, p))
    coco = rows_to_coco(
        rows, lambda v, t: size, video_ids=videos, extra_timestamps={v: range(FIRST, FIRST + KEYFRAMES) for v in videos}
    )
    write_json(path, coco)
    return len(coco["annotations"])


def _write_detections(path: str, ann_file: str, rng: np.random.Generator, per_keyframe: int = 10) -> int:
    with open(ann_file) as f:
        images = json.load(f)["images"]
    dets = []
    for im in images:
        for _ in range(per_keyframe):
            x, y = rng.uniform(0, 500), rng.uniform(0, 250)
            dets.append(
                {
                    "image_id": im["id"],
                    "category_id": 1,
                    "score": round(float(rng.uniform(0.2, 1.0)), 4),
                    "bbox": [
                        round(x, 2),
                        round(y, 2),
                        round(float(rng.uniform(20, 140)), 2),
                        round(float(rng.uniform(40, 110)), 2),
                    ],
                }
            )
    with open(path, "w") as f:
        json.dump(dets, f)
    return len(dets)


def make_case(work: str, train_videos: int, val_videos: int) -> dict:
    """The case's catalog (written once; later runs reuse it)."""
    catalog = os.path.join(work, "catalog.json")
    if os.path.isfile(catalog):
        with open(catalog) as f:
            return json.load(f)
    from alphaction.data.video_io import write_clip

    rng = np.random.default_rng(0)
    os.makedirs(os.path.join(work, "annotations"), exist_ok=True)
    train = [f"t{v:010d}" for v in range(train_videos)]
    val = [f"v{v:010d}" for v in range(val_videos)]
    info = {
        "train_boxes": _write_annotations(os.path.join(work, "annotations", "train.json"), train, rng),
        "val_boxes": _write_annotations(os.path.join(work, "annotations", "val.json"), val, rng),
    }
    info["val_detections"] = _write_detections(
        os.path.join(work, "annotations", "val_person_bbox.json"), os.path.join(work, "annotations", "val.json"), rng
    )
    one = os.path.join(work, "one_clip.mp4")
    frames = np.full((25, 64, 112, 3), 90, np.uint8)
    write_clip(one, frames, fps=25)
    for vid in train + val:
        folder = os.path.join(work, "clips", vid)
        os.makedirs(folder, exist_ok=True)
        first = os.path.join(folder, f"{PREPARED[0]}.mp4")
        shutil.copyfile(one, first)  # one file per video: a file system allows ~65k links to one file
        for s in range(PREPARED[0] + 1, PREPARED[1] + 1):
            os.link(first, os.path.join(folder, f"{s}.mp4"))
    entries = {
        "bench_train": {
            "video_root": os.path.join(work, "clips"),
            "ann_file": os.path.join(work, "annotations", "train.json"),
        },
        "bench_val": {
            "video_root": os.path.join(work, "clips"),
            "ann_file": os.path.join(work, "annotations", "val.json"),
            "box_file": os.path.join(work, "annotations", "val_person_bbox.json"),
        },
        "_info": info,
    }
    atomic_write_text(catalog, json.dumps(entries, indent=1))
    return entries


def _cfg(catalog: str, cache: bool = True):
    from alphaction.config import get_cfg

    cfg = get_cfg()
    cfg.merge_from_list(
        [
            "DATASETS.CATALOG",
            catalog,
            "DATASETS.TRAIN",
            ("bench_train",),
            "DATASETS.TEST",
            ("bench_val",),
            "MODEL.ROI_ACTION_HEAD.NUM_CLASSES",
            80,
            "DATALOADER.NUM_WORKERS",
            0,
            "TEST.VIDEOS_PER_BATCH",
            1,
        ]
    )
    if "INDEX_CACHE" in cfg.DATALOADER:  # absent before the index cache: the tool also measures older checkouts
        cfg.merge_from_list(["DATALOADER.INDEX_CACHE", cache])
    return cfg


def _touch(dataset) -> None:
    """Read every array of the index (what an epoch does over time), so PSS counts all its pages."""
    for value in vars(dataset).values():
        if isinstance(value, np.ndarray) and value.size and value.dtype.kind in "iuf":
            float(value.sum())


def _clear_caches(catalog: dict) -> None:
    for entry in catalog.values():
        if isinstance(entry, dict) and "ann_file" in entry:
            shutil.rmtree(os.path.join(os.path.dirname(entry["ann_file"]), ".alphaction_cache"), ignore_errors=True)


def _phase(name: str, catalog_path: str, queue) -> None:
    import torch

    torch.set_num_threads(1)
    from alphaction.data import build as data_build

    base_rss, base_pss = rss_mb(), pss_mb()
    cfg = _cfg(catalog_path, cache=not name.endswith("_nocache"))
    out: dict = {}
    t = time.perf_counter()
    if name == "evaluations":
        # what each evaluation of a run costs before its first batch; a checkout without build_test_datasets
        # (before the datasets were kept) rebuilds them every time
        keep = getattr(data_build, "build_test_datasets", None)
        sets = keep(cfg) if keep else None
        loaders = data_build.build_data_loader(cfg, is_train=False, **({"test_datasets": sets} if keep else {}))
        out["first_evaluation_s"] = time.perf_counter() - t
        again = []
        for _ in range(3):
            t = time.perf_counter()
            loaders = data_build.build_data_loader(cfg, is_train=False, **({"test_datasets": sets} if keep else {}))
            again.append(time.perf_counter() - t)
        out["evaluations_2_to_4_s"] = again
        dataset = loaders[0][1].dataset
    else:
        dataset = data_build.build_dataset(
            cfg, "bench_train" if name.startswith("train") else "bench_val", is_train=name.startswith("train")
        )
        out["seconds"] = time.perf_counter() - t
    _touch(dataset)
    out.update(
        keyframes=len(dataset),
        boxes=int(len(dataset._boxes)),
        index_status=getattr(dataset, "index_status", "built"),
        peak_rss_over_baseline_mb=peak_mb() - base_rss,
        pss_over_baseline_mb=pss_mb() - base_pss,
        baseline_rss_mb=base_rss,
    )
    queue.put((name, out))


def _rank(rank: int, world: int, port: int, catalog_path: str, queue) -> None:
    import torch
    import torch.distributed as dist

    torch.set_num_threads(1)
    os.environ.update(
        RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE=str(world), MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port)
    )
    dist.init_process_group("gloo", rank=rank, world_size=world)
    from alphaction.data.build import build_dataset

    cfg = _cfg(catalog_path)
    dist.barrier()  # every rank has imported torch and joined: the baselines are comparable
    base_rss, base_pss = rss_mb(), pss_mb()
    t = time.perf_counter()
    dataset = build_dataset(cfg, "bench_train", is_train=True)
    seconds = time.perf_counter() - t
    _touch(dataset)
    dist.barrier()  # all ranks hold the index at once when PSS is read
    out = {
        "rank": rank,
        "seconds": seconds,
        "index_status": getattr(dataset, "index_status", "built"),
        "peak_rss_over_baseline_mb": peak_mb() - base_rss,
        "pss_over_baseline_mb": pss_mb() - base_pss,
    }
    dist.barrier()
    queue.put(("rank", out))
    dist.destroy_process_group()


def _commit() -> str:
    import subprocess

    try:
        return subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
            cwd=os.path.dirname(os.path.abspath(__file__)),
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def _run(target, args_list: list[tuple]) -> list:
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    procs = [ctx.Process(target=target, args=(*a, queue)) for a in args_list]
    for p in procs:
        p.start()
    results = [queue.get() for _ in procs]
    for p in procs:
        p.join()
        if p.exitcode:
            raise SystemExit(f"a benchmark process failed (exit {p.exitcode})")
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work-dir", default="/tmp/alphaction_ava_sized", help="where the case is made (kept)")
    parser.add_argument("--videos", type=int, default=TRAIN_VIDEOS, help="training videos (AVA v2.2: 235)")
    parser.add_argument("--val-videos", type=int, default=VAL_VIDEOS, help="test videos (AVA v2.2: 64)")
    parser.add_argument("--ranks", type=int, default=8, help="processes of the shared-index phase (0: skip it)")
    parser.add_argument("--phases", default="train_cold,train_warm,test_cold,test_warm,evaluations,ranks")
    parser.add_argument("--out", default=None, help="also write the JSON here")
    args = parser.parse_args(argv)

    t = time.perf_counter()
    catalog = make_case(args.work_dir, args.videos, args.val_videos)
    made_s = time.perf_counter() - t
    catalog_path = os.path.join(args.work_dir, "catalog.json")
    ann = catalog["bench_train"]["ann_file"]
    report = {
        "tool": "tools/benchmark_dataset.py",
        "code": _commit(),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
        "case": {
            **catalog["_info"],
            "train_json_mb": os.path.getsize(ann) / 2**20,
            "val_detections_json_mb": os.path.getsize(catalog["bench_val"]["box_file"]) / 2**20,
            "made_in_s": made_s,
        },
        "phases": {},
    }
    phases = [p for p in args.phases.split(",") if p]
    for name in phases:
        if name == "ranks":
            if args.ranks <= 0:
                continue
            _clear_caches(catalog)
            port = 29500 + os.getpid() % 1000
            ranks = sorted(
                (out for _, out in _run(_rank, [(r, args.ranks, port, catalog_path) for r in range(args.ranks)])),
                key=lambda r: r["rank"],
            )
            report["phases"]["ranks"] = {
                "per_rank": ranks,
                "total_pss_over_baseline_mb": sum(r["pss_over_baseline_mb"] for r in ranks),
                "slowest_rank_s": max(r["seconds"] for r in ranks),
            }
            continue
        if name.endswith("_cold") or name == "evaluations":
            _clear_caches(catalog)
        ((_, out),) = _run(_phase, [(name, catalog_path)])
        report["phases"][name] = out
    p = report["phases"]
    if "train_cold" in p and "ranks" in p:
        p["ranks"]["total_pss_vs_one_rank"] = (
            p["ranks"]["total_pss_over_baseline_mb"] / p["train_cold"]["pss_over_baseline_mb"]
        )
    emit_json(report, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
