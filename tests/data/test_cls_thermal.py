"""The synthetic thermal HDF5 set: the seed's shape, balanced labels, generated once."""

from __future__ import annotations

import os

import numpy as np
import pytest

from alphaction.data.synthetic.thermal import CLASS_NAMES, ensure_thermal_dataset

h5py = pytest.importorskip("h5py")


def test_tiny_thermal_set_shapes_labels_and_reuse(tmp_path):
    root = str(tmp_path / "thermal")
    ensure_thermal_dataset(root, "tiny", seed=0)
    with h5py.File(os.path.join(root, "train.h5")) as f:
        frames, labels = f["frames"][()], f["labels"][()]
    assert frames.shape == (28, 8, 40, 60) and frames.dtype == np.float32
    assert np.bincount(labels, minlength=14).tolist() == [2] * 14
    assert 15.0 < frames.min() and frames.max() < 40.0  # inside the catalog's value_range
    lines = open(os.path.join(root, "class_index.txt")).read().splitlines()
    assert len(lines) == 14 == len(CLASS_NAMES) and lines[0] == "0 small_still"
    mtime = os.path.getmtime(os.path.join(root, "DONE.json"))
    ensure_thermal_dataset(root, "tiny", seed=0)
    assert os.path.getmtime(os.path.join(root, "DONE.json")) == mtime
