#!/usr/bin/env python
"""Time the training data pipeline of a config: clips/s of the DataLoader for several worker counts, and the
per-stage time of one process (decode, transform, collate); prints (and optionally saves) JSON.

    python tools/benchmark_loader.py [--config-file FILE] [--workers 0 2] [--batches 10] [--out dl.json] \\
        [KEY VALUE ...]

Decode is ``alphaction.data.video_io.decode_window`` (PyAV) as the dataset calls it; transform is the dataset's
clip transform (resize, jitter, normalise, pathway split); collate pads and stacks a batch. Peak RSS is the
main process's ``ru_maxrss`` (workers are separate processes).
"""

from __future__ import annotations

import argparse
import os
import resource
import time

import torch

from alphaction.config import get_cfg
from alphaction.data import build_data_loader, build_dataset, collate
from alphaction.data.datasets import ava as ava_module
from alphaction.engine.defaults import resolve_config_path
from alphaction.utils.report import emit_json


def loader_rate(cfg, workers: int, batches: int, warmup: int = 2) -> dict:
    c = cfg.clone()
    c.defrost()
    c.DATALOADER.NUM_WORKERS = workers
    c.SOLVER.MAX_ITER = batches + warmup
    c.SOLVER.GRAD_ACCUM_STEPS = 1
    c.freeze()
    it = iter(build_data_loader(c, is_train=True, seed=0))
    t_start = time.perf_counter()
    for _ in range(warmup):  # worker start-up and the first prefetch are not the steady state
        next(it)
    t0 = time.perf_counter()
    clips = 0
    for batch in it:
        clips += batch["slow"].shape[0]
    dt = time.perf_counter() - t0
    return {
        "num_workers": workers,
        "batches": batches,
        "clips_per_s": clips / dt,
        "s_per_batch": dt / batches,
        "startup_s": t0 - t_start,
    }


def stage_times(cfg, samples: int) -> dict:
    """Single-process time per clip of each stage (the dataset's own calls, timed through wrappers)."""
    dataset = build_dataset(cfg, cfg.DATASETS.TRAIN[0], is_train=True)
    acc = {"decode": 0.0, "transform": 0.0}
    decode, transform = ava_module.decode_window, dataset.transforms

    def timed_decode(*a, **k):
        t = time.perf_counter()
        out = decode(*a, **k)
        acc["decode"] += time.perf_counter() - t
        return out

    def timed_transform(*a, **k):
        t = time.perf_counter()
        out = transform(*a, **k)
        acc["transform"] += time.perf_counter() - t
        return out

    ava_module.decode_window, dataset.transforms = timed_decode, timed_transform
    try:
        n = min(samples, len(dataset))
        t0 = time.perf_counter()
        items = [dataset[i] for i in range(n)]
        total = time.perf_counter() - t0
    finally:
        ava_module.decode_window = decode
    bs = cfg.SOLVER.VIDEOS_PER_BATCH
    t0 = time.perf_counter()
    n_batches = 0
    for i in range(0, n - bs + 1, bs):
        collate(items[i : i + bs], size_divisibility=cfg.DATALOADER.SIZE_DIVISIBILITY)
        n_batches += 1
    collate_s = (time.perf_counter() - t0) / max(n_batches, 1)
    return {
        "samples": n,
        "decode_s_per_clip": acc["decode"] / n,
        "transform_s_per_clip": acc["transform"] / n,
        "other_s_per_clip": (total - acc["decode"] - acc["transform"]) / n,
        "getitem_s_per_clip": total / n,
        "collate_s_per_batch": collate_s,
        "batch_size": bs,
        "single_process_clips_per_s": n / total,
    }


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config-file", default="")
    p.add_argument("--workers", type=int, nargs="+", default=[0, 2])
    p.add_argument("--batches", type=int, default=10)
    p.add_argument("--samples", type=int, default=32, help="clips for the per-stage timing")
    p.add_argument("--out", default="")
    p.add_argument("opts", nargs=argparse.REMAINDER)
    args = p.parse_args(argv)
    torch.set_num_threads(max(1, torch.get_num_threads()))
    cfg = get_cfg()
    cfg.merge_from_file(resolve_config_path(args.config_file))
    cfg.merge_from_list(args.opts)
    cfg.freeze()
    result = {
        "config": resolve_config_path(args.config_file),
        "overrides": args.opts,
        "dataset": list(cfg.DATASETS.TRAIN),
        "cpu_count": os.cpu_count(),
        "stages": stage_times(cfg, args.samples),
        "loader": [loader_rate(cfg, w, args.batches) for w in args.workers],
    }
    result["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    emit_json(result, args.out)
    return result


if __name__ == "__main__":
    main()
