"""The annotation and detection JSON of an AVA-style dataset, read once into column arrays.

An AVA-train-sized annotation file (211k keyframes, 739k boxes, ~170 MB) loaded with ``json.load`` costs ~0.8 GB of
Python objects. Here the two long arrays (``images``, ``annotations``; or a detection-result list) are decoded a few
megabytes at a time and turned into numpy columns as they come, so only one slice of Python objects is alive at
once. A slice ends at a ``}`` followed by ``,`` and ``{``; it is accepted only when ``json.loads`` reads it as a
whole list of values, which proves the cut lay between two elements (a cut inside a string or a nested value
cannot parse), so the result is exactly what ``json.load`` gives. Where a cut is refused the elements are read one
by one up to the next candidate.

Malformed entries are not fatal here: each column has a validity mask and the entry's position, so the checks
(``data/prep/validate.py``) can name ``images[n]`` / ``annotations[n]`` and the file.
"""

from __future__ import annotations

import contextlib
import gc
import json
import re
from dataclasses import dataclass, field
from itertools import chain
from typing import Callable, Iterator

import numpy as np

from ...utils.errors import InputFileError

__all__ = ["KeyframeColumns", "BoxColumns", "DetectionColumns", "read_annotation_columns", "read_detection_columns"]

SLICE_BYTES = 1 << 22  # bytes of JSON decoded per slice (~4 MB: a few tens of thousands of boxes)
_WS = re.compile(rb"[ \t\n\r]*")
_CUT = re.compile(rb"\}[ \t\n\r]*,[ \t\n\r]*\{")
_END = re.compile(rb"\}[ \t\n\r]*\]")
_DECODER = json.JSONDecoder()
IMAGE_FIELDS = ("id", "width", "height", "timestamp")


@dataclass
class KeyframeColumns:
    """The ``images`` of an annotation file, ``[I]`` each (``ok``: the entry has every field the dataset needs)."""

    ids: np.ndarray  # int64
    width: np.ndarray  # float64 (NaN where missing)
    height: np.ndarray  # float64
    timestamp: np.ndarray  # int64
    movie: np.ndarray  # str: the ``movie`` field, else the clip folder
    folder: np.ndarray  # str: the folder of ``video_path``, else ``movie``
    ok: np.ndarray  # bool
    missing: list[tuple[int, object, list[str]]] = field(default_factory=list)  # (position, id, fields it lacks)


@dataclass
class BoxColumns:
    """The ``annotations`` of an annotation file, ``[A]`` each; action ids flat with pointers ``[A + 1]``."""

    ids: np.ndarray  # int64 annotation ids (-1 where missing)
    image_id: np.ndarray  # int64 (-1 where missing)
    bbox: np.ndarray  # float64 [A, 4] COCO x, y, w, h (NaN where malformed)
    bbox_ok: np.ndarray  # bool
    action_ptr: np.ndarray  # int64 [A + 1]
    action_ids: np.ndarray  # int64, flat
    has_actions: np.ndarray  # bool: the entry has an ``action_ids`` list
    person_id: np.ndarray  # int64 (-1 where missing)

    def __len__(self) -> int:
        return len(self.image_id)


@dataclass
class DetectionColumns:
    """A COCO detection-result list ``[{image_id, bbox, score, category_id}]``, ``[D]`` each."""

    image_id: np.ndarray  # int64
    bbox: np.ndarray  # float64 [D, 4]
    score: np.ndarray  # float64 (1.0 where missing)

    def __len__(self) -> int:
        return len(self.image_id)


def _where(data: bytes, pos: int, path: str) -> str:
    line = data.count(b"\n", 0, pos) + 1
    return f"{path}:{line}"


def _bad_json(path: str, data: bytes, pos: int, what: str) -> InputFileError:
    return InputFileError(
        f"not valid JSON: {what}",
        where=_where(data, pos, path),
        fix="repair or re-create the file (tools/ava_csv_to_coco.py writes annotation files, "
        "tools/detect_boxes.py detection files)",
    )


def _skip_ws(data: bytes, pos: int) -> int:
    return _WS.match(data, pos).end()


