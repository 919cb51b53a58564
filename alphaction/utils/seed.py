"""Seeding of every random source a run uses."""

from __future__ import annotations

import random

import numpy as np
import torch


def seed_all(seed: int, rank: int = 0) -> int:
    """Seed python, numpy and torch with a per-rank seed derived from ``seed``; returns that seed."""
    rank_seed = random.Random(seed).getrandbits(31) + rank
    random.seed(rank_seed)
    np.random.seed(rank_seed % (2**32))
    torch.manual_seed(rank_seed)
    return rank_seed


def get_rng_state() -> dict:
    """The global RNG states (python, numpy's legacy generator, torch CPU and CUDA) as plain containers and
    tensors, so a checkpoint holding them still loads with ``torch.load(..., weights_only=True)``."""
    version, mt, gauss = random.getstate()
    name, keys, pos, has_gauss, cached = np.random.get_state()
    state = {
        "python": [version, list(mt), gauss],
        "numpy": [name, torch.from_numpy(keys.astype(np.int64)), int(pos), int(has_gauss), float(cached)],
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    """Inverse of :func:`get_rng_state`; missing entries (e.g. CUDA on a CPU-only machine) are left alone."""
    if "python" in state:
        version, mt, gauss = state["python"]
        random.setstate((version, tuple(mt), gauss))
    if "numpy" in state:
        name, keys, pos, has_gauss, cached = state["numpy"]
        np.random.set_state((name, keys.numpy().astype(np.uint32), pos, has_gauss, cached))
    if "torch" in state:
        torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        cuda_states = state["cuda"][: torch.cuda.device_count()]
        torch.cuda.set_rng_state_all(cuda_states)
