"""AVA label maps (``.pbtxt``): read without protobuf. Used by the evaluator and by the data layer (checking
that concatenated training sets share their classes)."""

from __future__ import annotations

import os
import re
from typing import Union

from .errors import InputFileError, MissingFileError

PathLike = Union[str, "os.PathLike[str]"]

__all__ = ["read_labelmap", "read_label_types", "class_layout", "LABEL_TYPES"]

# AVA's label_type values, in the order of the head's class groups (pose softmax, then the two sigmoid groups)
LABEL_TYPES = ("PERSON_MOVEMENT", "OBJECT_MANIPULATION", "PERSON_INTERACTION")

_FIX = 'write one block per class: item { name: "stand" id: 1 } (or label { name: ... label_id: ... })'


def _bad(path: str, line, what: str) -> InputFileError:
    return InputFileError(what, where=f"{path}:{line}" if line else path, fix=_FIX)


# One token of the text protobuf: a block opening `label {`, a closing brace, a `key: value` field, or a comment.
_PBTXT_TOKEN = re.compile(
    r'(?P<open>\w+)\s*\{|(?P<close>\})|(?P<key>\w+)\s*:\s*(?P<value>"(?:[^"\\\n]|\\.)*"|[^\s{}"]+)|#[^\n]*'
)


def read_labelmap(path: PathLike) -> dict[int, str]:
    """``{action_id: name}`` of an AVA label map ``.pbtxt``, in file order (see :func:`_parse`)."""
    return _parse(path)[0]


def read_label_types(path: PathLike) -> dict[int, str]:
    """``{action_id: label_type}`` of the entries of a label map that carry a ``label_type`` field (AVA's 2019
    files: ``PERSON_MOVEMENT``, ``OBJECT_MANIPULATION``, ``PERSON_INTERACTION``); empty when none does."""
    return _parse(path)[1]


def class_layout(path: PathLike) -> tuple[int, tuple[int, int, int] | None]:
    """``(NUM_CLASSES, (pose, object, interaction) counts or None)`` of the head a label map asks for.

    The detector's output ``c`` is action id ``c + 1``, so the head needs ``max id`` outputs (AVA's 60-class
    evaluation list has ids up to 80: 80 outputs). The groups come from the ``label_type`` fields when the ids are
    ``1..K`` without gaps, every entry has one and they follow the head's order (all ``PERSON_MOVEMENT`` ids, then
    ``OBJECT_MANIPULATION``, then ``PERSON_INTERACTION``); otherwise None (the caller asks for them).
    """
    where = os.fspath(path)
    labelmap, types = _parse(path)
    ids = sorted(labelmap)
    if ids[0] < 1:
        raise InputFileError(
            f"label map id {ids[0]}: ids start at 1 (the head's output c is action id c + 1)",
            where=where,
            fix="number the classes 1..K",
        )
    if not types or ids != list(range(1, len(ids) + 1)) or len(types) != len(ids):
        return ids[-1], None
    unknown = sorted({t for t in types.values() if t not in LABEL_TYPES})
    if unknown:
        raise InputFileError(
            f"unknown label_type {', '.join(unknown)}",
            where=where,
            fix="use " + ", ".join(LABEL_TYPES) + " (or leave label_type out)",
        )
    rank = [LABEL_TYPES.index(types[i]) for i in ids]
    if rank != sorted(rank):
        k = next(i for i, (a, b) in enumerate(zip(rank, rank[1:])) if b < a) + 2  # the first id out of order
        raise InputFileError(
            f"id {k} is {types[k]} after id {k - 1} of type {types[k - 1]}, but the head's class "
            "groups are consecutive ids",
            where=where,
            fix="number the PERSON_MOVEMENT classes first, then OBJECT_MANIPULATION, then "
            "PERSON_INTERACTION (AVA's order), or leave label_type out and give the groups",
        )
    return len(ids), tuple(rank.count(k) for k in range(3))  # type: ignore[return-value]


def _parse(path: PathLike) -> tuple[dict[int, str], dict[int, str]]:
    """Parse an AVA label map ``.pbtxt`` without protobuf: ``({action_id: name}, {action_id: label_type})`` in
    file order.

    Accepts ``item { name: "..." id: N }`` and the 2019 layout ``label { name: "..." label_id: N
    label_type: ... }``, one field per line or several on a line; other fields are ignored. Every block needs a
    ``name`` and an ``id``/``label_id``; a missing one or a repeated id raises ``InputFileError`` (a
    ``ValueError``) naming the line.
    """
    where = os.fspath(path)
    if not os.path.isfile(where):
        raise MissingFileError(
            f"label map not found: {where}",
            where="labelmap",
            fix="give the .pbtxt label map of the dataset (e.g. its catalog entry's labelmap_file)",
        )
    try:
        with open(where, encoding="utf-8") as f:
            text = f.read()
    except UnicodeDecodeError as e:
        raise _bad(
            where, None, f"not UTF-8 text (byte {e.object[e.start : e.start + 1]!r} at offset {e.start})"
        ) from None
    labelmap: dict[int, str] = {}
    types: dict[int, str] = {}
    block_line, name, class_id, label_type = 0, None, None, None
    pos = 0
    while True:
        while pos < len(text) and text[pos].isspace():
            pos += 1
        if pos >= len(text):
            break
        line = text.count("\n", 0, pos) + 1
        m = _PBTXT_TOKEN.match(text, pos)
        if m is None:
            raise _bad(where, line, f"cannot parse label map near {text[pos : pos + 30]!r}")
        pos = m.end()
        if m.group("open"):
            if block_line:
                raise _bad(where, line, f"nested block inside the block opened at line {block_line}")
            block_line, name, class_id, label_type = line, None, None, None
        elif m.group("close"):
            if not block_line:
                raise _bad(where, line, "'}' without an open block")
            if name is None or class_id is None:
                raise _bad(where, block_line, "label map entry needs both 'name' and 'id'/'label_id'")
            if class_id in labelmap:
                raise _bad(where, block_line, f"action id {class_id} appears twice in the label map")
            labelmap[class_id] = name
            if label_type is not None:
                types[class_id] = label_type
            block_line = 0
        elif m.group("key"):
            key, value = m.group("key"), m.group("value")
            if key == "name":
                if not value.startswith('"'):
                    raise _bad(where, line, f"name must be a quoted string, got {value!r}")
                name = value[1:-1]
            elif key == "label_type":
                label_type = value.strip('"')
            elif key in ("id", "label_id"):
                try:
                    class_id = int(value)
                except ValueError:
                    raise _bad(where, line, f"{key} must be an integer, got {value!r}") from None
    if block_line:
        raise _bad(where, block_line, "block is never closed")
    if not labelmap:
        raise _bad(where, None, "no label map entries found")
    return labelmap, types
