#!/usr/bin/env python
"""Train an action detector.

With no arguments this runs the default job: it makes the synthetic dataset (first run only), trains the
CPU-sized SlowFast on it, evaluates frame-mAP on the synthetic val split and says where everything is.

    python train_net.py
    python train_net.py --dry-run                      # build, one batch forward / backward, report, exit
    python train_net.py --config-file config_files/resnet50_4x16f_baseline.yaml --transfer --no-head \\
        MODEL.WEIGHT data/models/pretrained_models/SlowFast-ResNet50-4x16.pth
    torchrun --nproc_per_node=8 train_net.py --config-file ... [KEY VALUE ...]

Rerunning the same command after any stop resumes from OUTPUT_DIR/last_checkpoint. SIGTERM saves a checkpoint
at the current iteration and exits with status 0. See docs/TRAINING.md.
"""

from __future__ import annotations

import logging
import os
import sys

from alphaction.engine.defaults import default_argument_parser, setup
from alphaction.engine.dry_run import dry_run
from alphaction.engine.hooks import TrainingInterrupted
from alphaction.engine.launch import shutdown_distributed
from alphaction.engine.runner import run_train
from alphaction.utils.cpu_tuning import reexec_with_allocator_tunables
from alphaction.utils.errors import run_cli


def main(argv: list[str] | None = None) -> dict:
    args = default_argument_parser(train=True).parse_args(argv)
    cfg, ctx = setup(args)
    log = logging.getLogger("alphaction")
    if args.dry_run:
        return dry_run(cfg, ctx, args)
    try:
        _, results = run_train(cfg, ctx, args)
    except TrainingInterrupted as e:
        log.warning("Stopped at iteration %d; rerun the same command to resume", e.iteration)
        return {}
    final = os.path.join(cfg.OUTPUT_DIR, "model_final.pth")
    if ctx.rank == 0:
        if os.path.isfile(final):
            log.info("Final model: %s", final)
        for name, res in results.items():
            log.info(
                "%s: %s (results in %s)",
                name,
                ", ".join(f"{k} = {v:.4f}" for k, v in res.items()),
                os.path.join(cfg.OUTPUT_DIR, "inference", name),
            )
    return results


if __name__ == "__main__":
    reexec_with_allocator_tunables()  # CPU runs: glibc's allocator settings for training steps (utils/cpu_tuning.py)
    status = run_cli(main)  # user errors: "error: ... / fix: ...", exit status 2 (--debug: with the traceback)
    shutdown_distributed()
    sys.exit(status)
