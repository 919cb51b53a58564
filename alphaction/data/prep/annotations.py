"""AVA CSV rows <-> the COCO-style annotation JSON the dataset reads (docs/internals.md), and the plain COCO
form (one annotation per box *and action*, through ``category_id``) merged into multi-label boxes.

Rows are tuples ``(video_id, timestamp, x1, y1, x2, y2, action_id, person_id)`` with normalized coordinates, as
``alphaction.evaluation.ava.read_csv`` returns them (the 8th value may be a float or ``None``).

Ids follow AlphAction's ``csv2COCO``: image id ``= video_index * 10000 + timestamp`` (``video_index``: the video's
position in ``video_ids``, default sorted), annotation id ``= image_id * 1000 + person_id``; bboxes are
``[x, y, w, h]`` keyframe pixels rounded to 2 decimals. When timestamps reach 10000 or person ids 1000 the
multipliers grow to the next power of ten (ids stay unique).
"""

from __future__ import annotations

import os
import re
from collections import OrderedDict, defaultdict
from typing import Callable, Iterable, Sequence

from ...utils.io import atomic_write_text

__all__ = [
    "rows_to_coco",
    "coco_to_rows",
    "format_csv_lines",
    "is_plain_coco",
    "merge_plain_coco",
    "image_size",
    "parse_image_name",
    "image_video_and_second",
    "read_json",
    "write_json",
    "write_text",
]


def _multiplier(max_value: int, default: int) -> int:
    m = default
    while max_value >= m:
        m *= 10
    return m


def image_size(keyframe_root: str, clip_root: str, video_id: str, timestamp: int) -> tuple[int, int]:
    """``(height, width)`` of the keyframe JPG (header only), or of the clip when there is no keyframe."""
    jpg = os.path.join(keyframe_root, video_id, f"{int(timestamp)}.jpg") if keyframe_root else ""
    if jpg and os.path.isfile(jpg):
        from PIL import Image

        with Image.open(jpg) as im:
            w, h = im.size
        return h, w
    mp4 = os.path.join(clip_root, video_id, f"{int(timestamp)}.mp4") if clip_root else ""
    if mp4 and os.path.isfile(mp4):
        import av

        with av.open(mp4) as c:
            cc = c.streams.video[0].codec_context
            return cc.height, cc.width
    raise FileNotFoundError(
        f"no keyframe {jpg or '(no --keyframe-root)'} and no clip {mp4 or '(no --clip-root)'} for "
        f"(video_id={video_id!r}, timestamp={timestamp}); the image size comes from them. Run "
        "tools/prepare_ava_videos.py first or pass the right --keyframe-root / --clip-root."
    )


