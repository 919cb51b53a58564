"""Our AVA CSV -> VIA 3 / CVAT -> AVA CSV gives the same rows; edits made in the tools (a box moved, an action
added, a region deleted) come back as the rows worked out by hand; boxes without person ids get the tracker's."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import pytest

from tools import export_for_labelling, import_labels

# hand-written ground truth: 3 decimals (the precision our CSV writer keeps), several actions per box
CSV = """\
vidA,0000,0.100,0.200,0.400,0.900,1,0
vidA,0000,0.100,0.200,0.400,0.900,7,0
vidA,0000,0.500,0.125,0.875,0.999,2,1
vidA,0001,0.110,0.210,0.410,0.905,1,0
vidA,0002,0.003,0.000,1.000,0.500,5,3
vidB,0005,0.250,0.330,0.750,0.670,2,0
vidB,0005,0.250,0.330,0.750,0.670,5,0
vidB,0005,0.250,0.330,0.750,0.670,7,0
vidB,0006,0.001,0.010,0.999,0.990,1,4
"""


def _export(tmp_path, root, labelmap, fmt: str, extra=()):
    csv = tmp_path / "gt.csv"
    csv.write_text(CSV)
    out = tmp_path / f"project.{'json' if fmt == 'via' else 'xml'}"
    assert (
        export_for_labelling.main(
            [
                "--keyframe-root",
                str(root),
                "--boxes",
                str(csv),
                "--labelmap",
                str(labelmap),
                "--output",
                str(out),
                *extra,
            ]
        )
        == 0
    )
    return out


def _import(tmp_path, project, root, labelmap, extra=()) -> list[str]:
    out = tmp_path / "imported.csv"
    assert (
        import_labels.main(
            [str(project), "--labelmap", str(labelmap), "--keyframes", str(root), "--output", str(out), *extra]
        )
        == 0
    )
    return out.read_text().splitlines()


@pytest.mark.parametrize("fmt", ["via", "cvat"])
def test_csv_to_tool_to_csv_gives_the_same_rows(labelling_set, tmp_path, fmt):
    root, labelmap = labelling_set
    project = _export(tmp_path, root, labelmap, fmt)
    assert sorted(_import(tmp_path, project, root, labelmap)) == sorted(CSV.splitlines())


def test_via_project_follows_the_format(labelling_set, tmp_path):
    root, labelmap = labelling_set
    p = json.loads(_export(tmp_path, root, labelmap, "via").read_text())
    assert {"project", "config", "attribute", "file", "view", "metadata"} <= set(p)
    action = next(a for a in p["attribute"].values() if a["aname"] == "action")
    assert action["type"] == 2 and action["anchor_id"] == "FILE1_Z0_XY1"  # VIA 3: 2 = checkbox, image region
    assert sorted(action["options"].values()) == sorted(
        ["stand", "walk", "talk to (e.g., self, a person, a group)", "carry/hold (an object)"]
    )
    names = sorted(f["fname"] for f in p["file"].values())
    assert names == ["vidA/0.jpg", "vidA/1.jpg", "vidA/2.jpg", "vidA/4.jpg", "vidB/5.jpg", "vidB/6.jpg"]
    assert all(f["type"] == 2 for f in p["file"].values()) and len(p["project"]["vid_list"]) == 6
    # vidA/0.jpg's first box, 0.1..0.4 x 0.2..0.9 of 320x240: [2, x, y, w, h] in pixels
    first = next(
        m
        for m in p["metadata"].values()
        if p["file"][p["view"][m["vid"]]["fid_list"][0]]["fname"] == "vidA/0.jpg" and m["av"]["1"] == "0"
    )
    assert first["xy"] == [2, 32.0, 48.0, 96.0, 168.0]
    ticked = {action["options"][o] for o in first["av"]["2"].split(",")}
    assert ticked == {"stand", "carry/hold (an object)"}


def test_cvat_xml_follows_the_format(labelling_set, tmp_path):
    root, labelmap = labelling_set
    xml = ET.parse(_export(tmp_path, root, labelmap, "cvat")).getroot()
    assert xml.tag == "annotations" and xml.findtext("version") == "1.1"
    specs = {a.findtext("name"): a.findtext("input_type") for a in xml.iter("attribute") if a.find("name") is not None}
    assert specs == {
        "person_id": "text",
        "stand": "checkbox",
        "walk": "checkbox",
        "talk to (e.g., self, a person, a group)": "checkbox",
        "carry/hold (an object)": "checkbox",
    }
    images = xml.findall("image")
    assert [(im.get("id"), im.get("name")) for im in images] == [
        ("0", "vidA/0.jpg"),
        ("1", "vidA/1.jpg"),
        ("2", "vidA/2.jpg"),
        ("3", "vidA/4.jpg"),
        ("4", "vidB/5.jpg"),
        ("5", "vidB/6.jpg"),
    ]
    box = images[4].find("box")  # vidB/5.jpg (200x100): 0.25..0.75 x 0.33..0.67
    assert [float(box.get(k)) for k in ("xtl", "ytl", "xbr", "ybr")] == [50.0, 33.0, 150.0, 67.0]
    values = {a.get("name"): a.text for a in box.findall("attribute")}
    assert values == {
        "person_id": "0",
        "stand": "false",
        "walk": "true",
        "talk to (e.g., self, a person, a group)": "true",
        "carry/hold (an object)": "true",
    }


def test_via_edits_come_back_as_expected(labelling_set, tmp_path):
    root, labelmap = labelling_set
    path = _export(tmp_path, root, labelmap, "via")
    p = json.loads(path.read_text())
    fname = {vid: p["file"][v["fid_list"][0]]["fname"] for vid, v in p["view"].items()}
    action = next(aid for aid, a in p["attribute"].items() if a["aname"] == "action")
    option = {name: oid for oid, name in p["attribute"][action]["options"].items()}
    for mid, m in list(p["metadata"].items()):
        where, pid = fname[m["vid"]], m["av"]["1"]
        if where == "vidA/0.jpg" and pid == "1":
            m["xy"] = [2, 16.0, 24.0, 64.0, 120.0]  # moved and resized: 0.05..0.25 x 0.1..0.6 of 320x240
        elif where == "vidB/6.jpg":
            m["av"][action] += "," + option["walk"]  # an action added
        elif where == "vidA/2.jpg":
            del p["metadata"][mid]  # a region deleted
    path.write_text(json.dumps(p))
    expected = [line for line in CSV.splitlines() if not line.startswith(("vidA,0000,0.500", "vidA,0002"))]
    expected += ["vidA,0000,0.050,0.100,0.250,0.600,2,1", "vidB,0006,0.001,0.010,0.999,0.990,2,4"]
    assert sorted(_import(tmp_path, path, root, labelmap)) == sorted(expected)


def test_cvat_edits_come_back_as_expected(labelling_set, tmp_path):
    root, labelmap = labelling_set
    path = _export(tmp_path, root, labelmap, "cvat")
    tree = ET.parse(path)
    for image in tree.getroot().findall("image"):
        for box in image.findall("box"):
            attrs = {a.get("name"): a for a in box.findall("attribute")}
            if image.get("name") == "vidA/0.jpg" and attrs["person_id"].text == "1":
                box.set("xtl", "16.00"), box.set("ytl", "24.00"), box.set("xbr", "80.00"), box.set("ybr", "144.00")
            elif image.get("name") == "vidB/6.jpg":
                attrs["walk"].text = "true"
            elif image.get("name") == "vidA/2.jpg":
                image.remove(box)
    tree.write(path, encoding="utf-8", xml_declaration=True)
    expected = [line for line in CSV.splitlines() if not line.startswith(("vidA,0000,0.500", "vidA,0002"))]
    expected += ["vidA,0000,0.050,0.100,0.250,0.600,2,1", "vidB,0006,0.001,0.010,0.999,0.990,2,4"]
    assert sorted(_import(tmp_path, path, root, labelmap)) == sorted(expected)


def test_boxes_without_person_ids_are_tracked_with_new_ids_at_gaps_and_cuts(labelling_set, tmp_path):
    """The same box in vidA's seconds 0, 1, 2 and 4: one track over 0-1, a new one at the cut before 2, another
    after the gap at 3; a second box at second 1 that overlaps nothing starts its own track."""
    root, labelmap = labelling_set
    csv = tmp_path / "boxes.csv"  # 7 columns: no person ids
    csv.write_text(
        "vidA,0000,0.100,0.100,0.400,0.900,2\nvidA,0001,0.105,0.100,0.400,0.900,2\n"
        "vidA,0001,0.600,0.100,0.900,0.900,1\nvidA,0002,0.100,0.100,0.400,0.900,2\n"
        "vidA,0004,0.100,0.100,0.400,0.900,2\n"
    )
    out = tmp_path / "tracked.xml"
    assert (
        export_for_labelling.main(
            ["--keyframe-root", str(root), "--boxes", str(csv), "--labelmap", str(labelmap), "--output", str(out)]
        )
        == 0
    )
    ids = {
        (im.get("name"), float(b.get("xtl"))): b.find("attribute[@name='person_id']").text
        for im in ET.parse(out).getroot().findall("image")
        for b in im.findall("box")
    }
    assert ids == {
        ("vidA/0.jpg", 32.0): "0",
        ("vidA/1.jpg", 33.6): "0",
        ("vidA/1.jpg", 192.0): "1",
        ("vidA/2.jpg", 32.0): "2",
        ("vidA/4.jpg", 32.0): "3",
    }


def test_detect_boxes_results_are_read_through_the_annotation_json(labelling_set, tmp_path):
    """tools/detect_boxes.py's person JSON: image ids of --ann-file, [x, y, w, h] in its keyframe pixels; other
    categories and boxes under --score-threshold are left out; the person ids come from the tracker."""
    root, labelmap = labelling_set
    ann = tmp_path / "ann.json"
    ann.write_text(
        json.dumps(
            {
                "images": [
                    {"id": 1, "movie": "vidB", "timestamp": 5, "width": 200, "height": 100},
                    {"id": 2, "img_path": "vidB/6.jpg", "width": 200, "height": 100},
                ]
            }
        )
    )
    dets = tmp_path / "persons.json"
    dets.write_text(
        json.dumps(
            [
                {"image_id": 1, "bbox": [20.0, 10.0, 100.0, 80.0], "score": 0.9, "category_id": 1},
                {"image_id": 1, "bbox": [0.0, 0.0, 50.0, 50.0], "score": 0.3, "category_id": 1},
                {"image_id": 2, "bbox": [22.0, 10.0, 100.0, 80.0], "score": 0.8, "category_id": 1},
                {"image_id": 2, "bbox": [120.0, 5.0, 60.0, 60.0], "score": 0.99, "category_id": 3},
            ]
        )
    )
    out = tmp_path / "dets.xml"
    assert (
        export_for_labelling.main(
            [
                "--keyframe-root",
                str(root),
                "--boxes",
                str(dets),
                "--ann-file",
                str(ann),
                "--score-threshold",
                "0.5",
                "--labelmap",
                str(labelmap),
                "--output",
                str(out),
            ]
        )
        == 0
    )
    boxes = [
        (
            im.get("name"),
            [float(b.get(k)) for k in ("xtl", "ytl", "xbr", "ybr")],
            b.find("attribute[@name='person_id']").text,
        )
        for im in ET.parse(out).getroot().findall("image")
        for b in im.findall("box")
    ]
    assert boxes == [("vidB/5.jpg", [20.0, 10.0, 120.0, 90.0], "0"), ("vidB/6.jpg", [22.0, 10.0, 122.0, 90.0], "0")]


def test_cvat_export_comes_with_the_task_labels(labelling_set, tmp_path):
    root, labelmap = labelling_set
    _export(tmp_path, root, labelmap, "cvat")
    labels = json.loads((tmp_path / "project_labels.json").read_text())
    assert [label["name"] for label in labels] == ["person"]
    assert [(a["name"], a["input_type"]) for a in labels[0]["attributes"]] == [
        ("person_id", "text"),
        ("stand", "checkbox"),
        ("walk", "checkbox"),
        ("talk to (e.g., self, a person, a group)", "checkbox"),
        ("carry/hold (an object)", "checkbox"),
    ]
