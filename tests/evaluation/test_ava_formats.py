"""AVA file readers / writers: label map, excluded timestamps, CSV rows."""

from __future__ import annotations

import pytest

from alphaction.evaluation.ava import read_csv, read_exclusions, read_labelmap, write_csv


def test_labelmap_item_id_and_label_id_layouts(tmp_path):
    path = tmp_path / "map.pbtxt"
    path.write_text(
        'item {\n  name: "bend/bow (at the waist)"\n  id: 1\n}\n'
        'label {\n  name: "crouch/kneel"\n  label_id: 3\n  label_type: PERSON_MOVEMENT\n}\n'
        "# a comment\n"
        'item { name: "talk to (e.g., self, a person, a group)" id: 79 }\n'
    )
    assert read_labelmap(path) == {
        1: "bend/bow (at the waist)",
        3: "crouch/kneel",
        79: "talk to (e.g., self, a person, a group)",
    }


@pytest.mark.parametrize(
    "text, line",
    [
        ('item {\n  name: "a"\n  id: 1\n}\nitem {\n  name: "b"\n}\n', 5),  # no id
        ('item {\n  name: "a"\n  id: 1\n}\nitem {\n  name: "b"\n  id: 1\n}\n', 5),  # repeated id
        ('item {\n  name: "a"\n  id: one\n}\n', 3),  # id not an int
    ],
)
def test_labelmap_errors_name_the_line(tmp_path, text, line):
    path = tmp_path / "bad.pbtxt"
    path.write_text(text)
    with pytest.raises(ValueError, match=f"bad.pbtxt:{line}:"):
        read_labelmap(path)


def test_exclusions_read_as_frame_keys(tmp_path):
    path = tmp_path / "excl.csv"
    path.write_text("vidA,0902\nvidB,1000\n\n")
    assert read_exclusions(path) == {"vidA,0902", "vidB,1000"}


def test_bad_exclusion_file_error_names_file_and_line(tmp_path):
    path = tmp_path / "excl.csv"
    path.write_text("vidA,0902\nvidA,0903,1\n")
    with pytest.raises(ValueError, match=r"excl\.csv:2: .*exactly 2 columns"):
        read_exclusions(path)


def test_read_csv_error_names_file_and_line(tmp_path):
    path = tmp_path / "det.csv"
    path.write_text("v,0902,0.1,0.1,0.5,0.5,1,0.9\nv,0902,0.1,0.1,0.5,0.5\n")
    with pytest.raises(ValueError, match=r"det\.csv:2: .*7 or 8 columns"):
        read_csv(path)
    path.write_text("v,0902,0.1,0.1,0.5,0.5,1,0.9\n\nv,09x2,0.1,0.1,0.5,0.5,1,0.9\n")
    with pytest.raises(ValueError, match=r"det\.csv:3:"):
        read_csv(path)


def test_write_csv_is_the_submission_format_and_round_trips(tmp_path):
    path = tmp_path / "out.csv"
    write_csv(
        path,
        [("-5KQ66BBWC4", 902, 0.077, 0.151, 0.283, 0.811, 80, 0.123456), ("vid", 1000, 0.0, 0.5, 1.0, 1.0, 1, None)],
    )
    assert path.read_text() == (
        "-5KQ66BBWC4,0902,0.07700,0.15100,0.28300,0.81100,80,0.12346\nvid,1000,0.00000,0.50000,1.00000,1.00000,1\n"
    )
    assert read_csv(path) == [
        ("-5KQ66BBWC4", 902, 0.077, 0.151, 0.283, 0.811, 80, 0.12346),
        ("vid", 1000, 0.0, 0.5, 1.0, 1.0, 1, None),
    ]


def test_columns_round_trip_rows_with_and_without_scores():
    from alphaction.evaluation.ava.formats import AvaColumns

    rows = [("a", 902, 0.1, 0.2, 0.3, 0.4, 5, 0.25), ("b", 1000, 0.0, 0.0, 1.0, 1.0, 80, None)]
    columns = AvaColumns.from_rows([rows[0], rows[1][:7]])
    assert columns.to_rows() == rows
    assert columns.has_value.tolist() == [True, False]
    assert AvaColumns.from_rows([("a", "0902", 0.1, 0.2, 0.3, 0.4, 5)]).timestamps.tolist() == [902]
