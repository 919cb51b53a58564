"""Writing a whole synthetic dataset in AlphAction's layout (see docs/internals.md), atomically.

Every video is made from its own seed (``SeedSequence([seed, split, index])``), so videos can be rendered in
any order or in parallel and the result depends on the seed only.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import multiprocessing
import os
import shutil
import time
from concurrent.futures import ProcessPoolExecutor
from typing import Any, Callable, Iterator

import numpy as np
from tqdm import tqdm

from ...utils.progress import bar_disable
from .plan import (
    ACTION_IDS,
    ACTION_NAMES,
    FPS,
    MEMORY_CLASSES,
    OBJECT_CLASSES,
    PERSON_CLASSES,
    POSE_CLASSES,
    make_actors,
)
from .render import ENCODER_OPTIONS, render_video

logger = logging.getLogger(__name__)

FORMAT_VERSION = 3  # bump when the files written here change, so ensure_synthetic_dataset regenerates
SPLITS = ("train", "val")
SIZES = {
    # frame size, videos per split, seconds per video
    "tiny": {"width": 128, "height": 96, "videos": {"train": 2, "val": 1}, "seconds": 5, "excluded": 1},
    "default": {"width": 192, "height": 144, "videos": {"train": 32, "val": 12}, "seconds": 10, "excluded": 2},
    # the default's videos, 4x / 2x as many: enough "rest" examples for the IA memory ablation (docs/IA.md)
    "large": {"width": 192, "height": 144, "videos": {"train": 128, "val": 24}, "seconds": 10, "excluded": 2},
    # a test set only (no train videos): 160 val videos, ~10x the default val split's interaction and "rest" boxes,
    # so that group mAPs differing by a few points can be told apart. Its first 12 / 24 videos are the default /
    # large val videos (same seeds); none is a train video of any size.
    "test": {"width": 192, "height": 144, "videos": {"train": 0, "val": 160}, "seconds": 10, "excluded": 4},
}
_OURS = {"clips", "keyframes", "annotations", "boxes", "DONE.json"}


def _clip_box(box, width: int, height: int):
    x1, y1, x2, y2 = box
    return max(0.0, x1), max(0.0, y1), min(float(width), x2), min(float(height), y2)


def _jitter(rng: np.random.Generator, box, sigma: float, width: int, height: int):
    x1, y1, x2, y2 = box
    w, h = x2 - x1, y2 - y1
    d = rng.normal(0.0, sigma, 4) * np.array([w, h, w, h])
    return _clip_box((x1 + d[0], y1 + d[1], x2 + d[2], y2 + d[3]), width, height)


def _person_detections(rng, persons: list[dict], width: int, height: int) -> list[tuple]:
    """Jittered true boxes (rarely missed, more often when hidden) plus false positives of mixed score."""
    dets = []
    for p in persons:
        if rng.random() < 0.03 + (0.3 if p["visible"] < 0.4 else 0.0):
            continue
        score = rng.uniform(0.85, 1.0) if p["visible"] >= 0.5 else rng.uniform(0.6, 0.98)
        dets.append((_jitter(rng, p["box"], 0.04, width, height), score))
    scale = height / 144.0
    for _ in range(int(rng.poisson(0.6))):
        h = rng.uniform(40, 90) * scale
        w = h * rng.uniform(0.3, 0.55)
        x, y = rng.uniform(0, width - w), rng.uniform(0, height - h)
        score = rng.uniform(0.8, 0.95) if rng.random() < 0.25 else rng.uniform(0.05, 0.8)
        dets.append(((x, y, x + w, y + h), score))
    return dets


def _object_detections(rng, objects: list, width: int, height: int) -> list[tuple]:
    dets = []
    for box in objects:
        box = _jitter(rng, box, 0.06, width, height)
        if (box[2] - box[0]) < 2 or (box[3] - box[1]) < 2 or rng.random() < 0.05:
            continue  # left the frame or missed
        dets.append((box, rng.uniform(0.5, 1.0)))
    for _ in range(int(rng.poisson(0.3))):
        s = rng.uniform(0.04, 0.08) * height
        x, y = rng.uniform(0, width - s), rng.uniform(0, height - s)
        dets.append(((x, y, x + s, y + s), rng.uniform(0.05, 0.6)))
    return dets


def _make_video(job: tuple) -> dict:
    """Render one video into ``tmp_root`` and return its keyframe records (runs in a worker process)."""
    tmp_root, video_id, seed_words, spec = job
    plan_ss, render_ss, det_ss = np.random.SeedSequence(list(seed_words)).spawn(3)
    width, height, num_seconds = spec["width"], spec["height"], spec["seconds"]
    actors = make_actors(np.random.default_rng(plan_ss), num_seconds, width, height)
    seconds = render_video(
        actors,
        np.random.default_rng(render_ss),
        num_seconds,
        width,
        height,
        os.path.join(tmp_root, "clips", video_id),
        os.path.join(tmp_root, "keyframes", video_id),
    )
    det_rng = np.random.default_rng(det_ss)
    keyframes = []
    for record in seconds[1 : num_seconds - 1]:  # a full clip before and after every annotated second
        persons = [dict(p, box=_clip_box(p["box"], width, height)) for p in record["persons"]]
        keyframes.append(
            {
                "second": record["second"],
                "persons": persons,
                "person_dets": _person_detections(det_rng, persons, width, height),
                "object_dets": _object_detections(det_rng, record["objects"], width, height),
            }
        )
    return {"video_id": video_id, "keyframes": keyframes}


def _xywh(box) -> list[float]:
    x1, y1, x2, y2 = box
    return [round(x1, 2), round(y1, 2), round(x2 - x1, 2), round(y2 - y1, 2)]


def _write_split(root: str, split: str, videos: list[dict], spec: dict, excluded: list[tuple[str, int]]) -> dict:
    width, height = spec["width"], spec["height"]
    images, annotations, csv_rows, person_dets, object_dets = [], [], [], [], []
    counts = {name: 0 for name in ACTION_NAMES}
    for video in videos:
        vid = video["video_id"]
        for kf in video["keyframes"]:
            image_id = len(images) + 1
            sec = kf["second"]
            images.append(
                {
                    "id": image_id,
                    "video_path": f"{vid}/{sec}.mp4",
                    "img_path": f"{vid}/{sec}.jpg",
                    "height": height,
                    "width": width,
                    "movie": vid,
                    "timestamp": sec,
                }
            )
            for p in kf["persons"]:
                bbox = _xywh(p["box"])
                ids = sorted(p["action_ids"])
                annotations.append(
                    {
                        "id": len(annotations) + 1,
                        "image_id": image_id,
                        "category_id": 1,
                        "action_ids": ids,
                        "person_id": p["person_id"],
                        "bbox": bbox,
                        "area": round(bbox[2] * bbox[3], 2),
                        "iscrowd": 0,
                    }
                )
                x1, y1, x2, y2 = bbox[0], bbox[1], bbox[0] + bbox[2], bbox[1] + bbox[3]
                for aid in ids:
                    counts[ACTION_NAMES[aid - 1]] += 1
                    csv_rows.append(
                        f"{vid},{sec:04d},{x1 / width:.3f},{y1 / height:.3f},{x2 / width:.3f},"
                        f"{y2 / height:.3f},{aid},{p['person_id']}"
                    )
            for box, score in kf["person_dets"]:
                person_dets.append(
                    {"image_id": image_id, "bbox": _xywh(box), "score": round(float(score), 4), "category_id": 1}
                )
            for box, score in kf["object_dets"]:
                object_dets.append(
                    {"image_id": image_id, "bbox": _xywh(box), "score": round(float(score), 4), "category_id": 1}
                )
    ann = {
        "images": images,
        "annotations": annotations,
        "categories": [{"id": 1, "name": "person", "supercategory": "person"}],
    }
    _dump_json(os.path.join(root, "annotations", f"{split}.json"), ann)
    _write_text(os.path.join(root, "annotations", f"{split}.csv"), csv_rows)
    _write_text(
        os.path.join(root, "annotations", f"{split}_excluded_timestamps.csv"),
        [f"{vid},{sec:04d}" for vid, sec in excluded],
    )
    _dump_json(os.path.join(root, "boxes", f"{split}_person_bbox.json"), person_dets)
    _dump_json(os.path.join(root, "boxes", f"{split}_object_bbox.json"), object_dets)
    return {
        "videos": len(videos),
        "keyframes": len(images),
        "boxes": len(annotations),
        "actions": counts,
        "excluded_timestamps": len(excluded),
        "person_detections": len(person_dets),
        "object_detections": len(object_dets),
    }


def _dump_json(path: str, obj) -> None:
    with open(path, "w", encoding="utf-8") as f:
        json.dump(obj, f)


def _write_text(path: str, lines: list[str]) -> None:
    with open(path, "w", encoding="utf-8") as f:
        f.write("".join(line + "\n" for line in lines))


def label_map_text() -> str:
    """The ``action_list.pbtxt`` contents (AVA's ``item { name id label_type }`` form), ids 1-based in group order;
    ``label_type`` gives the head's groups (the resting-after-a-run memory class counts with the interactions).
    It came without a FORMAT_VERSION bump: every reader treats it as optional, so older datasets stay valid (the
    config generator then asks for the groups)."""

    def kind(name: str) -> str:
        return (
            "PERSON_MOVEMENT"
            if name in POSE_CLASSES
            else "OBJECT_MANIPULATION"
            if name in OBJECT_CLASSES
            else "PERSON_INTERACTION"
        )

    return "".join(
        f'item {{\n  name: "{name}"\n  id: {ACTION_IDS[name]}\n  label_type: {kind(name)}\n}}\n'
        for name in ACTION_NAMES
    )


def _check_replaceable(root: str) -> None:
    if os.path.isdir(root) and not set(os.listdir(root)) <= _OURS:
        raise FileExistsError(
            f"{root} exists and holds files that are not a synthetic dataset "
            f"({sorted(set(os.listdir(root)) - _OURS)}); "
            "refusing to replace it: pick an empty or new --root"
        )


def _done_matches(root: str, size: str, seed: int, format_version: int = FORMAT_VERSION) -> bool:
    """Whether ``root/DONE.json`` marks a finished dataset of this size, seed and format version."""
    try:
        with open(os.path.join(root, "DONE.json"), encoding="utf-8") as f:
            done = json.load(f)
    except (OSError, ValueError):
        return False
    return done.get("format_version") == format_version and done.get("size") == size and done.get("seed") == seed


def make_synthetic_dataset(
    root: str, size: str = "default", seed: int = 0, progress: bool = True, workers: int | None = None
) -> dict:
    """Generate the dataset into ``root`` (replacing an earlier synthetic dataset there) and return its stats.

    Everything is written to a temporary folder next to ``root`` that is renamed into place at the end, with
    ``DONE.json`` written last, so an interrupted run never leaves a dataset that looks complete.

    Args:
        root: output folder (``clips/``, ``keyframes/``, ``annotations/``, ``boxes/``, ``DONE.json``).
        size: ``"tiny"`` (tests, a few seconds), ``"default"``, ``"large"`` (the IA ablation) or ``"test"``
            (160 val videos, no train split: a low-noise test set).
        seed: same seed -> identical annotations, box files and video bytes.
        progress: show a tqdm bar over videos.
        workers: processes rendering videos; default 1 for ``tiny``, else up to 2.
    Returns:
        The ``stats`` dict also stored in ``DONE.json`` (per split: videos, keyframes, boxes, actions per class, ...).
    """
    if size not in SIZES:
        raise ValueError(f"unknown synthetic dataset size '{size}'; expected one of {sorted(SIZES)}")
    spec = SIZES[size]
    root = os.path.abspath(root)
    _check_replaceable(root)
    start = time.perf_counter()
    # an existing root is checked again right before the swap: it may have changed while we rendered
    with staging_folder(root, before_swap=lambda: _check_replaceable(root)) as tmp:
        for sub in ("annotations", "boxes", "clips", "keyframes"):
            os.makedirs(os.path.join(tmp, sub))
        jobs = [
            (tmp, f"syn_{split}_{i:03d}", (seed, s, i), spec)
            for s, split in enumerate(SPLITS)
            for i in range(spec["videos"][split])
        ]
        if workers is None:
            workers = 1 if size == "tiny" else min(2, os.cpu_count() or 1)
        videos = list(
            tqdm(
                map_jobs(_make_video, jobs, workers),
                total=len(jobs),
                desc=f"synthetic {size}",
                disable=bar_disable(progress),
            )
        )
        with open(os.path.join(tmp, "annotations", "action_list.pbtxt"), "w", encoding="utf-8") as f:
            f.write(label_map_text())
        excl_rng = np.random.default_rng(np.random.SeedSequence([seed, 99]))
        stats = {}
        for split in SPLITS:
            split_videos = [v for v in videos if v["video_id"].startswith(f"syn_{split}_")]
            excluded: list[tuple[str, int]] = []
            if split == "val":
                candidates = [(v["video_id"], kf["second"]) for v in split_videos for kf in v["keyframes"]]
                picks = excl_rng.choice(len(candidates), size=min(spec["excluded"], len(candidates)), replace=False)
                excluded = sorted(candidates[int(i)] for i in picks)
            stats[split] = _write_split(tmp, split, split_videos, spec, excluded)
        seconds = round(time.perf_counter() - start, 2)
        done = {
            "format_version": FORMAT_VERSION,
            "size": size,
            "seed": seed,
            "width": spec["width"],
            "height": spec["height"],
            "fps": FPS,
            "seconds_per_video": spec["seconds"],
            "classes": list(ACTION_NAMES),
            "num_classes": {
                "pose": len(POSE_CLASSES),
                "object": len(OBJECT_CLASSES),
                "person": len(PERSON_CLASSES),
                "memory": len(MEMORY_CLASSES),
            },
            "encoder": ENCODER_OPTIONS,
            "stats": stats,
            "generation_seconds": seconds,
        }
        _dump_json(os.path.join(tmp, "DONE.json"), done)
    logger.info("synthetic dataset '%s' (seed %d) written to %s in %.1f s", size, seed, root, seconds)
    return stats


def swap_into_place(tmp: str, root: str) -> None:
    """Move the finished folder ``tmp`` to ``root``, replacing an older ``root`` with two renames, so that
    ``root`` is never a half-written dataset."""
    if os.path.isdir(root):
        old = os.path.join(os.path.dirname(root), f".{os.path.basename(root)}.old-{os.getpid()}")
        os.rename(root, old)
        os.rename(tmp, root)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.rename(tmp, root)


@contextlib.contextmanager
def staging_folder(root: str, before_swap: Callable[[], None] | None = None) -> Iterator[str]:
    """A fresh temporary folder next to ``root`` to write a whole dataset into (the synthetic sets share it).

    When the ``with`` body finishes, ``before_swap()`` (if given) runs and the folder replaces ``root``
    (:func:`swap_into_place`); an exception leaves ``root`` as it was. The temporary folder never outlives the
    ``with``.
    """
    parent, name = os.path.split(os.path.abspath(root))
    os.makedirs(parent, exist_ok=True)
    tmp = os.path.join(parent, f".{name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(tmp)
    try:
        yield tmp
        if before_swap is not None:
            before_swap()
        swap_into_place(tmp, os.path.abspath(root))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def map_jobs(fn: Callable[[Any], Any], jobs: list, workers: int, chunksize: int = 1) -> Iterator:
    """``fn`` over ``jobs`` in order, in ``workers`` processes when more than one (``fn`` must be a module-level
    function: the workers import it)."""
    if workers <= 1 or len(jobs) <= 1:
        yield from map(fn, jobs)
        return
    # spawn, not fork: the caller may hold torch / OpenMP threads that a forked child would inherit locked
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        yield from pool.map(fn, jobs, chunksize=chunksize)


@contextlib.contextmanager
def _lock(root: str):
    parent, name = os.path.split(os.path.abspath(root))
    os.makedirs(parent, exist_ok=True)
    with open(os.path.join(parent, f".{name}.lock"), "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)  # several ranks / processes may ask for the same dataset at once
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def ensure_generated(root: str, size: str, seed: int, format_version: int, make) -> None:
    """Call ``make(root, size, seed)`` unless ``root/DONE.json`` already records this size, seed and format
    version; one process generates while the others wait on a lock (the synthetic sets share this)."""
    if _done_matches(root, size, seed, format_version):
        return
    with _lock(root):
        if not _done_matches(root, size, seed, format_version):  # another process may have finished meanwhile
            make(root, size, seed)


def ensure_synthetic_dataset(root: str, size: str = "default", seed: int = 0, progress: bool = True) -> None:
    """Generate the dataset unless ``root/DONE.json`` already records this size, seed and format version."""
    ensure_generated(
        root, size, seed, FORMAT_VERSION, lambda r, z, s: make_synthetic_dataset(r, z, s, progress=progress)
    )
