"""Process set-up for single-process and ``torchrun`` / ``torch.distributed.launch`` runs."""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass

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
    """``MODEL.DEVICE`` -> a device; empty picks this rank's GPU when CUDA is available, else the CPU."""
    if requested:
        device = torch.device(requested)
        if device.type == "cuda" and not torch.cuda.is_available():
            raise RuntimeError(f"MODEL.DEVICE is '{requested}' but CUDA is not available; use MODEL.DEVICE cpu")
        return device
    if torch.cuda.is_available():
        return torch.device("cuda", local_rank)
    return torch.device("cpu")


def init_distributed(requested_device: str = "", local_rank_arg: int | None = None) -> DistContext:
    """Read RANK / LOCAL_RANK / WORLD_SIZE (set by torchrun; ``--local_rank`` from the old launcher) and
    start the process group: NCCL on GPUs, gloo on the CPU."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    local_rank = int(os.environ.get("LOCAL_RANK", local_rank_arg if local_rank_arg is not None else 0))
    rank = int(os.environ.get("RANK", local_rank))
    device = select_device(requested_device, local_rank)
    if world_size > 1 and not dist.is_initialized():
        if device.type == "cuda":
            torch.cuda.set_device(device)
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo", init_method="env://")
    return DistContext(rank=rank, local_rank=local_rank, world_size=world_size, device=device)
