"""A folder of videos -> MMAction2-style clip-classification lists (the logic behind
``tools/prepare_custom_dataset.py``; see docs/CLASSIFICATION.md).

Labels come from the file name's prefix (``walk_003.mp4`` -> ``walk``), the parent folder
(``walk/003.mp4`` -> ``walk``) or a CSV file (one row per video: a video column and a label column). Classes
are the sorted label names (numerically when every name is an integer), indexed from 0.

Every video is probed with PyAV (opened and its first frame decoded); unreadable ones are reported and left
out. The split is seeded: stratified, each class gives ``round(n_c * val_ratio)`` videos to validation (halves
round up) but keeps at least one for training; otherwise ``round(N * val_ratio)`` videos drawn from all.

Written under ``output_dir``: ``annotations/train_list.txt`` and ``val_list.txt`` (``path label`` lines, read
by ``VideoListDataset``), ``annotations/class_index.txt`` (``index name``), ``annotations/class_summary.csv``
(videos per class and split), ``annotations/skipped_videos.txt`` (what was left out and why) and
``catalog.yaml`` (entries ``<name>_train`` / ``<name>_val`` for ``DATASETS.CATALOG``). The user's videos are
never moved: by default the lists name them in place (paths relative to ``video_dir``); with
``organize_by_class`` (or ``copy_files``) ``videos_train/`` and ``videos_val/`` are made, holding relative
symbolic links (or copies) at ``<class>/<file name>`` (or at the video's own relative path).
"""

from __future__ import annotations

import csv
import logging
import os
import shutil
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
import yaml

from ...utils.errors import UserError
from ...utils.progress import bar_disable
from ..datasets.clip_sources import VIDEO_EXTENSIONS, listed_errors

logger = logging.getLogger(__name__)

__all__ = [
    "DatasetPrepError",
    "PreparedDataset",
    "find_videos",
    "labels_from_prefix",
    "labels_from_parent",
    "labels_from_csv",
    "probe_video",
    "sorted_class_names",
    "split_samples",
    "prepare_clip_dataset",
]

LIST_FILES = (
    "annotations/train_list.txt",
    "annotations/val_list.txt",
    "annotations/class_index.txt",
    "annotations/class_summary.csv",
    "annotations/skipped_videos.txt",
    "catalog.yaml",
)
VIDEO_FOLDERS = ("videos_train", "videos_val")


class DatasetPrepError(UserError, ValueError):
    """Input the preparation cannot use; the message names the file, row or option and what to do."""


@dataclass
class PreparedDataset:
    classes: list[str]
    train: list[tuple[str, int]]  # (path as written in train_list.txt, label index)
    val: list[tuple[str, int]]
    skipped: list[tuple[str, str]]  # (video path relative to video_dir, reason)
    counts: dict[str, tuple[int, int]] = field(default_factory=dict)  # class -> (train, val)
    written: list[str] = field(default_factory=list)  # files and folders made, relative to output_dir
    name: str = ""  # catalog entries <name>_train / <name>_val


def find_videos(video_dir: str, extensions: Sequence[str] = VIDEO_EXTENSIONS, exclude: str = "") -> list[str]:
    """Video files under ``video_dir`` (recursively, hidden entries and the ``exclude`` folder skipped), as
    sorted '/'-separated paths relative to ``video_dir``."""
    if not os.path.isdir(video_dir):
        raise DatasetPrepError(f"--video-dir: folder not found: {video_dir}")
    exts = tuple(e.lower() for e in extensions)
    exclude = os.path.abspath(exclude) if exclude else ""
    found = []
    for folder, dirs, files in os.walk(video_dir, followlinks=True):
        dirs[:] = sorted(
            d for d in dirs if not d.startswith(".") and os.path.abspath(os.path.join(folder, d)) != exclude
        )
        rel = os.path.relpath(folder, video_dir)
        for name in files:
            if not name.startswith(".") and name.lower().endswith(exts):
                found.append(name if rel == "." else f"{rel}/{name}".replace(os.sep, "/"))
    return sorted(found)


