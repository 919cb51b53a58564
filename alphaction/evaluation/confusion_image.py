"""The confusion matrix as a PNG image (drawn with OpenCV; matplotlib is not a dependency).

Rows are true classes, columns predicted classes (as in ``confusion_matrix.csv``). Each cell shows its count
and is coloured by its *row-normalised* value ``cm[t, p] / cm[t].sum()`` (the fraction of class ``t``'s
samples predicted as ``p``; 0 for a class without samples), from white (0) to dark blue (1), so a weak class
with few samples is as visible as a large one.

Layout (pixels), for ``K`` classes, cell side ``cell`` and name band ``label_px``: the image is a square of
side ``TITLE_PX + label_px + K * cell + MARGIN_PX``. The left band of ``TITLE_PX`` holds the axis title "true",
the top band "predicted"; then ``label_px`` for the class names (row names left of the grid, column names
above it, reading bottom-up); then the grid, whose top-left corner is ``(TITLE_PX + label_px,
TITLE_PX + label_px)``. Names too long for ``label_px`` are shortened with "..".
"""

from __future__ import annotations

import os
from typing import Sequence

import cv2
import numpy as np

__all__ = [
    "TITLE_PX",
    "MARGIN_PX",
    "LOW_BGR",
    "HIGH_BGR",
    "default_cell_size",
    "row_normalised",
    "cell_color",
    "draw_confusion_matrix",
    "write_confusion_png",
]

TITLE_PX = 24  # band for the axis titles ("true" on the left, "predicted" on top)
MARGIN_PX = 8  # blank border right of and below the grid
LOW_BGR = (255, 255, 255)  # colour of row-normalised value 0
HIGH_BGR = (107, 48, 8)  # colour of value 1 (a dark blue, #08306b)
_FONT = cv2.FONT_HERSHEY_SIMPLEX
_NAME_SCALE = 0.4