def _decode_one(data: bytes, pos: int, path: str) -> tuple[object, int]:
    """One JSON value at ``pos`` -> (value, position after it)."""
    # raw_decode reads str only: decode a window of bytes that holds the value (grown until it does)
    size = 1 << 12
    while True:
        chunk = data[pos : pos + size]
        try:
            text = chunk.decode("utf-8")
        except UnicodeDecodeError as e:
            if e.start < len(chunk) - 3:
                raise _bad_json(path, data, pos + e.start, "bytes that are not UTF-8") from None
            text = chunk[: e.start].decode("utf-8")  # a character cut by the window's end
        try:
            value, n = _DECODER.raw_decode(text)
        except json.JSONDecodeError as e:
            if pos + size >= len(data):
                raise _bad_json(path, data, pos + len(text[: e.pos].encode("utf-8")), e.msg) from None
            size *= 4
            continue
        return value, pos + (n if text.isascii() else len(text[:n].encode("utf-8")))


def _array_slices(data: bytes, pos: int, path: str) -> Iterator[tuple[list, int]]:
    """The elements of the JSON array whose ``[`` is at ``pos``, as lists of about ``SLICE_BYTES`` of text each,
    with the index of their first element; the last yield is ``([], position after the array's ``]``)``."""
    pos = _skip_ws(data, pos + 1)
    first = 0
    if data[pos : pos + 1] == b"]":
        yield [], pos + 1
        return
    while True:
        cut = _CUT.search(data, pos + SLICE_BYTES)
        # the array may end first: its "}]" before the next cut (checked by parsing, as a cut is)
        end = _END.search(data, pos, cut.start() + 1 if cut is not None else len(data))
        for m, last in ((end, True), (cut, False)):
            if m is None:
                continue
            try:
                values = json.loads(b"[" + data[pos : m.start() + 1] + b"]")
            except (ValueError, UnicodeDecodeError):
                continue
            yield values, first
            first += len(values)
            if last:
                yield [], m.end()
                return
            pos = _skip_ws(data, m.end() - 1)  # at the next element's "{"
            break
        else:
            # no cut that parses (a cut inside a string or a nested value): one element at a time past the candidate
            limit = cut.end() if cut is not None else len(data)
            values = []
            while True:
                value, pos = _decode_one(data, pos, path)
                values.append(value)
                pos = _skip_ws(data, pos)
                sep = data[pos : pos + 1]
                if sep == b"]":
                    yield values, first
                    yield [], pos + 1
                    return
                if sep != b",":
                    raise _bad_json(path, data, pos, "expected ',' or ']' between array elements")
                pos = _skip_ws(data, pos + 1)
                if pos >= limit:
                    break
            yield values, first
            first += len(values)


def _walk_object(data: bytes, path: str, arrays: dict[str, Callable[[list, int], None]]) -> dict:
    """Read the top-level JSON object; the arrays under the keys of ``arrays`` go slice by slice to their consumer
    (``consumer(values, first_index)``); every other value is returned in a dict."""
    pos = _skip_ws(data, 0)
    if data[pos : pos + 1] != b"{":
        raise InputFileError(
            'expected a COCO-style object {"images": [...], "annotations": [...]}, found '
            + (f"{data[pos : pos + 1].decode(errors='replace')!r}" if pos < len(data) else "an empty file"),
            where=_where(data, pos, path),
            fix="make the annotation file with tools/ava_csv_to_coco.py",
        )
    others: dict = {}
    pos = _skip_ws(data, pos + 1)
    if data[pos : pos + 1] == b"}":
        return others
    while True:
        key, pos = _decode_one(data, pos, path)
        if not isinstance(key, str):
            raise _bad_json(path, data, pos, "expected a key string")
        pos = _skip_ws(data, pos)
        if data[pos : pos + 1] != b":":
            raise _bad_json(path, data, pos, "expected ':' after a key")
        pos = _skip_ws(data, pos + 1)
        if key in arrays and data[pos : pos + 1] == b"[":
            for values, first in _array_slices(data, pos, path):
                if values:
                    arrays[key](values, first)
                else:
                    pos = first
            others[key] = []
        else:
            others[key], pos = _decode_one(data, pos, path)
        pos = _skip_ws(data, pos)
        sep = data[pos : pos + 1]
        if sep == b"}":
            return others
        if sep != b",":
            raise _bad_json(path, data, pos, "expected ',' or '}' after a value")
        pos = _skip_ws(data, pos + 1)


def _read(path: str) -> bytes:
    with open(path, "rb") as f:
        return f.read()


