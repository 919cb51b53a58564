"""Process set-up for single-process, ``torchrun`` (single or multi-node) and ``torch.distributed.launch`` runs.

Every multi-process form ends in the same place: the variables RANK / LOCAL_RANK / WORLD_SIZE /
MASTER_ADDR / MASTER_PORT in each process's environment, read by :func:`init_distributed` with
``init_method="env://"``. :func:`launch_local` sets them itself (``torch.multiprocessing.spawn``), so a
test or a notebook runs the exact code path torchrun does.
"""

from __future__ import annotations

import datetime
import logging
import os
import socket
from dataclasses import dataclass
from typing import Any, Callable

import torch
import torch.distributed as dist

logger = logging.getLogger(__name__)


@dataclass
class DistContext:
    rank: int = 0
    local_rank: int = 0
    world_size: int = 1
    device: torch.device = torch.device("cpu")

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def select_device(requested: str, local_rank: int = 0) -> torch.device:
    """``MODEL.DEVICE`` -> a device; empty picks this rank's GPU when CUDA is available, else the CPU.
    ``cuda`` without an index means this process's GPU (LOCAL_RANK), as every launcher expects."""
    if requested:
        device = torch.device(requested)
        if device.type == "cuda" and not torch.cuda.is_available():
            raise RuntimeError(f"MODEL.DEVICE is '{requested}' but CUDA is not available; use MODEL.DEVICE cpu")
        if device.type == "cuda" and device.index is None:
            device = torch.device("cuda", local_rank)
        return device
    if torch.cuda.is_available():
        return torch.device("cuda", local_rank)
    return torch.device("cpu")


def init_distributed(
    requested_device: str = "", local_rank_arg: int | None = None, timeout_minutes: float = 30.0
) -> DistContext:
    """Read RANK / LOCAL_RANK / WORLD_SIZE (torchrun, also for multi-node; the old launcher's
    ``--local_rank`` / ``--local-rank`` argument when LOCAL_RANK is unset) and start the process group:
    NCCL when this rank runs on a GPU, gloo on the CPU."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    local_rank = int(os.environ.get("LOCAL_RANK", local_rank_arg if local_rank_arg is not None else 0))
    rank = int(os.environ.get("RANK", local_rank))
    if world_size > 1 and not 0 <= rank < world_size:
        raise RuntimeError(f"RANK={rank} is outside [0, WORLD_SIZE={world_size}): check the launcher's variables")
    device = select_device(requested_device, local_rank)
    if world_size > 1 and not dist.is_initialized():
        for var in ("MASTER_ADDR", "MASTER_PORT"):
            if var not in os.environ:
                raise RuntimeError(
                    f"WORLD_SIZE={world_size} but {var} is not set: start the job with torchrun "
                    "(it sets both) or export MASTER_ADDR / MASTER_PORT on every node"
                )
        if device.type == "cuda":
            torch.cuda.set_device(device)
        backend = "nccl" if device.type == "cuda" else "gloo"
        dist.init_process_group(
            backend=backend,
            init_method="env://",
            rank=rank,
            world_size=world_size,
            timeout=datetime.timedelta(minutes=timeout_minutes),
        )
        logger.info(
            "Process group: %s, rank %d of %d (local rank %d) on %s", backend, rank, world_size, local_rank, device
        )
    return DistContext(rank=rank, local_rank=local_rank, world_size=world_size, device=device)


def shutdown_distributed() -> None:
    """Destroy the process group (after a final barrier) when one was started."""
    if dist.is_available() and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _spawned(local_rank: int, world_size: int, port: int, fn: Callable, args: tuple) -> None:
    os.environ.update(
        RANK=str(local_rank),
        LOCAL_RANK=str(local_rank),
        WORLD_SIZE=str(world_size),
        LOCAL_WORLD_SIZE=str(world_size),
        MASTER_ADDR="127.0.0.1",
        MASTER_PORT=str(port),
    )
    try:
        fn(*args)
    finally:
        if dist.is_available() and dist.is_initialized():
            dist.destroy_process_group()


def launch_local(fn: Callable[..., Any], world_size: int, args: tuple = ()) -> None:
    """Run ``fn(*args)`` in ``world_size`` fresh processes on this machine with torchrun's environment
    (``torch.multiprocessing.spawn``); ``fn`` must be importable (a module-level function).
    An exception in any process is raised here."""
    import torch.multiprocessing as mp

    mp.spawn(_spawned, args=(world_size, free_port(), fn, args), nprocs=world_size, join=True)
