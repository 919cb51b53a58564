"""What differs between the tasks, in one table (:data:`TASKS`): how a collated batch goes through the model in
training, how a test set is evaluated, and what a run checks about the task's settings at start-up.

The trainer, the start-up gradient check and the dry run call ``training_call(model)(model, batch)``; ``run_test``
calls ``task_of(cfg).evaluate``; none of them knows a task. Keys are the model classes' names, which are
``MODEL.META_ARCHITECTURE``'s values.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Callable

import torch

from ..config import CfgNode
from ..config.paths_catalog import DatasetCatalog
from ..evaluation.ava import class_groups_from_counts
from ..utils import comm
from ..utils.errors import ConfigValueError
from .evaluate_classification import inference_classification
from .evaluate_detection import inference
from .ia_memory import memory_settings, uses_memory

__all__ = [
    "TASKS",
    "Task",
    "average_box_count_over_ranks",
    "classification_losses",
    "detection_losses",
    "report_class_groups",
    "task_of",
    "training_call",
]


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


def evaluate_detection(cfg: CfgNode, model, loader, name: str, device: torch.device) -> dict[str, float]:
    """Frame-mAP of the detector on one test set (its AVA evaluation files from the catalog), with the IA memory
    of a model that has memory blocks and the report groups of :func:`report_class_groups`."""
    eval_paths = DatasetCatalog.get(name, cfg.DATASETS.CATALOG)["args"]["eval_file_paths"]
    return inference(
        model,
        loader,
        name,
        device,
        os.path.join(cfg.OUTPUT_DIR, "inference", name),
        eval_paths,
        cfg.TEST.ACTION_THRESH,
        class_groups=report_class_groups(cfg),
        memory=memory_settings(cfg) if uses_memory(model) else None,
    )


def evaluate_classification(cfg: CfgNode, model, loader, name: str, device: torch.device) -> dict[str, float]:
    """Accuracy, macro precision / recall / F1 (and the confusion matrix) of the clip classifier on one test set."""
    return inference_classification(
        model,
        loader,
        name,
        device,
        os.path.join(cfg.OUTPUT_DIR, "inference", name),
        multi_label=bool(cfg.MODEL.CLIP_HEAD.MULTI_LABEL),
    )


def report_class_groups(cfg: CfgNode) -> dict[str, tuple[int, ...]]:
    """The groups of action ids whose mAP is reported: ``TEST.CLASS_GROUPS`` (``"name:1-5,7"`` entries), or
    the head's pose / object / person-interaction groups (its logit order) when that is empty."""
    if not cfg.TEST.CLASS_GROUPS:
        head = cfg.MODEL.ROI_ACTION_HEAD
        return class_groups_from_counts(
            head.NUM_PERSON_MOVEMENT_CLASSES, head.NUM_OBJECT_MANIPULATION_CLASSES, head.NUM_PERSON_INTERACTION_CLASSES
        )
    groups = {}
    for entry in cfg.TEST.CLASS_GROUPS:
        name, sep, spec = str(entry).partition(":")
        ids: list[int] = []
        try:
            for part in filter(None, (p.strip() for p in spec.split(","))):
                lo, dash, hi = part.partition("-")
                ids += list(range(int(lo), int(hi) + 1)) if dash else [int(lo)]
        except ValueError:
            ids = []
        if not sep or not name.strip() or not ids or name.strip() in groups:
            raise ConfigValueError(
                f"TEST.CLASS_GROUPS entry {entry!r}: expected a unique 'name:ids' with ids like "
                "'1-5,7' (action ids of the label map)"
            )
        outside = [i for i in ids if not 1 <= i <= cfg.MODEL.ROI_ACTION_HEAD.NUM_CLASSES]
        if outside:
            raise ConfigValueError(
                f"TEST.CLASS_GROUPS entry {entry!r} names action ids {outside}, outside the head's "
                f"1..{cfg.MODEL.ROI_ACTION_HEAD.NUM_CLASSES} (MODEL.ROI_ACTION_HEAD.NUM_CLASSES)",
                where="config key TEST.CLASS_GROUPS",
                fix="give groups of the head's action ids, or TEST.CLASS_GROUPS '()' to report "
                "the head's pose / object / interaction groups",
            )
        groups[name.strip()] = tuple(ids)
    return groups


def average_box_count_over_ranks(model: torch.nn.Module) -> None:
    """AlphAction's loss normaliser under DDP: every rank divides its detection losses by the box count averaged
    over the ranks (one all-reduce per training call), not by its own count. Called on the unwrapped model before
    the DDP wrap; a forward then is a collective, as it is with DDP anyway."""
    _unwrapped(model).roi_heads["action"].loss.box_count = comm.mean_across_ranks


@dataclass(frozen=True)
class Task:
    """What a run does differently for one kind of model."""

    train_call: Callable  # (model, batch[, memory=...]) -> loss dict (and pooled features with memory)
    evaluate: Callable  # (cfg, model, loader, name, device) -> {metric: value}
    check: Callable[[Any], Any] = lambda cfg: None  # start-up check of the task's settings (raises on error)
    distributed: Callable[[Any], None] = lambda model: None  # what a DDP run sets on the model before the wrap


# model class (MODEL.META_ARCHITECTURE) -> what its runs do
TASKS: dict[str, Task] = {
    "ActionDetector": Task(
        detection_losses, evaluate_detection, check=report_class_groups, distributed=average_box_count_over_ranks
    ),
    "ClipClassifier": Task(classification_losses, evaluate_classification),
}


def task_of(cfg: CfgNode) -> Task:
    """The task of ``MODEL.META_ARCHITECTURE``."""
    return TASKS[cfg.MODEL.META_ARCHITECTURE]


def _unwrapped(model: torch.nn.Module) -> torch.nn.Module:
    while True:  # DDP (.module) and torch.compile (._orig_mod) wrap the model
        inner = getattr(model, "module", None) or getattr(model, "_orig_mod", None)
        if inner is None:
            return model
        model = inner


def training_call(model: torch.nn.Module) -> Callable:
    """The training call of ``model``'s class (through DDP / compile wrappers)."""
    name = type(_unwrapped(model)).__name__
    if name not in TASKS:
        raise KeyError(f"no task for a {name}; add it to alphaction.engine.tasks.TASKS")
    return TASKS[name].train_call
