"""AVA-style keyframe dataset over per-second clips (``docs/internals.md``: annotation formats, sample dict).

The index is held in a few flat numpy arrays with offset pointers (no per-sample Python objects), so
DataLoader workers that touch it do not copy it page by page through reference counting (the memory
growth of pytorch issue #13246 that AlphAction's ``NpInfoDict`` / ``NpBoxDict`` also avoided).
"""
from __future__ import annotations

import contextlib
import io
import json
import logging
import os
from collections import defaultdict
from typing import Callable

import numpy as np
import torch

from ...structures.boxes import pixel_offset
from ..video_io import VideoDecodeError, decode_window

logger = logging.getLogger(__name__)

__all__ = ["AVAVideoDataset"]


def _require_file(path: str, field: str, name: str) -> None:
    if not path or not os.path.isfile(path):
        raise FileNotFoundError(
            f"dataset {name!r}: {field} {path!r} does not exist. Fix the catalog entry's {field} "
            "(alphaction.config.paths_catalog or the file named by DATASETS.CATALOG) or create the file."
        )


def _pack(groups: dict[int, list], image_ids: np.ndarray, width: int) -> tuple[np.ndarray, np.ndarray]:
    """Rows grouped by image id -> (pointer [S+1], rows [R, width]) in ``image_ids`` order."""
    counts = np.array([len(groups.get(int(i), ())) for i in image_ids], dtype=np.int64)
    ptr = np.zeros(len(image_ids) + 1, dtype=np.int64)
    np.cumsum(counts, out=ptr[1:])
    rows = [r for i in image_ids for r in groups.get(int(i), ())]
    data = np.asarray(rows, dtype=np.float64).reshape(-1, width)
    return ptr, data


def _xyxy(bbox, offset: float, size: tuple[int, int] | None = None) -> list[float] | None:
    """A COCO ``[x, y, w, h]`` box -> ``[x1, y1, x2, y2]`` in the box convention whose ``+1`` is ``offset``
    (``alphaction.structures.boxes``). With ``size = (height, width)`` and the ``"alphaction"`` convention the box
    is clipped to ``[0, W - 1] x [0, H - 1]`` and None is returned for a box left empty, as AlphAction's
    dataset did with its annotations and detections (``clip_to_image(remove_empty=True)``)."""
    x, y, w, h = (float(v) for v in bbox)
    box = [x, y, x + max(w - offset, 0.0), y + max(h - offset, 0.0)]
    if offset and size is not None:
        xmax, ymax = size[1] - offset, size[0] - offset
        box = [min(max(box[0], 0.0), xmax), min(max(box[1], 0.0), ymax),
               min(max(box[2], 0.0), xmax), min(max(box[3], 0.0), ymax)]
        if box[2] <= box[0] or box[3] <= box[1]:
            return None
    return box


