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
import os
import re
from operator import itemgetter
from typing import Iterable, Sequence, Union

import numpy as np

PathLike = Union[str, "os.PathLike[str]"]
Row = tuple  # (video_id, timestamp, x1, y1, x2, y2, action_id, value | None)


def frame_key(video_id: str, timestamp) -> str:
    """The official image key ``"<video_id>,<4-digit second>"``."""
    return "%s,%04d" % (video_id, int(timestamp))


class AvaColumns:
    """The rows of an AVA CSV as columns (what the evaluator works on).

    ``video_ids``: list of ``str``; ``timestamps`` int64 ``[N]``; ``boxes`` float64 ``[N, 4]`` (x1, y1, x2, y2,
    as in the file); ``action_ids`` int64 ``[N]``; ``values`` float64 ``[N]`` (8th column); ``has_value`` bool
    ``[N]`` (False for 7-column rows).
    """

    def __init__(self, video_ids, timestamps, boxes, action_ids, values, has_value):
        self.video_ids = list(video_ids)
        self.timestamps = np.asarray(timestamps, dtype=np.int64).reshape(-1)
        self.boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
        self.action_ids = np.asarray(action_ids, dtype=np.int64).reshape(-1)
        self.values = np.asarray(values, dtype=np.float64).reshape(-1)
        self.has_value = np.asarray(has_value, dtype=bool).reshape(-1)

    def __len__(self) -> int:
        return len(self.video_ids)

    def to_rows(self) -> list[Row]:
        with gc_paused():
            return self._to_rows()

    def _to_rows(self) -> list[Row]:
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
            raise ValueError(f"row {bad} has {len(rows[bad])} fields; expected video_id, timestamp, x1, y1, x2, y2, "
                             "action_id[, score]")
        if 7 in widths:
            rows = [r if len(r) == 8 else (*r, None) for r in rows]
        n = len(rows)
        column = [list(map(itemgetter(i), rows)) for i in (0, 1, 7)]
        video_ids, timestamps, values = column
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
        return cls(video_ids, ts, boxes, action_ids, np.array(values, dtype=np.float64).reshape(n), has_value)


def read_csv(path: PathLike) -> list[Row]:
    """Read an AVA GT or detection CSV (no header, 7 or 8 columns) into rows.

    Blank lines are skipped. Any other malformed line raises ``ValueError`` naming ``path:line``.
    """
    with gc_paused():
        return _read_csv_rows(path)


def read_csv_columns(path: PathLike) -> AvaColumns:
    """:func:`read_csv` as :class:`AvaColumns`."""
    with gc_paused():
        return AvaColumns.from_rows(_read_csv_rows(path))


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


def _read_csv_rows(path: PathLike) -> list[Row]:
    """The per-row reader: ``csv`` module, Python ``int`` / ``float``, errors name ``path:line``."""
    rows: list[Row] = []
    append = rows.append
    with open(path, newline="") as f:
        reader = csv.reader(f)
        for row in reader:
            n = len(row)
            try:
                if n == 8:
                    append((row[0], int(row[1]), float(row[2]), float(row[3]), float(row[4]),
                            float(row[5]), int(row[6]), float(row[7])))
                elif n == 7:
                    append((row[0], int(row[1]), float(row[2]), float(row[3]), float(row[4]),
                            float(row[5]), int(row[6]), None))
                elif n == 0:
                    continue
                else:
                    raise ValueError(f"expected 7 or 8 columns, got {n}")
            except ValueError as e:
                raise ValueError(
                    f"{os.fspath(path)}:{reader.line_num}: bad AVA row {','.join(row)!r} ({e}); expected "
                    "video_id,timestamp(int),x1,y1,x2,y2,action_id(int)[,score|person_id]") from None
    return rows


def write_csv(path: PathLike, rows: Iterable[Sequence]) -> None:
    """Write rows in the official AVA submission format (no header).

    ``video_id,%04d timestamp,x1,y1,x2,y2 (%.5f),action_id,score (%.5f)``; the score column is left out for
    rows whose 8th value is ``None`` or missing (7-column rows).
    """
    with open(path, "w", newline="") as f:
        for row in rows:
            video_id, ts, x1, y1, x2, y2, action_id = row[:7]
            line = "%s,%04d,%.5f,%.5f,%.5f,%.5f,%d" % (video_id, int(ts), x1, y1, x2, y2, int(action_id))
            if len(row) > 7 and row[7] is not None:
                line += ",%.5f" % row[7]
            f.write(line + "\n")


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
                raise ValueError(f"{os.fspath(path)}:{reader.line_num}: bad excluded-timestamp row "
                                 f"{','.join(row)!r} ({e}); expected video_id,timestamp") from None
    return excluded


# One token of the text protobuf: a block opening `label {`, a closing brace, a `key: value` field, or a comment.
_PBTXT_TOKEN = re.compile(
    r'(?P<open>\w+)\s*\{|(?P<close>\})|(?P<key>\w+)\s*:\s*(?P<value>"(?:[^"\\\n]|\\.)*"|[^\s{}"]+)|#[^\n]*')


def read_labelmap(path: PathLike) -> dict[int, str]:
    """Parse an AVA label map ``.pbtxt`` without protobuf; returns ``{action_id: name}`` in file order.

    Accepts ``item { name: "..." id: N }`` and the 2019 layout ``label { name: "..." label_id: N
    label_type: ... }``, one field per line or several on a line; other fields are ignored. Every block needs a
    ``name`` and an ``id``/``label_id``; a missing one or a repeated id raises ``ValueError`` naming the line.
    """
    text = open(path).read()
    where = os.fspath(path)
    labelmap: dict[int, str] = {}
    block_line, name, class_id = 0, None, None
    pos = 0
    while True:
        while pos < len(text) and text[pos].isspace():
            pos += 1
        if pos >= len(text):
            break
        line = text.count("\n", 0, pos) + 1
        m = _PBTXT_TOKEN.match(text, pos)
        if m is None:
            raise ValueError(f"{where}:{line}: cannot parse label map near {text[pos:pos + 30]!r}")
        pos = m.end()
        if m.group("open"):
            if block_line:
                raise ValueError(f"{where}:{line}: nested block inside the block opened at line {block_line}")
            block_line, name, class_id = line, None, None
        elif m.group("close"):
            if not block_line:
                raise ValueError(f"{where}:{line}: '}}' without an open block")
            if name is None or class_id is None:
                raise ValueError(f"{where}:{block_line}: label map entry needs both 'name' and 'id'/'label_id'")
            if class_id in labelmap:
                raise ValueError(f"{where}:{block_line}: action id {class_id} appears twice in the label map")
            labelmap[class_id] = name
            block_line = 0
        elif m.group("key"):
            key, value = m.group("key"), m.group("value")
            if key == "name":
                if not value.startswith('"'):
                    raise ValueError(f"{where}:{line}: name must be a quoted string, got {value!r}")
                name = value[1:-1]
            elif key in ("id", "label_id"):
                try:
                    class_id = int(value)
                except ValueError:
                    raise ValueError(f"{where}:{line}: {key} must be an integer, got {value!r}") from None
    if block_line:
        raise ValueError(f"{where}:{block_line}: block is never closed")
    if not labelmap:
        raise ValueError(f"{where}: no label map entries found (expected item {{ name: \"...\" id: N }})")
    return labelmap
