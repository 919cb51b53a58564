"""CVAT XML, "CVAT for images 1.1": written with the person boxes pre-filled (CVAT imports it into an image task
made of the keyframes), read back after labelling. The format note is in docs/LABELLING.md.

``<annotations><version>1.1</version><meta><task>...<labels><label><name>person</name><attributes><attribute>
<name>..</name><mutable>..</mutable><input_type>checkbox</input_type><default_value>false</default_value><values>
false</values></attribute>...`` declares the label and its attributes; each ``<image id name width height>`` holds
``<box label xtl ytl xbr ybr occluded z_order>`` elements (pixels) with ``<attribute name="...">value</attribute>``
children. A checkbox holds ``true`` or ``false``: one checkbox per action, named by the action.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Sequence

from ....utils.errors import InputFileError
from .keyframes import PERSON_ID_ATTRIBUTES, Keyframe, LabelledRegion, Person

__all__ = ["cvat_annotations", "cvat_label_spec", "read_cvat", "PERSON_LABEL"]

PERSON_LABEL = "person"
DECIMALS = 3  # pixel digits written (CVAT itself writes 2)


def _attribute_spec(parent: ET.Element, name: str, input_type: str, default: str, values: str) -> None:
    a = ET.SubElement(parent, "attribute")
    for tag, text in (
        ("name", name),
        ("mutable", "False"),
        ("input_type", input_type),
        ("default_value", default),
        ("values", values),
    ):
        ET.SubElement(a, tag).text = text


def cvat_annotations(
    keyframes: Sequence[Keyframe],
    persons: Sequence[Person],
    labelmap: dict[int, str],
    name: str = "alphaction labelling",
) -> str:
    """The "CVAT for images 1.1" XML text of ``keyframes`` (image ids in lexical order of their names, as CVAT
    numbers the images of a task) with one ``person`` box per person: a text attribute ``person_id`` and one
    checkbox attribute per action of the label map (``true`` where the action is pre-ticked)."""
    root = ET.Element("annotations")
    ET.SubElement(root, "version").text = "1.1"
    task = ET.SubElement(ET.SubElement(root, "meta"), "task")
    for tag, text in (
        ("name", name),
        ("size", str(len(keyframes))),
        ("mode", "annotation"),
        ("overlap", "0"),
        ("flipped", "False"),
    ):
        ET.SubElement(task, tag).text = text
    label = ET.SubElement(ET.SubElement(task, "labels"), "label")
    ET.SubElement(label, "name").text = PERSON_LABEL
    ET.SubElement(label, "type").text = "rectangle"
    attrs = ET.SubElement(label, "attributes")
    _attribute_spec(attrs, PERSON_ID_ATTRIBUTES[0], "text", "", "")
    for aid in labelmap:
        _attribute_spec(attrs, labelmap[aid], "checkbox", "false", "false")
    by_keyframe: dict[tuple[str, int], list[Person]] = {}
    for p in persons:
        by_keyframe.setdefault((p.video, p.second), []).append(p)
    known = {(kf.video, kf.second) for kf in keyframes}
    for video, second in by_keyframe:
        if (video, second) not in known:
            raise InputFileError(
                f"a box of video {video!r} second {second} has no keyframe",
                fix="prepare that second with tools/prepare_ava_videos.py, or leave its box out",
            )
    f = f"%.{DECIMALS}f"
    for image_id, kf in enumerate(sorted(keyframes, key=lambda k: k.name)):
        image = ET.SubElement(
            root, "image", {"id": str(image_id), "name": kf.name, "width": str(kf.width), "height": str(kf.height)}
        )
        for p in by_keyframe.get((kf.video, kf.second), []):
            x1, y1, x2, y2 = p.box
            box = ET.SubElement(
                image,
                "box",
                {
                    "label": PERSON_LABEL,
                    "source": "auto",
                    "occluded": "0",
                    "xtl": f % (x1 * kf.width),
                    "ytl": f % (y1 * kf.height),
                    "xbr": f % (x2 * kf.width),
                    "ybr": f % (y2 * kf.height),
                    "z_order": "0",
                },
            )
            ET.SubElement(box, "attribute", {"name": PERSON_ID_ATTRIBUTES[0]}).text = str(p.person_id)
            ticked = set(p.actions)
            for aid in labelmap:
                ET.SubElement(box, "attribute", {"name": labelmap[aid]}).text = "true" if aid in ticked else "false"
    ET.indent(root, space="  ")
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def cvat_label_spec(labelmap: dict[int, str]) -> list[dict]:
    """The task's labels in the JSON of CVAT's label constructor (its "Raw" tab): the ``person`` label with the
    ``person_id`` text attribute and one checkbox per action. An annotation upload fills a task's existing labels
    and attributes, so the task is made with these before the XML is uploaded."""
    attributes = [
        {"name": PERSON_ID_ATTRIBUTES[0], "mutable": False, "input_type": "text", "default_value": "", "values": [""]}
    ]
    attributes += [
        {
            "name": labelmap[aid],
            "mutable": False,
            "input_type": "checkbox",
            "default_value": "false",
            "values": ["false"],
        }
        for aid in labelmap
    ]
    return [{"name": PERSON_LABEL, "type": "rectangle", "attributes": attributes}]


def _checkbox_names(root: ET.Element) -> set[str] | None:
    """The names of the checkbox attributes the ``<meta>`` declares, or None when it declares no attributes."""
    specs = root.findall("./meta//labels/label/attributes/attribute")
    if not specs:
        return None
    return {
        (a.findtext("name") or "").strip()
        for a in specs
        if (a.findtext("input_type") or "").strip().lower() == "checkbox"
    }


def read_cvat(path: str, person_label: str = PERSON_LABEL) -> tuple[list[LabelledRegion], list[str]]:
    """The boxes labelled ``person_label`` of a "CVAT for images 1.1" XML, with the names of their checkbox
    attributes set to ``true``, and warnings (boxes of other labels, other shapes: left out).

    The checkbox attributes are those the ``<meta>`` declares as ``checkbox`` (without a meta: every attribute
    whose value is ``true`` or ``false``); an attribute named ``person_id`` or ``track_id`` gives the person id.
    """
    try:
        root = ET.parse(path).getroot()
    except ET.ParseError as e:
        raise InputFileError(
            f"not a readable XML file ({e})", where=path, fix="export the task from CVAT again as 'CVAT for images 1.1'"
        ) from None
    if root.tag != "annotations":
        raise InputFileError(
            f"the XML root is <{root.tag}>, not CVAT's <annotations>",
            where=path,
            fix="export the task from CVAT as 'CVAT for images 1.1'",
        )
    if root.find("image") is None and root.find("track") is not None:
        raise InputFileError(
            "this is 'CVAT for video 1.1' (tracks over video frames), not 'CVAT for images 1.1'",
            where=path,
            fix="label the keyframes as an image task and export it as 'CVAT for "
            "images 1.1' (the file tools/export_for_labelling.py --format cvat writes)",
        )
    checkboxes = _checkbox_names(root)
    regions, warnings = [], []
    other = 0
    for image in root.iter("image"):
        name = image.get("name", "")
        try:
            size = (int(image.get("width", "")), int(image.get("height", "")))
        except ValueError:
            size = None
        other += sum(1 for shape in image if shape.tag not in ("box", "tag"))
        for n, shape in enumerate(image.findall("box"), start=1):
            if shape.get("label", "").strip().lower() != person_label.lower():
                other += 1
                continue
            where = f"keyframe {name}, box {n} (image id {image.get('id')})"
            try:
                box = tuple(float(shape.get(k, "")) for k in ("xtl", "ytl", "xbr", "ybr"))
            except ValueError:
                raise InputFileError(
                    f"{where}: xtl/ytl/xbr/ybr are not all numbers", where=path, fix="draw the box again in CVAT"
                ) from None
            actions, person = [], None
            for a in shape.findall("attribute"):
                attr, value = a.get("name", "").strip(), (a.text or "").strip()
                if attr.lower() in PERSON_ID_ATTRIBUTES:
                    if value:
                        try:
                            person = int(float(value))
                        except ValueError:
                            raise InputFileError(
                                f"{where}: {attr} {value!r} is not a number",
                                where=path,
                                fix="write an integer person id, or clear it",
                            ) from None
                elif (attr in checkboxes) if checkboxes is not None else value.lower() in ("true", "false"):
                    if value.lower() == "true":
                        actions.append(attr)
            regions.append(LabelledRegion(name, f"box {n}", box, actions, person, size))  # type: ignore[arg-type]
    if other:
        warnings.append(f"{path}: {other} shape(s) that are not '{person_label}' boxes were left out")
    return regions, warnings