def _load_detections(path: str, known: set[int], min_score: float, top_k: int | None, offset: float = 0.0,
                     sizes: dict[int, tuple[int, int]] | None = None) -> dict[int, list]:
    """COCO detection results -> {image_id: [[x1, y1, x2, y2, score], ...]} sorted by score (desc); boxes in the
    convention of ``offset``, clipped to the keyframe ``sizes`` (and dropped when empty) where given."""
    with open(path) as f:
        dets = json.load(f)
    if not isinstance(dets, list):
        raise ValueError(f"{path}: expected a COCO detection-result list [{{image_id, bbox, score}}, ...]")
    groups: dict[int, list] = defaultdict(list)
    degenerate = []
    for n, d in enumerate(dets):
        image_id = int(d["image_id"])
        score = float(d.get("score", 1.0))
        if image_id not in known or score < min_score:
            continue
        if not float(d["bbox"][2]) > 0 or not float(d["bbox"][3]) > 0:  # also NaN
            degenerate.append(n)  # a negative width would make an inverted box: left out, and said
            continue
        box = _xyxy(d["bbox"], offset, sizes[image_id] if sizes is not None else None)
        if box is not None:
            groups[image_id].append(box + [score])
    if degenerate:
        logger.warning("%s: %d detection(s) with a width or height <= 0 are left out (first: entry %d, bbox %s)",
                       path, len(degenerate), degenerate[0], dets[degenerate[0]]["bbox"])
    for image_id, rows in groups.items():
        rows.sort(key=lambda r: -r[4])
        if top_k is not None:
            del rows[top_k:]
    return groups


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
    ):
        from pycocotools.coco import COCO

        name = name or os.path.basename(ann_file)
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
        self.on_bad_sample = on_bad_sample
        self.name = name
        self.video_root = video_root
        self.ann_file = ann_file
        self.eval_file_paths = dict(eval_file_paths or {})
        self.frame_num, self.sample_rate = int(frame_num), int(sample_rate)
        self.is_train = is_train
        self.num_classes = int(num_classes)
        self.transforms = transforms

        with contextlib.redirect_stdout(io.StringIO()):
            coco = COCO(ann_file)
        image_ids = np.array(sorted(coco.getImgIds()), dtype=np.int64)
        known = set(int(i) for i in image_ids)
        offset = pixel_offset(box_convention)
        self.box_convention = box_convention
        # keyframe sizes, for AlphAction's clipping of the person boxes
        keyframe_sizes = {int(i): (int(img["height"]), int(img["width"])) for i, img in coco.imgs.items()} \
            if offset else None

        persons: dict[int, list] = defaultdict(list)
        labels: dict[int, list] = defaultdict(list)
        person_ids: dict[int, list] = defaultdict(list)
        if is_train or not box_file:
            for ann in coco.dataset.get("annotations", []):
                ids = np.asarray(ann.get("action_ids", []), dtype=np.int64)
                bad = ids[(ids < 1) | (ids > self.num_classes)]
                if is_train and bad.size:
                    raise ValueError(
                        f"{ann_file}: annotation id {ann.get('id')} has action ids {bad.tolist()} outside "
                        f"1..{self.num_classes} (MODEL.ROI_ACTION_HEAD.NUM_CLASSES); fix the annotation or "
                        "the number of classes."
                    )
                box = _xyxy(ann["bbox"], offset, keyframe_sizes[int(ann["image_id"])] if offset else None)
                if box is None:  # left empty by clipping ("alphaction"): AlphAction drops it with its labels
                    continue
                persons[int(ann["image_id"])].append(box + [1.0])
                person_ids[int(ann["image_id"])].append([int(ann.get("person_id", -1))])
                hot = np.zeros(self.num_classes, dtype=bool)
                hot[ids[(ids >= 1) & (ids <= self.num_classes)] - 1] = True
                labels[int(ann["image_id"])].append(np.packbits(hot))
        if not is_train:
            labels = {}
            if box_file:
                _require_file(box_file, "box_file", name)
                persons = _load_detections(box_file, known, box_thresh, None, offset, keyframe_sizes)
                person_ids = {}
            else:
                logger.warning("dataset %r: no box_file; testing on the ground-truth boxes", name)

        # keyframes without persons are skipped (AlphAction: train without GT, test without detections)
        keep = np.array([len(persons.get(int(i), ())) > 0 for i in image_ids], dtype=bool)
        image_ids = image_ids[keep]
        if len(image_ids) == 0:
            raise ValueError(
                f"dataset {name!r}: no keyframe of {ann_file} has a person box"
                + ("" if is_train or not box_file else f" scoring >= {box_thresh} in {box_file}")
            )
        self._image_ids = image_ids

        ptr, rows = _pack(persons, image_ids, 5)
        self._box_ptr = ptr
        self._boxes = rows[:, :4].astype(np.float32)
        self._scores = rows[:, 4].astype(np.float32)
        # the annotation's person_id of every ground-truth box (AVA's entity id), -1 for detected boxes
        self._person_ids = _pack(person_ids, image_ids, 1)[1][:, 0].astype(np.int64) if person_ids else \
            np.full(len(self._boxes), -1, dtype=np.int64)
        nbytes = (self.num_classes + 7) // 8
        if is_train:
            self._labels = np.concatenate(
                [np.stack(labels[int(i)]) for i in image_ids]
            ).astype(np.uint8).reshape(-1, nbytes)
        else:
            self._labels = None

        objects: dict[int, list] = {}
        if max_objects > 0:
            if object_file:
                _require_file(object_file, "object_file", name)
                # objects are not clipped (AlphAction's get_objects converts them only)
                objects = _load_detections(object_file, known, float("-inf"), max_objects, offset)
            else:
                logger.warning("dataset %r: max_objects=%d but no object_file; objects are empty", name, max_objects)
        ptr, rows = _pack(objects, image_ids, 5)
        self._obj_ptr = ptr
        self._objects = rows[:, :4].astype(np.float32)

        imgs = coco.imgs
        movies, folders, timestamps, sizes = [], [], [], []
        for i in image_ids:
            img = imgs[int(i)]
            video_path = img.get("video_path", "")
            folder = os.path.dirname(video_path) or str(img["movie"])
            movies.append(str(img.get("movie", folder)))
            folders.append(folder)
            timestamps.append(int(img["timestamp"]))
            sizes.append((int(img["height"]), int(img["width"])))
        uniq, self._video_index = np.unique(np.array(movies), return_inverse=True)
        self._video_index = self._video_index.astype(np.int32)
        self._video_ids = np.char.encode(uniq.astype(str), "utf-8")  # fixed-width bytes, no refcounts
        folder_of = dict(zip(movies, folders))
        self._video_dirs = np.char.encode(np.array([folder_of[m] for m in uniq.astype(str)]), "utf-8")
        self._timestamps = np.asarray(timestamps, dtype=np.int32)
        self._sizes = np.asarray(sizes, dtype=np.int32).reshape(-1, 2)
        del coco
        self._rng_pid, self._rng_gen = None, None

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
        return self._person_ids[self._box_ptr[index]:self._box_ptr[index + 1]].copy()

    def aspect_ratio_groups(self) -> np.ndarray:
        """0 for landscape keyframes (h < w), 1 for portrait or square (AlphAction's bins ``[1]``)."""
        return (self._sizes[:, 0] >= self._sizes[:, 1]).astype(np.int64)

    def _rng(self) -> np.random.Generator:
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

        out = self.transforms(frames, boxes, objects, box_size=(h, w), rng=self._rng())
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