def labels_from_prefix(videos: Sequence[str], separator: str = "_") -> dict[str, str]:
    """``video -> the file name's text before the first separator``; one error lists every name without it."""
    labels, bad = {}, []
    for v in videos:
        stem = os.path.splitext(os.path.basename(v))[0]
        prefix, sep, _ = stem.partition(separator)
        if not sep or not prefix:
            bad.append(v)
        labels[v] = prefix
    if bad:
        raise listed_errors(
            bad,
            f"{len(bad)} video name(s) do not start with '<class>{separator}': rename them, "
            f"set --prefix-sep, or use --label-extractor parent / --label-csv",
        )
    return labels


def labels_from_parent(videos: Sequence[str]) -> dict[str, str]:
    """``video -> its parent folder's name``; videos directly in the video folder are an error."""
    bad = [v for v in videos if "/" not in v]
    if bad:
        raise listed_errors(
            bad,
            f"{len(bad)} video(s) lie directly in --video-dir, outside any class folder "
            "(expected <video-dir>/.../<class>/<video>)",
        )
    return {v: v.rsplit("/", 2)[-2] for v in videos}


def labels_from_csv(
    csv_path: str, video_col: str, label_col: str, videos: Sequence[str]
) -> tuple[dict[str, str], list[str]]:
    """``({video: label}, unmatched rows)`` from a CSV with a header row. A row's video is matched to a found
    video by its relative path, its file name or its file name without extension. Rows naming no found video
    come back as ``'file:line: ...'`` messages; found videos without a row are simply absent from the labels.
    Empty, ambiguous or conflicting rows raise, all listed at once."""
    if not os.path.isfile(csv_path):
        raise DatasetPrepError(f"--label-csv: file not found: {csv_path}")
    by_key: dict[str, list[str]] = {}
    for v in videos:
        base = os.path.basename(v)
        for key in {v, base, os.path.splitext(base)[0]}:
            by_key.setdefault(key, []).append(v)
    labels, where, problems, errors = {}, {}, [], []
    with open(csv_path, newline="", encoding="utf-8-sig") as f:
        reader = csv.DictReader(f)
        missing = [c for c in (video_col, label_col) if c not in (reader.fieldnames or [])]
        if missing:
            raise DatasetPrepError(
                f"{csv_path}: no column(s) {missing} (header: {reader.fieldnames}); set --video-col / --label-col"
            )
        for number, row in enumerate(reader, 2):
            key, label = (row[video_col] or "").strip().replace("\\", "/"), (row[label_col] or "").strip()
            if not key or not label:
                errors.append(f"{csv_path}:{number}: empty {video_col!r} or {label_col!r}")
                continue
            matches = by_key.get(key, [])
            if not matches:
                problems.append(f"{csv_path}:{number}: no video {key!r} under --video-dir")
            elif len(matches) > 1:
                errors.append(
                    f"{csv_path}:{number}: {key!r} matches {len(matches)} videos ({', '.join(matches[:3])}); "
                    "give the path relative to --video-dir"
                )
            elif matches[0] in labels and labels[matches[0]] != label:
                errors.append(
                    f"{csv_path}:{number}: {matches[0]} labelled {label!r}, but {labels[matches[0]]!r} "
                    f"on line {where[matches[0]]}"
                )
            else:
                labels[matches[0]], where[matches[0]] = label, number
    if errors:
        raise listed_errors(errors, f"{len(errors)} bad row(s) in the label CSV {csv_path}")
    return labels, problems


def probe_video(path: str) -> str:
    """'' when PyAV opens ``path`` and decodes a first video frame, else the reason."""
    import av

    try:
        with av.open(path) as container:
            if not container.streams.video:
                return "no video stream"
            for _ in container.decode(video=0):
                return ""
            return "no video frames"
    except (av.error.FFmpegError, OSError, ValueError, IndexError) as e:
        return f"cannot decode ({e})"


def sorted_class_names(names: Sequence[str]) -> list[str]:
    """Distinct names, sorted numerically when all are integers (so '2' < '10'), else as text."""
    unique = set(names)
    if all(n.lstrip("-").isdigit() for n in unique):
        return sorted(unique, key=int)
    return sorted(unique)


def _round_half_up(x: float) -> int:
    return int(np.floor(x + 0.5 + 1e-9))


