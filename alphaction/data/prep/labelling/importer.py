"""A labelled VIA 3 project or CVAT XML -> AVA rows ``(video, second, x1, y1, x2, y2, action_id, person_id)``.

The file says which tool wrote it (JSON: VIA 3; XML: CVAT). Action ids come from the label map by name; boxes are
normalised by the pixel size of their keyframe under the keyframe root, clipped to it, and refused when nothing
is left; every refusal names the file, the keyframe and the region.
"""

from __future__ import annotations

import difflib
import json
import os
from dataclasses import dataclass, field

from ....utils.errors import InputFileError, MissingFileError
from .cvat import PERSON_LABEL, read_cvat
from .keyframes import LabelledRegion, keyframe_size, split_keyframe_name
from .via import is_via_project, read_via

__all__ = ["ImportResult", "read_project", "regions_to_rows", "import_project"]


@dataclass
class ImportResult:
    """``rows`` sorted by video, second, person id and action id; ``tool`` is ``"VIA 3"`` or ``"CVAT for images
    1.1"``; ``warnings`` are the things left out or changed (one line each); ``unlabelled`` the regions without an
    action."""

    rows: list[tuple]
    tool: str
    regions: int = 0
    warnings: list[str] = field(default_factory=list)
    unlabelled: list[str] = field(default_factory=list)


def read_project(path: str, person_label: str = PERSON_LABEL) -> tuple[str, list[LabelledRegion], list[str]]:
    """``(tool, regions, warnings)`` of a labelling project: a VIA 3 project JSON or a "CVAT for images 1.1" XML,
    told apart by the content."""
    if not os.path.isfile(path):
        raise MissingFileError(
            f"project file not found: {path}",
            where="PROJECT_FILE",
            fix="give the VIA 3 project JSON or the CVAT XML saved after labelling",
        )
    with open(path, "rb") as f:
        head = f.read(512).lstrip()
    if head.startswith(b"<"):
        regions, warnings = read_cvat(path, person_label)
        return "CVAT for images 1.1", regions, warnings
    try:
        with open(path, encoding="utf-8") as f:
            obj = json.load(f)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise InputFileError(
            f"neither JSON (VIA 3) nor XML (CVAT): {e}",
            where=path,
            fix="give the project VIA saved (Save project) or the XML CVAT exported",
        ) from None
    if is_via_project(obj):
        return "VIA 3", read_via(obj, path), []
    if isinstance(obj, dict) and obj and all(isinstance(v, dict) and "regions" in v for v in obj.values()):
        raise InputFileError(
            "a VIA 2 project (images keyed by file name with 'regions'), not VIA 3",
            where=path,
            fix="label in VIA 3 (the image annotator) with the project tools/export_for_labelling.py writes",
        )
    raise InputFileError(
        "JSON without VIA 3's 'attribute', 'file', 'view' and 'metadata'",
        where=path,
        fix="give the project VIA 3 saved (Save project), not an export of annotations",
    )


def _closest(name: str, names: list[str]) -> str:
    match = difflib.get_close_matches(name, names, n=1, cutoff=0.0)
    return match[0] if match else ""


def regions_to_rows(
    regions: list[LabelledRegion],
    labelmap: dict[int, str],
    keyframe_root: str,
    path: str,
    no_action_id: int | None = None,
    tool: str = "",
) -> ImportResult:
    """Check and convert the regions of the project ``path`` into AVA rows.

    Args:
        labelmap: ``{action_id: name}``; a ticked name must be one of them (exact spelling).
        keyframe_root: the folder the keyframe names are relative to (``<video>/<second>.<ext>``); each keyframe
            must exist there, and its pixel size normalises the boxes.
        no_action_id: write a region without any action with this action id (it must be in the label map); None
            (default) leaves it out, with a warning.
    """
    id_of = {name: aid for aid, name in labelmap.items()}
    if no_action_id is not None and no_action_id not in labelmap:
        raise InputFileError(
            f"--no-action-id {no_action_id} is not an action id of the label map",
            where="--no-action-id",
            fix="add a 'no action' class to the label map and give its id",
        )
    result = ImportResult([], tool, len(regions))
    sizes: dict[str, tuple[str, int, int, int]] = {}
    clipped = 0
    pending: list[tuple[LabelledRegion, str, int, tuple[float, ...], list[int]]] = []
    for r in regions:
        where = f"keyframe {r.keyframe}, {r.region}"
        if r.keyframe not in sizes:
            sizes[r.keyframe] = _keyframe_info(r, where, keyframe_root, path)
        video, second, w, h = sizes[r.keyframe]
        c, was_clipped = _clipped_box(r.box, w, h, where, path)
        clipped += was_clipped
        actions = _action_ids(r.actions, id_of, where, path)
        if not actions:
            result.unlabelled.append(where)
            if no_action_id is None:
                continue
            actions = [no_action_id]
        box = (c[0] / w, c[1] / h, c[2] / w, c[3] / h)
        pending.append((r, video, second, box, actions))
    rows, given = _rows_with_person_ids(pending, path)
    result.rows += rows
    result.rows.sort(key=lambda row: (row[0], row[1], row[7], row[6]))
    result.warnings += _import_warnings(clipped, given, result.unlabelled, no_action_id)
    return result


