"""Clip classification over extracted frames (MMAction2's rawframes layout).

The list holds ``frame_dir total_frames label`` per line (``frame_dir total_frames l1 l2 ...`` when
multi-label); frames are files ``frame_dir/<filename_tmpl.format(i)>`` for ``i`` from ``start_index`` to
``start_index + total_frames - 1`` (MMAction2's defaults: ``img_{:05d}.jpg`` and 1). Only the frames a clip
samples are read; the view transform sees a lazy stack indexed by frame number.
"""

from __future__ import annotations

import os
from typing import Sequence

import numpy as np

from .clip_sources import VideoReadError, listed_errors, optional_class_index
from .clips import ClipClassificationDataset, ClipViewTransform

__all__ = ["parse_rawframe_list", "read_frame", "RawframesDataset"]


def parse_rawframe_list(path: str, multi_label: bool = False) -> list[tuple[str, int, list[int]]]:
    """``[(frame_dir, total_frames, [labels])]`` in file order; bad lines are reported together as ``file:line``."""
    entries, errors = [], []
    with open(path, encoding="utf-8") as f:
        for number, raw in enumerate(f, 1):
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            tokens = line.split()
            ok = len(tokens) >= 3 and all(t.isdigit() for t in tokens[1:]) and (multi_label or len(tokens) == 3)
            if not ok or int(tokens[1]) < 1:
                errors.append(
                    f"{path}:{number}: expected 'frame_dir total_frames label"
                    f"{' [label ...]' if multi_label else ''}' with total_frames >= 1, got {line!r}"
                )
                continue
            entries.append((tokens[0], int(tokens[1]), [int(t) for t in tokens[2:]]))
    if errors:
        raise listed_errors(errors, f"{len(errors)} bad line(s) in the rawframe list {path}")
    return entries


def read_frame(path: str) -> np.ndarray:
    """One image file as uint8 RGB ``[H, W, 3]``."""
    import cv2  # lazy: only rawframe users need it

    image = cv2.imread(path, cv2.IMREAD_COLOR)
    if image is None:
        raise VideoReadError(f"{path}: cannot read the frame image (missing or not an image)")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


class RawframesDataset(ClipClassificationDataset):
    """Frame folders of a rawframe list; relative ``frame_dir`` entries are joined to ``video_root``
    (default: the list's folder)."""

    def __init__(
        self,
        ann_file: str,
        transforms: ClipViewTransform,
        num_classes: int,
        video_root: str = "",
        filename_tmpl: str = "img_{:05d}.jpg",
        start_index: int = 1,
        multi_label: bool = False,
        class_index: str = "",
        name: str = "",
    ) -> None:
        try:
            filename_tmpl.format(start_index)
        except (IndexError, KeyError, ValueError) as e:
            raise ValueError(
                f"{ann_file}: filename_tmpl {filename_tmpl!r} must format one integer, e.g. 'img_{{:05d}}.jpg' ({e})"
            ) from e
        names = optional_class_index(class_index)
        super().__init__(transforms, num_classes, multi_label, names, name or ann_file)
        entries = parse_rawframe_list(ann_file, multi_label)
        root = video_root or os.path.dirname(os.path.abspath(ann_file))
        self.frame_dirs = [d if os.path.isabs(d) else os.path.join(root, d) for d, _, _ in entries]
        self.total_frames = [n for _, n, _ in entries]
        self.labels = [labs if multi_label else labs[0] for _, _, labs in entries]
        self.filename_tmpl, self.start_index = filename_tmpl, int(start_index)
        self.check_labels()

    def __len__(self) -> int:
        return len(self.frame_dirs)

    def sample_id(self, index: int) -> str:
        return self.frame_dirs[index]

    def frame_path(self, index: int, frame: int) -> str:
        """The file of the 0-based ``frame`` of sample ``index``."""
        return os.path.join(self.frame_dirs[index], self.filename_tmpl.format(self.start_index + frame))

    def read_frames(self, index: int) -> "_LazyFrames":
        return _LazyFrames([self.frame_path(index, i) for i in range(self.total_frames[index])])


class _LazyFrames:
    """A ``[N, H, W, 3]`` stand-in that reads image files only when indexed (the transform takes a few)."""

    def __init__(self, paths: Sequence[str]) -> None:
        self.paths = list(paths)
        first = read_frame(self.paths[0])
        self.shape = (len(self.paths), *first.shape)
        self.dtype = first.dtype
        self._cache = {0: first}

    def __len__(self) -> int:
        return len(self.paths)

    def _get(self, i: int) -> np.ndarray:
        if i not in self._cache:
            self._cache[i] = read_frame(self.paths[i])
        return self._cache[i]

    def __getitem__(self, key):
        if isinstance(key, (int, np.integer)):
            return self._get(int(key) % len(self.paths))
        if isinstance(key, tuple):  # (frames, ...) -> pick frames first, then index the rest on an array
            return (
                self[key[0]][(slice(None), *key[1:])]
                if not isinstance(key[0], (int, np.integer))
                else self._get(int(key[0]))[key[1:]]
            )
        idx = np.arange(len(self.paths))[key]
        return np.stack([self._get(int(i)) for i in np.atleast_1d(idx)])

    def __array__(self, dtype=None, copy=None):
        out = self[:]
        return out.astype(dtype) if dtype is not None else out
