#!/usr/bin/env python
"""Evaluate a trained action detector: writes OUTPUT_DIR/inference/<dataset>/result.csv (official AVA format)
and prints frame-mAP@0.5 with per-class AP. Under torchrun each process predicts an exact, non-overlapping
share of the clips and rank 0 gathers them.

    python test_net.py --config-file config_files/synthetic/slowfast_r14_cpu.yaml \\
        MODEL.WEIGHT data/output/synthetic_r14_cpu/model_final.pth
    torchrun --nproc_per_node=8 test_net.py --config-file ... MODEL.WEIGHT ...
"""

from __future__ import annotations

import sys

from alphaction.engine.defaults import default_argument_parser, setup
from alphaction.engine.launch import shutdown_distributed
from alphaction.engine.runner import load_for_test, run_test
from alphaction.utils.cpu_tuning import reexec_with_allocator_tunables
from alphaction.utils.errors import run_cli


def main(argv: list[str] | None = None) -> dict:
    args = default_argument_parser(train=False).parse_args(argv)
    cfg, ctx = setup(args)
    model = load_for_test(cfg, ctx)
    return run_test(cfg, model, ctx)


if __name__ == "__main__":
    reexec_with_allocator_tunables()  # CPU runs: glibc's allocator settings for training steps (utils/cpu_tuning.py)
    status = run_cli(main)  # user errors: "error: ... / fix: ...", exit status 2 (--debug: with the traceback)
    shutdown_distributed()
    sys.exit(status)
