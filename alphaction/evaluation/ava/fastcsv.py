"""Vectorized (numpy-only) reading and writing of AVA CSV files.

The reader works on byte chunks of whole lines: separators are located with one comparison per byte, fields
are gathered as ``[rows, width]`` byte blocks and turned into numbers with integer arithmetic. A decimal
``[-]digits[.digits]`` with at most 15 significant digits is converted as ``mantissa / 10**k``, one correctly
rounded IEEE division of two exact doubles, so the result is bit-identical to Python's ``float(text)``.
Anything else in a chunk (quotes, exponents, a row with another column count, a bad value) sends that chunk
to the per-row reader, which also gives the ``path:line`` error messages.

The writer formats numbers from exact 5-decimal integers (:func:`csv_decimals`), so a value written and read
back equals :func:`round_like_csv` of the value in memory.
"""

from __future__ import annotations

import os
from typing import Callable, Optional

import numpy as np
from numpy.lib.stride_tricks import as_strided

CHUNK_BYTES = 2 << 20  # bytes parsed at once: the temporaries (about 10x the chunk) stay cache- and heap-resident
READ_THREADS = 2  # chunks parsed at once (threads; capped at the CPU count)
_PAD = 32  # zero bytes after a chunk, so fixed-width gathers never leave the buffer
_POW10_INT = 10 ** np.arange(19, dtype=np.int64)
_POW10_FLOAT = 10.0 ** np.arange(23)  # exact doubles up to 1e22


def csv_decimals(x: np.ndarray, decimals: int = 5) -> np.ndarray:
    """``int(("%.{decimals}f" % v).replace(".", ""))`` for every ``v``, vectorized: float64 ``[N]`` -> int64.

    ``rint(v * 10**d)`` is exact except when the product rounds across a ``.5`` boundary; those few values
    (within 1e-6 of one) are formatted by Python. Values whose scaled magnitude reaches 1e12 are refused.
    """
    x = np.asarray(x, dtype=np.float64)
    scaled = x * 10.0**decimals
    if not np.isfinite(scaled).all() or (np.abs(scaled) >= 1e12).any():
        raise ValueError("values to write must be finite and below 1e7 in magnitude")
    k = np.rint(scaled)
    near_half = np.flatnonzero(np.abs(np.abs(scaled - np.trunc(scaled)) - 0.5) < 1e-6)
    for i in near_half.tolist():
        k[i] = float(("%.*f" % (decimals, x[i])).replace(".", ""))
    return k.astype(np.int64)


def round_like_csv(x: np.ndarray, decimals: int = 5) -> np.ndarray:
    """The float64 values that writing ``x`` with ``%.{decimals}f`` and reading it back gives (bit for bit).

    ``k / 10**d`` is one correctly rounded division, which is what ``float("k-with-a-dot")`` returns.
    """
    x = np.asarray(x, dtype=np.float64)
    out = csv_decimals(x, decimals) / 10.0**decimals
    return np.where(np.signbit(x) & (out == 0), -0.0, out)  # "%.5f" % -1e-9 == "-0.00000"


# ---------------------------------------------------------------------------------------------- reading


def parse_numbers(buf: np.ndarray, start: np.ndarray, end: np.ndarray, integer: bool):
    """Parse the fields ``buf[start[i]:end[i]]``; returns ``(values, ok)`` or ``None`` when nothing parses.

    ``values``: float64 (or int64 when ``integer``); ``ok`` is False for a field that is not a plain decimal
    (or, for ``integer``, not ``[-]digits``), whose value is then meaningless.
    """
    n = len(start)
    width = end - start
    if n == 0:
        return np.zeros(0, np.int64 if integer else np.float64), np.ones(0, bool)
    w_max, w_min = int(width.max()), int(width.min())
    if w_min < 1 or w_max > 24:
        return None
    if w_min == w_max and w_max <= 8:
        words = np.ndarray((len(buf) - 8,), dtype="<u8", buffer=buf, strides=(1,))[start]  # unaligned loads
        fast = _parse_uniform(words, w_max, integer)
        if fast is not None:
            return fast, np.ones(n, bool)
    if integer and w_max <= 8:
        words = np.ndarray((len(buf) - 8,), dtype="<u8", buffer=buf, strides=(1,))[start]
        fast = _parse_varying_integers(words, width)
        if fast is not None:
            return fast, np.ones(n, bool)
    block = as_strided(buf, shape=(len(buf) - _PAD, w_max), strides=(1, 1))[start]  # [n, w_max] copy
    return _parse_general(block, width, integer)


