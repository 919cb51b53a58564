"""tools/import_labels.py on projects made in the tools by hand (fixtures_labelling/: a VIA 3 project with its own
attribute names and option order, a "CVAT for images 1.1" export with extra labels, shapes and attributes), and
its refusals: each names the file, the keyframe and the region, prints error/fix and exits 2 without writing."""

from __future__ import annotations

import json
import os
import shutil

import pytest

from alphaction.utils.errors import run_cli
from tools import import_labels

FIXTURES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures_labelling")
VIA = os.path.join(FIXTURES, "hand_made_via3.json")
CVAT = os.path.join(FIXTURES, "hand_made_cvat_images.xml")


def _run(project, root, labelmap, out, *extra) -> int:
    return run_cli(
        import_labels.main,
        [str(project), "--labelmap", str(labelmap), "--keyframes", str(root), "--output", str(out), *extra],
    )


def test_a_hand_made_via_project_imports(labelling_set, tmp_path, capsys):
    root, labelmap = labelling_set
    out = tmp_path / "train.csv"
    assert _run(VIA, root, labelmap, out) == 0
    # worked out by hand from the fixture: ticks are option ids of "activity" (0 walk, 1 carry/hold, 2 stand,
    # 3 talk to); xy [x, y, w, h] / (320, 240) or (200, 100); the second box of vidA/2.jpg is clipped to the image;
    # vidB's box has no track_id: the next free id of vidB, 0
    assert out.read_text().splitlines() == [
        "vidA,0001,0.102,0.101,0.302,0.503,1,7",
        "vidA,0001,0.102,0.101,0.302,0.503,2,7",
        "vidA,0002,0.875,0.000,1.000,0.489,7,7",
        "vidB,0005,0.050,0.100,0.300,0.500,2,0",
        "vidB,0005,0.050,0.100,0.300,0.500,5,0",
        "vidB,0005,0.050,0.100,0.300,0.500,7,0",
    ]
    err = capsys.readouterr().err
    assert "1 box(es) without any action (left out): keyframe vidA/1.jpg, region 1_Zt9wQ2mB" in err
    assert "1 box(es) reached outside their keyframe and were clipped" in err


def test_no_action_id_keeps_the_unlabelled_box(labelling_set, tmp_path):
    root, labelmap = labelling_set
    out = tmp_path / "train.csv"
    assert _run(VIA, root, labelmap, out, "--no-action-id", "1") == 0
    # the box without a track_id in vidA takes the next free id there (7 is taken): 8
    assert "vidA,0001,0.625,0.500,0.875,0.750,1,8" in out.read_text().splitlines()


def test_a_cvat_for_images_export_imports(labelling_set, tmp_path, capsys):
    root, labelmap = labelling_set
    out = tmp_path / "train.csv"
    assert _run(CVAT, root, labelmap, out) == 0
    # the car box and the polygon are left out, the select attribute "visibility" is not an action, the box of
    # vidA/2.jpg has no ticked checkbox (left out), the second person of vidA/1.jpg is clipped at x = 320
    assert out.read_text().splitlines() == [
        "vidA,0001,0.100,0.100,0.300,0.500,2,3",
        "vidA,0001,0.100,0.100,0.300,0.500,7,3",
        "vidA,0001,0.500,0.250,1.000,1.000,1,4",
        "vidB,0005,0.100,0.100,0.600,0.900,2,0",
    ]
    err = capsys.readouterr().err
    assert "2 shape(s) that are not 'person' boxes were left out" in err
    assert "keyframe vidA/2.jpg, box 1" in err


def _edited_via(tmp_path, edit) -> str:
    project = json.load(open(VIA))
    edit(project)
    path = tmp_path / "edited.json"
    path.write_text(json.dumps(project))
    return str(path)


def _edited_cvat(tmp_path, old: str, new: str) -> str:
    text = open(CVAT).read()
    assert old in text
    path = tmp_path / "edited.xml"
    path.write_text(text.replace(old, new, 1))
    return str(path)


def _refused(capsys, code: int, out, *needles) -> str:
    err = capsys.readouterr().err
    assert code == 2 and not out.exists()
    assert "error: " in err and "fix: " in err and "Traceback" not in err
    for needle in needles:
        assert needle in err, (needle, err)
    return err


def test_an_unknown_action_name_is_refused_naming_the_closest(labelling_set, tmp_path, capsys):
    root, labelmap = labelling_set
    out = tmp_path / "train.csv"
    path = _edited_via(tmp_path, lambda p: p["attribute"]["1"]["options"].update({"2": "stnad"}))
    _refused(
        capsys,
        _run(path, root, labelmap, out),
        out,
        "edited.json",
        "keyframe vidA/1.jpg",
        "region 1_kR3xa0Pq",
        "action 'stnad' is not in the label map (closest: 'stand')",
    )
    # the checkbox renamed in the label's spec and on the box
    path = _edited_cvat(tmp_path, '<attribute name="walk">true</attribute>', '<attribute name="walks">true</attribute>')
    with open(path, "r+") as f:
        text = f.read().replace("<name>walk</name>", "<name>walks</name>", 1)
        f.seek(0), f.truncate(), f.write(text)
    _refused(
        capsys,
        _run(path, root, labelmap, out),
        out,
        "edited.xml",
        "keyframe vidA/1.jpg, box 1",
        "action 'walks' is not in the label map (closest: 'walk')",
    )