def rows_to_coco(
    rows: Iterable[Sequence],
    size_of: Callable[[str, int], tuple[int, int]],
    video_ids: Sequence[str] | None = None,
    extra_timestamps: dict[str, Iterable[int]] | None = None,
) -> dict:
    """Group AVA rows into one annotation per (keyframe, person, box) with all its ``action_ids``.

    Args:
        rows: AVA rows (normalized boxes); rows of the same box must repeat the same coordinates.
        size_of: ``(video_id, timestamp) -> (height, width)`` of the keyframe.
        video_ids: the video order that makes image ids (default: sorted ids of ``rows``).
        extra_timestamps: ``{video_id: seconds}`` to add as images without annotations (e.g. every keyframe
            of a test video, as AlphAction's ``csv2COCO`` does for 902..1798).

    Returns:
        ``{"images", "annotations", "categories"}``; images and annotations in the order rows first name them.
    """
    boxes: "OrderedDict[tuple, list[int]]" = OrderedDict()
    for row in rows:
        vid, ts = str(row[0]), int(row[1])
        pid = -1 if len(row) < 8 or row[7] is None else int(row[7])
        key = (vid, ts, pid, tuple(float(v) for v in row[2:6]))
        ids = boxes.setdefault(key, [])
        if int(row[6]) not in ids:
            ids.append(int(row[6]))
    frames = list(OrderedDict.fromkeys((k[0], k[1]) for k in boxes))
    seen = set(frames)
    for vid, seconds in (extra_timestamps or {}).items():
        for s in sorted(int(s) for s in seconds):
            if (vid, s) not in seen:
                frames.append((vid, s))
                seen.add((vid, s))
    order = list(video_ids) if video_ids is not None else sorted({v for v, _ in frames})
    missing = sorted({v for v, _ in frames} - set(order))
    if missing:
        raise ValueError(f"video(s) {missing[:5]} are not in the video list ({len(missing)} missing)")
    index = {v: i for i, v in enumerate(order)}
    t_mult = _multiplier(max((t for _, t in frames), default=0), 10000)
    pids = [k[2] for k in boxes]
    per_frame = defaultdict(set)
    unique = True
    for k in boxes:
        unique &= k[2] >= 0 and k[2] not in per_frame[(k[0], k[1])]
        per_frame[(k[0], k[1])].add(k[2])
    p_mult = _multiplier(max(pids, default=0), 1000)

    images, image_of = [], {}
    for vid, ts in frames:
        h, w = size_of(vid, ts)
        image_id = index[vid] * t_mult + ts
        image_of[(vid, ts)] = (image_id, h, w)
        images.append(
            {
                "id": image_id,
                "video_path": f"{vid}/{ts}.mp4",
                "img_path": f"{vid}/{ts}.jpg",
                "height": int(h),
                "width": int(w),
                "movie": vid,
                "timestamp": ts,
            }
        )
    annotations = []
    for n, ((vid, ts, pid, (x1, y1, x2, y2)), ids) in enumerate(boxes.items()):
        image_id, h, w = image_of[(vid, ts)]
        bbox = [round(x1 * w, 2), round(y1 * h, 2), round((x2 - x1) * w, 2), round((y2 - y1) * h, 2)]
        annotations.append(
            {
                "id": image_id * p_mult + pid if unique else n + 1,
                "image_id": image_id,
                "category_id": 1,
                "action_ids": sorted(ids),
                "person_id": pid,
                "bbox": bbox,
                "area": round(bbox[2] * bbox[3], 2),
                "keypoints": [],
                "iscrowd": 0,
            }
        )
    return {
        "images": images,
        "annotations": annotations,
        "categories": [{"id": 1, "name": "person", "supercategory": "person"}],
    }


def coco_to_rows(coco: dict) -> list[tuple]:
    """AVA rows ``(video_id, timestamp, x1, y1, x2, y2, action_id, person_id)`` of an ``action_ids``-form JSON.

    Coordinates are normalized by the image's width / height; one row per action, in annotation order.
    """
    images = {int(im["id"]): im for im in coco["images"]}
    rows = []
    for ann in coco["annotations"]:
        im = images.get(int(ann["image_id"]))
        if im is None:
            raise ValueError(f"annotation id {ann.get('id')} names image_id {ann['image_id']}, which is not in images")
        vid, ts = image_video_and_second(im)
        w, h = float(im["width"]), float(im["height"])
        x, y, bw, bh = (float(v) for v in ann["bbox"])
        pid = int(ann.get("person_id", ann.get("track_id", -1)))
        for aid in ann.get("action_ids", []):
            rows.append((vid, ts, x / w, y / h, (x + bw) / w, (y + bh) / h, int(aid), pid))
    return rows


def format_csv_lines(rows: Iterable[Sequence], decimals: int = 3) -> list[str]:
    """AVA CSV lines: 4-digit timestamp, ``decimals`` digits per coordinate, integer action and person ids."""
    f = f"%.{decimals}f"
    return [f"{r[0]},{int(r[1]):04d},{f % r[2]},{f % r[3]},{f % r[4]},{f % r[5]},{int(r[6])},{int(r[7])}" for r in rows]


_NAME = re.compile(r"^(?P<vid>.+?)[/\\](?:[^/\\]*?)(?P<ts>\d+)\.\w+$")


def parse_image_name(name: str) -> tuple[str, int]:
    """``"<video_id>/<second>.jpg"`` -> ``(video_id, second)`` (digits at the end of the file name)."""
    m = _NAME.match(name.replace("\\", "/"))
    if not m:
        raise ValueError(
            f"image file name {name!r} is not '<video_id>/<second>.jpg'; add 'movie' and 'timestamp' "
            "fields to the image, or rename the keyframes"
        )
    return m.group("vid"), int(m.group("ts"))


def image_video_and_second(im: dict) -> tuple[str, int]:
    """The video id and second of an image entry (``movie``/``timestamp``, else parsed from its paths)."""
    if "movie" in im and "timestamp" in im:
        return str(im["movie"]), int(im["timestamp"])
    for key in ("video_path", "img_path", "file_name"):
        if im.get(key):
            return parse_image_name(im[key])
    raise ValueError(f"image id {im.get('id')} has neither movie/timestamp nor a file name")