def split_samples(
    labels: Sequence[int], val_ratio: float, stratify: bool, seed: int = 0
) -> tuple[list[int], list[int]]:
    """``(train indices, val indices)``, each sorted. See the module docstring for the counts."""
    if not 0.0 <= val_ratio < 1.0:
        raise DatasetPrepError(f"--val-ratio must be in [0, 1), got {val_ratio}")
    rng = np.random.default_rng(seed)
    labels = np.asarray(labels, np.int64)
    val: list[int] = []
    if stratify:
        for c in np.unique(labels):
            members = np.flatnonzero(labels == c)
            n_val = min(_round_half_up(len(members) * val_ratio), len(members) - 1)
            val += members[rng.permutation(len(members))[:n_val]].tolist()
    else:
        val = rng.permutation(len(labels))[: _round_half_up(len(labels) * val_ratio)].tolist()
    chosen = set(val)
    return [i for i in range(len(labels)) if i not in chosen], sorted(val)


def _check_names(classes: Sequence[str]) -> None:
    bad = [c for c in classes if c in (".", "..") or "/" in c or "\\" in c or c != c.strip()]
    if bad:
        raise DatasetPrepError(f"class name(s) {bad} cannot name a folder or a class_index.txt entry; fix the labels")


def _link_or_copy(src: str, dst: str, copy_files: bool) -> None:
    os.makedirs(os.path.dirname(dst), exist_ok=True)
    if copy_files:
        shutil.copy2(src, dst)
        return
    try:
        os.symlink(os.path.relpath(src, os.path.dirname(dst)), dst)
    except OSError as e:
        raise DatasetPrepError(f"cannot make the symbolic link {dst} ({e}); pass --copy-files to copy instead") from e


def _existing_outputs(output_dir: str, force: bool, video_dir: str) -> list[str]:
    """Earlier outputs under ``output_dir`` (an error without ``force``); refuses an output folder that would
    replace the folder holding the source videos."""
    src = os.path.realpath(video_dir)
    for folder in VIDEO_FOLDERS:
        path = os.path.realpath(os.path.join(output_dir, folder))
        if src == path or src.startswith(path + os.sep):
            raise DatasetPrepError(
                f"--video-dir {video_dir} lies in {path}, which this tool writes; choose another --output-dir"
            )
    existing = [p for p in (*LIST_FILES, *VIDEO_FOLDERS) if os.path.lexists(os.path.join(output_dir, p))]
    if existing and not force:
        raise DatasetPrepError(f"{output_dir} already holds {', '.join(existing)}; pass --force to replace them")
    return existing


def _remove(output_dir: str, existing: Sequence[str]) -> None:
    for p in existing:
        path = os.path.join(output_dir, p)
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path)  # unlinks the symbolic links inside without following them
        else:
            os.unlink(path)


