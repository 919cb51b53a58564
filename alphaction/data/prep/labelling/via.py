"""VIA 3 (VGG Image Annotator, image annotator) project JSON: written with the person boxes pre-filled, read back
after labelling. The format note is in docs/LABELLING.md.

A project holds ``project`` (with ``vid_list``, the order of the views), ``config``, ``attribute`` (``{aid: {aname,
anchor_id, type, desc, options {option id: name}, default_option_id}}``), ``file`` (``{fid: {fid, fname, type 2 =
image, loc, src}}``), ``view`` (``{vid: {fid_list}}``) and ``metadata`` (``{mid: {vid, flg, z, xy, av}}``): a
rectangle is ``xy = [2, x, y, w, h]`` in image pixels, ``av`` maps attribute ids to values (a checkbox: the ticked
option ids joined by commas).
"""

from __future__ import annotations

import json
import time
from typing import Sequence

from ....utils.errors import InputFileError
from .keyframes import PERSON_ID_ATTRIBUTES, Keyframe, LabelledRegion, Person

__all__ = ["via_project", "read_via", "is_via_project"]

TEXT, CHECKBOX, RADIO, SELECT = 1, 2, 3, 4  # VIA 3's attribute types (5 is an image)
OPTION_TYPES = (CHECKBOX, RADIO, SELECT)
RECT = 2  # VIA 3's region shape id of a rectangle
FILE_IMAGE = 2
LOC_URIFILE = 3  # VIA 3's file locations: 1 local, 2 http, 3 file path (with a prefix), 4 inline
REGION_ANCHOR = "FILE1_Z0_XY1"  # an attribute of a spatial region of an image
DELETED = 1  # metadata flag bit
DECIMALS = 3  # pixel digits written (VIA itself keeps 3)


def via_project(
    keyframes: Sequence[Keyframe],
    persons: Sequence[Person],
    labelmap: dict[int, str],
    name: str = "alphaction labelling",
    image_prefix: str = "",
) -> dict:
    """The VIA 3 project of ``keyframes`` (one image view each, in the given order), with one rectangle per person,
    a text attribute ``person_id`` and one checkbox attribute ``action`` whose options are the label map's action
    names (option ids ``0..K-1`` in label-map order; the import goes by name). ``image_prefix`` is VIA's location
    prefix of the images (``config.file.loc_prefix``): the folder or address the relative names are under."""
    option_of = {aid: str(n) for n, aid in enumerate(labelmap)}
    project: dict = {
        "project": {
            "pid": "__VIA_PROJECT_ID__",
            "rev": "__VIA_PROJECT_REV_ID__",
            "rev_timestamp": "__VIA_PROJECT_REV_TIMESTAMP__",
            "pname": name,
            "creator": "alphaction tools/export_for_labelling.py",
            "created": int(time.time() * 1000),
            "data_format_version": "3.1.1",
            "vid_list": [],
        },
        "config": {
            "file": {"loc_prefix": {"1": "", "2": "", "3": image_prefix, "4": ""}},
            "ui": {"file_content_align": "center", "spatial_region_label_attribute_id": "1"},
        },
        "attribute": {
            "1": {
                "aname": PERSON_ID_ATTRIBUTES[0],
                "anchor_id": REGION_ANCHOR,
                "type": TEXT,
                "desc": "person (track) id: the same person keeps it from second to second",
                "options": {},
                "default_option_id": "",
            },
            "2": {
                "aname": "action",
                "anchor_id": REGION_ANCHOR,
                "type": CHECKBOX,
                "desc": "tick every action the person does at this keyframe",
                "options": {option_of[aid]: labelmap[aid] for aid in labelmap},
                "default_option_id": "",
            },
        },
        "file": {},
        "view": {},
        "metadata": {},
    }
    view_of = {}
    for n, kf in enumerate(keyframes, start=1):
        fid = str(n)
        project["file"][fid] = {"fid": fid, "fname": kf.name, "type": FILE_IMAGE, "loc": LOC_URIFILE, "src": kf.name}
        project["view"][fid] = {"fid_list": [fid]}
        project["project"]["vid_list"].append(fid)
        view_of[(kf.video, kf.second)] = (fid, kf)
    count: dict[str, int] = {}
    for p in persons:
        if (p.video, p.second) not in view_of:
            raise InputFileError(
                f"a box of video {p.video!r} second {p.second} has no keyframe",
                fix="prepare that second with tools/prepare_ava_videos.py, or leave its box out",
            )
        vid, kf = view_of[(p.video, p.second)]
        x1, y1, x2, y2 = p.box
        xy = [
            RECT,
            round(x1 * kf.width, DECIMALS),
            round(y1 * kf.height, DECIMALS),
            round((x2 - x1) * kf.width, DECIMALS),
            round((y2 - y1) * kf.height, DECIMALS),
        ]
        count[vid] = count.get(vid, 0) + 1
        ticked = ",".join(option_of[a] for a in sorted(set(p.actions)) if a in option_of)
        project["metadata"][f"{vid}_p{count[vid]:05d}"] = {
            "vid": vid,
            "flg": 0,
            "z": [],
            "xy": xy,
            "av": {"1": str(p.person_id), "2": ticked},
        }
    return project


