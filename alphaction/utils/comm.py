"""Small helpers over ``torch.distributed`` that also work without it (a single process)."""

from __future__ import annotations

from typing import Any

import torch
import torch.distributed as dist


def is_dist() -> bool:
    return dist.is_available() and dist.is_initialized()


def get_world_size() -> int:
    return dist.get_world_size() if is_dist() else 1


def get_rank() -> int:
    return dist.get_rank() if is_dist() else 0


def is_main_process() -> bool:
    return get_rank() == 0


def synchronize() -> None:
    """A barrier when running distributed; nothing otherwise."""
    if is_dist() and get_world_size() > 1:
        dist.barrier()


def all_gather_object(obj: Any) -> list[Any]:
    """Every rank's ``obj``, in rank order (``[obj]`` in a single process)."""
    if get_world_size() == 1:
        return [obj]
    out: list[Any] = [None] * get_world_size()
    dist.all_gather_object(out, obj)
    return out


def reduce_dict(values: dict[str, torch.Tensor], average: bool = True) -> dict[str, torch.Tensor]:
    """All-reduce scalar tensors (for logging only; the gradients are DDP's business)."""
    if get_world_size() == 1 or not values:
        return values
    names = sorted(values)
    stacked = torch.stack([values[k].detach().float() for k in names])
    dist.all_reduce(stacked)
    if average:
        stacked /= get_world_size()
    return dict(zip(names, stacked))


def any_across_ranks(flag: bool) -> bool:
    """True on every rank when ``flag`` is true on at least one (a collective: call it on all ranks)."""
    if get_world_size() == 1:
        return bool(flag)
    t = torch.tensor([1.0 if flag else 0.0], device=_collective_device())
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return bool(t.item() > 0)


def mean_across_ranks(value: float, device: torch.device) -> float:
    """``value`` averaged over the ranks, the same on every rank (a collective: call it on all ranks); ``value``
    itself in a single process. ``device``: where the sum is made (a CUDA one for NCCL, the CPU for gloo)."""
    if get_world_size() == 1:
        return float(value)
    total = torch.tensor([float(value)], device=device)
    dist.all_reduce(total)
    return total.item() / get_world_size()


def _collective_device() -> torch.device:
    # NCCL only moves CUDA tensors; gloo only CPU ones
    if dist.get_backend() == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


def average_bn_running_stats(module: torch.nn.Module) -> int:
    """Average the running mean / variance of every BatchNorm that tracks them over the ranks.

    DDP averages gradients, not buffers: each rank's BN statistics follow its own data, so without this the
    ranks would evaluate with different models. Frozen-BN buffers never change and are not touched (an
    average of equal floats is not always bitwise equal). Returns the number of tensors averaged.
    """
    if get_world_size() == 1:
        return 0
    tensors = [
        t
        for m in module.modules()
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm) and m.track_running_stats
        for t in (m.running_mean, m.running_var)
        if t is not None
    ]
    if not tensors:
        return 0
    flat = torch.cat([t.detach().float().reshape(-1) for t in tensors])
    dist.all_reduce(flat)
    flat /= get_world_size()
    offset = 0
    for t in tensors:
        n = t.numel()
        t.copy_(flat[offset : offset + n].view_as(t).to(t.dtype))
        offset += n
    return len(tensors)


def params_checksum(module: torch.nn.Module) -> float:
    """Sum of every parameter and buffer (float64): a cheap fingerprint to compare ranks."""
    total = torch.zeros((), dtype=torch.float64)
    for t in list(module.parameters()) + list(module.buffers()):
        total += t.detach().double().sum().cpu()
    return float(total)
