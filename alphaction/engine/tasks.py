"""What differs between the tasks in training, in one table: how a collated batch goes through the model.

The trainer, the start-up gradient check and the dry run call ``training_call(model)(model, batch)`` and know
no task. Keys are the model classes' names, which are ``MODEL.META_ARCHITECTURE``'s values.
"""

from __future__ import annotations

from typing import Callable

import torch

__all__ = ["TRAINING_CALLS", "classification_losses", "detection_losses", "training_call"]


def detection_losses(model, batch: dict, memory=None):
    """The detector's training forward on a detection batch (docs/internals.md: a sample and a batch).

    ``memory``: one ``ClipMemory`` per clip for a model with IA memory blocks; the result is then
    ``(loss dict, PooledFeatures)``, the features being what the memory pool stores.
    """
    inputs = (batch["slow"], batch["fast"], batch["boxes"], batch["image_sizes"])
    if memory is not None:
        return model(*inputs, labels=batch["labels"], objects=batch.get("objects"), memory=memory, return_features=True)
    return model(*inputs, labels=batch["labels"], objects=batch.get("objects"))


def classification_losses(model, batch: dict):
    """The clip classifier's training forward on a batch of ``alphaction.data.datasets.clips.collate_clips``."""
    return model(batch["slow"], batch["fast"], labels=batch["labels"])


# model class (MODEL.META_ARCHITECTURE) -> its training call
TRAINING_CALLS: dict[str, Callable] = {"ActionDetector": detection_losses, "ClipClassifier": classification_losses}


def _unwrapped(model: torch.nn.Module) -> torch.nn.Module:
    while True:  # DDP (.module) and torch.compile (._orig_mod) wrap the model
        inner = getattr(model, "module", None) or getattr(model, "_orig_mod", None)
        if inner is None:
            return model
        model = inner


def training_call(model: torch.nn.Module) -> Callable:
    """The training call of ``model``'s class (through DDP / compile wrappers)."""
    name = type(_unwrapped(model)).__name__
    if name not in TRAINING_CALLS:
        raise KeyError(f"no training call for a {name}; add it to alphaction.engine.tasks.TRAINING_CALLS")
    return TRAINING_CALLS[name]
