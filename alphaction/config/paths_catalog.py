"""Where datasets live: the built-in catalog and user catalogs.

Built-in entries are rooted at ``$ALPHACTION_DATA`` (default ``data``, relative to the working directory).
A user registers a dataset without editing code by writing a catalog file (YAML or JSON) and naming it in
``DATASETS.CATALOG`` (or ``--catalog`` on the command line)::

    my_videos_train:
      root: /data/my_videos            # optional; other relative paths are joined to it
      video_root: clips                # clips/<video_id>/<second>.mp4
      ann_file: annotations/train.json # COCO-style keyframe annotations
      box_file: ""                     # detected person boxes (needed for testing)
      object_file: ""                  # detected object boxes (optional)
      eval_file_paths:                 # AVA-style evaluation files (needed for frame-mAP)
        csv_gt_file: annotations/train.csv
        labelmap_file: annotations/action_list.pbtxt
        exclusion_file: ""

Without ``root``, relative paths are taken from the catalog file's folder.
See ``docs/internals.md`` for the spec a lookup returns.

Clip-classification entries name their ``factory`` and its fields (see docs/CLASSIFICATION.md)::

    my_clips_train:
      factory: VideoListDataset        # or ClassFolderDataset, HDF5ClipDataset
      ann_file: annotations/train_list.txt   # "path label" lines (VideoListDataset)
      video_root: videos_train         # relative video paths are joined to it (class folders: the root)
      separator: ""                    # "" = whitespace, the label being the last field; or e.g. ","
      class_index: annotations/class_index.txt   # "index name" lines (optional)
      # HDF5ClipDataset: h5_file, frames_key (frames), labels_key (labels), value_range [lo, hi]
      # RawframesDataset: ann_file of "frame_dir total_frames label" lines, video_root, filename_tmpl, start_index
      # HDF5GroupDataset: h5_file with one group per sample: /<sample>/frames_key, labels_key (dataset or attribute)
"""

from __future__ import annotations

import copy
import difflib
import json
import os
from typing import Any

import yaml

from ..utils.errors import MissingFileError
from .cfgnode import ConfigError

_FILE_FIELDS = ("ann_file", "box_file", "object_file")
# clip classification: factory -> (required path fields, optional path fields, optional plain fields)
CLASSIFICATION_FACTORIES: dict[str, tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]] = {
    "VideoListDataset": (("ann_file",), ("video_root", "class_index"), ("separator",)),
    "ClassFolderDataset": (("video_root",), ("class_index",), ("extensions",)),
    "HDF5ClipDataset": (("h5_file",), ("class_index",), ("frames_key", "labels_key", "value_range")),
    "RawframesDataset": (("ann_file",), ("video_root", "class_index"), ("filename_tmpl", "start_index")),
    "HDF5GroupDataset": (("h5_file",), ("class_index",), ("frames_key", "labels_key", "value_range")),
}
# classification entries generated on first use: field -> the generator in alphaction.data.build
_GENERATED = ("synthetic_thermal", "synthetic_clips")
_EVAL_FIELDS = ("csv_gt_file", "labelmap_file", "exclusion_file")


_FIELD_FIX = "write the entry with the fields of alphaction/config/paths_catalog.py (docs/datasets.md)"


def data_dir() -> str:
    """The root of the built-in entries: ``$ALPHACTION_DATA`` or ``data``, made absolute."""
    return os.path.abspath(os.environ.get("ALPHACTION_DATA", "data"))


def _ava_entry(split: str) -> dict[str, Any]:
    return {
        "video_root": "AVA/clips/trainval",
        "ann_file": f"AVA/annotations/ava_{split}_v2.2_min.json",
        "box_file": "" if split == "train" else "AVA/boxes/ava_val_det_person_bbox.json",
        "eval_file_paths": {
            "csv_gt_file": f"AVA/annotations/ava_{split}_v2.2.csv",
            "labelmap_file": "AVA/annotations/ava_action_list_v2.2_for_activitynet_2019.pbtxt",
            "exclusion_file": f"AVA/annotations/ava_{split}_excluded_timestamps_v2.2.csv",
        },
        "object_file": f"AVA/boxes/ava_{split}_det_object_bbox.json",
    }


def _synthetic_entry(size: str, split: str) -> dict[str, Any]:
    folder = f"synthetic/{size}"
    return {
        "video_root": f"{folder}/clips",
        "ann_file": f"{folder}/annotations/{split}.json",
        "box_file": f"{folder}/boxes/{split}_person_bbox.json",
        "eval_file_paths": {
            "csv_gt_file": f"{folder}/annotations/{split}.csv",
            "labelmap_file": f"{folder}/annotations/action_list.pbtxt",
            "exclusion_file": f"{folder}/annotations/{split}_excluded_timestamps.csv",
        },
        "object_file": f"{folder}/boxes/{split}_object_bbox.json",
        "synthetic": {"root": folder, "size": size, "seed": 0},
    }


