#!/usr/bin/env python
"""Train only the action head (IA included) of a detector on stored features of its frozen backbone, and report
per-group AP, what the memory adds, whether the features tell a person apart from the others of earlier seconds,
and where the memory blocks attend.

    # the backbone of a trained baseline; the IA head starts from the baseline's head plus a fresh IA structure
    python projects/ia_head_probe/probe_ia_head.py \\
        --config-file config_files/synthetic/slowfast_r14_cpu_ia_denseserial.yaml \\
        --weight data/output/ablation_large1600/slowfast_r14_cpu/model_final.pth --steps 2000
    # the same head-only training without IA, for comparison
    python projects/ia_head_probe/probe_ia_head.py --config-file config_files/synthetic/slowfast_r14_cpu.yaml \\
        --weight data/output/ablation_large1600/slowfast_r14_cpu/model_final.pth --steps 2000
    # keep the detector with the trained head and test it on detected boxes (frame-mAP)
    python projects/ia_head_probe/probe_ia_head.py ... --save-dir data/output/head_ia
    python test_net.py --config-file data/output/head_ia/config.yaml MODEL.WEIGHT data/output/head_ia/model_final.pth

Stage-1 features (ground-truth boxes, test transforms) are computed once per checkpoint and dataset and cached
beside the checkpoint (``probe_features_<checkpoint>/``); then the head trains for ``--steps`` steps of
``--clips-per-step`` stored clips (AdamW, the memory of the stored persons of the other seconds) in a minute or
two on a CPU. AP is box-level (the ground-truth boxes are the detections). Trailing ``KEY VALUE`` pairs override
the config (e.g. ``MODEL.IA_STRUCTURE.MEMORY_NORM True``). The report is printed and written to ``--output``
(JSON).
"""

from __future__ import annotations

import argparse
import functools
import json
import logging
import math
import os
import sys

from alphaction.utils.errors import UserError, run_cli
from alphaction.utils.io import atomic_torch_save

if __package__:  # imported as projects.ia_head_probe.probe_ia_head (the tests, tools/ablate.py's checks)
    from .head_probe import (
        FeatureSet,
        evaluate_head,
        extract_feature_set,
        identity_retrieval,
        memory_attention,
        train_head,
    )
else:  # run as a script: this folder is on sys.path
    from head_probe import (
        FeatureSet,
        evaluate_head,
        extract_feature_set,
        identity_retrieval,
        memory_attention,
        train_head,
    )

logger = logging.getLogger("probe_ia_head")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config-file", required=True, help="detector config (baseline or IA)")
    p.add_argument(
        "--weight",
        required=True,
        help="a trained detector checkpoint: backbone, and the head where "
        "it holds one (an IA structure it lacks starts fresh)",
    )
    p.add_argument("--train-dataset", default="synthetic_large_train", help="catalog name to train the head on")
    p.add_argument("--test-dataset", default="synthetic_test", help="catalog name to test on")
    p.add_argument("--steps", type=int, default=2000, help="head training steps")
    p.add_argument("--clips-per-step", type=int, default=16, help="stored clips per step")
    p.add_argument("--lr", type=float, default=None, help="AdamW learning rate (default SOLVER.BASE_LR)")
    p.add_argument("--weight-decay", type=float, default=None, help="default SOLVER.WEIGHT_DECAY")
    p.add_argument("--fresh-head", action="store_true", help="re-initialise the whole head instead of loading it")
    p.add_argument(
        "--augment-train",
        action="store_true",
        help="store the training features of augmented clips (the training transforms: flip, colour, "
        "slow-start jitter as configured) instead of the test transforms",
    )
    p.add_argument(
        "--identity-signal",
        type=float,
        default=0.0,
        help="add a fixed random direction per person (norm: this x the mean feature norm) to the stored "
        "person features of both sets: what the head does once the features tell who is who",
    )
    p.add_argument("--identity-dims", type=int, default=16, help="dimension of the identity codes' subspace")
    p.add_argument("--attention-class", default="rest", help="class whose boxes' memory attention is reported")
    p.add_argument("--seed", type=int, default=0, help="seed of the head's initialisation and batches")
    p.add_argument("--cache-dir", default=None, help="where stage-1 features are cached (default beside --weight)")
    p.add_argument("--output", default=None, help="JSON report (default: none)")
    p.add_argument(
        "--save-dir",
        default=None,
        help="also write the detector with the trained head (backbone as loaded) as "
        "SAVE_DIR/model_final.pth, with its config.yaml, for test_net.py (frame-mAP on detected boxes)",
    )
    p.add_argument("opts", nargs=argparse.REMAINDER, help="KEY VALUE config overrides")
    return p