def _parse_varying_integers(words: np.ndarray, width: np.ndarray):
    """Unsigned integers of 1..8 digits, of different widths (e.g. action ids 1..80), read as uint64 words."""
    shift = np.uint64(8) * width.astype(np.uint64)
    keep = np.where(width >= 8, np.uint64(0xFFFFFFFFFFFFFFFF), (np.uint64(1) << (shift % np.uint64(64))) - np.uint64(1))
    digits = words & keep
    zeros = np.uint64(0x3030303030303030) & keep
    ok = (digits & (np.uint64(0xF0F0F0F0F0F0F0F0) & keep)) == zeros
    ok &= (
        ((digits & np.uint64(0x0F0F0F0F0F0F0F0F)) + (np.uint64(0x0606060606060606) & keep))
        & (np.uint64(0x1010101010101010) & keep)
    ) == 0
    if not ok.all():
        return None
    x = digits - zeros
    x = (x * np.uint64(10) + (x >> np.uint64(8))) & np.uint64(0x00FF00FF00FF00FF)
    x = (x * np.uint64(100) + (x >> np.uint64(16))) & np.uint64(0x0000FFFF0000FFFF)
    x = (x * np.uint64(10000) + (x >> np.uint64(32))) & np.uint64(0xFFFFFFFF)
    return (x // _POW10_INT[8 - width].astype(np.uint64)).astype(np.int64)


def _byte_pattern(values_at: dict) -> np.uint64:
    return np.uint64(sum(int(v) << (8 * k) for k, v in values_at.items()))


def _parse_uniform(words: np.ndarray, width: int, integer: bool):
    """Fields of one width (<= 8) and one layout (digits, or digits '.' digits at the same place), each read
    as a little-endian uint64 ``words`` (bytes past ``width`` belong to the next field and are ignored)."""
    first = words[:1].view(np.uint8)[:width]
    dot = np.flatnonzero(first == 46)
    if len(dot) > 1 or (integer and len(dot)):
        return None
    digit_at = [k for k in range(width) if k not in dot.tolist()]
    if not digit_at or len(digit_at) > 15:
        return None
    # SWAR layout check of every row at once: digit bytes are 0x30..0x39, the dot byte is '.'
    high = _byte_pattern({k: 0xF0 for k in digit_at})
    low = _byte_pattern({k: 0x0F for k in digit_at})
    ok = (words & high) == _byte_pattern({k: 0x30 for k in digit_at})
    carry = ((words & low) + _byte_pattern({k: 0x06 for k in digit_at})) & _byte_pattern({k: 0x10 for k in digit_at})
    ok &= carry == 0
    if len(dot):
        ok &= (words & _byte_pattern({int(dot[0]): 0xFF})) == _byte_pattern({int(dot[0]): 46})
    if not ok.all():
        return None
    # the 8 bytes as an 8-digit number (first byte most significant; dot and bytes past the field as 0),
    # with the SWAR multiply-shift steps of simdjson's parse_eight_digits; then split at the dot
    x = (words & _byte_pattern({k: 0xFF for k in digit_at})) - _byte_pattern({k: 0x30 for k in digit_at})
    x = (x * np.uint64(10) + (x >> np.uint64(8))) & np.uint64(0x00FF00FF00FF00FF)
    x = (x * np.uint64(100) + (x >> np.uint64(16))) & np.uint64(0x0000FFFF0000FFFF)
    x = (x * np.uint64(10000) + (x >> np.uint64(32))) & np.uint64(0xFFFFFFFF)
    if not len(dot):
        mantissa = x // np.uint64(10 ** (8 - width)) if width < 8 else x
        return mantissa.astype(np.int64) if integer else mantissa.astype(np.float64)
    p = int(dot[0])
    integer_part = x // np.uint64(10 ** (8 - p))
    fraction = (
        (x - integer_part * np.uint64(10 ** (8 - p))) // np.uint64(10 ** (8 - width))
        if width < 8
        else x - integer_part * np.uint64(10 ** (8 - p))
    )
    mantissa = integer_part * np.uint64(10 ** (width - 1 - p)) + fraction
    return mantissa.astype(np.float64) / _POW10_FLOAT[width - 1 - p]


def _parse_general(block: np.ndarray, width: np.ndarray, integer: bool):
    n, w = block.shape
    column = np.arange(w, dtype=np.int32)
    inside = column < width[:, None]
    digits = block - np.uint8(48)
    is_digit = (digits < 10) & inside
    is_dot = (block == 46) & inside
    negative = block[:, 0] == 45
    other = inside & ~is_digit & ~is_dot
    other[:, 0] &= ~negative
    num_digits = is_digit.sum(1)
    num_dots = is_dot.sum(1)
    ok = ~other.any(1) & (num_digits >= 1) & (num_digits <= 15) & (num_dots <= (0 if integer else 1))
    # digits right of each position -> its power of ten
    right = num_digits[:, None] - np.cumsum(is_digit, axis=1)
    mantissa = (np.where(is_digit, digits, 0) * _POW10_INT[np.clip(right, 0, 18)]).sum(1)
    mantissa = np.where(negative, -mantissa, mantissa)
    if integer:
        return mantissa, ok
    dot_at = np.where(num_dots > 0, is_dot.argmax(1), w)
    frac = (is_digit & (column > dot_at[:, None])).sum(1)
    values = mantissa / _POW10_FLOAT[frac]
    values[negative & (mantissa == 0)] = -0.0
    return values, ok


def _parse_chunk(data: bytes):
    """One chunk of whole lines -> column arrays, or ``None`` when the chunk needs the per-row reader.

    Returns ``(names, video_codes, timestamps, boxes, action_ids, values, has_value, newlines)`` where ``names``
    are the distinct video ids (``str``) in this chunk, ``video_codes`` index them and ``newlines`` counts the
    chunk's ``\n`` bytes (blank lines included).
    """
    buf = np.zeros(len(data) + _PAD, dtype=np.uint8)
    buf[: len(data)] = np.frombuffer(data, dtype=np.uint8)
    if (buf == 34).any():  # quotes: csv module semantics
        return None
    separators = np.flatnonzero((buf == 10) | (buf == 44))  # one scan for both newlines and commas
    is_newline = buf[separators] == 10
    line_end = separators[is_newline]
    commas = separators[~is_newline]
    del separators, is_newline
    newlines = len(line_end)
    line_start = np.concatenate([[0], line_end[:-1] + 1])
    if (buf[np.maximum(line_end - 1, 0)] == 13).any():
        line_end = line_end - (buf[np.maximum(line_end - 1, 0)] == 13)
    nonblank = line_end > line_start
    line_start, line_end = line_start[nonblank], line_end[nonblank]
    n = len(line_start)
    if n == 0 or len(commas) % n:
        return None if n else _empty_chunk() + (newlines,)
    num_commas = len(commas) // n
    if num_commas not in (6, 7):
        return None
    commas = commas.reshape(n, num_commas)
    # every line must hold exactly its own commas
    if not ((commas[:, 0] > line_start) & (commas[:, -1] < line_end)).all():
        return None
    starts = [line_start] + [commas[:, j] + 1 for j in range(num_commas)]
    ends = [commas[:, j] for j in range(num_commas)] + [line_end]

    parsed = []
    for j in range(1, num_commas + 1):
        out = parse_numbers(buf, starts[j], ends[j], integer=j in (1, 6))
        if out is None or not out[1].all():
            return None
        parsed.append(out[0])
    names, codes = _factorize_field(buf, starts[0], ends[0])
    if names is None:
        return None
    boxes = np.stack(parsed[1:5], axis=1)
    if num_commas == 7:
        values, has_value = parsed[6], np.ones(n, bool)
    else:
        values, has_value = np.ones(n), np.zeros(n, bool)
    return names, codes, parsed[0], boxes, parsed[5], values, has_value, newlines


def _empty_chunk():
    return (
        [],
        np.zeros(0, np.int64),
        np.zeros(0, np.int64),
        np.zeros((0, 4)),
        np.zeros(0, np.int64),
        np.zeros(0),
        np.zeros(0, bool),
    )


def _factorize_field(buf: np.ndarray, start: np.ndarray, end: np.ndarray):
    """Distinct strings of a text field and the code of every row (rows are mostly grouped by video)."""
    width = end - start
    w = int(width.max())
    if width.min() < 1 or w > 1024:
        return None, None
    block = (
        as_strided(buf, shape=(len(buf) - _PAD, w), strides=(1, 1))[start]
        if w <= _PAD
        else np.stack([buf[np.minimum(start + j, len(buf) - 1)] for j in range(w)], axis=1)
    )
    block = np.where(np.arange(w) < width[:, None], block, 0)
    keys = np.ascontiguousarray(block).view(f"V{w}").reshape(-1)
    new_run = np.ones(len(keys), bool)
    new_run[1:] = keys[1:] != keys[:-1]
    run_first = np.flatnonzero(new_run)
    if len(run_first) > len(keys) // 8:
        uniq, codes = np.unique(keys, return_inverse=True)
        names = [bytes(u).rstrip(b"\0").decode() for u in uniq]
        return names, codes.reshape(-1)
    index: dict[bytes, int] = {}
    run_code = np.array(
        [index.setdefault(block[i, : width[i]].tobytes(), len(index)) for i in run_first.tolist()], dtype=np.int64
    )
    codes = np.repeat(run_code, np.diff(np.append(run_first, len(keys))))
    return [k.decode() for k in index], codes


def _filtered(chunk, row_filter: Optional[Callable]):
    """``(chunk with the rows row_filter keeps, runs)``: ``row_filter(codes, timestamps, boxes, actions, values,
    has_value) -> (keep, (first rows, flags))`` names blocks of rows by their first row; ``runs`` gives those
    blocks' ``(video codes, timestamps, flags)`` (chunk-local codes)."""
    if chunk is None or row_filter is None or not len(chunk[1]):
        return chunk, None
    keep, (first_rows, flags) = row_filter(*chunk[1:7])
    runs = (chunk[1][first_rows], chunk[2][first_rows], flags)
    if keep.all():
        return chunk, runs
    return (chunk[0],) + tuple(a[keep] for a in chunk[1:7]) + (chunk[7],), runs


def read_columns(path, slow_reader: Callable, chunk_bytes: Optional[int] = None, row_filter: Optional[Callable] = None):
    """Read an AVA CSV in chunks of whole lines with :func:`_parse_chunk`, falling back to
    ``slow_reader(text, first_line_number)`` for chunks it declines; it returns the chunk's columns ``(video names,
    video codes, timestamps, boxes [N, 4], action ids, values, has_value)``.

    ``row_filter`` (e.g. ``prefilter.CapPrefilter``), when given, is applied to every chunk as it is parsed (in
    the parsing threads), so rows it drops are never held: ``row_filter(video_codes, timestamps, boxes,
    action_ids, values, has_value) -> (keep, (first rows of blocks, flags))``; the blocks go to
    ``row_filter.collect(video_codes, timestamps, flags)`` in file order with file-wide codes. With its
    ``frame_aligned`` set, chunks end where the video id and timestamp of the lines change.

    Returns ``(video_names, video_codes, timestamps, boxes, action_ids, values, has_value)``.

    Chunks are small (:data:`CHUNK_BYTES`, read at call time) so that the parser's temporaries stay in the CPU
    caches and are reused by the allocator instead of being page-faulted afresh for every chunk (with 32 MiB
    chunks half of the read time was the kernel zeroing new pages). Parsed rows go straight into preallocated
    output columns (sized from the file size and the first chunk's bytes per row, grown if needed), so no
    second copy of the columns exists at the end.
    """
    chunk_bytes = int(chunk_bytes or CHUNK_BYTES)
    names: dict[str, int] = {}
    out = _ColumnBuffer()
    line_number = 1
    done_bytes = 0
    with open(path, "rb") as f:
        file_bytes = os.fstat(f.fileno()).st_size
        chunks = _whole_line_chunks(f, chunk_bytes, frame_aligned=bool(getattr(row_filter, "frame_aligned", False)))
        workers = min(READ_THREADS, os.cpu_count() or 1)

        def parse(data: bytes):
            return _filtered(_parse_chunk(data), row_filter)

        if workers > 1 and file_bytes > 2 * chunk_bytes:
            parsed = _parse_in_threads(chunks, workers, parse)
        else:
            parsed = ((data, parse(data)) for data in chunks)
        for data, (chunk, runs) in parsed:  # in file order
            if chunk is None:
                chunk, runs = _filtered(
                    tuple(slow_reader(data.decode(), line_number)) + (data.count(b"\n"),), row_filter
                )
            chunk_names, codes = chunk[0], chunk[1]
            remap = np.array([names.setdefault(v, len(names)) for v in chunk_names], dtype=np.int64)
            if runs is not None:
                row_filter.collect(remap[runs[0]], runs[1], runs[2])
            done_bytes += len(data)
            if out.capacity == 0 and len(codes):  # size the columns from the first rows' bytes per row
                out.reserve(int(file_bytes / done_bytes * len(codes) * 1.05) + 1024)
            out.append(remap[codes] if len(codes) else codes, *chunk[2:7])
            line_number += chunk[7]
    return (list(names),) + out.columns()


def _frame_cut(data: bytes, cut: int) -> int:
    """``cut`` (the end of a line) moved back to the first line of the block of lines that share the video id and
    timestamp of the line before it; ``cut`` itself when the whole of ``data[:cut]`` is that block."""
    start = data.rfind(b"\n", 0, cut - 1) + 1
    first = data.find(b",", start, cut)
    second = data.find(b",", first + 1, cut) if first >= 0 else -1
    if second < 0:
        return cut
    key = data[start : second + 1]
    while start > 0:
        previous = data.rfind(b"\n", 0, start - 1) + 1
        if not data.startswith(key, previous):
            return start
        start = previous
    return cut


def _whole_line_chunks(f, chunk_bytes: int, frame_aligned: bool = False):
    """``bytes`` chunks of about ``chunk_bytes`` holding whole lines (the last one gets its missing newline); with
    ``frame_aligned`` a chunk ends where the lines' video id and timestamp change (unless one frame fills it)."""
    carry = b""
    while True:
        block = f.read(chunk_bytes)
        if not block:
            if carry:
                yield carry if carry.endswith(b"\n") else carry + b"\n"  # a last line without its newline
            return
        data = carry + block if carry else block
        cut = data.rfind(b"\n") + 1
        if cut == 0:
            carry = data
            continue
        if frame_aligned:
            cut = _frame_cut(data, cut)
        if cut < len(data):
            data, carry = data[:cut], data[cut:]
        else:
            carry = b""
        yield data


def _parse_in_threads(chunks, workers: int, parse: Callable = _parse_chunk):
    """``(data, parse(data))`` in chunk order, parsed by ``workers`` threads (numpy releases the GIL)
    with at most ``2 * workers`` chunks in flight, so the temporaries stay small."""
    from collections import deque
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(workers) as pool:
        pending: deque = deque()
        try:
            for data in chunks:
                pending.append((data, pool.submit(parse, data)))
                if len(pending) >= 2 * workers:
                    data, future = pending.popleft()
                    yield data, future.result()
            while pending:
                data, future = pending.popleft()
                yield data, future.result()
        finally:
            for _, future in pending:
                future.cancel()


class _ColumnBuffer:
    """Growable output columns: video codes, timestamps, boxes ``[N, 4]``, action ids, values, has_value.

    Pages past the rows written are never touched, so an over-estimated capacity costs no resident memory.
    """

    _DTYPES = (np.int64, np.int64, np.float64, np.int64, np.float64, bool)

    def __init__(self):
        self.capacity = 0
        self.size = 0
        self.arrays = [np.empty((0, 4) if j == 2 else 0, dtype) for j, dtype in enumerate(self._DTYPES)]

    def reserve(self, capacity: int) -> None:
        if capacity <= self.capacity:
            return
        grown = []
        for j, (a, dtype) in enumerate(zip(self.arrays, self._DTYPES)):
            b = np.empty((capacity, 4) if j == 2 else capacity, dtype)
            b[: self.size] = a[: self.size]
            grown.append(b)
            self.arrays[j] = None  # free the old column before the next one is allocated
        self.arrays = grown
        self.capacity = capacity

    def append(self, *parts) -> None:
        n = len(parts[0])
        if self.size + n > self.capacity:
            self.reserve(max(self.size + n, self.capacity + (self.capacity >> 2) + 1024))
        for a, part in zip(self.arrays, parts):
            a[self.size : self.size + n] = part
        self.size += n

    def columns(self) -> tuple:
        return tuple(a[: self.size] for a in self.arrays)


# ---------------------------------------------------------------------------------------------- writing


def format_chunk(
    videos: list[str],
    video_index: np.ndarray,
    timestamps: np.ndarray,
    boxes: np.ndarray,
    action_ids: np.ndarray,
    values: Optional[np.ndarray],
) -> Optional[bytes]:
    """``"%s,%04d,%.5f,%.5f,%.5f,%.5f,%d[,%.5f]\\n"`` for every row, vectorized; ``None`` when a value falls
    outside the fixed-width fast path (negative or >= 10 coordinates/scores, timestamps outside 0..9999,
    negative action ids, non-ASCII video ids)."""
    n = len(video_index)
    if n == 0:
        return b""
    numbers = [boxes[:, j] for j in range(4)] + ([values] if values is not None else [])
    digits = []
    for x in numbers:
        if np.signbit(x).any():
            return None
        k = csv_decimals(x)
        if k.max() >= 10**6:
            return None
        digits.append(k)
    if timestamps.min() < 0 or timestamps.max() > 9999 or action_ids.min() < 0:
        return None
    try:
        encoded = [v.encode("ascii") for v in videos]
    except UnicodeEncodeError:
        return None
    name_width = max(map(len, encoded))
    names = np.zeros((len(encoded), name_width + 1), np.uint8)  # 0 = filler, removed at the end
    for i, e in enumerate(encoded):
        names[i, : len(e)] = np.frombuffer(e, np.uint8)
        names[i, len(e)] = 44
    action_width = len(str(int(action_ids.max())))
    pieces = [names[video_index], _int_digits(timestamps, 4, pad_zero=True), _comma(n)]
    for k in digits[:4]:
        pieces += [_fixed_decimal(k), _comma(n)]
    pieces.append(_int_digits(action_ids, action_width, pad_zero=False))
    if values is not None:
        pieces += [_comma(n), _fixed_decimal(digits[4])]
    pieces.append(np.full((n, 1), 10, np.uint8))
    table = np.concatenate(pieces, axis=1)
    return table[table != 0].tobytes()


def _comma(n: int) -> np.ndarray:
    return np.full((n, 1), 44, np.uint8)


def _int_digits(x: np.ndarray, width: int, pad_zero: bool) -> np.ndarray:
    x = np.asarray(x, dtype=np.int64)
    power = _POW10_INT[width - 1 :: -1]
    out = (x[:, None] // power % 10 + 48).astype(np.uint8)
    if not pad_zero:  # leading zeros become fillers, except the last digit
        out[:, :-1][x[:, None] < power[:-1]] = 0
    return out


def _fixed_decimal(k: np.ndarray) -> np.ndarray:
    """``k / 1e5`` as ``D.DDDDD`` for ``0 <= k < 1e6``."""
    out = np.empty((len(k), 7), np.uint8)
    out[:, 0] = k // 100000 + 48
    out[:, 1] = 46
    out[:, 2:] = k[:, None] // _POW10_INT[4::-1] % 10 + 48
    return out
