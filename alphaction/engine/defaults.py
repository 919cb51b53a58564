"""Command-line parsing and run set-up shared by train_net.py, test_net.py and the tools."""
from __future__ import annotations

import argparse
import logging
import os
import platform

import torch

from ..config import CfgNode, get_cfg
from ..solver import apply_scaling_rule
from ..utils.logger import setup_logger
from ..utils.seed import seed_all
from .launch import DistContext, init_distributed

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DEFAULT_CONFIG = os.path.join("config_files", "synthetic", "slowfast_r14_cpu.yaml")


def default_argument_parser(train: bool = True) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        description="alphaction " + ("training" if train else "testing"),
        epilog="Trailing KEY VALUE pairs override config keys, e.g. SOLVER.BASE_LR 0.0001 "
               "SOLVER.STEPS '(560000, 720000)'.",
    )
    p.add_argument("--config-file", default="", metavar="FILE",
                   help=f"YAML config (default: the synthetic CPU job, {DEFAULT_CONFIG})")
    p.add_argument("--catalog", default="", metavar="FILE",
                   help="dataset catalog file registering your datasets (sets DATASETS.CATALOG)")
    p.add_argument("--local_rank", "--local-rank", type=int, default=None,
                   help="set by torch.distributed.launch; torchrun uses the LOCAL_RANK variable instead")
    p.add_argument("--seed", type=int, default=2, help="random seed (per-rank seeds derive from it)")
    p.add_argument("--deterministic", action="store_true",
                   help="deterministic algorithms, no cudnn.benchmark (slower; for reproducing a run)")
    if train:
        p.add_argument("--transfer", action="store_true",
                       help="load only the model weights of MODEL.WEIGHT (start at iteration 0, fresh optimizer)")
        p.add_argument("--no-head", action="store_true",
                       help="do not load the keys the model declares as its head (roi_heads.*) from MODEL.WEIGHT")
        p.add_argument("--adjust-lr", action="store_true",
                       help="when continuing from a full checkpoint, keep its iteration but rebuild the LR schedule "
                            "from the current SOLVER settings")
        p.add_argument("--skip-val-in-train", action="store_true", help="no validation during training")
        p.add_argument("--skip-final-test", action="store_true", help="no test after training")
        p.add_argument("--use-tfboard", action="store_true", help="TensorBoard scalars in OUTPUT_DIR/tb")
        p.add_argument("--dry-run", action="store_true",
                       help="build everything, run one batch forward / backward, print shapes, memory and the "
                            "effective config, and exit without training")
    p.add_argument("opts", nargs=argparse.REMAINDER, help="KEY VALUE config overrides")
    return p


def resolve_config_path(path: str) -> str:
    """The config path as given, or relative to the repository when not found from the working directory."""
    path = path or DEFAULT_CONFIG
    if os.path.isfile(path) or os.path.isabs(path):
        return path
    candidate = os.path.join(REPO_ROOT, path)
    return candidate if os.path.isfile(candidate) else path


def load_config(args: argparse.Namespace) -> CfgNode:
    cfg = get_cfg()
    cfg.merge_from_file(resolve_config_path(args.config_file))
    if args.catalog:
        cfg.DATASETS.CATALOG = args.catalog
    cfg.merge_from_list(args.opts)
    cfg.freeze()
    return cfg


def write_config(cfg: CfgNode, folder: str) -> str:
    """``folder/config.yaml`` holding ``cfg`` (written to a temporary name, then renamed into place); its path."""
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, "config.yaml")
    tmp = f"{path}.tmp-{os.getpid()}"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(cfg.dump())
    os.replace(tmp, path)
    return path


def setup(args: argparse.Namespace) -> tuple[CfgNode, DistContext]:
    """Config (frozen), process group, logger, seeds; writes OUTPUT_DIR/config.yaml on rank 0."""
    cfg = load_config(args)
    ctx = init_distributed(cfg.MODEL.DEVICE, args.local_rank)
    logger = setup_logger(cfg.OUTPUT_DIR, ctx.rank)
    cfg = apply_scaling_rule(cfg)  # after the logger: the effective values go to log.txt
    logger.info("Running with %d process(es) on %s; torch %s, Python %s", ctx.world_size, ctx.device,
                torch.__version__, platform.python_version())
    logger.info("Arguments: %s", vars(args))
    if ctx.rank == 0:
        logging.getLogger(__name__).info("Merged config written to %s", write_config(cfg, cfg.OUTPUT_DIR))
    seed_all(args.seed, ctx.rank)
    configure_determinism(getattr(args, "deterministic", False))
    return cfg, ctx


def configure_determinism(deterministic: bool) -> None:
    """cudnn.benchmark (fastest conv algorithms for fixed shapes) unless ``deterministic``, which instead asks
    torch for deterministic algorithms (warning, not failing, on ops that have none)."""
    torch.backends.cudnn.benchmark = not deterministic
    torch.backends.cudnn.deterministic = deterministic
    torch.use_deterministic_algorithms(deterministic, warn_only=True)
    if deterministic:
        # cuBLAS needs this for deterministic matmuls (read when CUDA initialises)
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
