#!/usr/bin/env python
"""Train several configs on the same data for the same iterations and print their frame-mAP side by side.

By default: the synthetic baseline and the same model with dense-serial IA (``config_files/synthetic/``), both on
the synthetic dataset made on first use::

    python tools/ablate.py                                   # 400 iterations each, as the configs say
    python tools/ablate.py --output-dir data/output/ablation SOLVER.MAX_ITER 800 SOLVER.STEPS "(600,)"
    # both continue a trained baseline (the IA structure starts fresh), here with the backbone frozen
    W=data/output/ablation/slowfast_r14_cpu/model_final.pth
    python tools/ablate.py --output-dir data/output/frozen --transfer $W SOLVER.FREEZE_STAGES 5 \\
        MODEL.BACKBONE.FROZEN_BN True
    # only the heads, on stored features of that backbone (about a minute of training each on a CPU)
    python tools/ablate.py --output-dir data/output/head_only --transfer $W --head-only 2000 \\
        MODEL.IA_STRUCTURE.MEMORY_NORM True

Each config runs as its own ``train_net.py`` process (so an interrupted ablation resumes where it stopped) with
the same seed and the trailing ``KEY VALUE`` overrides (with ``--head-only``:
``projects/ia_head_probe/probe_ia_head.py`` then ``test_net.py``; a config whose head is already saved is only tested
again); the table (overall, per class group,
per class) is printed and written to ``OUTPUT_DIR/ablation.json``.

The default configs are tested on ``synthetic_test`` (160 videos, made on first use) rather than their 12-video
``synthetic_val``: the interaction and memory groups of the small split have a few dozen boxes each, too few to
tell a difference of several points from noise (docs/IA.md). ``--test-dataset`` picks another test set; with
``--configs`` of your own the configs' ``DATASETS.TEST`` is kept unless it is given.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

from alphaction.utils.errors import UserError, run_cli

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

DEFAULT_CONFIGS = [
    "config_files/synthetic/slowfast_r14_cpu.yaml",
    "config_files/synthetic/slowfast_r14_cpu_ia_denseserial.yaml",
]
DEFAULT_TEST_DATASET = "synthetic_test"


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--configs", nargs="+", default=DEFAULT_CONFIGS, help="config files to compare (first = reference)")
    p.add_argument("--names", nargs="+", default=None, help="column names (default: the config file names)")
    p.add_argument("--output-dir", default="data/output/ablation", help="one sub-folder per config, and ablation.json")
    p.add_argument("--seed", type=int, default=2, help="the same training seed for every config")
    p.add_argument(
        "--test-dataset",
        default=None,
        help="catalog name to test every config on (default: synthetic_test for the default configs, "
        "else each config's DATASETS.TEST; a DATASETS.TEST override does the same)",
    )
    p.add_argument(
        "--transfer",
        metavar="CHECKPOINT",
        default=None,
        help="start every config from this checkpoint's weights (train_net.py --transfer MODEL.WEIGHT "
        "CHECKPOINT; an IA structure it lacks starts fresh), e.g. a trained baseline",
    )
    p.add_argument(
        "--head-only",
        metavar="STEPS",
        type=int,
        default=0,
        help="with --transfer: keep the checkpoint's backbone frozen and train only each config's head "
        "(IA included) for STEPS steps of 16 clips on stored backbone features "
        "(projects/ia_head_probe/probe_ia_head.py --save-dir), then test the detector with test_net.py",
    )
    p.add_argument("opts", nargs=argparse.REMAINDER, help="KEY VALUE overrides applied to every config")
    args = p.parse_args(argv)
    if args.names and len(args.names) != len(args.configs):
        p.error(f"--names gives {len(args.names)} names for {len(args.configs)} configs")
    if args.head_only and not args.transfer:
        p.error("--head-only trains the heads on the features of a trained backbone: give it with --transfer")
    if len(args.opts) % 2:
        p.error(f"overrides come in KEY VALUE pairs, got {len(args.opts)} words: {args.opts}")
    given = "DATASETS.TEST" in args.opts[::2]
    if args.test_dataset and given:
        p.error("give the test set once: --test-dataset or a DATASETS.TEST override, not both")
    if args.test_dataset is None and args.configs == DEFAULT_CONFIGS and not given:
        args.test_dataset = DEFAULT_TEST_DATASET
    if args.test_dataset:
        args.opts = [*args.opts, "DATASETS.TEST", f'("{args.test_dataset}",)']
    return args


def _name(path: str) -> str:
    return os.path.splitext(os.path.basename(path))[0]


def _dataset(config: str, opts: list[str], split: str) -> str:
    from alphaction.config import get_cfg

    cfg = get_cfg()
    cfg.merge_from_file(config)
    cfg.merge_from_list(list(opts))
    names = cfg.DATASETS[split]
    if not names:
        raise UserError(
            f"DATASETS.{split} is empty: nothing to {'compare on' if split == 'TEST' else 'train on'}",
            where=config,
            fix=f"name a dataset: DATASETS.{split} '(\"NAME\",)' (or --test-dataset)",
        )
    return names[0]


def test_dataset(config: str, opts: list[str]) -> str:
    return _dataset(config, opts, "TEST")


def _call(cmd: list[str], what: str, log: str) -> None:
    print("$", " ".join(cmd), flush=True)
    done = subprocess.run(cmd, cwd=os.getcwd())
    if done.returncode:
        raise UserError(
            f"{what} failed (exit status {done.returncode})",
            where=log,
            fix="read the error printed above (and the log), fix it and rerun: finished configs are kept",
        )


def run_head_only(config: str, out_dir: str, seed: int, opts: list[str], weight: str, steps: int) -> float:
    """The head of ``config`` trained alone on the stored features of ``weight``'s frozen backbone
    (``probe_ia_head.py --save-dir``), then the saved detector tested by ``test_net.py``; returns the wall time.
    A folder that already holds the saved detector is only tested again."""
    start = time.perf_counter()
    if not os.path.isfile(os.path.join(out_dir, "model_final.pth")):
        _call(
            [
                sys.executable,
                os.path.join(REPO, "projects", "ia_head_probe", "probe_ia_head.py"),
                "--config-file",
                config,
                "--weight",
                weight,
                "--steps",
                str(steps),
                "--seed",
                str(seed),
                "--train-dataset",
                _dataset(config, opts, "TRAIN"),
                "--test-dataset",
                test_dataset(config, opts),
                "--save-dir",
                out_dir,
                "--output",
                os.path.join(out_dir, "probe.json"),
                *opts,
            ],
            f"training the head of {config}",
            "the output above",
        )
    _call(
        [
            sys.executable,
            os.path.join(REPO, "test_net.py"),
            "--config-file",
            os.path.join(out_dir, "config.yaml"),
            "MODEL.WEIGHT",
            os.path.join(out_dir, "model_final.pth"),
            "OUTPUT_DIR",
            out_dir,
        ],
        f"testing {out_dir}",
        os.path.join(out_dir, "log.txt"),
    )
    return time.perf_counter() - start


def run_one(config: str, out_dir: str, seed: int, opts: list[str], transfer: str | None = None) -> float:
    """``train_net.py`` on one config (resuming if ``out_dir`` holds a checkpoint; from the weights of
    ``transfer`` otherwise, when given); returns its wall time."""
    start_from = ["--transfer"] if transfer else []
    weight = ["MODEL.WEIGHT", transfer] if transfer else []
    cmd = [
        sys.executable,
        os.path.join(REPO, "train_net.py"),
        "--config-file",
        config,
        "--seed",
        str(seed),
        *start_from,
        *opts,
        *weight,
        "OUTPUT_DIR",
        out_dir,
    ]
    start = time.perf_counter()
    _call(cmd, f"training {config}", os.path.join(out_dir, "log.txt"))
    return time.perf_counter() - start


def table(names: list[str], results: list[dict]) -> str:
    """Rows: overall mAP, each group, each class; one column per config."""
    rows = [("frame-mAP@0.5", [r.get("mAP@0.5") for r in results])]
    groups = [k for k in results[0] if k.startswith("mAP@0.5/")]
    rows += [(f"  group {g.split('/', 1)[1]}", [r.get(g) for r in results]) for g in groups]
    classes = list(results[0].get("per_class_AP@0.5", {}))
    rows += [(f"    {c}", [r.get("per_class_AP@0.5", {}).get(c) for r in results]) for c in classes]
    width = max(len(n) for n in names + ["0.0000"]) + 2
    label_width = max(len(label) for label, _ in rows) + 2
    lines = [" " * label_width + "".join(n.rjust(width) for n in names)]
    for label, values in rows:
        cells = ["-" if v is None or v != v else f"{v:.4f}" for v in values]
        lines.append(label.ljust(label_width) + "".join(c.rjust(width) for c in cells))
    return "\n".join(lines)


def main(argv=None) -> int:
    args = parse_args(argv)
    names = args.names or [_name(c) for c in args.configs]
    os.makedirs(args.output_dir, exist_ok=True)
    results, times = [], []
    for config, name in zip(args.configs, names):
        out_dir = os.path.join(args.output_dir, name)
        if args.head_only:
            seconds = run_head_only(config, out_dir, args.seed, args.opts, args.transfer, args.head_only)
        else:
            seconds = run_one(config, out_dir, args.seed, args.opts, args.transfer)
        times.append(round(seconds, 1))
        result_file = os.path.join(out_dir, "inference", test_dataset(config, args.opts), "result.json")
        if not os.path.isfile(result_file):
            raise UserError(
                f"{result_file} was not written",
                where="--test-dataset / DATASETS.TEST",
                fix="test on a dataset whose catalog entry has eval_file_paths (its ground truth)",
            )
        with open(result_file, encoding="utf-8") as f:
            results.append(json.load(f))
    text = table(names, results)
    print(text)
    report = {
        "configs": dict(zip(names, args.configs)),
        "overrides": args.opts,
        "seed": args.seed,
        "transfer": args.transfer,
        "head_only_steps": args.head_only,
        "wall_seconds": dict(zip(names, times)),
        "results": dict(zip(names, results)),
        "table": text,
    }
    path = os.path.join(args.output_dir, "ablation.json")
    with open(path, "w", encoding="utf-8") as f:
        json.dump(report, f, indent=2)
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))  # user errors: 'error: ...' / 'fix: ...', exit 2 (--debug: traceback)
