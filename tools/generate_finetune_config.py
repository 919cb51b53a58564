#!/usr/bin/env python
"""Write a finetuning config that inherits from the matching base config, with the linear scaling rule applied.

    python tools/generate_finetune_config.py --interactive
    python tools/generate_finetune_config.py --catalog data/my_videos/catalog.yaml \\
        --dataset-train my_videos_train --dataset-test my_videos_val --num-classes 10 --class-groups 5 3 2 \\
        --backbone r50_4x16 --num-gpus 4 --videos-per-gpu 2 --output config_files/my_config.yaml

The base configs hold AlphAction's schedule for 16 clips per iteration (lr 0.0004, STEPS (50000, 70000),
MAX_ITER 90000, WARMUP_ITERS 2000). With --num-gpus x --videos-per-gpu clips the lr is scaled by batch/16 and
every iteration count by 16/batch. --gpu-memory GIB picks --videos-per-gpu from a rough per-clip estimate.
--interactive asks the same questions (Enter keeps the default shown in brackets).
"""

from __future__ import annotations

import argparse
import sys

from alphaction.apis.finetune_config import (
    AVA_CLASS_GROUPS,
    BACKBONES,
    IA_CHOICES,
    FinetuneSpec,
    labelmap_classes,
    resolve_classes,
    training_keyframes,
    videos_per_gpu_for_memory,
    write_finetune_config,
)
from alphaction.config import ConfigError
from alphaction.config.paths_catalog import DatasetCatalog
from alphaction.utils.errors import UserError, run_cli

# AlphAction's schedule in passes over AVA v2.2's training keyframes: 90000 iterations x 16 clips / ~211k
AVA_EPOCHS = 6.8


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--interactive", action="store_true", help="ask for every answer (flags given become defaults)")
    p.add_argument("--catalog", default="", metavar="FILE", help="catalog file registering your datasets")
    p.add_argument("--dataset-train", nargs="+", default=[], metavar="NAME", help="catalog name(s) to train on")
    p.add_argument("--dataset-test", nargs="*", default=[], metavar="NAME", help="catalog name(s) to test on")
    p.add_argument(
        "--num-classes",
        type=int,
        default=None,
        help="number of action classes (default: the largest id of the training set's label map; AVA: 80)",
    )
    p.add_argument(
        "--class-groups",
        type=int,
        nargs=3,
        default=None,
        metavar=("P", "O", "I"),
        help="pose (mutually exclusive, softmax), object-manipulation and person-interaction class "
        "counts, in the label map's id order; they sum to --num-classes (AVA: 14 49 17; default: "
        "from the label map's label_type fields)",
    )
    p.add_argument(
        "--backbone",
        choices=sorted(BACKBONES),
        default="r50_4x16",
        help="r50_4x16: SlowFast-R50 4x16 (faster); r101_8x8: SlowFast-R101 8x8 (more accurate)",
    )
    p.add_argument(
        "--base-config",
        default="",
        metavar="FILE",
        help="inherit from this config instead of the backbone's (e.g. a CPU quick schedule); the "
        "scaling rule then starts from its lr and batch",
    )
    p.add_argument(
        "--ia",
        choices=list(IA_CHOICES),
        default="off",
        help="Interaction Aggregation: inherit from AlphAction's published IA config of the backbone "
        "('on' = dense serial; R50 also has 'serial' and 'parallel'); needs object boxes "
        "(object_file) in the catalog entries",
    )
    p.add_argument("--num-gpus", type=int, default=1, help="training processes (GPUs); 1 also for a CPU run")
    mem = p.add_mutually_exclusive_group()
    mem.add_argument("--videos-per-gpu", type=int, default=None, help="clips per GPU per iteration (default 2)")
    mem.add_argument(
        "--gpu-memory",
        type=float,
        default=None,
        metavar="GIB",
        help="memory of one GPU; picks --videos-per-gpu from a rough estimate",
    )
    p.add_argument(
        "--epochs",
        type=float,
        default=None,
        help="size MAX_ITER to this many passes over the training keyframes (steps and warmup keep "
        "their share); default: the base schedule scaled to the batch (AlphAction's: about 6.8 "
        "epochs of AVA)",
    )
    p.add_argument(
        "--base-weights",
        default="",
        metavar="FILE",
        help="MODEL.WEIGHT to finetune from (default: the base config's pretrained file)",
    )
    p.add_argument("--output-dir", default="", help="OUTPUT_DIR of the run (default data/output/<config name>)")
    p.add_argument("--output", default="", metavar="FILE", help="the YAML to write (required without --interactive)")
    return p


def _ask(prompt: str, default, cast=str, choices=None):
    shown = " ".join(map(str, default)) if isinstance(default, (list, tuple)) else default
    while True:
        raw = input(f"{prompt} [{'' if shown is None else shown}]: ").strip()
        if not raw:
            if default is None or default == "":
                if cast is str:
                    return ""
                print("  an answer is needed")
                continue
            return default
        try:
            value = cast(raw)
        except ValueError as e:
            print(f"  {e}")
            continue
        if choices and value not in choices:
            print(f"  choose one of {', '.join(choices)}")
            continue
        return value


def _names(raw: str) -> list[str]:
    return [n for n in raw.replace(",", " ").split() if n]


def _ints(raw: str) -> tuple[int, ...]:
    return tuple(int(v) for v in raw.replace(",", " ").split())


