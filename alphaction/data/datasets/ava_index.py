"""The index of an AVA-style dataset (boxes, labels, keyframes as flat arrays), built with numpy and cached on disk.

Building: the annotation JSON is read once into columns (``ava_json``) and every per-box step (COCO ``xywh`` to
``xyxy`` in the box convention, clipping, multi-hot labels, score order and top-k of detections, grouping by
keyframe) is a vectorised operation, in the order the per-box loops of earlier versions (and AlphAction's
dataset) gave.

Caching: the arrays are written as ``.npy`` files in one folder per (source files, dataset arguments), next to the
annotation file (``<ann dir>/.alphaction_cache/<ann file>.<key>/``; ``$ALPHACTION_CACHE`` or ``~/.cache/alphaction``
when that folder is not writable). The key hashes each source file's path, size, modification time and content
(sha256) with the arguments, so an edited file is never read from a stale index. The folder is written under a
temporary name and renamed, so a reader sees a whole index or none. Readers memory-map the arrays: the ranks of
a ``torchrun`` job (and their data-loader workers) share one copy in the page cache instead of holding one each.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
from typing import Callable

import numpy as np

from .ava_json import BoxColumns, DetectionColumns, KeyframeColumns

logger = logging.getLogger(__name__)

__all__ = [
    "INDEX_VERSION",
    "build_index",
    "cached_index",
    "index_key",
    "keyframe_positions",
    "load_cached",
    "unique_keyframes",
]

INDEX_VERSION = 1  # bump when the arrays or their meaning change: older caches are then never read
CACHE_FOLDER = ".alphaction_cache"


def _xyxy(bbox: np.ndarray, offset: float, sizes: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """COCO ``[N, 4]`` xywh -> (xyxy ``[N, 4]`` in the convention whose ``+1`` is ``offset``, kept ``[N]``).

    With ``sizes`` (``[N, 2]`` height, width) and an offset, boxes are clipped to ``[0, W - 1] x [0, H - 1]`` and the
    ones left empty are not kept (AlphAction's ``clip_to_image(remove_empty=True)``)."""
    x, y, w, h = bbox.T
    out = np.stack([x, y, x + np.maximum(w - offset, 0.0), y + np.maximum(h - offset, 0.0)], axis=1)
    keep = np.ones(len(out), bool)
    if offset and sizes is not None:
        hi = np.stack([sizes[:, 1], sizes[:, 0], sizes[:, 1], sizes[:, 0]], axis=1).astype(np.float64) - offset
        out = np.minimum(np.maximum(out, 0.0), hi)
        keep = (out[:, 2] > out[:, 0]) & (out[:, 3] > out[:, 1])
    return out, keep


def unique_keyframes(keyframes: KeyframeColumns) -> tuple[np.ndarray, np.ndarray]:
    """(sorted unique image ids, the row of ``keyframes`` that defines each: the last one with that id)."""
    order = np.argsort(keyframes.ids, kind="stable")
    ids = keyframes.ids[order]
    last = np.ones(len(ids), bool)
    last[:-1] = ids[1:] != ids[:-1]
    return ids[last], order[last]


def keyframe_positions(image_ids: np.ndarray, wanted: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Position of each of ``wanted`` in the sorted ``image_ids`` and whether it is there."""
    pos = np.searchsorted(image_ids, wanted)
    pos = np.minimum(pos, max(len(image_ids) - 1, 0))
    found = image_ids[pos] == wanted if len(image_ids) else np.zeros(len(wanted), bool)
    return pos, found


def _detections(
    dets: DetectionColumns,
    path: str,
    image_ids: np.ndarray,
    sizes: np.ndarray,
    min_score: float,
    top_k: int | None,
    offset: float,
    clip: bool,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Detections of known keyframes scoring >= ``min_score`` -> (keyframe position, xyxy, score), grouped by
    keyframe, highest score first (ties in file order), at most ``top_k`` per keyframe."""
    pos, found = keyframe_positions(image_ids, dets.image_id)
    take = np.flatnonzero(found & (dets.score >= min_score))
    w, h = dets.bbox[take, 2], dets.bbox[take, 3]
    degenerate = ~((w > 0) & (h > 0))  # also NaN
    if degenerate.any():
        first = int(take[np.flatnonzero(degenerate)[0]])
        logger.warning(
            "%s: %d detection(s) with a width or height <= 0 are left out (first: entry %d, bbox %s)",
            path,
            int(degenerate.sum()),
            first,
            dets.bbox[first].tolist(),
        )
        take = take[~degenerate]
    boxes, keep = _xyxy(dets.bbox[take], offset, sizes[pos[take]] if clip else None)
    take, boxes = take[keep], boxes[keep]
    order = np.lexsort((-dets.score[take], pos[take]))  # stable: equal scores keep their file order
    take, boxes = take[order], boxes[order]
    where = pos[take]
    if top_k is not None and len(where):
        starts = np.r_[0, np.flatnonzero(where[1:] != where[:-1]) + 1]
        rank = np.arange(len(where)) - np.repeat(starts, np.diff(np.r_[starts, len(where)]))
        keep = rank < top_k
        take, boxes, where = take[keep], boxes[keep], where[keep]
    return where, boxes, dets.score[take]


def _pointers(where: np.ndarray, kept: np.ndarray, count: int) -> np.ndarray:
    """Row pointers ``[K + 1]`` for rows grouped by keyframe position ``where`` (sorted), over the kept keyframes."""
    per = np.bincount(where, minlength=count)[kept]
    ptr = np.zeros(len(per) + 1, np.int64)
    np.cumsum(per, out=ptr[1:])
    return ptr


def build_index(
    keyframes: KeyframeColumns,
    boxes: BoxColumns | None,
    detections: DetectionColumns | None,
    objects: DetectionColumns | None,
    *,
    is_train: bool,
    box_thresh: float,
    num_classes: int,
    max_objects: int,
    offset: float,
    ann_file: str,
    box_file: str = "",
    object_file: str = "",
) -> dict[str, np.ndarray]:
    """The dataset's arrays (see ``AVAVideoDataset``): person boxes from the annotations (training, or testing
    without ``detections``) or from ``detections`` scoring >= ``box_thresh``; keyframes without a person box left
    out; up to ``max_objects`` objects per keyframe."""
    image_ids, rows = unique_keyframes(keyframes)
    sizes = np.stack([keyframes.height[rows], keyframes.width[rows]], axis=1).astype(np.int64)
    n_images = len(image_ids)
    if is_train or detections is None:
        pos, found = keyframe_positions(image_ids, boxes.image_id)
        counts = np.diff(boxes.action_ptr)
        owner = np.repeat(np.arange(len(boxes)), counts)
        ids = boxes.action_ids
        valid = (ids >= 1) & (ids <= num_classes)
        if is_train and not valid.all():
            n = int(owner[np.flatnonzero(~valid)[0]])
            bad = ids[boxes.action_ptr[n] : boxes.action_ptr[n + 1]]
            raise ValueError(
                f"{ann_file}: annotation id {int(boxes.ids[n])} has action ids "
                f"{bad[(bad < 1) | (bad > num_classes)].tolist()} outside 1..{num_classes} "
                "(MODEL.ROI_ACTION_HEAD.NUM_CLASSES); fix the annotation or the number of classes."
            )
        xyxy, keep = _xyxy(boxes.bbox, offset, sizes[pos] if offset else None)
        take = np.flatnonzero(found & keep & boxes.bbox_ok)
        take = take[np.argsort(pos[take], kind="stable")]  # grouped by keyframe, file order within one
        where, person_boxes, scores = pos[take], xyxy[take], np.ones(len(take))
        person_ids = boxes.person_id[take]
        labels = None
        if is_train:
            hot = np.zeros((len(boxes), num_classes), bool)
            hot[owner[valid], ids[valid] - 1] = True
            labels = np.packbits(hot[take], axis=1)
    else:
        where, person_boxes, scores = _detections(
            detections, box_file, image_ids, sizes, box_thresh, None, offset, clip=bool(offset)
        )
        person_ids = np.full(len(where), -1, np.int64)
        labels = None
    has_person = np.bincount(where, minlength=n_images) > 0
    kept = np.flatnonzero(has_person)
    index = {
        "image_ids": image_ids[kept],
        "box_ptr": _pointers(where, kept, n_images),
        "boxes": person_boxes.astype(np.float32).reshape(-1, 4),
        "scores": scores.astype(np.float32),
        "person_ids": person_ids.astype(np.int64),
    }
    if labels is not None:
        index["labels"] = labels.astype(np.uint8).reshape(len(person_boxes), (num_classes + 7) // 8)
    if objects is not None and max_objects > 0:
        # objects are not clipped (AlphAction's get_objects converts them only)
        where, obj_boxes, _ = _detections(
            objects, object_file, image_ids, sizes, float("-inf"), max_objects, offset, clip=False
        )
        keep = has_person[where]
        where, obj_boxes = where[keep], obj_boxes[keep]
    else:
        where, obj_boxes = np.zeros(0, np.int64), np.zeros((0, 4))
    index["obj_ptr"] = _pointers(where, kept, n_images)
    index["objects"] = obj_boxes.astype(np.float32).reshape(-1, 4)

    movies, folders = keyframes.movie[rows[kept]], keyframes.folder[rows[kept]]
    uniq, video_index = np.unique(movies, return_inverse=True)
    folder_of = dict(zip(movies.tolist(), folders.tolist()))  # the last keyframe's folder, as before
    index["video_index"] = video_index.astype(np.int32).reshape(-1)
    index["video_ids"] = np.char.encode(uniq.astype(str), "utf-8") if len(uniq) else np.zeros(0, "S1")
    index["video_dirs"] = (
        np.char.encode(np.array([folder_of[m] for m in uniq.tolist()], dtype=str), "utf-8")
        if len(uniq)
        else np.zeros(0, "S1")
    )
    index["timestamps"] = keyframes.timestamp[rows[kept]].astype(np.int32)
    index["sizes"] = sizes[kept].astype(np.int32).reshape(-1, 2)
    return index


def _file_signature(path: str) -> dict:
    st = os.stat(path)
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 24):
            digest.update(chunk)
    return {"path": os.path.abspath(path), "size": st.st_size, "mtime_ns": st.st_mtime_ns, "sha256": digest.hexdigest()}


def index_key(sources: list[str], params: dict) -> tuple[str, list[dict]]:
    """(key, source signatures): the key of an index built from the files ``sources`` with ``params``."""
    signatures = [_file_signature(p) for p in sources if p]
    text = json.dumps({"version": INDEX_VERSION, "sources": signatures, "params": params}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:20], signatures


def _cache_roots(ann_file: str) -> list[str]:
    user = os.environ.get("ALPHACTION_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "alphaction")
    return [os.path.join(os.path.dirname(os.path.abspath(ann_file)), CACHE_FOLDER), os.path.join(user, "index")]


def _load(folder: str, key: str) -> dict[str, np.ndarray] | None:
    try:
        with open(os.path.join(folder, "meta.json"), encoding="utf-8") as f:
            meta = json.load(f)
        if meta.get("key") != key or meta.get("version") != INDEX_VERSION:
            return None
        out = {}
        for name in meta["arrays"]:
            path = os.path.join(folder, f"{name}.npy")
            # an empty array cannot be memory-mapped
            out[name] = np.load(path, mmap_mode="r") if os.path.getsize(path) > 128 else np.load(path)
        return out
    except (OSError, ValueError, KeyError):
        return None


def _changed(source: dict) -> bool:
    """Whether the file of a recorded source signature is gone or has another size or modification time."""
    try:
        st = os.stat(source["path"])
    except FileNotFoundError:
        return True
    return st.st_size != source["size"] or st.st_mtime_ns != source["mtime_ns"]


def _prune(root: str, base: str, keep: str) -> None:
    """Remove the cached indexes of ``base`` whose source files have changed since (never readable again)."""
    try:
        names = [
            n for n in os.listdir(root) if n.startswith(base + ".") and n != os.path.basename(keep) and ".tmp" not in n
        ]
    except OSError:
        return
    for n in names:
        folder = os.path.join(root, n)
        try:
            with open(os.path.join(folder, "meta.json"), encoding="utf-8") as f:
                sources = json.load(f)["sources"]
            stale = any(_changed(s) for s in sources)
        except (OSError, ValueError, KeyError, TypeError):
            continue
        if stale:
            shutil.rmtree(folder, ignore_errors=True)


def _save(root: str, base: str, key: str, signatures: list[dict], arrays: dict[str, np.ndarray]) -> str:
    os.makedirs(root, exist_ok=True)
    final = os.path.join(root, f"{base}.{key}")
    tmp = f"{final}.tmp{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(tmp)
    try:
        for name, array in arrays.items():
            np.save(os.path.join(tmp, f"{name}.npy"), np.ascontiguousarray(array))
        meta = {"version": INDEX_VERSION, "key": key, "sources": signatures, "arrays": sorted(arrays)}
        with open(os.path.join(tmp, "meta.json"), "w", encoding="utf-8") as f:
            json.dump(meta, f, indent=1)
        try:
            os.rename(tmp, final)  # atomic: readers see the whole folder or none
        except OSError:
            if _load(final, key) is None:  # not another writer's complete copy: replace it
                shutil.rmtree(final, ignore_errors=True)
                os.rename(tmp, final)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    _prune(root, base, final)
    return final


def load_cached(folder: str, key: str) -> dict[str, np.ndarray]:
    """The arrays of the cache ``folder`` written under ``key`` (memory-mapped); raises OSError when gone."""
    arrays = _load(folder, key)
    if arrays is None:
        raise OSError(f"the dataset index cache {folder} is gone or changed; build the dataset again")
    return arrays


def cached_index(
    ann_file: str, sources: list[str], params: dict, build: Callable[[], dict[str, np.ndarray]], enabled: bool = True
) -> tuple[dict[str, np.ndarray], str, tuple[str, str] | None]:
    """The index of ``params`` over ``sources`` (``sources[0]`` the annotation file): read (memory-mapped) from the
    cache when there, else ``build()`` and written to it. Returns (arrays, what happened: "cached" or "built",
    (cache folder, key) or None when not cached)."""
    if not enabled:
        return build(), "built", None
    key, signatures = index_key(sources, params)
    base = os.path.basename(ann_file)
    roots = _cache_roots(ann_file)
    for root in roots:
        arrays = _load(os.path.join(root, f"{base}.{key}"), key)
        if arrays is not None:
            folder = os.path.join(root, f"{base}.{key}")
            logger.info("index of %s read from the cache %s", ann_file, folder)
            return arrays, "cached", (folder, key)
    arrays = build()
    for root in roots:
        try:
            folder = _save(root, base, key, signatures, arrays)
        except OSError as e:
            logger.info("cannot write the dataset index cache in %s (%s)", root, e)
            continue
        loaded = _load(folder, key)
        if loaded is not None:
            logger.info("index of %s cached in %s", ann_file, folder)
            return loaded, "built", (folder, key)  # memory-mapped, so this rank shares the pages with the others
    logger.warning(
        "the index of %s could not be cached (no writable folder among %s); each process builds its own",
        ann_file,
        roots,
    )
    return arrays, "built", None