@contextlib.contextmanager
def _no_gc():
    """The cyclic garbage collector off while slices are decoded: millions of new dicts and lists (never cyclic)
    would trigger full collections that walk every object of the process (torch's included): 4.9 s -> 1.8 s on
    an AVA-train-sized file."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def _int_column(values: list, key: str, default: int = -1) -> np.ndarray:
    try:
        return np.fromiter((v[key] for v in values), np.int64, len(values))
    except (KeyError, TypeError, ValueError, OverflowError):
        out = np.full(len(values), default, np.int64)
        for n, v in enumerate(values):
            try:
                out[n] = int(v[key])
            except (KeyError, TypeError, ValueError, OverflowError):
                pass
        return out


def _boxes(values: list) -> tuple[np.ndarray, np.ndarray]:
    """``bbox`` of each entry -> (float64 [N, 4], ok [N])."""
    try:
        bbox = np.array([v["bbox"] for v in values], dtype=np.float64)
        if bbox.shape == (len(values), 4):
            return bbox, np.ones(len(values), bool)
    except (KeyError, TypeError, ValueError):
        pass
    bbox = np.full((len(values), 4), np.nan)
    ok = np.zeros(len(values), bool)
    for n, v in enumerate(values):
        try:
            b = [float(x) for x in v["bbox"]]
            if len(b) == 4:
                bbox[n], ok[n] = b, True
        except (KeyError, TypeError, ValueError):
            pass
    return bbox, ok


class _Parts:
    """Column parts gathered slice by slice, concatenated at the end."""

    def __init__(self):
        self.parts: dict[str, list] = {}

    def add(self, **columns) -> None:
        for k, v in columns.items():
            self.parts.setdefault(k, []).append(v)

    def cat(self, key: str, empty: np.ndarray) -> np.ndarray:
        parts = self.parts.get(key)
        return np.concatenate(parts) if parts else empty


def _image_slice(parts: _Parts, missing: list, values: list, first: int) -> None:
    ok = np.ones(len(values), bool)
    movies, folders = [], []
    for n, im in enumerate(values):
        if not isinstance(im, dict):
            ok[n] = False
            missing.append((first + n, None, list(IMAGE_FIELDS) + ["movie"]))
            movies.append("")
            folders.append("")
            continue
        video_path = im.get("video_path") or ""
        folder = video_path.rpartition("/")[0] if isinstance(video_path, str) else ""
        movie = im.get("movie")
        lacks = [k for k in IMAGE_FIELDS if k not in im] + ([] if video_path or movie is not None else ["movie"])
        if lacks:
            ok[n] = False
            missing.append((first + n, im.get("id"), lacks))
        folder = folder or str(movie if movie is not None else "")
        movies.append(str(movie) if movie is not None else folder)
        folders.append(folder)
    dicts = [v if isinstance(v, dict) else {} for v in values]
    parts.add(
        ids=_int_column(dicts, "id"),
        timestamp=_int_column(dicts, "timestamp"),
        width=_float_column(dicts, "width"),
        height=_float_column(dicts, "height"),
        movie=np.array(movies, dtype=str),
        folder=np.array(folders, dtype=str),
        ok=ok,
    )


def _float_column(values: list, key: str) -> np.ndarray:
    try:
        return np.fromiter((v[key] for v in values), np.float64, len(values))
    except (KeyError, TypeError, ValueError):
        out = np.full(len(values), np.nan)
        for n, v in enumerate(values):
            try:
                out[n] = float(v[key])
            except (KeyError, TypeError, ValueError):
                pass
        return out


def _annotation_slice(parts: _Parts, values: list, first: int) -> None:
    dicts = [v if isinstance(v, dict) else {} for v in values]
    bbox, ok = _boxes(dicts)
    actions = [v.get("action_ids") for v in dicts]
    has = np.fromiter((isinstance(a, list) for a in actions), bool, len(actions))
    if not has.all():
        actions = [a if isinstance(a, list) else [] for a in actions]
    counts = np.fromiter(map(len, actions), np.int64, len(actions))
    try:
        flat = np.fromiter(chain.from_iterable(actions), np.int64, int(counts.sum()))
    except (TypeError, ValueError, OverflowError):  # a non-integer action id: the whole list counts as malformed
        flat_list = []
        for n, a in enumerate(actions):
            try:
                ids = [int(x) for x in a]
            except (TypeError, ValueError, OverflowError):
                ids, has[n] = [], False
            flat_list.append(ids)
            counts[n] = len(ids)
        flat = np.fromiter(chain.from_iterable(flat_list), np.int64, int(counts.sum()))
    parts.add(
        ids=_int_column(dicts, "id"),
        image_id=_int_column(dicts, "image_id"),
        bbox=bbox,
        bbox_ok=ok,
        counts=counts,
        action_ids=flat,
        has_actions=has,
        person_id=_int_column(dicts, "person_id"),
    )


def read_annotation_columns(path: str) -> tuple[KeyframeColumns, BoxColumns, dict]:
    """An ``action_ids``-form annotation JSON (``tools/ava_csv_to_coco.py``) -> (keyframes, boxes, the other
    top-level keys). Raises :class:`InputFileError` naming the file and line when it is not a JSON object."""
    data = _read(path)
    images, anns, missing = _Parts(), _Parts(), []
    with _no_gc():
        others = _walk_object(
            data,
            path,
            {
                "images": lambda values, first: _image_slice(images, missing, values, first),
                "annotations": lambda values, first: _annotation_slice(anns, values, first),
            },
        )
    del data
    i64, f64 = np.zeros(0, np.int64), np.zeros(0, np.float64)
    keyframes = KeyframeColumns(
        ids=images.cat("ids", i64),
        width=images.cat("width", f64),
        height=images.cat("height", f64),
        timestamp=images.cat("timestamp", i64),
        movie=images.cat("movie", np.zeros(0, str)),
        folder=images.cat("folder", np.zeros(0, str)),
        ok=images.cat("ok", np.zeros(0, bool)),
        missing=missing,
    )
    counts = anns.cat("counts", i64)
    ptr = np.zeros(len(counts) + 1, np.int64)
    np.cumsum(counts, out=ptr[1:])
    boxes = BoxColumns(
        ids=anns.cat("ids", i64),
        image_id=anns.cat("image_id", i64),
        bbox=anns.cat("bbox", np.zeros((0, 4))),
        bbox_ok=anns.cat("bbox_ok", np.zeros(0, bool)),
        action_ptr=ptr,
        action_ids=anns.cat("action_ids", i64),
        has_actions=anns.cat("has_actions", np.zeros(0, bool)),
        person_id=anns.cat("person_id", i64),
    )
    return keyframes, boxes, others


def read_detection_columns(path: str) -> DetectionColumns:
    """A COCO detection-result list -> columns. Raises :class:`InputFileError` when the file is not such a list
    or an entry lacks ``image_id`` / a 4-number ``bbox``."""
    data = _read(path)
    pos = _skip_ws(data, 0)
    if data[pos : pos + 1] != b"[":
        raise InputFileError(
            "expected a COCO detection-result list [{image_id, bbox, score}, ...]",
            where=_where(data, pos, path),
            fix="write the boxes with tools/detect_boxes.py (or as that list)",
        )
    parts = _Parts()
    with _no_gc():
        _detection_slices(parts, data, pos, path)
    return DetectionColumns(
        image_id=parts.cat("image_id", np.zeros(0, np.int64)),
        bbox=parts.cat("bbox", np.zeros((0, 4))),
        score=parts.cat("score", np.zeros(0)),
    )


def _detection_slices(parts: _Parts, data: bytes, pos: int, path: str) -> None:
    for values, first in _array_slices(data, pos, path):
        if not values:
            break
        dicts = [v if isinstance(v, dict) else {} for v in values]
        bbox, ok = _boxes(dicts)
        image_id = _int_column(dicts, "image_id", default=np.iinfo(np.int64).min)
        bad = np.flatnonzero(~ok | (image_id == np.iinfo(np.int64).min))
        if bad.size:
            n = int(bad[0])
            raise InputFileError(
                f"entry {first + n} ({str(values[n])[:120]}) lacks an image_id or a bbox [x, y, w, h]",
                where=path,
                fix="every detection needs image_id, bbox [x, y, w, h] and score",
            )
        try:
            score = np.fromiter((v.get("score", 1.0) for v in dicts), np.float64, len(dicts))
        except (TypeError, ValueError):
            n = next(n for n, v in enumerate(dicts) if not isinstance(v.get("score", 1.0), (int, float)))
            raise InputFileError(
                f"entry {first + n} has score {dicts[n].get('score')!r}, not a number",
                where=path,
                fix="every detection needs a numeric score",
            ) from None
        parts.add(image_id=image_id, bbox=bbox, score=score)
