"""The confusion-matrix PNG: size from the documented layout, cell colours ordered by row-normalised counts
(worked out by hand for small matrices), counts and class names drawn, bad input refused."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from alphaction.evaluation.confusion_image import draw_confusion_matrix, write_confusion_png

CELL, LABEL = 30, 100
ORIGIN = 24 + LABEL  # TITLE_PX (24) + name band


def _corner(img, t, p):
    """A pixel 2 px inside the top-left corner of cell (t, p), away from the centred count."""
    return img[ORIGIN + t * CELL + 2, ORIGIN + p * CELL + 2].astype(int)


def _brightness(img, t, p):
    return int(_corner(img, t, p).sum())


def test_png_has_the_layout_size_and_colours_ordered_by_row_fraction(tmp_path):
    cm = np.array([[5, 3, 0], [1, 1, 8], [0, 0, 0]])  # class 2 has no samples
    path = tmp_path / "cm.png"
    write_confusion_png(str(path), cm, ["walk", "run", "a_class_name_much_too_long_for_the_band"], CELL, LABEL)
    img = cv2.imread(str(path))
    side = 24 + LABEL + 3 * CELL + 8  # title band + names + grid + margin
    assert img.shape == (side, side, 3)
    # row 0: fractions 5/8 > 3/8 > 0 -> darker, lighter, white
    assert _brightness(img, 0, 0) < _brightness(img, 0, 1) < _brightness(img, 0, 2) == 3 * 255
    # row 1: 1/10 == 1/10 < 8/10
    assert _brightness(img, 1, 0) == _brightness(img, 1, 1) > _brightness(img, 1, 2)
    # an empty row is white everywhere
    assert all(_brightness(img, 2, p) == 3 * 255 for p in range(3))


def test_colour_follows_the_row_fraction_not_the_raw_count():
    # cell (0, 0) holds 2 of 2 samples (fraction 1), cell (1, 1) 16 of 20 (0.8), cell (1, 0) 4 of 20 (0.2)
    img = draw_confusion_matrix(np.array([[2, 0], [4, 16]]), ["a", "b"], CELL, LABEL)
    assert _brightness(img, 0, 0) < _brightness(img, 1, 1) < _brightness(img, 1, 0)
    # fraction 1 is the documented darkest colour #08306b (BGR 107, 48, 8); fraction 0 is white
    assert np.abs(_corner(img, 0, 0) - [107, 48, 8]).max() <= 1
    assert _corner(img, 0, 1).tolist() == [255, 255, 255]
    # 0.2 is a fifth of the way from white to #08306b in every channel
    expected = [255 + (c - 255) * 0.2 for c in (107, 48, 8)]
    assert np.abs(_corner(img, 1, 0) - expected).max() <= 1


def test_counts_and_class_names_are_drawn():
    img = draw_confusion_matrix(np.array([[7, 0], [0, 0]]), ["jump", "sit"], CELL, LABEL)
    centre = img[ORIGIN + 8 : ORIGIN + CELL - 8, ORIGIN + 8 : ORIGIN + CELL - 8].reshape(-1, 3)
    fill = _corner(img, 0, 0)
    assert (np.abs(centre.astype(int) - fill).sum(axis=1) > 60).any()  # the digit's ink differs from the fill
    # row names sit left of the grid, column names above it: ink (dark pixels) in both bands, per class
    for k in range(2):
        row_band = img[ORIGIN + k * CELL : ORIGIN + (k + 1) * CELL, 24:ORIGIN]
        col_band = img[24:ORIGIN, ORIGIN + k * CELL : ORIGIN + (k + 1) * CELL]
        assert (row_band.max(axis=2) < 128).any() and (col_band.max(axis=2) < 128).any(), k


def test_default_cell_shrinks_for_many_classes_and_bad_input_is_refused():
    img = draw_confusion_matrix(np.eye(100, dtype=int), [f"c{i}" for i in range(100)])
    assert img.shape[0] == 24 + 120 + 100 * 16 + 8  # 1600 // 100 = 16 px cells
    with pytest.raises(ValueError, match="square"):
        draw_confusion_matrix(np.zeros((2, 3), int), ["a", "b"])
    with pytest.raises(ValueError, match="3 class names"):
        draw_confusion_matrix(np.zeros((2, 2), int), ["a", "b", "c"])
