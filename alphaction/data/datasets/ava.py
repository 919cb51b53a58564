"""AVA-style keyframe dataset over per-second clips (``docs/internals.md``: annotation formats, sample dict).

The index is held in a few flat numpy arrays with offset pointers (no per-sample Python objects), so
DataLoader workers that touch it do not copy it page by page through reference counting (the memory
growth of pytorch issue #13246 that AlphAction's ``NpInfoDict`` / ``NpBoxDict`` also avoided). It is built with
numpy from one read of the JSON and cached on disk, memory-mapped by every process (``ava_index``).
"""

from __future__ import annotations

import logging
import os
from typing import Callable

import numpy as np
import torch

from ...structures.boxes import pixel_offset
from ..video_io import VideoDecodeError, decode_window
from .ava_index import build_index, cached_index, load_cached
from .ava_json import read_annotation_columns, read_detection_columns

logger = logging.getLogger(__name__)

__all__ = ["AVAVideoDataset"]


def _require_file(path: str, field: str, name: str) -> None:
    if not path or not os.path.isfile(path):
        raise FileNotFoundError(
            f"dataset {name!r}: {field} {path!r} does not exist. Fix the catalog entry's {field} "
            "(alphaction.config.paths_catalog or the file named by DATASETS.CATALOG) or create the file."
        )


def _check_arguments(
    name: str, video_root: str, ann_file: str, transforms: Callable | None, on_bad_sample: str
) -> None:
    """Raise on a missing annotation file or clip folder, missing transforms or an unknown ``on_bad_sample``."""
    _require_file(ann_file, "ann_file", name)
    if not os.path.isdir(video_root):
        raise FileNotFoundError(
            f"dataset {name!r}: video_root {video_root!r} is not a folder. Fix the catalog entry's "
            "video_root (it must hold <video_id>/<second>.mp4 clips)."
        )
    if transforms is None:
        raise ValueError("AVAVideoDataset needs transforms (see alphaction.data.build.build_transforms)")
    if on_bad_sample not in ("error", "skip"):
        raise ValueError(f"DATALOADER.ON_BAD_SAMPLE must be 'error' or 'skip', got {on_bad_sample!r}")


def _side_files(name: str, box_file: str, object_file: str, is_train: bool, max_objects: int) -> tuple[bool, bool]:
    """``(uses_boxes, uses_objects)``: whether the person-box file (testing) and the object file are read; a used
    file must exist. Warns when objects are asked for without a file and when testing has no box file."""
    uses_boxes = bool(box_file) and not is_train
    uses_objects = bool(object_file) and max_objects > 0
    if uses_boxes:
        _require_file(box_file, "box_file", name)
    if uses_objects:
        _require_file(object_file, "object_file", name)
    elif max_objects > 0:
        logger.warning("dataset %r: max_objects=%d but no object_file; objects are empty", name, max_objects)
    if not is_train and not box_file:
        logger.warning("dataset %r: no box_file; testing on the ground-truth boxes", name)
    return uses_boxes, uses_objects


