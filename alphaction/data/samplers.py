"""Samplers: an iteration-based training batch sampler and an exact inference split.

Both are distributed-aware through explicit ``rank`` / ``world_size`` arguments (no process-group lookups
here, so they are plain, testable iterables).
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from typing import Iterator, Sequence

import numpy as np
import torch

__all__ = ["IterationBatchSampler", "InferenceSampler"]


class IterationBatchSampler(torch.utils.data.Sampler):
    """Yields exactly ``max_iter - start_iter`` batches of ``batch_size`` dataset indices for one rank.

    The index stream is an endless sequence of epochs; epoch ``e`` is the permutation drawn from
    ``numpy.random.default_rng([seed, e])``, and rank ``r`` takes its elements ``r, r + world_size, ...``
    (every rank draws the same permutation, so within an epoch the ranks' indices are disjoint). Batches
    are cut from this stream in order; with ``group_ids`` (aspect-ratio grouping) each group fills its
    own buffer and a batch is emitted when a buffer is full, so a batch never mixes groups and leftovers
    carry over to the next epoch (nothing is dropped, nothing stalls).

    Everything is a function of ``(seed, rank, world_size, group_ids)``: batch ``k`` is the same whether
    iteration starts at 0 or resumes at ``start_iter = k`` (resuming replays the stream up to
    ``start_iter`` without loading any data).
    """

    def __init__(
        self,
        num_samples: int,
        batch_size: int,
        max_iter: int,
        start_iter: int = 0,
        seed: int = 0,
        rank: int = 0,
        world_size: int = 1,
        group_ids: Sequence[int] | np.ndarray | None = None,
    ):
        if num_samples < world_size:
            raise ValueError(f"{num_samples} samples cannot be sharded over {world_size} ranks")
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        if not 0 <= rank < world_size:
            raise ValueError(f"rank {rank} outside [0, {world_size})")
        if group_ids is not None and len(group_ids) != num_samples:
            raise ValueError(f"{len(group_ids)} group ids for {num_samples} samples")
        self.num_samples = num_samples
        self.batch_size = batch_size
        self.max_iter = max_iter
        self.start_iter = start_iter
        self.seed = seed
        self.rank, self.world_size = rank, world_size
        self.group_ids = None if group_ids is None else np.asarray(group_ids)

    def _shard(self, epoch: int) -> np.ndarray:
        perm = np.random.default_rng([self.seed, epoch]).permutation(self.num_samples)
        return perm[self.rank :: self.world_size]

    def _all_batches(self) -> Iterator[list[int]]:
        bs = self.batch_size
        if self.group_ids is None:
            buf = np.empty(0, dtype=np.int64)
            for epoch in itertools.count():
                buf = np.concatenate([buf, self._shard(epoch)])
                full = len(buf) // bs
                for j in range(full):
                    yield buf[j * bs : (j + 1) * bs].tolist()
                buf = buf[full * bs :]
        buffers: dict[int, list[int]] = defaultdict(list)
        for epoch in itertools.count():
            shard = self._shard(epoch)
            for idx, group in zip(shard.tolist(), self.group_ids[shard].tolist()):
                b = buffers[group]
                b.append(idx)
                if len(b) == bs:
                    yield b
                    buffers[group] = []

    def __iter__(self) -> Iterator[list[int]]:
        return itertools.islice(self._all_batches(), self.start_iter, self.max_iter)

    def __len__(self) -> int:
        return max(self.max_iter - self.start_iter, 0)


class InferenceSampler(torch.utils.data.Sampler):
    """The indices of one rank in an exact split of ``range(num_samples)``: over all ranks every index
    appears exactly once (no padding, no duplicates; shard lengths differ by at most one).

    ``mode="contiguous"``: rank ``r`` gets one consecutive block (the first ``num_samples % world_size``
    ranks one index more). ``mode="strided"``: rank ``r`` gets ``r, r + world_size, ...``. Order within a
    shard is ascending (deterministic inference).
    """

    def __init__(self, num_samples: int, rank: int = 0, world_size: int = 1, mode: str = "contiguous"):
        if not 0 <= rank < world_size:
            raise ValueError(f"rank {rank} outside [0, {world_size})")
        if mode not in ("contiguous", "strided"):
            raise ValueError(f"mode must be 'contiguous' or 'strided', got {mode!r}")
        if mode == "strided":
            self._indices = range(rank, num_samples, world_size)
        else:
            base, extra = divmod(num_samples, world_size)
            start = rank * base + min(rank, extra)
            self._indices = range(start, start + base + (1 if rank < extra else 0))

    def __iter__(self) -> Iterator[int]:
        return iter(self._indices)

    def __len__(self) -> int:
        return len(self._indices)
