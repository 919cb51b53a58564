"""How the engine feeds the IA memory blocks: windows out of the memory pool before a forward, the step's person
features into it after the optimizer step, and the pool's file beside the checkpoints.

Training follows AlphAction's asynchronous memory: the memory a clip sees holds (detached) person features that
earlier steps wrote with earlier weights; after every step the step's own features replace those of their
(video, second) keys and the changes are merged across the ranks, so every rank holds the same pool. With
``MODEL.IA_STRUCTURE.PENALTY`` a stored feature is scaled by the ratio of the loss it was written at to the
previous step's loss (:func:`alphaction.modeling.ia.memory_pool.loss_penalty`).

The pool is not put in every checkpoint (AlphAction did: gigabytes on AVA): it is written to its own file
``memory_pool_XXXXXXX.pth`` right before the checkpoint of the same iteration, which records the file name; only
the newest pool file is kept.
"""

from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import torch
from torch import Tensor

from ..modeling.ia import ClipMemory
from ..modeling.ia.memory_pool import MemoryPool
from .trainer import HookBase

logger = logging.getLogger(__name__)

__all__ = ["MEMORY_TEST_MODES", "MemorySettings", "TrainingMemory", "memory_settings", "uses_memory"]

MEMORY_TEST_MODES = ("offline", "online", "none")
POOL_FILE = re.compile(r"memory_pool_(\d{7})\.pth")


@dataclass(frozen=True)
class MemorySettings:
    """What the engine needs to fetch memory (``MODEL.IA_STRUCTURE.*``)."""

    dim: int = 2304  # person feature width (DIM_IN)
    length: tuple[int, int] = (30, 30)  # seconds before / after
    rate: int = 1  # step between memory seconds
    max_per_sec: int = 5
    penalty: bool = True
    half: bool = False
    max_entries: int | None = None
    test_mode: str = "offline"

    def new_pool(self) -> MemoryPool:
        return MemoryPool(self.max_entries, self.half, self.dim)

    def window_kwargs(self, online: bool = False) -> dict[str, Any]:
        return {"length": self.length, "rate": self.rate, "max_per_sec": self.max_per_sec, "online": online}


def uses_memory(model: torch.nn.Module) -> bool:
    """Whether the (possibly DDP-wrapped) model has IA memory blocks."""
    module = model.module if hasattr(model, "module") else model
    return bool(getattr(module, "uses_memory", False))


def memory_settings(cfg: Any) -> MemorySettings:
    """``MODEL.IA_STRUCTURE``'s memory keys, checked."""
    ia = cfg.MODEL.IA_STRUCTURE
    mode = str(ia.MEMORY_TEST_MODE)
    if mode not in MEMORY_TEST_MODES:
        raise ValueError(f"MODEL.IA_STRUCTURE.MEMORY_TEST_MODE={mode!r}: use one of {MEMORY_TEST_MODES}")
    if int(ia.MEMORY_RATE) < 1:
        raise ValueError(f"MODEL.IA_STRUCTURE.MEMORY_RATE={ia.MEMORY_RATE}: must be >= 1 (seconds)")
    if int(ia.MEMORY_MAX_ENTRIES) < 0:
        raise ValueError(f"MODEL.IA_STRUCTURE.MEMORY_MAX_ENTRIES={ia.MEMORY_MAX_ENTRIES}: use 0 (unbounded) or more")
    return MemorySettings(
        dim=int(ia.DIM_IN),
        length=(int(ia.LENGTH[0]), int(ia.LENGTH[1])),
        rate=int(ia.MEMORY_RATE),
        max_per_sec=int(ia.MAX_PER_SEC),
        penalty=bool(ia.PENALTY),
        half=bool(ia.MEMORY_HALF),
        max_entries=int(ia.MEMORY_MAX_ENTRIES) or None,
        test_mode=mode,
    )


