"""Readers and writers for the AVA evaluation files (CSV rows, label map, excluded timestamps).

A *row* is the tuple ``(video_id, timestamp, x1, y1, x2, y2, action_id, value)``: ``str``, ``int``,
four ``float`` coordinates normalized to ``[0, 1]`` (x first, as in the files), ``int`` action id, and
``value`` = the 8th column as ``float`` (detection score, or the person id in GT files) or ``None`` when
the file has 7 columns. A *frame key* is ``"%s,%04d" % (video_id, timestamp)``, as in the official code.
"""

from __future__ import annotations

import contextlib
import csv
import gc
import io
import os
from operator import itemgetter
from typing import Iterable, Optional, Sequence, Union

import numpy as np

from ...utils.errors import InputFileError
from ...utils.labelmap import read_labelmap  # noqa: F401 (part of this module's interface)
from . import fastcsv
from .fastcsv import round_like_csv

PathLike = Union[str, "os.PathLike[str]"]
Row = tuple  # (video_id, timestamp, x1, y1, x2, y2, action_id, value | None)


def frame_key(video_id: str, timestamp) -> str:
    """The official image key ``"<video_id>,<4-digit second>"``."""
    return "%s,%04d" % (video_id, int(timestamp))


class AvaColumns:
    """The rows of an AVA CSV as columns (what the evaluator works on; also its in-memory input).

    ``videos``: the distinct video ids (``str``); ``video_index`` int64 ``[N]`` indexes them per row;
    ``timestamps`` int64 ``[N]``; ``boxes`` float64 ``[N, 4]`` (x1, y1, x2, y2, normalized, as in the files);
    ``action_ids`` int64 ``[N]``; ``values`` float64 ``[N]`` (8th column: score, or person id in GT files);
    ``has_value`` bool ``[N]`` (False for 7-column rows, whose value counts as 1.0 like the official reader).
    Row order matters (it is the file order, which decides ties at the 50-per-frame cap).
    """

    def __init__(self, videos: Sequence[str], video_index, timestamps, boxes, action_ids, values=None, has_value=None):
        self.videos = [str(v) for v in videos]
        self.video_index = np.asarray(video_index, dtype=np.int64).reshape(-1)
        n = len(self.video_index)
        self.timestamps = np.asarray(timestamps, dtype=np.int64).reshape(-1)
        self.boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
        self.action_ids = np.asarray(action_ids, dtype=np.int64).reshape(-1)
        if values is None:
            self.values = np.ones(n)
            self.has_value = np.zeros(n, dtype=bool) if has_value is None else np.asarray(has_value, bool)
        else:
            self.values = np.asarray(values, dtype=np.float64).reshape(-1)
            self.has_value = (
                np.ones(n, dtype=bool) if has_value is None else np.asarray(has_value, dtype=bool).reshape(-1)
            )
        lengths = {len(self.timestamps), len(self.boxes), len(self.action_ids), len(self.values), len(self.has_value)}
        if lengths != {n}:
            raise ValueError(
                f"AVA columns must have one entry per row: got lengths video_index={n}, "
                f"timestamps={len(self.timestamps)}, boxes={len(self.boxes)}, "
                f"action_ids={len(self.action_ids)}, values={len(self.values)}"
            )
        if n and (self.video_index.min() < 0 or self.video_index.max() >= len(self.videos)):
            raise ValueError(f"video_index must lie in [0, {len(self.videos)}) (one entry of videos per code)")

    @classmethod
    def from_arrays(cls, video_ids, timestamps, boxes, action_ids, scores=None) -> "AvaColumns":
        """Columns from per-row arrays: ``video_ids`` (``str`` per row), ``timestamps`` (int, or strings such as
        ``"0902"``), ``boxes`` ``[N, 4]`` x1, y1, x2, y2, ``action_ids``, optional ``scores`` / person ids."""
        video_ids = np.asarray(video_ids, dtype=str).reshape(-1)
        videos, index = np.unique(video_ids, return_inverse=True)
        ts = np.asarray(timestamps)
        if ts.dtype.kind in "USO":
            ts = np.array([int(t) for t in ts.reshape(-1).tolist()], dtype=np.int64)
        return cls(videos.tolist(), index.reshape(-1), ts, boxes, action_ids, scores)

    @property
    def video_ids(self) -> list[str]:
        """The video id of every row (a Python list: for small tables and tests)."""
        return [self.videos[i] for i in self.video_index.tolist()]

    def __len__(self) -> int:
        return len(self.video_index)

    def rounded(self, decimals: int = 5) -> "AvaColumns":
        """Boxes and values as :func:`write_csv` writes and :func:`read_csv_columns` reads them back (exactly),
        so scoring the rounded columns in memory gives the number a user gets from the CSV."""
        boxes = np.stack([round_like_csv(self.boxes[:, j], decimals) for j in range(4)], axis=1)
        values = np.where(
            self.has_value, round_like_csv(np.where(self.has_value, self.values, 0.0), decimals), self.values
        )
        return AvaColumns(
            self.videos, self.video_index, self.timestamps, boxes, self.action_ids, values, self.has_value
        )

    def to_rows(self) -> list[Row]:
        with gc_paused():
            values = [v if h else None for v, h in zip(self.values.tolist(), self.has_value.tolist())]
            x1, y1, x2, y2 = self.boxes.T.tolist()
            return list(zip(self.video_ids, self.timestamps.tolist(), x1, y1, x2, y2, self.action_ids.tolist(), values))

    @classmethod
    def from_rows(cls, rows: Iterable[Sequence]) -> "AvaColumns":
        """Rows ``(video_id, timestamp, x1, y1, x2, y2, action_id[, value])``; a ``None`` value counts as missing."""
        with gc_paused():
            return cls._from_rows(rows)

    @classmethod
    def _from_rows(cls, rows: Iterable[Sequence]) -> "AvaColumns":
        rows = rows if isinstance(rows, list) else list(rows)
        widths = set(map(len, rows))
        if not widths <= {7, 8}:
            bad = next(i for i, r in enumerate(rows) if len(r) not in (7, 8))
            raise ValueError(
                f"row {bad} has {len(rows[bad])} fields; expected video_id, timestamp, x1, y1, x2, y2, "
                "action_id[, score]"
            )
        if 7 in widths:
            rows = [r if len(r) == 8 else (*r, None) for r in rows]
        n = len(rows)
        video_ids, timestamps, values = (list(map(itemgetter(i), rows)) for i in (0, 1, 7))
        index: dict[str, int] = {}
        codes = np.fromiter((index.setdefault(v, len(index)) for v in video_ids), dtype=np.int64, count=n)
        try:
            ts = np.fromiter(timestamps, dtype=np.int64, count=n)
        except (TypeError, ValueError):  # strings or floats: int() semantics, as the official key
            ts = np.array([int(t) for t in timestamps], dtype=np.int64)
        boxes = np.empty((n, 4))
        for j in range(4):
            boxes[:, j] = np.fromiter(map(itemgetter(2 + j), rows), dtype=np.float64, count=n)
        action_ids = np.fromiter(map(itemgetter(6), rows), dtype=np.int64, count=n)
        has_value = np.fromiter((v is not None for v in values), dtype=bool, count=n)
        if not has_value.all():
            values = [1.0 if v is None else v for v in values]
        return cls(list(index), codes, ts, boxes, action_ids, np.array(values, dtype=np.float64).reshape(n), has_value)


