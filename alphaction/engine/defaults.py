"""Command-line parsing and run set-up shared by train_net.py, test_net.py and the tools."""

from __future__ import annotations

import argparse
import os
import platform
import sys

import torch

from ..config import CfgNode, get_cfg
from ..config.checks import check_config
from ..solver import apply_scaling_rule
from ..utils.errors import UserError
from ..utils.io import atomic_write_text
from ..utils.logger import setup_logger
from ..utils.seed import seed_all
from .launch import DistContext, init_distributed

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DEFAULT_CONFIG = os.path.join("config_files", "synthetic", "slowfast_r14_cpu.yaml")


class FlagsAnywhereParser(argparse.ArgumentParser):
    """An argument parser whose flags may stand anywhere, also after the trailing ``KEY VALUE`` overrides
    (``train_net.py SOLVER.MAX_ITER 10 --transfer``): tokens that are its options (with their values) are parsed
    as flags, every other token is an override. A ``--word`` it does not know is reported as an unrecognised
    argument, not taken for a config key."""

    def parse_args(self, args=None, namespace=None):  # noqa: D102 (argparse's signature)
        argv = list(sys.argv[1:] if args is None else args)
        flags, overrides = [], []
        i = 0
        while i < len(argv):
            token = argv[i]
            name = token.split("=", 1)[0]
            action = self._option_string_actions.get(name)
            if action is not None:
                takes = 0 if "=" in token or action.nargs == 0 else 1
                flags.extend(argv[i : i + 1 + takes])
                i += 1 + takes
            elif token.startswith("--") and len(token) > 2:
                flags.append(token)  # unknown: argparse reports it
                i += 1
            else:
                overrides.append(token)
                i += 1
        return super().parse_args(flags + overrides, namespace)


def default_argument_parser(train: bool = True) -> argparse.ArgumentParser:
    p = FlagsAnywhereParser(
        description="alphaction " + ("training" if train else "testing"),
        epilog="Trailing KEY VALUE pairs override config keys, e.g. SOLVER.BASE_LR 0.0001 "
        "SOLVER.STEPS '(560000, 720000)'; flags may come before or after them. --debug shows the "
        "traceback of an error.",
    )
    p.add_argument(
        "--config-file",
        default="",
        metavar="FILE",
        help=f"YAML config (default: the synthetic CPU job, {DEFAULT_CONFIG})",
    )
    p.add_argument(
        "--catalog",
        default="",
        metavar="FILE",
        help="dataset catalog file registering your datasets (sets DATASETS.CATALOG)",
    )
    p.add_argument(
        "--local_rank",
        "--local-rank",
        type=int,
        default=None,
        help="set by torch.distributed.launch; torchrun uses the LOCAL_RANK variable instead",
    )
    p.add_argument("--seed", type=int, default=2, help="random seed (per-rank seeds derive from it)")
    p.add_argument(
        "--deterministic",
        action="store_true",
        help="deterministic algorithms, no cudnn.benchmark (slower; for reproducing a run)",
    )
    if train:
        p.add_argument(
            "--transfer",
            action="store_true",
            help="load only the model weights of MODEL.WEIGHT (start at iteration 0, fresh optimizer)",
        )
        p.add_argument(
            "--no-head",
            action="store_true",
            help="do not load the keys the model declares as its head (roi_heads.*) from MODEL.WEIGHT",
        )
        p.add_argument(
            "--adjust-lr",
            action="store_true",
            help="when continuing from a full checkpoint, keep its iteration but rebuild the LR schedule "
            "from the current SOLVER settings (done anyway when they changed since the checkpoint)",
        )
        p.add_argument("--skip-val-in-train", action="store_true", help="no validation during training")
        p.add_argument("--skip-final-test", action="store_true", help="no test after training")
        p.add_argument("--use-tfboard", action="store_true", help="TensorBoard scalars in OUTPUT_DIR/tb")
        p.add_argument(
            "--dry-run",
            action="store_true",
            help="build everything, run one batch forward / backward, print shapes, memory and the "
            "effective config, and exit without training",
        )
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
    path = os.path.join(folder, "config.yaml")
    atomic_write_text(path, cfg.dump())
    return path


def check_output_dir(path: str) -> None:
    """``OUTPUT_DIR`` exists as a writable folder (made if missing), or a :class:`UserError` naming the key."""
    if os.path.exists(path) and not os.path.isdir(path):
        raise UserError(
            f"OUTPUT_DIR {path!r} is a file, not a folder",
            where="config key OUTPUT_DIR",
            fix="name a folder for the run's checkpoints and logs, e.g. OUTPUT_DIR data/output/my_run",
        )
    try:  # a few KB written and synced: a full disk shows now, not at the first checkpoint hours later
        os.makedirs(path, exist_ok=True)
        probe = os.path.join(path, f".write-test-{os.getpid()}")
        with open(probe, "wb") as f:
            f.write(b"\0" * 4096)
            f.flush()
            os.fsync(f.fileno())
        os.remove(probe)
    except OSError as e:
        raise UserError(
            f"cannot write to OUTPUT_DIR {path!r}: {e.strerror or e}",
            where="config key OUTPUT_DIR",
            fix="name a folder you can write to (OUTPUT_DIR ...), or fix its permissions",
        ) from e


def setup(args: argparse.Namespace, train: bool | None = None) -> tuple[CfgNode, DistContext]:
    """Config (frozen, values checked), process group, logger, seeds. ``train`` (default: whether ``args`` came
    from the training parser) adds the solver's checks. ``OUTPUT_DIR/config.yaml`` is written by the training run
    once its weights loaded (``write_config``): never by a run that stops at a bad value, nor over a resumable
    run's config by one whose model does not fit it, nor by ``test_net.py``."""
    cfg = load_config(args)
    check_config(cfg, train=hasattr(args, "transfer") if train is None else train)
    check_output_dir(cfg.OUTPUT_DIR)
    ctx = init_distributed(cfg.MODEL.DEVICE, args.local_rank)
    logger = setup_logger(cfg.OUTPUT_DIR, ctx.rank)
    cfg = apply_scaling_rule(cfg)  # after the logger: the effective values go to log.txt
    logger.info(
        "Running with %d process(es) on %s; torch %s, Python %s",
        ctx.world_size,
        ctx.device,
        torch.__version__,
        platform.python_version(),
    )
    logger.info("Arguments: %s", vars(args))
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