def interactive(args: argparse.Namespace) -> argparse.Namespace:
    """Fill ``args`` from prompts; each prompt's default is the flag's value."""
    print("Finetuning config generator (Enter keeps the value in brackets)")
    args.catalog = _ask("Catalog file registering your datasets (empty: built-in only)", args.catalog)
    try:
        print("  registered datasets: " + ", ".join(DatasetCatalog.names(args.catalog)))
    except ConfigError as e:
        print(f"  {e}")
    args.dataset_train = _ask("Training dataset name(s)", args.dataset_train or None, _names)
    args.dataset_test = _ask("Test dataset name(s) (empty: none)", args.dataset_test, _names) or []
    try:
        found = labelmap_classes(list(args.dataset_train) + list(args.dataset_test), args.catalog)
    except ConfigError as e:
        print(f"  {e}")
        found = None
    label_k, label_groups = (found[1], found[2]) if found else (None, None)
    if found:
        print(
            f"  label map {found[0]}: {found[1]} classes"
            + (", groups {} {} {} (label_type)".format(*found[2]) if found[2] else ", no label_type fields")
        )
    args.num_classes = _ask("Number of action classes", args.num_classes or label_k or 80, int)
    default_groups = (
        args.class_groups
        or (label_groups if args.num_classes == label_k else None)
        or (AVA_CLASS_GROUPS if args.num_classes == 80 else None)
    )
    args.class_groups = list(
        _ask(
            f"Class groups: pose (softmax), object, person-interaction counts (e.g. "
            f"{args.num_classes} 0 0: single-label; 0 {args.num_classes} 0: multi-label)",
            tuple(default_groups) if default_groups else None,
            _ints,
        )
    )
    args.backbone = _ask("Backbone (r50_4x16 | r101_8x8)", args.backbone, str, sorted(BACKBONES))
    args.ia = _ask("Interaction Aggregation (off, on = dense serial, serial, parallel)", args.ia, str, list(IA_CHOICES))
    args.num_gpus = _ask("Number of GPUs", args.num_gpus, int)
    if args.videos_per_gpu is None:
        gib = _ask("Memory per GPU in GiB (empty: give clips per GPU next)", args.gpu_memory or "", str)
        if gib:
            args.videos_per_gpu = videos_per_gpu_for_memory(args.backbone, float(gib))
    args.videos_per_gpu = _ask("Clips per GPU per iteration", args.videos_per_gpu or 2, int)
    args.gpu_memory = None
    keyframes = training_keyframes(args.dataset_train, args.catalog) if args.dataset_train else None
    if keyframes:
        batch = args.num_gpus * args.videos_per_gpu
        print(
            f"  {keyframes} annotated training keyframes; at {batch} clips per iteration one epoch is "
            f"{-(-keyframes // batch)} iterations (AlphAction trained about {AVA_EPOCHS} epochs of AVA)"
        )
        args.epochs = _ask("Epochs to train", args.epochs or AVA_EPOCHS, float)
        print(f"  -> MAX_ITER {-(-int(round(args.epochs * keyframes)) // batch)}")
    args.base_weights = _ask("Weights to finetune from (empty: the base config's)", args.base_weights)
    args.output = _ask("Config file to write", args.output or "config_files/my_config.yaml")
    args.output_dir = _ask("Output folder of the run (empty: data/output/<config name>)", args.output_dir)
    return args


def spec_from_args(args: argparse.Namespace) -> FinetuneSpec:
    vpg = args.videos_per_gpu
    if vpg is None:
        vpg = videos_per_gpu_for_memory(args.backbone, args.gpu_memory) if args.gpu_memory else 2
    return FinetuneSpec(
        train=list(args.dataset_train),
        test=list(args.dataset_test),
        num_classes=args.num_classes,
        class_groups=tuple(args.class_groups) if args.class_groups else None,
        backbone=args.backbone,
        base_config=args.base_config,
        num_gpus=args.num_gpus,
        videos_per_gpu=vpg,
        catalog=args.catalog,
        base_weights=args.base_weights,
        output_dir=args.output_dir,
        ia=args.ia,
        epochs=args.epochs,
    )


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.interactive:
        try:
            args = interactive(args)
        except (EOFError, KeyboardInterrupt):
            print("", file=sys.stderr)
            raise UserError(
                "input ended before every question was answered; no config was written",
                where="--interactive",
                fix="run it again and answer each question (Enter keeps the "
                "value in brackets), or give the answers as flags",
            ) from None
    else:
        missing = [f for f, v in (("--output", args.output), ("--dataset-train", args.dataset_train)) if not v]
        if missing:
            parser.error(f"{', '.join(missing)} required (or use --interactive)")
    spec, note = resolve_classes(spec_from_args(args))  # ConfigError: exit 2 through run_cli
    if note:
        print(f"classes: {note}")
    text = write_finetune_config(spec, args.output, header=f"Classes: {note}." if note else "")
    print(text)
    print(
        f"Wrote {args.output}. Train with:\n  bash tools/finetune_quickstart.sh {args.output} "
        f"--num-gpus {args.num_gpus}" + (" --new-classes" if args.base_weights or spec.num_classes != 80 else "")
    )
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))  # user errors: 'error: ...' / 'fix: ...', exit 2 (--debug: traceback)