def prepare_clip_dataset(
    video_dir: str,
    output_dir: str,
    label_source: str = "prefix",
    label_csv: str = "",
    video_col: str = "video",
    label_col: str = "label",
    prefix_sep: str = "_",
    val_ratio: float = 0.2,
    stratify: bool = False,
    seed: int = 0,
    organize_by_class: bool = False,
    copy_files: bool = False,
    force: bool = False,
    name: str = "",
    extensions: Sequence[str] = VIDEO_EXTENSIONS,
    progress: bool = False,
) -> PreparedDataset:
    """Label, probe, split and write (see the module docstring). ``label_source``: ``prefix``, ``parent`` or
    ``csv`` (``label_csv`` with ``video_col`` / ``label_col``). Everything is checked before anything is written."""
    from tqdm import tqdm

    if not 0.0 <= val_ratio < 1.0:  # the cheap checks come before the slow probing
        raise DatasetPrepError(f"--val-ratio must be in [0, 1), got {val_ratio}")
    existing = _existing_outputs(output_dir, force, video_dir)
    inside = os.path.realpath(output_dir).startswith(os.path.realpath(video_dir) + os.sep)
    videos = find_videos(video_dir, extensions, exclude=output_dir if inside else "")
    if not videos:
        raise DatasetPrepError(f"no video files ({', '.join(extensions)}) under {video_dir}")
    skipped: list[tuple[str, str]] = []
    if label_source == "prefix":
        labels = labels_from_prefix(videos, prefix_sep)
    elif label_source == "parent":
        labels = labels_from_parent(videos)
    elif label_source == "csv":
        labels, unmatched = labels_from_csv(label_csv, video_col, label_col, videos)
        for message in unmatched:
            logger.warning("label CSV row left out: %s", message)
        skipped += [(v, f"no row in {label_csv}") for v in videos if v not in labels]
    else:
        raise DatasetPrepError(f"--label-extractor must be prefix, parent or csv, got {label_source!r}")
    for v in tqdm([v for v in videos if v in labels], desc="probing videos", disable=bar_disable(progress)):
        reason = probe_video(os.path.join(video_dir, v))
        if reason:
            skipped.append((v, reason))
            labels.pop(v)
    kept = sorted(labels)
    if not kept:
        raise DatasetPrepError(f"no readable, labelled video under {video_dir} ({len(skipped)} left out)")
    classes = sorted_class_names([labels[v] for v in kept])
    _check_names(classes)
    index = {c: i for i, c in enumerate(classes)}
    y = [index[labels[v]] for v in kept]
    train_idx, val_idx = split_samples(y, val_ratio, stratify, seed)
    _remove(output_dir, existing)

    materialise = organize_by_class or copy_files
    name = name or "".join(ch if ch.isalnum() else "_" for ch in os.path.basename(os.path.abspath(output_dir)))
    result = PreparedDataset(classes, [], [], sorted(skipped), name=name)
    for split, idx in (("train", train_idx), ("val", val_idx)):
        used: dict[str, str] = {}
        for i in idx:
            v, label = kept[i], y[i]
            path = v
            if materialise:
                path = f"{classes[label]}/{os.path.basename(v)}" if organize_by_class else v
                if path in used:  # two videos of one class share a file name: the later one takes its whole path
                    path = f"{classes[label]}/{v.replace('/', '__')}"
                used[path] = v
                _link_or_copy(
                    os.path.abspath(os.path.join(video_dir, v)),
                    os.path.join(output_dir, f"videos_{split}", path),
                    copy_files,
                )
            getattr(result, split).append((path, label))
    result.counts = {
        c: (sum(y[i] == k for i in train_idx), sum(y[i] == k for i in val_idx)) for k, c in enumerate(classes)
    }
    for c, (tr, va) in result.counts.items():
        if not tr or (val_idx and not va):
            logger.warning("class %r has %d training and %d validation video(s)", c, tr, va)
    _write_outputs(output_dir, video_dir, result, materialise)
    result.written = [*LIST_FILES, *[f"videos_{s}" for s in ("train", "val") if materialise and getattr(result, s)]]
    return result


def _write_text(path: str, lines: Sequence[str]) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        f.writelines(f"{line}\n" for line in lines)


def _write_outputs(output_dir: str, video_dir: str, result: PreparedDataset, materialise: bool) -> None:
    ann = os.path.join(output_dir, "annotations")
    _write_text(os.path.join(ann, "train_list.txt"), [f"{p} {lab}" for p, lab in result.train])
    _write_text(os.path.join(ann, "val_list.txt"), [f"{p} {lab}" for p, lab in result.val])
    _write_text(os.path.join(ann, "class_index.txt"), [f"{i} {c}" for i, c in enumerate(result.classes)])
    _write_text(os.path.join(ann, "skipped_videos.txt"), [f"{v}\t{why}" for v, why in result.skipped])
    with open(os.path.join(ann, "class_summary.csv"), "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["index", "class", "train", "val", "total"])
        for i, c in enumerate(result.classes):
            tr, va = result.counts[c]
            writer.writerow([i, c, tr, va, tr + va])
    catalog = {}
    for split in ("train", "val"):
        if split == "val" and not result.val:
            continue
        catalog[f"{result.name}_{split}"] = {
            "factory": "VideoListDataset",
            "ann_file": f"annotations/{split}_list.txt",
            "video_root": f"videos_{split}" if materialise else os.path.abspath(video_dir),
            "class_index": "annotations/class_index.txt",
        }
    with open(os.path.join(output_dir, "catalog.yaml"), "w", encoding="utf-8") as f:
        f.write("# written by tools/prepare_custom_dataset.py; name this file with DATASETS.CATALOG\n")
        yaml.safe_dump(catalog, f, sort_keys=False)