class TrainingMemory:
    """The memory pool of a training run and the steps that use it.

    ``fetch`` before each forward (a random subset of a crowded second, drawn from the global torch RNG, which
    the checkpoints restore), ``store`` after each forward, ``end_step`` after the optimizer step (merge
    across ranks; remember the step's loss for the penalty).
    """

    def __init__(self, settings: MemorySettings) -> None:
        self.settings = settings
        self.pool = settings.new_pool()
        self.last_loss: float | None = None  # the previous step's (rank-averaged) loss, for the penalty
        self._pending: list[tuple[list[str], list[int], list[Tensor]]] = []

    def fetch(self, batch: dict, device: torch.device) -> list[ClipMemory]:
        """The memory of every clip of a batch (``video_ids`` / ``timestamps`` lists), on ``device``."""
        current = self.last_loss if self.settings.penalty else None
        return self.pool.windows(
            batch["video_ids"],
            batch["timestamps"],
            generator=torch.default_generator,
            current_loss=current,
            device=device,
            **self.settings.window_kwargs(),
        )

    def store(self, video_ids: Sequence[Any], timestamps: Sequence[Any], persons: Sequence[Tensor]) -> None:
        """Keep one micro-batch's detached ``[n_i, D]`` person features until the step ends."""
        self._pending.append((list(video_ids), [int(t) for t in timestamps], [p.detach() for p in persons]))

    def wrap(self, forward: Callable) -> Callable:
        """``forward(model, batch, memory=...) -> (loss dict, pooled)`` as the trainer's ``forward(model, batch)
        -> loss dict``: the batch's memory windows fetched before, its person features stored after."""

        def with_memory(model, batch: dict) -> dict:
            loss_dict, pooled = forward(model, batch, memory=self.fetch(batch, batch["slow"].device))
            self.store(batch["video_ids"], batch["timestamps"], pooled.persons)
            return loss_dict

        return with_memory

    def end_step(self, loss: float) -> None:
        """After the optimizer step: write the step's features (tagged with its loss) and merge the ranks."""
        tag = float(loss) if self.settings.penalty else None
        for video_ids, timestamps, persons in self._pending:
            self.pool.update(video_ids, timestamps, persons, tags=tag)
        self._pending = []
        self.pool.sync()
        self.last_loss = float(loss)

    # ------------------------------------------------------------------ files
    @staticmethod
    def file_name(iteration: int) -> str:
        return f"memory_pool_{iteration:07d}.pth"

    def save(self, output_dir: str, iteration: int) -> str:
        """Write ``memory_pool_<iteration>.pth`` (atomically) and return its file name."""
        name = self.file_name(iteration)
        self.pool.save(os.path.join(output_dir, name), extra={"iteration": int(iteration), "last_loss": self.last_loss})
        return name

    @staticmethod
    def prune(output_dir: str, keep: str) -> None:
        """Remove the pool files of earlier checkpoints (every ``memory_pool_*.pth`` but ``keep``)."""
        for name in os.listdir(output_dir):
            if POOL_FILE.fullmatch(name) and name != keep:
                os.remove(os.path.join(output_dir, name))

    def restore(self, folder: str, extras: dict) -> bool:
        """Load the pool a resumed checkpoint names (``extras["memory_pool"]``, a file in ``folder``).

        Returns whether a pool was loaded; a checkpoint without one, or a missing file, starts an empty pool
        with a warning (training still resumes; only the memory of the first steps differs).
        """
        name = extras.get("memory_pool")
        if not name:
            if int(extras.get("iteration", 0)) > 0:
                logger.warning("The checkpoint names no memory pool file: the IA memory starts empty")
            return False
        path = os.path.join(folder, str(name))
        if not os.path.isfile(path):
            logger.warning(
                "The checkpoint names the memory pool %s, which does not exist: the IA memory starts "
                "empty (only the first steps see less memory)",
                path,
            )
            return False
        extra = self.pool.load(path)
        if int(extra.get("iteration", -1)) != int(extras.get("iteration", 0)):
            logger.warning(
                "%s was written at iteration %s, the checkpoint at %s",
                path,
                extra.get("iteration"),
                extras.get("iteration"),
            )
        self.last_loss = extra.get("last_loss")
        logger.info("Restored the IA memory pool from %s: %d (video, second) entries", path, len(self.pool))
        return True


class MemoryStepHook(HookBase):
    """After each optimizer step (first among the hooks, so that a checkpoint saves the step's features): the
    step's stored features become visible to later steps, tagged with its loss, and the ranks merge their pools
    (AlphAction's asynchronous memory update)."""

    def __init__(self, memory: TrainingMemory) -> None:
        self.memory = memory

    def after_step(self) -> None:
        self.memory.end_step(self.trainer.last_metrics["loss"])
