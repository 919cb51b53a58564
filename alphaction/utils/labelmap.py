"""AVA label maps (``.pbtxt``): read without protobuf. Used by the evaluator and by the data layer (checking
that concatenated training sets share their classes)."""
from __future__ import annotations

import os
import re
from typing import Union

from .errors import InputFileError, MissingFileError

PathLike = Union[str, "os.PathLike[str]"]

__all__ = ["read_labelmap"]

_FIX = 'write one block per class: item { name: "stand" id: 1 } (or label { name: ... label_id: ... })'


def _bad(path: str, line, what: str) -> InputFileError:
    return InputFileError(what, where=f"{path}:{line}" if line else path, fix=_FIX)


# One token of the text protobuf: a block opening `label {`, a closing brace, a `key: value` field, or a comment.
_PBTXT_TOKEN = re.compile(
    r'(?P<open>\w+)\s*\{|(?P<close>\})|(?P<key>\w+)\s*:\s*(?P<value>"(?:[^"\\\n]|\\.)*"|[^\s{}"]+)|#[^\n]*')


def read_labelmap(path: PathLike) -> dict[int, str]:
    """Parse an AVA label map ``.pbtxt`` without protobuf; returns ``{action_id: name}`` in file order.

    Accepts ``item { name: "..." id: N }`` and the 2019 layout ``label { name: "..." label_id: N
    label_type: ... }``, one field per line or several on a line; other fields are ignored. Every block needs a
    ``name`` and an ``id``/``label_id``; a missing one or a repeated id raises ``InputFileError`` (a ``ValueError``) naming the line.
    """
    where = os.fspath(path)
    if not os.path.isfile(where):
        raise MissingFileError(f"label map not found: {where}", where="labelmap",
                               fix="give the .pbtxt label map of the dataset (e.g. its catalog entry's labelmap_file)")
    try:
        with open(where, encoding="utf-8") as f:
            text = f.read()
    except UnicodeDecodeError as e:
        raise _bad(where, None, f"not UTF-8 text (byte {e.object[e.start:e.start + 1]!r} at offset {e.start})") \
            from None
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
            raise _bad(where, line, f"cannot parse label map near {text[pos:pos + 30]!r}")
        pos = m.end()
        if m.group("open"):
            if block_line:
                raise _bad(where, line, f"nested block inside the block opened at line {block_line}")
            block_line, name, class_id = line, None, None
        elif m.group("close"):
            if not block_line:
                raise _bad(where, line, "'}' without an open block")
            if name is None or class_id is None:
                raise _bad(where, block_line, "label map entry needs both 'name' and 'id'/'label_id'")
            if class_id in labelmap:
                raise _bad(where, block_line, f"action id {class_id} appears twice in the label map")
            labelmap[class_id] = name
            block_line = 0
        elif m.group("key"):
            key, value = m.group("key"), m.group("value")
            if key == "name":
                if not value.startswith('"'):
                    raise _bad(where, line, f"name must be a quoted string, got {value!r}")
                name = value[1:-1]
            elif key in ("id", "label_id"):
                try:
                    class_id = int(value)
                except ValueError:
                    raise _bad(where, line, f"{key} must be an integer, got {value!r}") from None
    if block_line:
        raise _bad(where, block_line, "block is never closed")
    if not labelmap:
        raise _bad(where, None, "no label map entries found")
    return labelmap