def _features(cfg, model, name: str, cache_dir: str, augment: bool = False):
    """Stage-1 features of ``name`` (cached); and the dataset's evaluation files. ``augment``: the training
    transforms (one random flip / colour / slow-start draw per clip) instead of the test ones."""
    import torch
    from torch.utils.data import DataLoader

    from alphaction.data.build import build_dataset
    from alphaction.data.collate import collate

    dataset = build_dataset(cfg, name, is_train=True, augment=augment)  # ground-truth boxes and labels
    uses_objects = model.roi_heads["action"].feature_extractor.uses_objects
    path = os.path.join(cache_dir, f"{name}{'_objects' if uses_objects else ''}{'_augmented' if augment else ''}.pth")
    if os.path.isfile(path):
        logger.info("stage-1 features of %s from %s", name, path)
        return FeatureSet.from_state_dict(torch.load(path, weights_only=True)), dataset.eval_file_paths
    loader = DataLoader(
        dataset,
        batch_size=cfg.TEST.VIDEOS_PER_BATCH,
        num_workers=cfg.DATALOADER.NUM_WORKERS,
        collate_fn=functools.partial(collate, size_divisibility=cfg.DATALOADER.SIZE_DIVISIBILITY),
    )
    features = extract_feature_set(model, loader, torch.device("cpu"), desc=f"features {name}")
    atomic_torch_save(features.state_dict(), path)
    return features, dataset.eval_file_paths


def _save_detector(cfg, model, save_dir: str) -> str:
    """The whole detector (the loaded backbone, the trained head) as ``save_dir/model_final.pth`` plus the
    ``config.yaml`` it was built from, so that ``test_net.py --config-file save_dir/config.yaml MODEL.WEIGHT
    save_dir/model_final.pth`` tests it like a trained run."""
    from alphaction.checkpoint import Checkpointer
    from alphaction.data.labels import class_names
    from alphaction.engine.defaults import write_config
    from alphaction.engine.runner import head_prefixes

    write_config(cfg, save_dir)
    names = class_names(cfg) or []
    path = Checkpointer(model, save_dir=save_dir, head_prefixes=head_prefixes(model)).save(
        "model_final", **({"class_names": names} if names else {})
    )
    logger.info("the detector with the trained head: %s", path)
    return path