def is_via_project(obj) -> bool:
    """Whether a parsed JSON is a VIA 3 project (saved as is, or under ``store``)."""
    obj = obj.get("store", obj) if isinstance(obj, dict) else obj
    return isinstance(obj, dict) and {"attribute", "file", "metadata", "view"} <= set(obj)


def _bad(path: str, what: str, fix: str) -> InputFileError:
    return InputFileError(what, where=path, fix=fix)


def read_via(obj: dict, path: str) -> list[LabelledRegion]:
    """The rectangles of a VIA 3 project (``obj``, parsed from ``path``) with their ticked option names.

    Every checkbox, radio or select attribute of image regions is read as actions (the names of its ticked
    options); a text attribute named ``person_id`` or ``track_id`` gives the person id. Regions flagged deleted are
    skipped; a region of another shape than a rectangle is refused.
    """
    store = obj.get("store", obj)
    attributes = store.get("attribute") or {}
    action_attrs, person_attr = {}, None
    for aid, a in attributes.items():
        if not str(a.get("anchor_id", REGION_ANCHOR)).endswith("_XY1"):
            continue  # an attribute of a whole file or a temporal segment, not of a box
        if int(a.get("type", TEXT)) in OPTION_TYPES:
            action_attrs[str(aid)] = a
        elif str(a.get("aname", "")).strip().lower() in PERSON_ID_ATTRIBUTES and person_attr is None:
            person_attr = str(aid)
    files, views = store.get("file") or {}, store.get("view") or {}
    regions = []
    for mid, m in (store.get("metadata") or {}).items():
        if int(m.get("flg", 0) or 0) & DELETED:
            continue
        vid = str(m.get("vid"))
        fids = (views.get(vid) or {}).get("fid_list") or []
        f = files.get(str(fids[0])) if fids else None
        if f is None:
            raise _bad(
                path,
                f"region {mid} belongs to view {vid!r}, which names no file of the project",
                "save the project again from VIA; every region must lie on an image of the project",
            )
        keyframe = str(f.get("fname") or f.get("src") or "")
        where = f"keyframe {keyframe}, region {mid}"
        xy = m.get("xy") or []
        if not xy:
            continue  # an attribute of the whole image, not a box
        try:
            shape, coords = int(float(xy[0])), [float(v) for v in xy[1:]]
        except (TypeError, ValueError):
            raise _bad(path, f"{where}: coordinates {xy!r} are not numbers", "draw the box again in VIA") from None
        if shape != RECT or len(coords) != 4:
            raise _bad(
                path,
                f"{where}: a region of shape {shape} ({len(coords)} numbers), not a rectangle [{RECT}, x, y, w, h]",
                "draw person boxes as rectangles (delete the other shapes)",
            )
        x, y, w, h = coords
        actions: list[str] = []
        person = None
        for aid, value in (m.get("av") or {}).items():
            aid = str(aid)
            if aid in action_attrs:
                options = {str(k): str(v) for k, v in (action_attrs[aid].get("options") or {}).items()}
                for oid in (o.strip() for o in str(value).split(",")):
                    if not oid:
                        continue
                    if oid not in options:
                        raise _bad(
                            path,
                            f"{where}: option id {oid!r} is not an option of attribute "
                            f"{action_attrs[aid].get('aname')!r} (options {options})",
                            "tick the action again in VIA",
                        )
                    actions.append(options[oid])
            elif aid == person_attr and str(value).strip():
                try:
                    person = int(float(str(value).strip()))
                except ValueError:
                    raise _bad(
                        path,
                        f"{where}: person_id {value!r} is not a number",
                        "write an integer person id, or clear it to have one given",
                    ) from None
        regions.append(LabelledRegion(keyframe, f"region {mid}", (x, y, x + w, y + h), actions, person))
    return regions


def dumps(project: dict) -> str:
    """The project as the text of its JSON file."""
    return json.dumps(project, indent=1)
