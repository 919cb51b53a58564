"""Several DATASETS.TRAIN: their classes must agree (class index / label map), else an error names both."""

from __future__ import annotations

import pytest

from alphaction.data.build import check_same_classes


class Clips:
    def __init__(self, names, num_classes=None):
        self.class_names = list(names)
        self.num_classes = num_classes if num_classes is not None else len(names)


class Boxes:
    def __init__(self, labelmap_file, num_classes):
        self.eval_file_paths = {"labelmap_file": str(labelmap_file)}
        self.num_classes = num_classes


def _pbtxt(path, names):
    path.write_text("".join(f'item {{\n  name: "{n}"\n  id: {i + 1}\n}}\n' for i, n in enumerate(names)))
    return path


def test_agreeing_class_lists_pass():
    check_same_classes([Clips(["a", "b"]), Clips(["a", "b"])], ["x", "y"])
    # a dataset that names no classes (numbers only) is checked by count alone
    check_same_classes([Clips(["a", "b"]), Clips(["0", "1"])], ["x", "y"])


def test_class_name_mismatch_names_both_datasets_and_the_class():
    with pytest.raises(ValueError, match=r"'x'.*'y'.*class 1: 'b' vs 'c'"):
        check_same_classes([Clips(["a", "b"]), Clips(["a", "c"])], ["x", "y"])
    with pytest.raises(ValueError, match=r"'x' has 2 classes, 'z' has 3"):
        check_same_classes([Clips(["a", "b"]), Clips(["a", "b"]), Clips(["a", "b", "c"])], ["x", "y", "z"])


def test_label_maps_are_compared_by_content(tmp_path):
    a = _pbtxt(tmp_path / "a.pbtxt", ["stand", "walk"])
    same = tmp_path / "same.pbtxt"  # another file, other layout, same classes
    same.write_text('item { name: "stand" id: 1 }\nitem { name: "walk" id: 2 }\n')
    check_same_classes([Boxes(a, 2), Boxes(same, 2)], ["ava", "mine"])
    other = _pbtxt(tmp_path / "other.pbtxt", ["stand", "run"])
    with pytest.raises(ValueError, match=r"'ava' \(.*a.pbtxt\) and 'mine' \(.*other.pbtxt\).*'2: walk' vs '2: run'"):
        check_same_classes([Boxes(a, 2), Boxes(other, 2)], ["ava", "mine"])