def _result_row(res: dict) -> dict:
    row = {"all": res["mAP"]}
    row.update(res["group_mAP"])
    row.update({res["class_names"][i]: ap for i, ap in res["per_class"].items()})
    return row


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    if args.save_dir and args.identity_signal:
        raise UserError(
            "--save-dir with --identity-signal: the head was trained on altered features that the "
            "saved detector's backbone does not produce",
            where="--save-dir / --identity-signal",
            fix="drop one of the two",
        )
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s: %(message)s")
    import torch

    from alphaction.checkpoint import Checkpointer
    from alphaction.config import get_cfg
    from alphaction.engine.ia_memory import memory_settings
    from alphaction.engine.runner import head_prefixes
    from alphaction.engine.tasks import report_class_groups
    from alphaction.modeling import build_model
    from alphaction.utils.labelmap import read_labelmap

    cfg = get_cfg()
    cfg.merge_from_file(args.config_file)
    cfg.merge_from_list(list(args.opts))
    cfg.freeze()
    torch.manual_seed(args.seed)
    model = build_model(cfg)
    Checkpointer(model, head_prefixes=head_prefixes(model), addon_prefixes=tuple(model.addon_prefixes)).load(
        args.weight, transfer=True, no_head=args.fresh_head
    )
    model.backbone.requires_grad_(False)
    cache_dir = args.cache_dir or os.path.join(
        os.path.dirname(os.path.abspath(args.weight)),
        f"probe_features_{os.path.splitext(os.path.basename(args.weight))[0]}",
    )
    train, _ = _features(cfg, model, args.train_dataset, cache_dir, augment=args.augment_train)
    test, eval_files = _features(cfg, model, args.test_dataset, cache_dir)
    if args.identity_signal:
        # the same subspace for both sets (a backbone's appearance channels), other persons' codes
        train = train.with_identity_signal(args.identity_signal, args.identity_dims, seed=args.seed)
        test = test.with_identity_signal(args.identity_signal, args.identity_dims, seed=args.seed)
    head = model.roi_heads["action"]
    memory = memory_settings(cfg) if model.uses_memory else None
    groups = report_class_groups(cfg)

    report = {
        "config": args.config_file,
        "weight": args.weight,
        "overrides": list(args.opts),
        "train_dataset": args.train_dataset,
        "test_dataset": args.test_dataset,
        "steps": args.steps,
        "clips_per_step": args.clips_per_step,
        "seed": args.seed,
        "augment_train": args.augment_train,
        "identity_signal": args.identity_signal,
        "identity_dims": args.identity_dims,
        "results": {},
    }
    report["results"]["start"] = _result_row(evaluate_head(head, test, eval_files, memory, class_groups=groups))
    losses = train_head(
        head,
        train,
        args.steps,
        args.clips_per_step,
        args.lr if args.lr is not None else cfg.SOLVER.BASE_LR,
        args.weight_decay if args.weight_decay is not None else cfg.SOLVER.WEIGHT_DECAY,
        memory,
        seed=args.seed,
    )
    report["final_loss"] = float(sum(losses[-100:]) / max(len(losses[-100:]), 1))
    report["results"]["trained"] = _result_row(evaluate_head(head, test, eval_files, memory, class_groups=groups))
    if memory is not None:
        report["results"]["trained, memory off"] = _result_row(
            evaluate_head(head, test, eval_files, memory, mode="none", class_groups=groups)
        )
        names = read_labelmap(eval_files["labelmap_file"])
        by_name = {name: action_id for action_id, name in names.items()}
        if args.attention_class in by_name:
            report["memory_attention"] = memory_attention(head, test, memory, by_name[args.attention_class] - 1)
    report["identity_retrieval"] = {str(d): v for d, v in identity_retrieval(test).items()}
    if args.save_dir:
        report["saved"] = _save_detector(cfg, model, args.save_dir)

    columns = list(report["results"])
    rows = list(report["results"]["start"])
    lines = ["".ljust(24) + "".join(c.rjust(22) for c in columns)]
    for r in rows:
        cells = [report["results"][c].get(r) for c in columns]
        lines.append(
            r.ljust(24) + "".join(("-" if v is None or math.isnan(v) else f"{v:.4f}").rjust(22) for v in cells)
        )
    print("\n".join(lines))
    print(
        "identity (nearest centred feature d s earlier is the same person): "
        + ", ".join(
            f"d={d}: {v['top1']:.3f} (chance {v['chance']:.3f}, {v['queries']} queries)"
            for d, v in report["identity_retrieval"].items()
        )
    )
    for name, v in report.get("memory_attention", {}).items():
        print(
            f"{name}: attention of {args.attention_class!r} boxes on their own entries 2-4 s earlier "
            f"{v['own_past']:.3f} (uniform {v['uniform_own_past']:.3f}, {v['boxes']} boxes)"
        )
    if args.output:
        os.makedirs(os.path.dirname(os.path.abspath(args.output)), exist_ok=True)
        with open(args.output, "w", encoding="utf-8") as f:
            json.dump(report, f, indent=2)
        print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))  # user errors: 'error: ...' / 'fix: ...', exit 2 (--debug: traceback)
