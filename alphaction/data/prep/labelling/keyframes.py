"""What the export and the import of a labelling project share: the keyframes (``<video>/<second>.<ext>`` under
the keyframe root, with their pixel sizes), the person boxes going out, and the regions coming back."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field

from ....utils.errors import InputFileError, MissingFileError

__all__ = [
    "Keyframe",
    "Person",
    "LabelledRegion",
    "list_keyframes",
    "keyframe_size",
    "split_keyframe_name",
    "PERSON_ID_ATTRIBUTES",
    "IMAGE_EXTENSIONS",
]

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png")
# the attribute that carries the person id (AVA's 8th column), in both tools; the first is what we write
PERSON_ID_ATTRIBUTES = ("person_id", "track_id")


@dataclass(frozen=True)
class Keyframe:
    """One keyframe image: ``name`` is its path relative to the keyframe root (``<video>/<second>.jpg``)."""

    video: str
    second: int
    name: str
    width: int
    height: int


@dataclass
class Person:
    """A person box going out to the annotation tool: ``box`` normalised ``(x1, y1, x2, y2)``, its person (track)
    id and the action ids pre-ticked on it."""

    video: str
    second: int
    box: tuple[float, float, float, float]
    person_id: int
    actions: list[int] = field(default_factory=list)


@dataclass
class LabelledRegion:
    """A box read back from a labelled project, before it is checked.

    ``keyframe``: the image's name as the project gives it; ``region``: how to find the box in the project (VIA's
    metadata id, CVAT's image and box number); ``box``: pixels ``(x1, y1, x2, y2)``; ``actions``: the names of the
    ticked options; ``person_id``: None when the project has none for it; ``size``: ``(width, height)`` the project
    records for the image (CVAT), or None.
    """

    keyframe: str
    region: str
    box: tuple[float, float, float, float]
    actions: list[str]
    person_id: int | None = None
    size: tuple[int, int] | None = None


_SECOND = re.compile(r"^(\d+)\.\w+$")


def split_keyframe_name(name: str) -> tuple[str, str] | None:
    """``(video, file name)`` of a keyframe named ``<video>/<second>.<ext>``, ``.../<video>/<second>.<ext>`` (a
    longer path or URL: its last two parts) or None when the name has no such two last parts."""
    parts = [p for p in re.split(r"[\\/]", name.strip()) if p]
    if len(parts) < 2 or not _SECOND.match(parts[-1]):
        return None
    return parts[-2], parts[-1]


def keyframe_size(path: str) -> tuple[int, int]:
    """``(width, height)`` of an image (its header only)."""
    from PIL import Image

    with Image.open(path) as im:
        return int(im.size[0]), int(im.size[1])


def list_keyframes(keyframe_root: str, videos: list[str] | None = None) -> list[Keyframe]:
    """Every keyframe ``<video>/<second>.<ext>`` under ``keyframe_root`` (of ``videos``, default all), ordered by
    video and second."""
    if not os.path.isdir(keyframe_root):
        raise MissingFileError(
            f"keyframe folder not found: {keyframe_root}",
            where="--keyframe-root",
            fix="give the keyframes/ folder tools/prepare_ava_videos.py wrote",
        )
    names = (
        sorted(videos)
        if videos is not None
        else sorted(d for d in os.listdir(keyframe_root) if os.path.isdir(os.path.join(keyframe_root, d)))
    )
    out = []
    for video in names:
        folder = os.path.join(keyframe_root, video)
        if not os.path.isdir(folder):
            raise MissingFileError(
                f"no keyframes of video {video!r}: {folder} does not exist",
                where=keyframe_root,
                fix="prepare the video with tools/prepare_ava_videos.py, or leave its boxes out",
            )
        seconds = sorted(
            (int(m.group(1)), n)
            for n in os.listdir(folder)
            if (m := _SECOND.match(n)) and n.lower().endswith(IMAGE_EXTENSIONS)
        )
        for second, n in seconds:
            w, h = keyframe_size(os.path.join(folder, n))
            out.append(Keyframe(video, second, f"{video}/{n}", w, h))
    if not out:
        raise InputFileError(
            f"no keyframes <video>/<second>.jpg under {keyframe_root}",
            where="--keyframe-root",
            fix="run tools/prepare_ava_videos.py first, and give its keyframes/ folder",
        )
    return out
