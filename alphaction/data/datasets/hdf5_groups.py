"""Clip classification over an HDF5 file with one group per sample.

Each top-level group (sorted by name) holds the sample's frames ``[T, H, W]`` / ``[T, H, W, C]`` (C 1 or 3)
under ``frames_key`` and its label under ``labels_key``, either as a dataset (a scalar, or a multi-hot
``[K]`` vector when multi-label) or as an attribute of the group. Samples may differ in length and size.
"""

from __future__ import annotations

import os
from typing import Sequence

import numpy as np

from .clip_sources import LazyH5File, listed_errors, optional_class_index, to_rgb_uint8
from .clips import ClipClassificationDataset, ClipViewTransform

__all__ = ["HDF5GroupDataset"]


class HDF5GroupDataset(LazyH5File, ClipClassificationDataset):
    """One sample per top-level group of ``h5_file``; the file is opened lazily in each worker process."""

    def __init__(
        self,
        h5_file: str,
        transforms: ClipViewTransform,
        num_classes: int,
        frames_key: str = "frames",
        labels_key: str = "label",
        value_range: Sequence[float] | None = None,
        multi_label: bool = False,
        class_index: str = "",
        name: str = "",
    ) -> None:
        import h5py  # lazy: only HDF5 users need it

        names = optional_class_index(class_index)
        super().__init__(transforms, num_classes, multi_label, names, name or h5_file)
        self.h5_file, self.frames_key = h5_file, frames_key
        self.value_range = tuple(float(v) for v in value_range) if value_range else None
        self.groups, self.labels, errors = [], [], []
        with h5py.File(h5_file, "r") as f:
            for group in sorted(k for k in f.keys() if isinstance(f[k], h5py.Group)):
                g = f[group]
                if frames_key not in g or (labels_key not in g and labels_key not in g.attrs):
                    errors.append(
                        f"{h5_file}:/{group}: needs dataset {frames_key!r} and dataset or attribute "
                        f"{labels_key!r} (has datasets {sorted(g.keys())}, attributes {sorted(g.attrs)})"
                    )
                    continue
                shape = g[frames_key].shape
                if len(shape) not in (3, 4) or (len(shape) == 4 and shape[3] not in (1, 3)):
                    errors.append(
                        f"{h5_file}:/{group}/{frames_key}: shape {shape}; expected [T, H, W] or "
                        "[T, H, W, C] with C 1 or 3"
                    )
                    continue
                raw = np.asarray(g[labels_key][()] if labels_key in g else g.attrs[labels_key])
                if multi_label:
                    label = np.flatnonzero(raw.reshape(-1)).tolist()
                elif raw.size != 1:
                    errors.append(
                        f"{h5_file}:/{group}/{labels_key}: expected one integer label, got shape "
                        f"{raw.shape} (multi-hot labels need MODEL.CLIP_HEAD.MULTI_LABEL True)"
                    )
                    continue
                else:
                    label = int(raw.reshape(-1)[0])
                self.groups.append(group)
                self.labels.append(label)
        if errors:
            raise listed_errors(
                errors,
                f"{len(errors)} bad sample group(s) in {h5_file} (set frames_key / "
                "labels_key in the catalog entry if the names differ)",
            )
        if not self.groups:
            raise ValueError(f"{h5_file}: no sample groups at the top level (expected /<sample>/{frames_key})")
        self.check_labels()

    def __len__(self) -> int:
        return len(self.groups)

    def sample_id(self, index: int) -> str:
        return f"{os.path.basename(self.h5_file)}:/{self.groups[index]}"

    def read_frames(self, index: int) -> np.ndarray:
        frames = np.asarray(self._h5()[self.groups[index]][self.frames_key])
        return to_rgb_uint8(frames, self.value_range)