def _thermal_entry(size: str, split: str) -> dict[str, Any]:
    folder = "synthetic/thermal" if size == "default" else f"synthetic/thermal_{size}"
    return {
        "factory": "HDF5ClipDataset",
        "h5_file": f"{folder}/{split}.h5",
        "class_index": f"{folder}/class_index.txt",
        "frames_key": "frames",
        "labels_key": "labels",
        "value_range": [15.0, 40.0],  # degrees Celsius -> 0-255
        "synthetic_thermal": {"root": folder, "size": size, "seed": 0},
    }


def _clips_entry(size: str, split: str) -> dict[str, Any]:
    folder = "synthetic/clips" if size == "default" else f"synthetic/clips_{size}"
    return {
        "factory": "VideoListDataset",
        "ann_file": f"{folder}/{split}_list.txt",
        "class_index": f"{folder}/class_index.txt",
        "synthetic_clips": {"root": folder, "size": size, "seed": 0},
    }


class DatasetCatalog:
    """Name -> dataset spec. Built-in entries plus those of user catalog files."""

    DATASETS: dict[str, dict[str, Any]] = {
        "ava_video_train_v2.2": _ava_entry("train"),
        "ava_video_val_v2.2": _ava_entry("val"),
        "synthetic_tiny_train": _synthetic_entry("tiny", "train"),
        "synthetic_tiny_val": _synthetic_entry("tiny", "val"),
        "synthetic_train": _synthetic_entry("default", "train"),
        "synthetic_val": _synthetic_entry("default", "val"),
        "synthetic_large_train": _synthetic_entry("large", "train"),
        "synthetic_large_val": _synthetic_entry("large", "val"),
        "synthetic_test": _synthetic_entry("test", "val"),  # test only: 160 videos (the "test" size has no train split)
        "thermal_synthetic_train": _thermal_entry("default", "train"),
        "thermal_synthetic_val": _thermal_entry("default", "val"),
        "thermal_synthetic_tiny_train": _thermal_entry("tiny", "train"),
        "thermal_synthetic_tiny_val": _thermal_entry("tiny", "val"),
        "synthetic_clips_train": _clips_entry("default", "train"),
        "synthetic_clips_val": _clips_entry("default", "val"),
        "synthetic_clips_tiny_train": _clips_entry("tiny", "train"),
        "synthetic_clips_tiny_val": _clips_entry("tiny", "val"),
    }

    @classmethod
    def names(cls, extra_catalog: str = "") -> list[str]:
        """All registered names, built-in first."""
        return list(cls.DATASETS) + [n for n in load_catalog_file(extra_catalog) if n not in cls.DATASETS]

    @classmethod
    def get(cls, name: str, extra_catalog: str = "") -> dict[str, Any]:
        """The spec of ``name`` with absolute paths (see docs/internals.md).

        Entries of ``extra_catalog`` (a YAML/JSON file) take precedence over built-in ones of the same name.
        """
        extra = load_catalog_file(extra_catalog)
        if name in extra:
            entry, base, source = (
                extra[name],
                extra[name].get("root") or os.path.dirname(os.path.abspath(extra_catalog)),
                f"{extra_catalog}: {name}",
            )
        elif name in cls.DATASETS:
            entry, base, source = cls.DATASETS[name], data_dir(), f"built-in catalog entry '{name}'"
        else:
            known = ", ".join(cls.names(extra_catalog))
            close = difflib.get_close_matches(name, cls.names(extra_catalog), n=3, cutoff=0.6)
            raise ConfigError(
                f"unknown dataset '{name}'. Registered datasets: {known}",
                where="config keys DATASETS.TRAIN / TEST",
                fix=(f"did you mean {', '.join(close)}? " if close else "")
                + "Register your own in a catalog file named by DATASETS.CATALOG (--catalog; format in "
                "alphaction/config/paths_catalog.py)",
            )
        return _resolve(name, entry, base, source)


def _join(base: str, path: str) -> str:
    if not path:
        return ""
    path = os.path.expanduser(path)
    return path if os.path.isabs(path) else os.path.normpath(os.path.join(base, path))


def _resolve_classification(name: str, entry: dict[str, Any], base: str, source: str) -> dict[str, Any]:
    factory = entry["factory"]
    required, paths, plain = CLASSIFICATION_FACTORIES[factory]
    for key in required:
        if not entry.get(key):
            raise ConfigError(f"the field '{key}' is required for factory {factory}", where=source, fix=_FIELD_FIX)
    unknown = set(entry) - {"root", "factory", *_GENERATED, *required, *paths, *plain}
    if unknown:
        raise ConfigError(
            f"unknown field(s) {sorted(unknown)} for factory {factory}",
            where=source,
            fix=f"use the fields {sorted({*required, *paths, *plain})}",
        )
    args = {key: _join(base, entry.get(key, "")) for key in (*required, *paths)}
    args.update({key: copy.deepcopy(entry[key]) for key in plain if key in entry})
    spec = {"name": name, "factory": factory, "args": args, "source": source, "task": "classification"}
    for key in _GENERATED:
        if entry.get(key):
            syn = copy.deepcopy(entry[key])
            syn["root"] = _join(base, syn["root"])
            spec[key] = syn
    return spec