def test_boxes_outside_the_image_are_clipped_then_refused_when_empty(labelling_set, tmp_path, capsys):
    root, labelmap = labelling_set
    out = tmp_path / "train.csv"
    path = _edited_cvat(tmp_path, 'xtl="20.00" ytl="10.00" xbr="120.00"', 'xtl="220.00" ytl="10.00" xbr="260.00"')
    _refused(
        capsys,
        _run(path, root, labelmap, out),
        out,
        "keyframe vidB/5.jpg, box 1",
        "empty or inverted once clipped to the 200x100 keyframe",
    )
    path = _edited_via(tmp_path, lambda p: p["metadata"]["3_Qm2Lp9Vr"].update(xy=[2, 60, 10, -50, 40]))
    _refused(capsys, _run(path, root, labelmap, out), out, "keyframe vidB/5.jpg, region 3_Qm2Lp9Vr", "inverted")


def test_a_missing_keyframe_is_refused(labelling_set, tmp_path, capsys):
    root, labelmap = labelling_set
    out = tmp_path / "train.csv"
    path = _edited_via(tmp_path, lambda p: p["file"]["2"].update(fname="vidA/3.jpg", src="vidA/3.jpg"))
    _refused(
        capsys,
        _run(path, root, labelmap, out),
        out,
        "keyframe vidA/3.jpg, region 2_HyU8oP1x",
        f"{os.path.join(str(root), 'vidA', '3.jpg')} does not exist",
    )


def test_nothing_to_import_is_an_error(labelling_set, tmp_path, capsys):
    root, labelmap = labelling_set
    out = tmp_path / "train.csv"

    def untick(p):
        for m in p["metadata"].values():
            m["av"].pop("1", None)

    _refused(
        capsys,
        _run(_edited_via(tmp_path, untick), root, labelmap, out),
        out,
        "nothing to import: 4 box(es), none with an action of the label map",
    )


def test_other_files_are_told_apart(labelling_set, tmp_path, capsys):
    root, labelmap = labelling_set
    out = tmp_path / "train.csv"
    video = tmp_path / "video.xml"
    video.write_text(
        '<?xml version="1.0" encoding="utf-8"?>\n<annotations><version>1.1</version><meta/>'
        '<track id="0" label="person" source="manual"><box frame="0" xtl="1" ytl="1" xbr="9" ybr="9" '
        'outside="0" occluded="0" keyframe="1"/></track></annotations>\n'
    )
    _refused(capsys, _run(video, root, labelmap, out), out, "CVAT for video 1.1", "CVAT for images 1.1")
    via2 = tmp_path / "via2.json"
    via2.write_text(json.dumps({"1.jpg123": {"filename": "1.jpg", "size": 123, "regions": [], "file_attributes": {}}}))
    _refused(capsys, _run(via2, root, labelmap, out), out, "a VIA 2 project")


@pytest.mark.parametrize("fixture", [VIA, CVAT])
def test_the_csv_is_replaced_whole(labelling_set, tmp_path, fixture):
    """The CSV is written under a temporary name and renamed: an older file is replaced, no .part is left."""
    root, labelmap = labelling_set
    out = tmp_path / "train.csv"
    out.write_text("old\n" * 100)
    assert _run(shutil.copy(fixture, tmp_path), root, labelmap, out) == 0
    assert "old" not in out.read_text() and not (tmp_path / "train.csv.part").exists()


def _one_keyframe(tmp_path, width: int = 64, height: int = 48) -> str:
    import cv2
    import numpy as np

    root = tmp_path / "keyframes"
    (root / "vid").mkdir(parents=True)
    cv2.imwrite(str(root / "vid" / "3.jpg"), np.zeros((height, width, 3), np.uint8))
    return str(root)


def test_a_keyframe_name_size_or_person_id_that_does_not_fit_is_refused(tmp_path):
    from alphaction.data.prep.labelling.importer import regions_to_rows
    from alphaction.data.prep.labelling.keyframes import LabelledRegion
    from alphaction.utils.errors import InputFileError

    root, labelmap = _one_keyframe(tmp_path), {1: "stand", 2: "talk"}

    def region(name="vid/3.jpg", pid=None, size=None, box=(8, 8, 32, 40), number=1):
        return LabelledRegion(name, f"region {number}", box, ["stand"], pid, size)

    # a fitting project: boxes divided by the keyframe's 64 x 48 pixels; ids given in file order
    result = regions_to_rows([region(size=(64, 48)), region(number=2, box=(0, 0, 16, 24))], labelmap, root, "p")
    assert result.rows == [("vid", 3, 0.125, 8 / 48, 0.5, 40 / 48, 1, 0), ("vid", 3, 0.0, 0.0, 0.25, 0.5, 1, 1)]
    with pytest.raises(InputFileError, match=r"keyframe 3\.jpg, region 1: the image name is not <video>/<second>"):
        regions_to_rows([region(name="3.jpg")], labelmap, root, "p")
    with pytest.raises(InputFileError, match="project says the image is 128x96, the keyframe .*3.jpg is 64x48"):
        regions_to_rows([region(size=(128, 96))], labelmap, root, "p")
    with pytest.raises(InputFileError, match="region 2 and region 1 have the same person id 4"):
        regions_to_rows([region(pid=4), region(pid=4, number=2)], labelmap, root, "p")
    # a box without an id gets the next one after those the project gives
    rows = regions_to_rows([region(pid=0), region(number=2)], labelmap, root, "p").rows
    assert [row[7] for row in rows] == [0, 1]
