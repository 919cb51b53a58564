#!/usr/bin/env python
"""Time training iterations of a config: s/iter, clips/s, per-phase time, peak memory; one entry per AMP mode.

    python tools/benchmark_train.py [--config-file FILE] [--amp off bf16] [--iters 10] [--warmup 2] \\
        [--data random|loader] [--out train_benchmark.json] [KEY VALUE ...]

``--data random`` (default) feeds clips of the config's shape (INPUT.MIN/MAX_SIZE_TRAIN, FRAME_NUM, TAU, ALPHA,
SOLVER.VIDEOS_PER_BATCH) with two boxes each, so the numbers are the model's alone; ``--data loader`` uses the
config's training loader (decode + transforms + collate included; data time reported separately).
Phases: data, forward (autocast), backward, optimizer step. Peak memory: ``torch.cuda.max_memory_allocated``
on GPU, else the process's peak RSS (``ru_maxrss``, which only grows: modes are run in that order).
On a GPU the forward FLOPs come from ``torch.utils.flop_counter.FlopCounterMode`` (which counts a
multiply-add as 2 FLOPs); training FLOPs are taken as 3x forward, and MFU divides the achieved rate by --peak-tflops.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import time

import torch

from alphaction.config import get_cfg
from alphaction.engine.defaults import resolve_config_path
from alphaction.engine.launch import select_device
from alphaction.engine.trainer import AMP_DTYPES, batch_to_device
from alphaction.modeling import build_model
from alphaction.solver import build_optimizer
from alphaction.utils.report import emit_json


def random_batch(cfg, batch: int, seed: int = 0) -> dict:
    g = torch.Generator().manual_seed(seed)
    inp = cfg.INPUT
    h, w = inp.MIN_SIZE_TRAIN, min(inp.MAX_SIZE_TRAIN, inp.MIN_SIZE_TRAIN * 4 // 3)
    h, w = (-(-h // 16)) * 16, (-(-w // 16)) * 16
    t_slow, t_fast = inp.FRAME_NUM // inp.TAU, inp.FRAME_NUM // (inp.TAU // inp.ALPHA)
    boxes = torch.tensor([[0.1 * w, 0.1 * h, 0.5 * w, 0.9 * h], [0.4 * w, 0.2 * h, 0.9 * w, 0.8 * h]])
    n = cfg.MODEL.ROI_ACTION_HEAD.NUM_CLASSES
    labels = torch.zeros(2, n)
    labels[0, 0] = labels[1, 1] = 1
    return {
        "slow": torch.randn(batch, 3, t_slow, h, w, generator=g),
        "fast": torch.randn(batch, 3, t_fast, h, w, generator=g),
        "boxes": [boxes.clone() for _ in range(batch)],
        "labels": [labels.clone() for _ in range(batch)],
        "objects": [torch.zeros(0, 4) for _ in range(batch)],
        "image_sizes": [(h, w)] * batch,
    }


def peak_memory_mb(device: torch.device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def bench_mode(cfg, amp: str, iters: int, warmup: int, data: str, device: torch.device, peak_tflops: float) -> dict:
    torch.manual_seed(0)
    model = build_model(cfg).to(device).train()
    if cfg.SOLVER.CHANNELS_LAST:
        model = model.to(memory_format=torch.channels_last_3d)
    if cfg.SOLVER.COMPILE:
        model = torch.compile(model)
    opt = build_optimizer(cfg, model)
    dtype = AMP_DTYPES[amp]
    scaler = torch.amp.GradScaler(device.type) if amp == "fp16" else None
    batch_size = cfg.SOLVER.VIDEOS_PER_BATCH
    if data == "loader":
        from alphaction.data import build_data_loader

        loader = iter(build_data_loader(cfg, is_train=True, seed=0))
    else:
        fixed = random_batch(cfg, batch_size)
    phases = {"data": [], "forward": [], "backward": [], "step": [], "iteration": []}
    for i in range(warmup + iters):
        t0 = time.perf_counter()
        batch = next(loader) if data == "loader" else fixed
        batch = batch_to_device(batch, device, cfg.SOLVER.CHANNELS_LAST)
        _sync(device)
        t1 = time.perf_counter()
        with torch.autocast(device_type=device.type, dtype=dtype, enabled=dtype is not None):
            losses = model(
                batch["slow"],
                batch["fast"],
                batch["boxes"],
                batch["image_sizes"],
                labels=batch["labels"],
                objects=batch.get("objects"),
            )
        loss = sum(v.float() for v in losses.values())
        _sync(device)
        t2 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        (scaler.scale(loss) if scaler else loss).backward()
        _sync(device)
        t3 = time.perf_counter()
        if scaler:
            scaler.step(opt)
            scaler.update()
        else:
            opt.step()
        _sync(device)
        t4 = time.perf_counter()
        if i >= warmup:
            for k, v in zip(phases, (t1 - t0, t2 - t1, t3 - t2, t4 - t3, t4 - t0)):
                phases[k].append(v)
    mean = {k: sum(v) / len(v) for k, v in phases.items()}
    out = {
        "amp": amp,
        "iterations": iters,
        "warmup": warmup,
        "clips_per_iter": batch_size,
        "s_per_iter": mean["iteration"],
        "iters_per_s": 1 / mean["iteration"],
        "clips_per_s": batch_size / mean["iteration"],
        "phase_s": {k: mean[k] for k in ("data", "forward", "backward", "step")},
        "peak_mem_mb": peak_memory_mb(device),
        "peak_mem_kind": "cuda_allocated" if device.type == "cuda" else "rss",
        "final_loss": float(loss.detach()),
    }
    if device.type == "cuda":
        from torch.utils.flop_counter import FlopCounterMode

        b = random_batch(cfg, batch_size)
        b = batch_to_device(b, device)
        counter = FlopCounterMode(display=False)
        with counter, torch.autocast(device_type=device.type, dtype=dtype, enabled=dtype is not None):
            model(b["slow"], b["fast"], b["boxes"], b["image_sizes"], labels=b["labels"], objects=b["objects"])
        fwd = counter.get_total_flops()
        achieved = 3 * fwd / mean["iteration"]
        out.update(
            {
                "forward_flops": fwd,
                "flop_convention": "FMA = 2 FLOPs (torch.utils.flop_counter); train = 3x fwd",
                "achieved_tflops": achieved / 1e12,
                "peak_tflops": peak_tflops,
                "mfu": achieved / (peak_tflops * 1e12) if peak_tflops else None,
            }
        )
    return out


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config-file", default="")
    p.add_argument("--amp", nargs="+", default=["off", "bf16"], choices=sorted(AMP_DTYPES))
    p.add_argument("--iters", type=int, default=10)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--data", choices=["random", "loader"], default="random")
    p.add_argument("--peak-tflops", type=float, default=989.0, help="device peak for MFU (H100 SXM dense bf16: 989)")
    p.add_argument("--out", default="")
    p.add_argument("opts", nargs=argparse.REMAINDER)
    args = p.parse_args(argv)
    cfg = get_cfg()
    cfg.merge_from_file(resolve_config_path(args.config_file))
    cfg.merge_from_list(args.opts)
    cfg.freeze()
    device = select_device(cfg.MODEL.DEVICE)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    result = {
        "config": resolve_config_path(args.config_file),
        "overrides": args.opts,
        "device": str(device),
        "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor(),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "data": args.data,
        "glibc_tunables": os.environ.get("GLIBC_TUNABLES", ""),
        "modes": [
            bench_mode(cfg, amp, args.iters, args.warmup, args.data, device, args.peak_tflops) for amp in args.amp
        ],
    }
    emit_json(result, args.out)
    return result


if __name__ == "__main__":
    main()