def default_cell_size(num_classes: int) -> int:
    """40 px, shrinking for many classes so the grid stays within about 1600 px (at least 12 px)."""
    return int(max(12, min(40, 1600 // max(num_classes, 1))))


def row_normalised(cm: np.ndarray) -> np.ndarray:
    """float64 ``[K, K]``: each row divided by its sum; rows summing to 0 stay 0."""
    cm = np.asarray(cm, np.float64)
    sums = cm.sum(axis=1, keepdims=True)
    return np.divide(cm, sums, out=np.zeros_like(cm), where=sums > 0)


def cell_color(value: float) -> tuple[int, int, int]:
    """BGR colour of a row-normalised value in ``[0, 1]``: linear from :data:`LOW_BGR` to :data:`HIGH_BGR`."""
    v = float(np.clip(value, 0.0, 1.0))
    return tuple(int(round(lo + (hi - lo) * v)) for lo, hi in zip(LOW_BGR, HIGH_BGR))


def _fit_text(text: str, max_width: int, scale: float) -> str:
    """``text`` shortened with '..' until it is at most ``max_width`` px wide at ``scale``."""
    if cv2.getTextSize(text, _FONT, scale, 1)[0][0] <= max_width:
        return text
    while text and cv2.getTextSize(text + "..", _FONT, scale, 1)[0][0] > max_width:
        text = text[:-1]
    return text + ".." if text else ""


def _put_centred(img: np.ndarray, text: str, cx: int, cy: int, scale: float, color) -> None:
    (w, h), _ = cv2.getTextSize(text, _FONT, scale, 1)
    cv2.putText(img, text, (cx - w // 2, cy + h // 2), _FONT, scale, color, 1, cv2.LINE_AA)


def _count_scale(max_count: int, cell: int) -> float:
    """Largest font scale (<= 0.45) at which the widest count fits in a cell with 2 px either side."""
    scale = 0.45
    while scale > 0.2 and cv2.getTextSize(str(max_count), _FONT, scale, 1)[0][0] > cell - 4:
        scale -= 0.05
    return scale


def draw_confusion_matrix(cm: np.ndarray, class_names: Sequence[str], cell: int = 0, label_px: int = 120) -> np.ndarray:
    """uint8 BGR image ``[S, S, 3]`` of ``cm`` (int ``[K, K]``, rows true), ``S`` as in the module docstring.

    Args:
        cm: counts, rows = true class, columns = predicted class.
        class_names: ``K`` names for both axes.
        cell: cell side in pixels; 0 = :func:`default_cell_size`. Counts are drawn when ``cell >= 16``.
        label_px: width of the class-name bands.
    """
    cm = np.asarray(cm)
    if cm.ndim != 2 or cm.shape[0] != cm.shape[1]:
        raise ValueError(f"confusion matrix must be square [K, K], got shape {cm.shape}")
    k = cm.shape[0]
    if len(class_names) != k:
        raise ValueError(f"{len(class_names)} class names for a {k}x{k} confusion matrix")
    cell = cell or default_cell_size(k)
    origin = TITLE_PX + label_px
    side = origin + k * cell + MARGIN_PX
    img = np.full((side, side, 3), 255, np.uint8)
    norm = row_normalised(cm)
    scale = _count_scale(int(cm.max()) if cm.size else 0, cell)
    for t in range(k):
        for p in range(k):
            y0, x0 = origin + t * cell, origin + p * cell
            img[y0 : y0 + cell, x0 : x0 + cell] = cell_color(norm[t, p])
            if cell >= 16:
                ink = (0, 0, 0) if norm[t, p] < 0.5 else (255, 255, 255)
                _put_centred(img, str(int(cm[t, p])), x0 + cell // 2, y0 + cell // 2, scale, ink)
    cv2.rectangle(img, (origin - 1, origin - 1), (origin + k * cell, origin + k * cell), (128, 128, 128), 1)
    # row names right-aligned against the grid
    for t, name in enumerate(class_names):
        text = _fit_text(str(name), label_px - 6, _NAME_SCALE)
        (w, h), _ = cv2.getTextSize(text, _FONT, _NAME_SCALE, 1)
        cv2.putText(
            img,
            text,
            (origin - 4 - w, origin + t * cell + cell // 2 + h // 2),
            _FONT,
            _NAME_SCALE,
            (0, 0, 0),
            1,
            cv2.LINE_AA,
        )
    # column names: drawn left-aligned on a strip (one row per class), then turned a quarter counter-clockwise so
    # they read bottom-up and start next to the grid
    strip = np.full((k * cell, label_px, 3), 255, np.uint8)
    for p, name in enumerate(class_names):
        text = _fit_text(str(name), label_px - 6, _NAME_SCALE)
        h = cv2.getTextSize(text, _FONT, _NAME_SCALE, 1)[0][1]
        cv2.putText(strip, text, (4, p * cell + cell // 2 + h // 2), _FONT, _NAME_SCALE, (0, 0, 0), 1, cv2.LINE_AA)
    img[TITLE_PX:origin, origin : origin + k * cell] = cv2.rotate(strip, cv2.ROTATE_90_COUNTERCLOCKWISE)
    # axis titles
    _put_centred(img, "predicted", origin + k * cell // 2, TITLE_PX // 2, 0.5, (0, 0, 0))
    title = np.full((TITLE_PX, k * cell, 3), 255, np.uint8)
    _put_centred(title, "true", k * cell // 2, TITLE_PX // 2, 0.5, (0, 0, 0))
    img[origin : origin + k * cell, :TITLE_PX] = cv2.rotate(title, cv2.ROTATE_90_COUNTERCLOCKWISE)
    return img


def write_confusion_png(
    path: str, cm: np.ndarray, class_names: Sequence[str], cell: int = 0, label_px: int = 120
) -> None:
    """:func:`draw_confusion_matrix` written to ``path`` (PNG)."""
    img = draw_confusion_matrix(cm, class_names, cell, label_px)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    if not cv2.imwrite(path, img):
        raise OSError(f"could not write the confusion-matrix image {path}")
