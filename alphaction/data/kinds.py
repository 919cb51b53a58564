"""What the data side does for each kind of model, in one table (:data:`DATA_KINDS`): the catalog factories it
reads, how a batch is collated, what one sample is, which head node of the config counts its classes and where
their names come from.

Keys are ``MODEL.META_ARCHITECTURE``'s values, as in ``alphaction.engine.tasks.TASKS`` (the engine's side of the
same split: training call, evaluation, start-up check). Nothing else in ``data`` tests the model's name.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Mapping

from ..utils.errors import ConfigValueError
from .collate import collate
from .datasets import AVAVideoDataset
from .datasets.clip_sources import ClassFolderDataset, HDF5ClipDataset, VideoListDataset
from .datasets.clips import collate_clips
from .datasets.hdf5_groups import HDF5GroupDataset
from .datasets.rawframes import RawframesDataset

__all__ = ["DATA_KINDS", "DataKind", "data_kind", "kind_of_factory"]


@dataclass(frozen=True)
class DataKind:
    """The data side of one kind of model."""

    model: str  # MODEL.META_ARCHITECTURE
    task: str  # what its datasets are for, in messages
    factories: Mapping[str, type]  # catalog "factory" -> dataset class (the catalog fields are its arguments)
    collate: Callable  # (samples, size_divisibility=) -> batch
    unit: str  # what one training sample is, for the logs ("keyframes", "samples")
    head: str  # node of MODEL whose NUM_CLASSES counts the outputs
    first_id: int  # the id output 0 stands for: action id 1 of a label map, line 0 of a class index
    names_from: str  # "label map" (eval_file_paths.labelmap_file) or "class index" (class_index / class folders)
    balanced_sampling: bool  # DATALOADER.CLASS_BALANCED_SAMPLING applies (one label list per dataset)


DETECTION = DataKind(
    model="ActionDetector",
    task="detection",
    factories={"AVAVideoDataset": AVAVideoDataset},
    collate=collate,
    unit="keyframes",
    head="ROI_ACTION_HEAD",
    first_id=1,
    names_from="label map",
    balanced_sampling=False,
)
CLASSIFICATION = DataKind(
    model="ClipClassifier",
    task="clip-classification",
    factories={
        "VideoListDataset": VideoListDataset,
        "ClassFolderDataset": ClassFolderDataset,
        "HDF5ClipDataset": HDF5ClipDataset,
        "RawframesDataset": RawframesDataset,
        "HDF5GroupDataset": HDF5GroupDataset,
    },
    collate=collate_clips,
    unit="samples",
    head="CLIP_HEAD",
    first_id=0,
    names_from="class index",
    balanced_sampling=True,
)

# model class (MODEL.META_ARCHITECTURE) -> its data
DATA_KINDS: dict[str, DataKind] = {kind.model: kind for kind in (DETECTION, CLASSIFICATION)}


def data_kind(cfg) -> DataKind:
    """The data side of ``MODEL.META_ARCHITECTURE``."""
    arch = cfg.MODEL.META_ARCHITECTURE
    if arch not in DATA_KINDS:
        raise ConfigValueError(f"MODEL.META_ARCHITECTURE={arch!r}: use one of {sorted(DATA_KINDS)}")
    return DATA_KINDS[arch]


def kind_of_factory(factory: str) -> DataKind | None:
    """The kind whose datasets ``factory`` builds (None: no kind knows it)."""
    return next((kind for kind in DATA_KINDS.values() if factory in kind.factories), None)