def read_csv(path: PathLike, allow_header: bool = False) -> list[Row]:
    """Read an AVA GT or detection CSV (no header, 7 or 8 columns) into rows.

    Blank lines are skipped. Any other malformed line raises ``ValueError`` naming ``path:line``. With
    ``allow_header`` a first line naming the columns (``video_id,timestamp,...``: a timestamp field that is not a
    number) is skipped, for hand-written annotation files; the official files have none.
    """
    with gc_paused():
        with open(path, newline="") as f:
            first_line = 1
            if allow_header:
                head = f.readline()
                fields = next(csv.reader([head]), [])
                if len(fields) > 1 and not fields[1].strip().lstrip("-").isdigit():
                    first_line = 2
                else:
                    f.seek(0)
            return _parse_rows(f, first_line, path)


def read_csv_columns(path: PathLike, row_filter=None) -> AvaColumns:
    """Read an AVA CSV into :class:`AvaColumns` with the vectorized reader (``fastcsv``); same values as
    :func:`read_csv` bit for bit, same ``path:line`` errors. ``row_filter``: see ``fastcsv.read_columns``."""

    def slow(text: str, first_line: int) -> tuple:
        with gc_paused():
            c = AvaColumns.from_rows(_parse_rows(io.StringIO(text, newline=""), first_line, path))
        return c.videos, c.video_index, c.timestamps, c.boxes, c.action_ids, c.values, c.has_value

    return AvaColumns(*fastcsv.read_columns(path, slow, row_filter=row_filter))


def locate_row(path: PathLike, test) -> Optional[int]:
    """The 1-based line number of the first row of the AVA CSV ``path`` for which ``test(row)`` holds (rows as
    :func:`read_csv` gives them, unparsable lines skipped), or None. For error messages: a slow scan."""
    with open(path, newline="", encoding="utf-8", errors="replace") as f:
        reader = csv.reader(f)
        for row in reader:
            if len(row) not in (7, 8):
                continue
            try:
                parsed = (
                    row[0],
                    int(row[1]),
                    *(float(v) for v in row[2:6]),
                    int(row[6]),
                    float(row[7]) if len(row) == 8 else None,
                )
            except ValueError:
                continue
            if test(parsed):
                return reader.line_num
    return None


