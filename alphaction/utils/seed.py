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