def is_plain_coco(coco: dict) -> bool:
    """True for the plain form: annotations carry ``category_id`` as the action and no ``action_ids``."""
    anns = coco.get("annotations", [])
    return bool(anns) and not any("action_ids" in a for a in anns)


def merge_plain_coco(coco: dict, name_to_id: dict[str, int] | None = None, tolerance: float = 1.0) -> dict:
    """Merge the plain COCO form into multi-label boxes (the ``action_ids`` form).

    Two annotations are the same person box when they share the image and either the same ``person_id`` /
    ``track_id`` (when both have one) or boxes whose coordinates differ by at most ``tolerance`` pixels.

    Args:
        coco: ``images`` (``file_name "<video_id>/<second>.jpg"`` or ``movie``/``timestamp``, ``width``,
            ``height``), ``annotations`` (``image_id``, ``bbox``, ``category_id`` = action), ``categories``
            named after the actions.
        name_to_id: action name -> AVA action id (a label map); without it the category id is the action id.
        tolerance: box match tolerance in pixels.
    """
    cat_name = {int(c["id"]): str(c.get("name", c["id"])) for c in coco.get("categories", [])}

    def action_of(ann) -> int:
        cid = int(ann["category_id"])
        if name_to_id is None:
            return cid
        name = cat_name.get(cid)
        if name not in name_to_id:
            raise ValueError(
                f"annotation id {ann.get('id')}: category {cid} ({name!r}) is not an action of the label "
                f"map (known: {sorted(name_to_id)[:10]}...); rename the category or extend the label map"
            )
        return int(name_to_id[name])

    images = []
    for im in coco["images"]:
        vid, ts = image_video_and_second(im)
        images.append(
            {
                "id": int(im["id"]),
                "video_path": f"{vid}/{ts}.mp4",
                "img_path": f"{vid}/{ts}.jpg",
                "height": int(im["height"]),
                "width": int(im["width"]),
                "movie": vid,
                "timestamp": ts,
            }
        )
    known = {im["id"] for im in images}
    merged: dict[int, list[dict]] = defaultdict(list)
    order: list[tuple[int, int]] = []
    for ann in coco["annotations"]:
        image_id = int(ann["image_id"])
        if image_id not in known:
            raise ValueError(f"annotation id {ann.get('id')} names image_id {image_id}, which is not in images")
        track = ann.get("person_id", ann.get("track_id"))
        bbox = [float(v) for v in ann["bbox"]]
        found = None
        for n, box in enumerate(merged[image_id]):
            if track is not None and box["person_id"] is not None:
                same = int(track) == box["person_id"]
            else:
                same = max(abs(a - b) for a, b in zip(bbox, box["bbox"])) <= tolerance
            if same:
                found = box
                break
        if found is None:
            found = {"bbox": bbox, "person_id": None if track is None else int(track), "action_ids": []}
            merged[image_id].append(found)
            order.append((image_id, len(merged[image_id]) - 1))
        aid = action_of(ann)
        if aid not in found["action_ids"]:
            found["action_ids"].append(aid)
    annotations = []
    for n, (image_id, k) in enumerate(order):
        box = merged[image_id][k]
        bbox = [round(v, 2) for v in box["bbox"]]
        annotations.append(
            {
                "id": n + 1,
                "image_id": image_id,
                "category_id": 1,
                "action_ids": sorted(box["action_ids"]),
                "person_id": k if box["person_id"] is None else box["person_id"],
                "bbox": bbox,
                "area": round(bbox[2] * bbox[3], 2),
                "keypoints": [],
                "iscrowd": 0,
            }
        )
    return {
        "images": images,
        "annotations": annotations,
        "categories": [{"id": 1, "name": "person", "supercategory": "person"}],
    }


def read_json(path: str) -> dict:
    """``json.load`` with an error that names the file."""
    import json

    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except json.JSONDecodeError as e:
        raise ValueError(f"{path}: not valid JSON ({e})") from e


def write_json(path: str, obj, indent: int | None = None) -> None:
    """Write ``obj`` as JSON atomically (temporary file + rename)."""
    import json

    write_text(path, json.dumps(obj, indent=indent))


def write_text(path: str, text: str) -> None:
    """Write ``text`` (UTF-8) atomically: a temporary file renamed into place, so that an interrupted run never
    leaves a half-written file under the name."""
    atomic_write_text(path, text, newline="")
