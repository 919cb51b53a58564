"""Class-balanced training batches for clip classification (``DATALOADER.CLASS_BALANCED_SAMPLING``)."""

from __future__ import annotations

from typing import Iterator, Sequence

import numpy as np
import torch

__all__ = ["balanced_weights", "ClassBalancedBatchSampler"]


def balanced_weights(labels: Sequence) -> np.ndarray:
    """Sampling probability of each sample, ``1 / count(class)`` normalized, so every class present is drawn
    equally often in expectation. Multi-label samples (lists) use their rarest class."""
    as_lists = [[int(v) for v in lab] if isinstance(lab, (list, tuple)) else [int(lab)] for lab in labels]
    flat = [v for lab in as_lists for v in lab]
    counts = np.bincount(flat) if flat else np.zeros(0, np.int64)
    w = np.array([1.0 / min(counts[v] for v in lab) if lab else 0.0 for lab in as_lists], np.float64)
    if w.sum() <= 0:
        raise ValueError("class-balanced sampling needs at least one labelled sample")
    return w / w.sum()


class ClassBalancedBatchSampler(torch.utils.data.Sampler):
    """Yields ``max_iter - start_iter`` batches of ``batch_size`` indices for one rank, drawn with replacement
    with probabilities ``weights``. Global batch ``k`` (``batch_size x world_size`` draws) comes from
    ``numpy.random.default_rng([seed, k])`` and rank ``r`` takes its ``r``-th slice, so a resumed run at
    ``start_iter`` continues the same stream (as :class:`alphaction.data.samplers.IterationBatchSampler`)."""

    def __init__(
        self,
        weights: np.ndarray,
        batch_size: int,
        max_iter: int,
        start_iter: int = 0,
        seed: int = 0,
        rank: int = 0,
        world_size: int = 1,
    ) -> None:
        self.weights = np.asarray(weights, np.float64)
        self.batch_size, self.max_iter, self.start_iter = batch_size, max_iter, start_iter
        self.seed, self.rank, self.world_size = seed, rank, world_size

    def __iter__(self) -> Iterator[list[int]]:
        n = self.batch_size
        for k in range(self.start_iter, self.max_iter):
            draws = np.random.default_rng([self.seed, k]).choice(len(self.weights), n * self.world_size, p=self.weights)
            yield draws[self.rank * n : (self.rank + 1) * n].tolist()

    def __len__(self) -> int:
        return max(self.max_iter - self.start_iter, 0)