def _resolve(name: str, entry: dict[str, Any], base: str, source: str) -> dict[str, Any]:
    if entry.get("factory") in CLASSIFICATION_FACTORIES:
        return _resolve_classification(name, entry, base, source)
    for key in ("video_root", "ann_file"):
        if not entry.get(key):
            raise ConfigError(f"the field '{key}' is required", where=source, fix=_FIELD_FIX)
    unknown = set(entry) - {"root", "video_root", "eval_file_paths", "synthetic", "factory", *_FILE_FIELDS}
    if unknown:
        raise ConfigError(f"unknown field(s) {sorted(unknown)}", where=source, fix=_FIELD_FIX)
    args = {"video_root": _join(base, entry["video_root"])}
    for key in _FILE_FIELDS:
        args[key] = _join(base, entry.get(key, ""))
    eval_paths = entry.get("eval_file_paths") or {}
    bad = set(eval_paths) - set(_EVAL_FIELDS)
    if bad:
        raise ConfigError(
            f"unknown eval_file_paths field(s) {sorted(bad)}", where=source, fix=f"use the fields {_EVAL_FIELDS}"
        )
    args["eval_file_paths"] = {k: _join(base, v) for k, v in eval_paths.items() if v}
    spec = {"name": name, "factory": entry.get("factory", "AVAVideoDataset"), "args": args, "source": source}
    if entry.get("synthetic"):
        syn = copy.deepcopy(entry["synthetic"])
        syn["root"] = _join(base, syn["root"])
        spec["synthetic"] = syn
    return spec


def missing_files(spec: dict[str, Any]) -> list[tuple[str, str]]:
    """``(field, message)`` for every file or folder a spec names that does not exist."""
    args = spec["args"]
    problems = []
    if spec.get("task") == "classification":
        required = CLASSIFICATION_FACTORIES[spec["factory"]][0]
        for key in required:
            ok = os.path.isdir(args[key]) if key == "video_root" else os.path.isfile(args[key])
            if not ok:
                problems.append((key, f"{key}: {'folder' if key == 'video_root' else 'file'} not found: {args[key]}"))
        if args.get("video_root") and "video_root" not in required and not os.path.isdir(args["video_root"]):
            problems.append(("video_root", f"video_root: folder not found: {args['video_root']}"))
    elif not os.path.isdir(args["video_root"]):
        problems.append(("video_root", f"video_root: folder not found: {args['video_root']}"))
    for key in _FILE_FIELDS if spec.get("task") != "classification" else ():
        if args.get(key) and not os.path.isfile(args[key]):
            problems.append((key, f"{key}: file not found: {args[key]}"))
    for key, path in args.get("eval_file_paths", {}).items():
        if not os.path.isfile(path):
            problems.append((f"eval_file_paths.{key}", f"eval_file_paths.{key}: file not found: {path}"))
    return problems


def validate_spec(spec: dict[str, Any]) -> None:
    """Check that every file a spec names exists; the error names the catalog entry and the field."""
    problems = [message for _, message in missing_files(spec)]
    if problems:
        raise MissingFileError(
            f"dataset '{spec['name']}' ({spec.get('source', 'catalog')}):\n  " + "\n  ".join(problems),
            fix="fix the paths in the catalog entry, or set $ALPHACTION_DATA to the folder that holds the data",
        )


def load_catalog_file(path: str) -> dict[str, dict[str, Any]]:
    """Read a user catalog (``yaml.safe_load``; JSON is valid YAML). Empty path -> {}."""
    if not path:
        return {}
    if not os.path.isfile(path):
        raise ConfigError(
            f"catalog file not found: {path}",
            where="DATASETS.CATALOG (--catalog)",
            fix="give the path of your catalog YAML (relative to the working directory)",
        )
    with open(path, encoding="utf-8") as f:
        try:
            data = yaml.safe_load(f) if not path.endswith(".json") else json.load(f)
        except (yaml.YAMLError, json.JSONDecodeError) as e:
            raise ConfigError(f"cannot parse the catalog: {e}", where=path, fix="correct the YAML / JSON syntax") from e
    if not isinstance(data, dict) or not all(isinstance(v, dict) for v in data.values()):
        raise ConfigError(
            "a catalog maps dataset names to entries (mappings of fields)",
            where=path,
            fix="write NAME:\n  video_root: ...\n  ann_file: ... for every dataset",
        )
    return data