def _keyframe_info(r: LabelledRegion, where: str, keyframe_root: str, path: str) -> tuple[str, int, int, int]:
    """``(video, second, width, height)`` of the region's keyframe, which must be named ``<video>/<second>.<ext>``,
    exist under ``keyframe_root`` and have the size the project gives it."""
    parts = split_keyframe_name(r.keyframe)
    if parts is None:
        raise InputFileError(
            f"{where}: the image name is not <video>/<second>.<ext>",
            where=path,
            fix="name the images as the keyframes are named under the keyframe root (e.g. my_video/12.jpg)",
        )
    file = os.path.join(keyframe_root, *parts)
    if not os.path.isfile(file):
        raise MissingFileError(
            f"{where}: keyframe {file} does not exist",
            where=path,
            fix="give --keyframes the keyframe root the project's images are under",
        )
    w, h = keyframe_size(file)
    if r.size is not None and tuple(r.size) != (w, h):
        raise InputFileError(
            f"{where}: the project says the image is {r.size[0]}x{r.size[1]}, the keyframe {file} is {w}x{h}",
            where=path,
            fix="label the keyframes themselves (not resized copies), or give the right --keyframes",
        )
    return (parts[0], int(os.path.splitext(parts[1])[0]), w, h)


def _clipped_box(
    box: tuple[float, float, float, float], w: int, h: int, where: str, path: str
) -> tuple[tuple[float, float, float, float], bool]:
    """``(box clipped to the w x h keyframe, whether clipping changed it)``; refused when nothing is left."""
    x1, y1, x2, y2 = box
    c = (min(max(x1, 0.0), w), min(max(y1, 0.0), h), min(max(x2, 0.0), w), min(max(y2, 0.0), h))
    if c[2] <= c[0] or c[3] <= c[1]:
        raise InputFileError(
            f"{where}: box x1={x1:g} y1={y1:g} x2={x2:g} y2={y2:g} is empty or inverted once "
            f"clipped to the {w}x{h} keyframe",
            where=path,
            fix="delete the region or draw it again inside the image",
        )
    return c, c != (x1, y1, x2, y2)


def _action_ids(names: list[str], id_of: dict[str, int], where: str, path: str) -> list[int]:
    """The label map's ids of the ticked action ``names``, in order, each once; an unknown name is refused."""
    actions = []
    for name in names:
        if name not in id_of:
            raise InputFileError(
                f"{where}: action {name!r} is not in the label map (closest: {_closest(name, list(id_of))!r})",
                where=path,
                fix="rename the option in the tool to the label map's name, or add the action to the label map",
            )
        if id_of[name] not in actions:
            actions.append(id_of[name])
    return actions


def _rows_with_person_ids(
    pending: list[tuple[LabelledRegion, str, int, tuple[float, ...], list[int]]], path: str
) -> tuple[list[tuple], int]:
    """``(rows, number of person ids given)``: one row per region and action, with the project's person id, else
    the next free id of the video (in file order); a person id used twice in a keyframe is refused."""
    next_id: dict[str, int] = {}
    for r, video, *_ in pending:
        if r.person_id is not None:
            next_id[video] = max(next_id.get(video, 0), r.person_id + 1)
    rows: list[tuple] = []
    given = 0
    taken: dict[tuple[str, int], dict[int, str]] = {}
    for r, video, second, box, actions in pending:
        pid = r.person_id
        if pid is None:
            pid, given = next_id.get(video, 0), given + 1
            next_id[video] = pid + 1
        seen = taken.setdefault((video, second), {})
        if pid in seen:
            raise InputFileError(
                f"keyframe {r.keyframe}: {r.region} and {seen[pid]} have the same person id {pid}",
                where=path,
                fix="give each person of a keyframe its own person_id",
            )
        seen[pid] = r.region
        rows += [(video, second, *box, aid, pid) for aid in actions]
    return rows, given


def _import_warnings(clipped: int, given: int, unlabelled: list[str], no_action_id: int | None) -> list[str]:
    """One line each for the boxes clipped, the person ids given and the boxes without an action."""
    warnings = []
    if clipped:
        warnings.append(f"{clipped} box(es) reached outside their keyframe and were clipped to it")
    if given:
        warnings.append(f"{given} box(es) had no person_id/track_id: given the next free id of their video")
    if unlabelled:
        kept = "left out" if no_action_id is None else f"written with action id {no_action_id}"
        shown = "; ".join(unlabelled[:5]) + ("; ..." if len(unlabelled) > 5 else "")
        warnings.append(f"{len(unlabelled)} box(es) without any action ({kept}): {shown}")
    return warnings


def import_project(
    path: str,
    labelmap: dict[int, str],
    keyframe_root: str,
    no_action_id: int | None = None,
    person_label: str = PERSON_LABEL,
) -> ImportResult:
    """:func:`read_project` then :func:`regions_to_rows`; a project that gives no row at all is an error."""
    tool, regions, warnings = read_project(path, person_label)
    result = regions_to_rows(regions, labelmap, keyframe_root, path, no_action_id, tool)
    result.warnings = warnings + result.warnings
    if not result.rows:
        raise InputFileError(
            f"nothing to import: {len(regions)} box(es), none with an action of the label map",
            where=path,
            fix="tick the actions of the persons in the tool and save again (or give "
            "--no-action-id to keep boxes without an action)",
        )
    return result