def first_undecodable_line(path: PathLike) -> Optional[tuple[int, bytes]]:
    """``(line number, bad bytes)`` of the first line of ``path`` that is not UTF-8 text, or None."""
    with open(path, "rb") as f:
        for number, line in enumerate(f, start=1):
            try:
                line.decode("utf-8")
            except UnicodeDecodeError as e:
                return number, line[e.start : e.end]
    return None


@contextlib.contextmanager
def gc_paused():
    """Pause the cyclic garbage collector while millions of small tuples are built.

    Those allocations would trigger repeated full collections that scan every tuple built so far (measured:
    2-3x slower for a 1M-row file); the tuples hold no cycles, so nothing is lost by collecting afterwards.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _parse_rows(lines, first_line: int, path: PathLike) -> list[Row]:
    """The per-row reader: ``csv`` module, Python ``int`` / ``float``, errors name ``path:line``."""
    rows: list[Row] = []
    append = rows.append
    reader = csv.reader(lines)
    for row in reader:
        n = len(row)
        try:
            if n == 8:
                append(
                    (
                        row[0],
                        int(row[1]),
                        float(row[2]),
                        float(row[3]),
                        float(row[4]),
                        float(row[5]),
                        int(row[6]),
                        float(row[7]),
                    )
                )
            elif n == 7:
                append(
                    (row[0], int(row[1]), float(row[2]), float(row[3]), float(row[4]), float(row[5]), int(row[6]), None)
                )
            elif n == 0:
                continue
            else:
                raise ValueError(f"expected 7 or 8 columns, got {n}")
        except ValueError as e:
            raise InputFileError(
                f"bad AVA row {','.join(row)!r} ({e})",
                where=f"{os.fspath(path)}:{first_line - 1 + reader.line_num}",
                fix="each row is video_id,timestamp(int),x1,y1,x2,y2,action_id(int)[,score|person_id], no header",
            ) from None
    return rows


def write_csv(path: PathLike, rows: Union[AvaColumns, Iterable[Sequence]]) -> None:
    """Write rows in the official AVA submission format (no header).

    ``video_id,%04d timestamp,x1,y1,x2,y2 (%.5f),action_id,score (%.5f)``; the score column is left out for
    rows whose 8th value is ``None`` or missing (7-column rows). :class:`AvaColumns` are formatted vectorized
    (a row-by-row fallback covers values outside the fixed-width layout); the numbers read back equal
    ``columns.rounded()`` exactly.
    """
    if isinstance(rows, AvaColumns):
        _write_columns(path, rows)
        return
    with open(path, "w", newline="") as f:
        for row in rows:
            video_id, ts, x1, y1, x2, y2, action_id = row[:7]
            line = "%s,%04d,%.5f,%.5f,%.5f,%.5f,%d" % (video_id, int(ts), x1, y1, x2, y2, int(action_id))
            if len(row) > 7 and row[7] is not None:
                line += ",%.5f" % row[7]
            f.write(line + "\n")


def _write_columns(path: PathLike, columns: AvaColumns, chunk_rows: int = 1 << 19) -> None:
    mixed = columns.has_value.any() and not columns.has_value.all()
    with open(path, "wb") as f:
        for lo in range(0, len(columns), chunk_rows):
            sl = slice(lo, lo + chunk_rows)
            text = (
                None
                if mixed
                else fastcsv.format_chunk(
                    columns.videos,
                    columns.video_index[sl],
                    columns.timestamps[sl],
                    columns.boxes[sl],
                    columns.action_ids[sl],
                    columns.values[sl] if columns.has_value.any() else None,
                )
            )
            if text is None:  # outside the fixed-width fast path: format row by row
                part = AvaColumns(
                    columns.videos,
                    columns.video_index[sl],
                    columns.timestamps[sl],
                    columns.boxes[sl],
                    columns.action_ids[sl],
                    columns.values[sl],
                    columns.has_value[sl],
                )
                buffer = io.StringIO()
                for video_id, ts, x1, y1, x2, y2, action_id, value in part.to_rows():
                    line = "%s,%04d,%.5f,%.5f,%.5f,%.5f,%d" % (video_id, ts, x1, y1, x2, y2, action_id)
                    buffer.write(line + (",%.5f\n" % value if value is not None else "\n"))
                text = buffer.getvalue().encode()
            f.write(text)


def read_exclusions(path: PathLike) -> set[str]:
    """Read an excluded-timestamps CSV (``video_id,timestamp``, exactly two columns) into frame keys."""
    excluded = set()
    with open(path, newline="") as f:
        reader = csv.reader(f)
        for row in reader:
            if not row:
                continue
            try:
                if len(row) != 2:
                    raise ValueError(f"expected exactly 2 columns, got {len(row)}")
                excluded.add(frame_key(row[0], int(row[1])))
            except ValueError as e:
                raise InputFileError(
                    f"bad excluded-timestamp row {','.join(row)!r} ({e})",
                    where=f"{os.fspath(path)}:{reader.line_num}",
                    fix="each row is video_id,timestamp (two columns, no header)",
                ) from None
    return excluded