class AVAVideoDataset(torch.utils.data.Dataset):
    """Keyframes of an AVA-style dataset.

    Args:
        video_root: folder with ``<video_id>/<second>.mp4`` clips.
        ann_file: COCO-style keyframe annotations (``images`` with ``video_path``, ``movie``, ``timestamp``,
            ``height``, ``width``; ``annotations`` with ``bbox`` xywh and 1-based ``action_ids``).
        box_file: detected person boxes (COCO detection results); used in testing. "" in testing falls
            back to the ground-truth boxes with score 1.
        eval_file_paths: AVA evaluation files, kept as ``self.eval_file_paths`` for the evaluator.
        object_file: detected object boxes (COCO detection results) or "".
        frame_num, sample_rate: window of ``frame_num`` frames ``sample_rate`` apart (``video_io``).
        is_train: training keeps keyframes with >= 1 GT box and returns multi-hot labels; testing keeps
            keyframes with >= 1 detection scoring >= ``box_thresh`` and returns zero labels.
        box_thresh: minimum person-detection score in testing.
        num_classes: label width; class ``c`` is action id ``c + 1``.
        max_objects: objects kept per keyframe (highest scores first); 0 loads no objects.
        transforms: a ``ClipTransform`` (or a callable with its ``__call__`` / ``output_size``).
        name: the catalog entry's name, used in error messages.
        box_convention: pixel convention (``INPUT.BOX_CONVENTION``): ``"alphaction"`` reads a COCO box
            ``[x, y, w, h]`` as ``x2 = x + w - 1`` and clips person boxes to the keyframe, dropping empty ones
            (AlphAction's dataset); ``"continuous"`` reads ``x2 = x + w`` and keeps boxes as they are.
        index_cache: keep the built index in a cache folder next to ``ann_file`` and memory-map it
            (``ava_index``; ``DATALOADER.INDEX_CACHE``).
        check: ``check(keyframes, boxes, other top-level keys)`` on the annotation columns before an index is
            built (raises on bad input; an index read from the cache was built from files that passed it), with
            ``check_key`` naming its settings in the cache key.
    """

    def __init__(
        self,
        video_root: str,
        ann_file: str,
        box_file: str = "",
        eval_file_paths: dict | None = None,
        object_file: str = "",
        frame_num: int = 32,
        sample_rate: int = 2,
        is_train: bool = True,
        box_thresh: float = 0.8,
        num_classes: int = 80,
        max_objects: int = 0,
        transforms: Callable | None = None,
        name: str = "",
        on_bad_sample: str = "error",
        box_convention: str = "continuous",
        index_cache: bool = True,
        check: Callable | None = None,
        check_key: str = "",
    ):
        name = name or os.path.basename(ann_file)
        _check_arguments(name, video_root, ann_file, transforms, on_bad_sample)
        self.on_bad_sample = on_bad_sample
        self.name = name
        self.video_root = video_root
        self.ann_file = ann_file
        self.eval_file_paths = dict(eval_file_paths or {})
        self.frame_num, self.sample_rate = int(frame_num), int(sample_rate)
        self.is_train = is_train
        self.num_classes = int(num_classes)
        self.transforms = transforms
        self.box_convention = box_convention
        offset = pixel_offset(box_convention)
        uses_boxes, uses_objects = _side_files(name, box_file, object_file, is_train, max_objects)
        index, self.index_status, self._index_source = self._load_index(
            box_file,
            object_file,
            uses_boxes,
            uses_objects,
            box_thresh,
            max_objects,
            offset,
            index_cache,
            check,
            check_key,
        )
        self._set_index(index)
        if len(self._image_ids) == 0:
            raise ValueError(
                f"dataset {name!r}: no keyframe of {ann_file} has a person box"
                + ("" if is_train or not box_file else f" scoring >= {box_thresh} in {box_file}")
            )
        self._rng_pid, self._rng_gen = None, None

    def _load_index(
        self,
        box_file: str,
        object_file: str,
        uses_boxes: bool,
        uses_objects: bool,
        box_thresh: float,
        max_objects: int,
        offset: float,
        index_cache: bool,
        check: Callable | None,
        check_key: str,
    ) -> tuple[dict[str, np.ndarray], str, tuple[str, str] | None]:
        """The index of the annotation file (and the box and object files it uses), read from the cache or built
        (``check`` first) and cached: ``cached_index``'s ``(arrays, "cached" or "built", cache source)``."""
        ann_file, is_train, box_convention = self.ann_file, self.is_train, self.box_convention

        def build() -> dict[str, np.ndarray]:
            keyframes, boxes, others = read_annotation_columns(ann_file)
            if check is not None:
                check(keyframes, boxes, others)
            return build_index(
                keyframes,
                boxes,
                read_detection_columns(box_file) if uses_boxes else None,
                read_detection_columns(object_file) if uses_objects else None,
                is_train=is_train,
                box_thresh=float(box_thresh),
                num_classes=self.num_classes,
                max_objects=int(max_objects),
                offset=offset,
                ann_file=ann_file,
                box_file=box_file,
                object_file=object_file,
            )

        params = {
            "is_train": bool(is_train),
            "box_thresh": float(box_thresh) if uses_boxes else None,
            "num_classes": self.num_classes,
            "max_objects": int(max_objects) if uses_objects else 0,
            "box_convention": box_convention,
            "check": check_key,
        }
        sources = [ann_file, box_file if uses_boxes else "", object_file if uses_objects else ""]
        return cached_index(ann_file, sources, params, build, enabled=index_cache)

    def _set_index(self, index: dict[str, np.ndarray]) -> None:
        # flat arrays (memory-mapped when cached): workers touching them copy nothing (pytorch issue #13246)
        self._image_ids = index["image_ids"]
        self._box_ptr, self._boxes, self._scores = index["box_ptr"], index["boxes"], index["scores"]
        # the annotation's person_id of every ground-truth box (AVA's entity id), -1 for detected boxes
        self._person_ids = index["person_ids"]
        self._labels = index.get("labels")
        self._obj_ptr, self._objects = index["obj_ptr"], index["objects"]
        self._video_index, self._video_ids = index["video_index"], index["video_ids"]
        self._video_dirs, self._timestamps, self._sizes = index["video_dirs"], index["timestamps"], index["sizes"]

    def __getstate__(self) -> dict:
        # a spawned worker (or any pickle) re-maps the cached arrays instead of receiving a copy of them
        state = dict(self.__dict__)
        if self._index_source is not None:
            for key in [k for k in state if k.startswith("_") and isinstance(state[k], np.memmap)]:
                del state[key]
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        if self._index_source is not None and not hasattr(self, "_boxes"):
            self._set_index(load_cached(*self._index_source))

    def keyframe_clips(self, indices: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(clip folder, second, image id) of the keyframes ``indices``: what the dataset will decode (for the
        start-up clip check)."""
        indices = np.asarray(indices, dtype=np.int64)
        folders = (
            np.char.decode(self._video_dirs, "utf-8")[self._video_index[indices]] if len(indices) else np.zeros(0, str)
        )
        return folders, np.asarray(self._timestamps[indices], dtype=np.int64), np.asarray(self._image_ids[indices])

    def __len__(self) -> int:
        return len(self._image_ids)

    def get_video_info(self, index: int) -> dict:
        """``{video_id, timestamp, height, width}`` of keyframe ``index`` (height/width: keyframe size)."""
        h, w = self._sizes[index]
        return {
            "video_id": self._video_ids[self._video_index[index]].decode("utf-8"),
            "timestamp": int(self._timestamps[index]),
            "height": int(h),
            "width": int(w),
        }

    def person_ids(self, index: int) -> np.ndarray:
        """int64 ``[N]``: the annotation's ``person_id`` of each box of keyframe ``index`` (the order of the
        sample's ``boxes``), -1 for detected boxes or annotations without one."""
        return self._person_ids[self._box_ptr[index] : self._box_ptr[index + 1]].copy()

    def aspect_ratio_groups(self) -> np.ndarray:
        """0 for landscape keyframes (h < w), 1 for portrait or square (AlphAction's bins ``[1]``)."""
        return (self._sizes[:, 0] >= self._sizes[:, 1]).astype(np.int64)

    def augmentation_rng(self) -> np.random.Generator:
        # one generator per process; in a DataLoader worker torch.initial_seed() is the loader's
        # per-worker seed, so the augmentation stream is reproducible given the loader's generator
        pid = os.getpid()
        if self._rng_pid != pid:
            self._rng_pid, self._rng_gen = pid, np.random.default_rng(torch.initial_seed())
        return self._rng_gen

    def __getitem__(self, index: int) -> dict:
        info = self.get_video_info(index)
        h, w = info["height"], info["width"]
        folder = self._video_dirs[self._video_index[index]].decode("utf-8")
        # frames come at their stored size; the transforms resize only the frames a pathway uses
        try:
            frames = decode_window(self.video_root, folder, info["timestamp"], self.frame_num, self.sample_rate)
        except VideoDecodeError as e:
            if self.on_bad_sample == "error":
                raise
            # skip-and-count: collate drops the sample and counts it in the batch's "num_skipped"
            logger.warning("dataset %r: skipping sample %d: %s", self.name, index, e)
            return {"skipped": True, "index": index, "error": str(e)}
        a, b = self._box_ptr[index], self._box_ptr[index + 1]
        boxes = torch.from_numpy(self._boxes[a:b].copy())
        scores = torch.from_numpy(self._scores[a:b].copy())
        if self._labels is not None:
            bits = np.unpackbits(self._labels[a:b], axis=1, count=self.num_classes)
            labels = torch.from_numpy(bits.astype(np.float32))
        else:
            labels = torch.zeros(b - a, self.num_classes)
        oa, ob = self._obj_ptr[index], self._obj_ptr[index + 1]
        objects = torch.from_numpy(self._objects[oa:ob].copy())

        out = self.transforms(frames, boxes, objects, box_size=(h, w), rng=self.augmentation_rng())
        return {
            "slow": out["slow"],
            "fast": out["fast"],
            "boxes": out["boxes"],
            "labels": labels,
            "scores": scores,
            "objects": out["objects"],
            "image_size": out["image_size"],
            "keyframe_size": (h, w),
            "video_id": info["video_id"],
            "timestamp": info["timestamp"],
            "index": index,
        }
