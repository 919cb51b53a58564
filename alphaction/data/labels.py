"""Class names of a config's datasets, in the model's output order (what checkpoints store as ``class_names``).

Detection: output ``c`` is action id ``c + 1`` of the label map (``labelmap_file`` of the dataset's evaluation
files). Classification: output ``c`` is line ``c`` of the class index (``class_index`` of the catalog entry),
or the sorted sub-folders of a class-folder dataset.
"""

from __future__ import annotations

import logging
import os

from ..config.paths_catalog import DatasetCatalog
from ..utils.labelmap import read_labelmap
from .datasets.clip_sources import index_class_folders, read_class_index
from .kinds import data_kind

logger = logging.getLogger(__name__)

__all__ = ["num_classes", "class_names", "labelmap_of"]


def num_classes(cfg) -> int:
    """Outputs of the model the config builds."""
    return int(cfg.MODEL[data_kind(cfg).head].NUM_CLASSES)


def _entries(cfg):
    for name in list(cfg.DATASETS.TEST) + list(cfg.DATASETS.TRAIN):
        try:
            yield name, DatasetCatalog.get(name, cfg.DATASETS.CATALOG)
        except Exception as e:  # an unregistered name: the other datasets may still name the classes
            logger.debug("class names: dataset %r not in the catalog (%s)", name, e)


def labelmap_of(cfg) -> dict[int, str]:
    """``{action_id: name}`` of the first detection dataset of the config whose label map file exists."""
    for _, spec in _entries(cfg):
        path = spec.get("args", {}).get("eval_file_paths", {}).get("labelmap_file", "")
        if path and os.path.isfile(path):
            return read_labelmap(path)
    return {}


def class_names(cfg) -> list[str] | None:
    """One name per model output, from the config's datasets (test ones first); None when none names them.

    A label map with gaps gives the missing ids as their number (``"17"``)."""
    k, kind = num_classes(cfg), data_kind(cfg)
    if kind.names_from == "label map":
        labelmap = labelmap_of(cfg)
        return [labelmap.get(c + kind.first_id, str(c + kind.first_id)) for c in range(k)] if labelmap else None
    for name, spec in _entries(cfg):
        args = spec.get("args", {})
        names = None
        if args.get("class_index") and os.path.isfile(args["class_index"]):
            names = read_class_index(args["class_index"])
        elif spec.get("factory") == "ClassFolderDataset" and os.path.isdir(args.get("video_root", "")):
            names = index_class_folders(args["video_root"])[0]
        if names is not None:
            if len(names) != k:
                logger.warning(
                    "dataset %r names %d classes, the model has %d outputs: class names not used", name, len(names), k
                )
                continue
            return list(names)
    return None
