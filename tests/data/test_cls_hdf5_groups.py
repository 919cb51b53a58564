"""HDF5 with one group per sample: configurable keys, labels as dataset or attribute, value mapping, errors."""

from __future__ import annotations

import numpy as np
import pytest

from alphaction.data.datasets.clips import ClipViewTransform
from alphaction.data.datasets.hdf5_groups import HDF5GroupDataset
from alphaction.data.kinds import DATA_KINDS

h5py = pytest.importorskip("h5py")


def _transform(clip_len=2):
    return ClipViewTransform(False, clip_len, 1, 4, 8, [0, 0, 0], [1, 1, 1], tau=1, alpha=1)


def _make(path):
    with h5py.File(path, "w") as f:
        a = f.create_group("sample_b")  # label as a dataset, uint8 frames of value 7
        a.create_dataset("clip", data=np.full((3, 4, 6), 7, np.uint8))
        a.create_dataset("y", data=2)
        b = f.create_group("sample_a")  # label as an attribute, float temperatures 20..30 over 2 frames
        b.create_dataset("clip", data=np.stack([np.full((4, 6, 1), 20.0), np.full((4, 6, 1), 30.0)]))
        b.attrs["y"] = 0


def test_groups_sorted_keys_configurable_labels_from_dataset_or_attribute(tmp_path):
    path = tmp_path / "train.h5"
    _make(path)
    ds = HDF5GroupDataset(
        str(path), _transform(), num_classes=3, frames_key="clip", labels_key="y", value_range=[20.0, 30.0]
    )
    assert ds.groups == ["sample_a", "sample_b"] and ds.labels == [0, 2]
    a = ds[0]["fast"][0]  # [3, T, H, W]; 20 -> 0 and 30 -> 255 by the value range, 1 channel -> 3
    assert a.shape[:2] == (3, 2)
    assert a[:, 0].unique().tolist() == [0.0] and a[:, 1].unique().tolist() == [255.0]
    assert ds[1]["fast"][0].unique().tolist() == [7.0]  # uint8 passes through unchanged
    assert ds.sample_id(1) == "train.h5:/sample_b"


def test_missing_keys_name_the_group(tmp_path):
    path = tmp_path / "bad.h5"
    _make(path)
    with pytest.raises(ValueError, match=r"bad\.h5:/sample_a: needs dataset 'frames'"):
        HDF5GroupDataset(str(path), _transform(), num_classes=3)


def test_registered_in_builder():
    assert DATA_KINDS["ClipClassifier"].factories["HDF5GroupDataset"] is HDF5GroupDataset
