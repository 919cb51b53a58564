"""The vectorized CSV reader/writer against the per-row ``csv``-module reader and Python's ``%`` formatting."""

from __future__ import annotations

import numpy as np
import pytest

from alphaction.evaluation.ava import AvaColumns, fastcsv, read_csv, read_csv_columns, round_like_csv, write_csv


def _assert_same(columns: AvaColumns, rows):
    expected = AvaColumns.from_rows(rows)
    assert columns.video_ids == expected.video_ids
    np.testing.assert_array_equal(columns.timestamps, expected.timestamps)
    assert columns.boxes.tobytes() == expected.boxes.tobytes()  # bit for bit
    np.testing.assert_array_equal(columns.action_ids, expected.action_ids)
    assert columns.values.tobytes() == expected.values.tobytes()
    np.testing.assert_array_equal(columns.has_value, expected.has_value)


def _random_lines(rng, n):
    formats = ["%.5f", "%.3f", "%.1f", "%g", "%.12f", "%.0f"]
    lines = []
    for i in range(n):
        fmt = formats[rng.integers(len(formats))]
        coords = [fmt % v for v in rng.uniform(0, 1, 4)]
        ts = "%04d" % rng.integers(0, 2000) if rng.random() < 0.8 else str(rng.integers(0, 20000))
        lines.append(
            ",".join([f"vid{rng.integers(5)}", ts, *coords, str(rng.integers(1, 120)), fmt % rng.uniform(-1, 50)])
        )
    return lines


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("chunk_bytes", [200, 1 << 20])
def test_reader_matches_the_row_reader_bit_for_bit(tmp_path, seed, chunk_bytes, monkeypatch):
    rng = np.random.default_rng(seed)
    lines = _random_lines(rng, 500)
    lines[3] = lines[3].replace("0.", "-0.", 1)  # a negative coordinate
    lines[7] = "vidX,0902,1e-3,0.5,0.75,1.0,3,2.5e-1"  # exponents: the per-row path
    text = "\n".join(lines[:100]) + "\n\n" + "\r\n".join(lines[100:]) + "\n"  # blank line, CRLF
    path = tmp_path / "det.csv"
    path.write_bytes(text.encode())
    monkeypatch.setattr(fastcsv, "CHUNK_BYTES", chunk_bytes)
    _assert_same(read_csv_columns(path), read_csv(path))


def test_reader_handles_seven_columns_and_no_final_newline(tmp_path):
    path = tmp_path / "gt.csv"
    path.write_text("a,0902,0.077,0.151,0.283,0.811,80\nb,0903,0.5,0.5,0.75,0.75,1")
    _assert_same(read_csv_columns(path), read_csv(path))
    assert not read_csv_columns(path).has_value.any()


@pytest.mark.parametrize("chunk_bytes", [64, 1 << 20])
def test_reader_errors_name_the_line_across_chunks(tmp_path, monkeypatch, chunk_bytes):
    lines = ["v,0902,0.1,0.1,0.5,0.5,1,0.9"] * 30
    lines[21] = "v,0902,0.1,0.1,0.5,0.5,1,zero"
    path = tmp_path / "det.csv"
    path.write_text("\n".join(lines) + "\n")
    monkeypatch.setattr(fastcsv, "CHUNK_BYTES", chunk_bytes)
    with pytest.raises(ValueError, match=r"det\.csv:22: "):
        read_csv_columns(path)


def test_round_like_csv_is_what_the_file_holds():
    rng = np.random.default_rng(0)
    x = np.concatenate(
        [
            rng.random(20000),
            rng.random(2000).astype(np.float32).astype(np.float64),
            np.arange(0, 1, 1e-6)[:5000] + 5e-6,  # exact .5 cases at the 6th decimal
            [0.0, 1.0, 0.123455, 0.000005, 0.000015, -1e-9, 2.5, 123.456785],
        ]
    )
    expected = np.array([float("%.5f" % v) for v in x])
    assert round_like_csv(x).tobytes() == expected.tobytes()


def test_vectorized_writer_matches_percent_formatting(tmp_path):
    rng = np.random.default_rng(1)
    n = 3000
    videos = ["-5KQ66BBWC4", "a", "vid_2"]
    columns = AvaColumns(
        videos,
        rng.integers(0, 3, n),
        rng.integers(0, 10000, n),
        rng.random((n, 4)),
        rng.integers(1, 81, n),
        rng.random(n).astype(np.float32),
    )
    fast, slow = tmp_path / "fast.csv", tmp_path / "slow.csv"
    write_csv(fast, columns)
    write_csv(slow, columns.to_rows())
    assert fast.read_bytes() == slow.read_bytes()
    # values outside the fixed-width layout go through the row-by-row fallback, same text
    columns.boxes[5, 0] = -0.25
    columns.values[7] = 12.5
    write_csv(fast, columns)
    write_csv(slow, columns.to_rows())
    assert fast.read_bytes() == slow.read_bytes()
    _assert_same(read_csv_columns(fast).rounded(), read_csv(slow))


@pytest.mark.parametrize("threads", [1, 2])
def test_reader_grows_its_columns_and_keeps_file_order_with_threads(tmp_path, monkeypatch, threads):
    # long lines first: the first chunk under-estimates the row count, so the output columns must grow
    rng = np.random.default_rng(7)
    long_lines = [
        ",".join(
            [
                f"video_with_a_long_name_{i % 3}",
                "%04d" % (900 + i),
                *("%.12f" % v for v in rng.uniform(0, 1, 4)),
                str(1 + i % 80),
                "%.12f" % rng.random(),
            ]
        )
        for i in range(40)
    ]
    short_lines = [
        ",".join(
            [
                f"v{i % 7}",
                "%04d" % (i % 50),
                *("%.2f" % v for v in rng.uniform(0, 1, 4)),
                str(1 + i % 80),
                "%.3f" % rng.random(),
            ]
        )
        for i in range(3000)
    ]
    path = tmp_path / "det.csv"
    path.write_text("\n".join(long_lines + short_lines) + "\n")
    monkeypatch.setattr(fastcsv, "CHUNK_BYTES", 4096)
    monkeypatch.setattr(fastcsv, "READ_THREADS", threads)
    columns = read_csv_columns(path)
    _assert_same(columns, read_csv(path))
    assert columns.boxes.flags["C_CONTIGUOUS"] and columns.boxes.shape == (3040, 4)


def test_reader_handles_an_empty_file(tmp_path):
    path = tmp_path / "empty.csv"
    path.write_text("")
    columns = read_csv_columns(path)
    assert len(columns) == 0 and columns.boxes.shape == (0, 4)
