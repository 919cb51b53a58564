"""Dataset checks: the files of a catalog entry, the clips every annotated keyframe needs, boxes, action ids.

``validate_dataset(spec, frame_span, labelmap)`` checks everything and returns a :class:`ValidationReport`;
``quick_check(spec, frame_span)`` checks the files and a sample of keyframes (cheap enough for start-up).

Neighbouring clips. The window of ``frame_span`` frames has ``frame_span // 2`` frames before the keyframe and the
rest from it on (docs/internals.md). With ``n`` frames per clip, keyframe ``t`` needs clips ``t - ceil(L / n) ..
t + ceil(R / n) - 1``. Before the first or after the last clip of a video the decoder repeats the edge frame (a
real video edge); a clip missing *between* the video's first and last clip is treated the same way by the
decoder, silently, so it is an error here.
"""
from __future__ import annotations

import json
import math
import os
import random
from collections import Counter, defaultdict
from dataclasses import dataclass, field

from ...config.paths_catalog import missing_files
from ...utils.errors import UserError

__all__ = ["ValidationReport", "DatasetValidationError", "validate_dataset", "quick_check"]

MAX_LISTED = 10  # problems listed per kind; the rest are counted


class DatasetValidationError(UserError, RuntimeError):
    """A dataset failed its checks; the message is the readable report."""


@dataclass
class ValidationReport:
    name: str
    errors: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    warnings: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    info: list[str] = field(default_factory=list)
    class_counts: Counter = field(default_factory=Counter)
    label_names: dict[int, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not any(self.errors.values())

    def error(self, kind: str, message: str) -> None:
        self.errors[kind].append(message)

    def warn(self, kind: str, message: str) -> None:
        self.warnings[kind].append(message)

    def messages(self) -> list[str]:
        """Every error message (all of them, not only the listed ones)."""
        return [m for msgs in self.errors.values() for m in msgs]

    def format(self) -> str:
        lines = [f"dataset '{self.name}': " + ("OK" if self.ok else
                 f"{sum(map(len, self.errors.values()))} error(s)")]
        lines += [f"  {line}" for line in self.info]
        for title, table in (("ERROR", self.errors), ("warning", self.warnings)):
            for kind, msgs in table.items():
                if not msgs:
                    continue
                lines.append(f"  {title}: {kind} ({len(msgs)})")
                lines += [f"    - {m}" for m in msgs[:MAX_LISTED]]
                if len(msgs) > MAX_LISTED:
                    lines.append(f"    ... and {len(msgs) - MAX_LISTED} more")
        if self.class_counts:
            lines.append("  boxes per action:")
            ids = sorted(set(self.class_counts) | set(self.label_names))
            for aid in ids:
                name = self.label_names.get(aid, "?")
                lines.append(f"    {aid:4d}  {name[:40]:40s} {self.class_counts.get(aid, 0):8d}")
        return "\n".join(lines)

    def raise_on_errors(self) -> None:
        if not self.ok:
            raise DatasetValidationError(self.format(), fix=f"fix the files the report names, or check them all with "
                                         f"python tools/validate_dataset.py {self.name}")


def _check_files(spec: dict, report: ValidationReport) -> bool:
    """The files the entry names (``paths_catalog.missing_files``, reported per field instead of raised); False
    when the clips folder or the annotation file is missing, since nothing else can be checked then."""
    problems = missing_files(spec)
    for _, message in problems:
        report.error("missing files", message)
    return not any(field in ("video_root", "ann_file") for field, _ in problems)


def _load(path: str, report: ValidationReport, kind: str):
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except (OSError, json.JSONDecodeError) as e:
        report.error(kind, f"{path}: cannot read JSON ({e})")
        return None


_IMAGE_FIELDS = ("id", "width", "height", "timestamp")


def _check_structure(coco, ann_file: str, report: ValidationReport) -> bool:
    """The annotation file is ``{"images": [...], "annotations": [...]}`` with usable image entries; False when
    nothing else can be checked."""
    name = os.path.basename(ann_file)
    if not isinstance(coco, dict) or not isinstance(coco.get("images", None), list):
        found = type(coco).__name__ if not isinstance(coco, dict) else f"a dict with keys {sorted(coco)[:6]}"
        report.error("malformed annotation file", f"{ann_file}: expected a COCO-style object {{\"images\": [...], "
                     f"\"annotations\": [...]}}, got {found}; make it with tools/ava_csv_to_coco.py")
        return False
    if not isinstance(coco.get("annotations", []), list):
        report.error("malformed annotation file", f"{ann_file}: \"annotations\" must be a list")
        return False
    if not coco["images"]:
        report.error("no keyframes", f"{ann_file}: \"images\" is empty: there is no keyframe to train or test on")
        return False
    bad = []
    for n, im in enumerate(coco["images"]):
        missing = [k for k in _IMAGE_FIELDS if not isinstance(im, dict) or k not in im]
        if missing or not (im.get("video_path") or "movie" in im):
            bad.append(f"{name}: images[{n}] (id {im.get('id') if isinstance(im, dict) else '?'}) lacks "
                       f"{', '.join(missing + ([] if im.get('video_path') or 'movie' in im else ['movie']))}")
    for message in bad:
        report.error("malformed images", message + " (every keyframe needs id, width, height, timestamp and "
                     "movie or video_path)")
    return not bad


def _clip_frames(path: str, default: int = 25) -> int:
    """Frames in one clip (container metadata, else by decoding); ``default`` when unreadable."""
    import av

    try:
        with av.open(path) as c:
            n = c.streams.video[0].frames
            if n:
                return int(n)
            return sum(1 for _ in c.decode(video=0)) or default
    except Exception:  # noqa: BLE001 - reported by the decode check, not here
        return default


def _decoded_frames(path: str) -> int | str:
    """Frames PyAV decodes from the clip, or the error text (a truncated or corrupt file)."""
    import av

    try:
        with av.open(path) as c:
            return sum(1 for _ in c.decode(video=0))
    except Exception as e:  # noqa: BLE001 - any failure to decode is what is reported
        return f"{type(e).__name__}: {str(e).splitlines()[0][:120] if str(e) else 'no frames'}"


def _check_decoding(windows: list[tuple[str, str, list[int]]], video_root: str, frames_per_clip: dict[str, int],
                    report: ValidationReport, undecodable: str = "error") -> None:
    """Decode every clip the windows need: an undecodable clip is an error; a clip with fewer frames than the
    video's clips have (a last partial second) inside a window is a warning (the window repeats its edge frame)."""
    counts: dict[str, int | str] = {}
    short: list[str] = []
    for where, folder, seconds in windows:
        for s in seconds:
            path = os.path.join(video_root, folder, f"{s}.mp4")
            if path not in counts:
                counts[path] = _decoded_frames(path)
                if isinstance(counts[path], str) or counts[path] == 0:
                    (report.error if undecodable == "error" else report.warn)(
                        "undecodable clips", f"{path}: cannot be decoded ({counts[path] or 'no frames'}); "
                        "re-create it with tools/prepare_ava_videos.py")
            n = counts[path]
            if isinstance(n, int) and 0 < n < frames_per_clip.get(folder, n):
                short.append(f"{where}: its window needs {path}, which has {n} of {frames_per_clip[folder]} frames")
    for message in short[:MAX_LISTED]:
        report.warn("windows reaching into a short clip", message + " (the window repeats an edge frame there; a "
                    "video's last, partial second is usually the cause)")
    if len(short) > MAX_LISTED:
        report.warn("windows reaching into a short clip", f"... and {len(short) - MAX_LISTED} more")
    report.info.append(f"{len(counts)} clips decoded")


def _video_folder(im: dict) -> tuple[str, int]:
    video_path = im.get("video_path") or f"{im['movie']}/{im['timestamp']}.mp4"
    return os.path.dirname(video_path) or str(im.get("movie")), int(im["timestamp"])


def _check_images(images: list[dict], anns_by_image: dict, video_root: str, frame_span: int, report: ValidationReport,
                  clip_frames: int | None, decode: int | None = None, undecodable: str = "error") -> None:
    """Clips of the keyframes: present, with the neighbours the window needs; the clips of the first ``decode``
    keyframes (None: all) decoded."""
    left, right = frame_span // 2, frame_span - frame_span // 2
    windows: list[tuple[str, str, list[int]]] = []
    listing: dict[str, set[int]] = {}
    frames_per_clip: dict[str, int] = {}
    edge_keyframes: list[str] = []
    for im in images:
        if im["id"] not in anns_by_image:
            continue  # only annotated keyframes are trained on; test keyframes are checked through the box file
        folder, t = _video_folder(im)
        where = f"keyframe (video {folder!r}, second {t}, image id {im['id']})"
        if folder not in listing:
            d = os.path.join(video_root, folder)
            listing[folder] = {int(n[:-4]) for n in os.listdir(d) if n.endswith(".mp4") and n[:-4].lstrip("-").isdigit()} \
                if os.path.isdir(d) else set()
        have = listing[folder]
        centre = os.path.join(video_root, folder, f"{t}.mp4")
        if t not in have:
            report.error("missing clips", f"{where}: its clip {centre} does not exist; re-run "
                         "tools/prepare_ava_videos.py for this video or remove the annotation")
            continue
        if folder not in frames_per_clip:
            # the video's first clip: its last, partial second would understate the clip length
            frames_per_clip[folder] = clip_frames or _clip_frames(os.path.join(video_root, folder, f"{min(have)}.mp4"))
        n = frames_per_clip[folder]
        before, after = math.ceil(left / n), max(0, math.ceil(right / n) - 1)
        first, last = min(have), max(have)
        needed = [s for s in range(t - before, t + after + 1) if s != t]
        gaps = [s for s in needed if first <= s <= last and s not in have]
        if gaps:
            report.error("missing neighbouring clips",
                         f"{where}: a window of {frame_span} frames needs clips {t - before}..{t + after}, "
                         f"missing {', '.join(f'{s}.mp4' for s in gaps)} in {os.path.join(video_root, folder)} "
                         "(the decoder would repeat an edge frame instead); prepare those seconds too")
        elif any(s < first or s > last for s in needed):
            edge_keyframes.append(f"{folder}/{t}")
        if decode is None or len(windows) < decode:
            windows.append((where, folder, [s for s in range(t - before, t + after + 1) if s in have]))
    if edge_keyframes:
        shown = ", ".join(edge_keyframes[:MAX_LISTED]) + (f" and {len(edge_keyframes) - MAX_LISTED} more"
                                                          if len(edge_keyframes) > MAX_LISTED else "")
        report.warn("keyframes at a video edge",
                    f"{len(edge_keyframes)} annotated keyframe(s) lie within {frame_span // 2} frames of the first or "
                    f"last clip of their video ({shown}: video/second); their windows repeat the edge frame (prepare "
                    "a few more seconds around the annotated range, e.g. AVA's 902..1798 needs 895..1805)")
    if windows:
        _check_decoding(windows, video_root, frames_per_clip, report, undecodable)


def _check_boxes(coco: dict, images_by_id: dict, report: ValidationReport, tolerance: float,
                 labelmap: dict[int, str] | None, num_classes: int | None, ann_file: str) -> None:
    for ann in coco.get("annotations", []):
        im = images_by_id.get(ann.get("image_id"))
        where = f"{os.path.basename(ann_file)}: annotation id {ann.get('id')}"
        if im is None:
            report.error("annotations without image", f"{where}: image_id {ann.get('image_id')} is not in images")
            continue
        where += f" (video {im.get('movie')!r}, second {im.get('timestamp')})"
        try:
            x, y, w, h = (float(v) for v in ann["bbox"])
        except (KeyError, TypeError, ValueError):
            report.error("malformed annotations", f"{where}: bbox must be [x, y, w, h], got {ann.get('bbox')!r}")
            continue
        width, height = float(im["width"]), float(im["height"])
        if w <= 0 or h <= 0 or x < -tolerance or y < -tolerance or x + w > width + tolerance \
                or y + h > height + tolerance:
            report.error("boxes outside the image",
                         f"{where}: bbox [x={x:g}, y={y:g}, w={w:g}, h={h:g}] (xyxy {x:g},{y:g},{x + w:g},{y + h:g}) "
                         f"is not inside the {width:g}x{height:g} keyframe; bbox is [x, y, w, h] in keyframe pixels")
        ids = ann.get("action_ids")
        if ids is None:
            report.error("malformed annotations", f"{where}: no action_ids (plain COCO form? convert it with "
                         "tools/ava_csv_to_coco.py, which merges it into multi-label boxes)")
            continue
        if not ids:
            report.warn("boxes without actions", f"{where}: empty action_ids")
        for aid in ids:
            aid = int(aid)
            report.class_counts[aid] += 1
            if labelmap is not None and aid not in labelmap:
                report.error("action ids not in the label map",
                             f"{where}: action id {aid} is not in the label map (ids {min(labelmap)}..{max(labelmap)})")
            elif aid < 1 or (num_classes is not None and aid > num_classes):
                report.error("action ids out of range",
                             f"{where}: action id {aid} is outside 1..{num_classes or 'N'} (class c = action id c + 1)")


def _check_detections(path: str, kind: str, images_by_id: dict, report: ValidationReport, tolerance: float) -> None:
    dets = _load(path, report, f"unreadable {kind}")
    if dets is None:
        return
    if not isinstance(dets, list):
        report.error(f"malformed {kind}", f"{path}: expected a list of {{image_id, bbox, score, category_id}}")
        return
    unknown = Counter()
    outside = 0
    for d in dets:
        im = images_by_id.get(d.get("image_id"))
        if im is None:
            unknown[d.get("image_id")] += 1
            continue
        x, y, w, h = (float(v) for v in d["bbox"])
        if x < -tolerance or y < -tolerance or x + w > im["width"] + tolerance or y + h > im["height"] + tolerance:
            outside += 1
    if unknown:
        report.warn(f"{kind} of unknown images", f"{path}: {sum(unknown.values())} detections name image ids not in "
                    f"the annotation file (e.g. {list(unknown)[:3]}); they are ignored")
    if outside:
        report.warn(f"{kind} outside the image", f"{path}: {outside} detections reach outside their keyframe")
    report.info.append(f"{os.path.basename(path)}: {len(dets)} detections")


def _check_groundtruth_csv(path: str, labelmap: dict[int, str] | None, report: ValidationReport) -> None:
    """The AVA ground-truth CSV of the evaluation files: rows of 7 or 8 fields, boxes normalised inside [0, 1] with
    x1 < x2 and y1 < y2, action ids in the label map; problems named by file and line."""
    import csv

    kind = "ground-truth CSV"
    rows = 0
    problems: list[str] = []
    try:
        with open(path, newline="", encoding="utf-8") as f:
            for row in csv.reader(f):
                rows += 1
                if not row:
                    continue
                where = f"{path}:{rows}"
                try:
                    if len(row) not in (7, 8):
                        raise ValueError(f"{len(row)} fields, expected 7 or 8")
                    int(row[1])
                    x1, y1, x2, y2 = (float(v) for v in row[2:6])
                    action = int(row[6])
                except ValueError as e:
                    problems.append(f"{where}: bad row {','.join(row)!r} ({e}); expected "
                                    "video_id,timestamp,x1,y1,x2,y2,action_id[,person_id]")
                    continue
                if not (0 <= x1 < x2 <= 1 and 0 <= y1 < y2 <= 1):
                    problems.append(f"{where}: box {x1:g},{y1:g},{x2:g},{y2:g} is not a normalised box inside "
                                    "[0, 1] with x1 < x2 and y1 < y2")
                if labelmap is not None and action not in labelmap:
                    problems.append(f"{where}: action id {action} is not in the label map")
                elif action < 1:
                    problems.append(f"{where}: action id {action} must be >= 1")
    except UnicodeDecodeError as e:
        report.error(kind, f"{path}: not UTF-8 text near line {rows + 1} ({e.reason})")
        return
    for message in problems[:MAX_LISTED]:
        report.error(kind, message)
    if len(problems) > MAX_LISTED:
        report.error(kind, f"... and {len(problems) - MAX_LISTED} more")
    if rows == 0:
        report.error(kind, f"{path}: no rows: an evaluation against it would have nothing to compare")
    report.info.append(f"{os.path.basename(path)}: {rows} ground-truth rows")


def validate_dataset(spec: dict, frame_span: int, labelmap: dict[int, str] | None = None,
                     num_classes: int | None = None, sample: int | None = None, tolerance: float = 1.0,
                     clip_frames: int | None = None, seed: int = 0, decode: int | None = None,
                     undecodable: str = "error") -> ValidationReport:
    """Check a catalog spec (``DatasetCatalog.get``) and return the report.

    Args:
        spec: the catalog spec (``args.video_root``, ``args.ann_file``, ...).
        frame_span: ``INPUT.FRAME_NUM * INPUT.FRAME_SAMPLE_RATE`` frames around each keyframe.
        labelmap: ``{action_id: name}``; without it action ids are checked against ``1..num_classes`` only.
        num_classes: ``MODEL.ROI_ACTION_HEAD.NUM_CLASSES`` (optional).
        sample: check the clips of at most this many annotated keyframes (random, ``seed``); ``None``: all.
        tolerance: pixels a box may reach outside its keyframe.
        clip_frames: frames per clip (default: read from one clip per video).
        decode: decode the clips the windows of at most this many checked keyframes need (None: all of them;
            0: none): an undecodable clip is an error (a warning with ``undecodable="warn"``, for runs that skip
            bad samples), a window reaching into a short clip a warning.
    """
    report = ValidationReport(spec.get("name", "?"))
    if labelmap:
        report.label_names = dict(labelmap)
    if not _check_files(spec, report):
        return report
    args = spec["args"]
    coco = _load(args["ann_file"], report, "unreadable annotation file")
    if coco is None:
        return report
    if not _check_structure(coco, args["ann_file"], report):
        return report
    images = coco.get("images", [])
    images_by_id = {im["id"]: im for im in images}
    anns_by_image = defaultdict(list)
    for ann in coco.get("annotations", []):
        anns_by_image[ann.get("image_id")].append(ann)
    report.info.append(f"{args['ann_file']}: {len(images)} keyframes, {len(coco.get('annotations', []))} person boxes, "
                       f"{len([i for i in images if i['id'] in anns_by_image])} annotated keyframes in "
                       f"{len({_video_folder(i)[0] for i in images})} videos")
    checked = images
    if sample is not None and len(images) > sample:
        checked = random.Random(seed).sample(images, sample)
        report.info.append(f"clips checked for a sample of {sample} keyframes (quick check)")
    _check_images(checked, anns_by_image, args["video_root"], frame_span, report, clip_frames, decode, undecodable)
    _check_boxes(coco, images_by_id, report, tolerance, labelmap, num_classes, args["ann_file"])
    for key, kind in (("box_file", "person detections"), ("object_file", "object detections")):
        if args.get(key) and sample is None:
            _check_detections(args[key], kind, images_by_id, report, tolerance)
    gt_csv = args.get("eval_file_paths", {}).get("csv_gt_file")
    if gt_csv and os.path.isfile(gt_csv) and sample is None:
        _check_groundtruth_csv(gt_csv, labelmap, report)
    if labelmap:
        unused = sorted(set(labelmap) - set(report.class_counts))
        if unused and coco.get("annotations"):
            report.warn("actions without boxes", f"{len(unused)} label-map action(s) have no box in this split: "
                        + ", ".join(f"{a} {labelmap[a]!r}" for a in unused[:10]))
    return report


def quick_check(spec: dict, frame_span: int, sample: int = 64, num_classes: int | None = None,
                on_bad_sample: str = "error") -> ValidationReport:
    """The cheap part: files, boxes and action ids of every annotation, clips of ``sample`` random keyframes (those
    of 8 decoded; ``on_bad_sample`` "skip", as DATALOADER.ON_BAD_SAMPLE, makes an undecodable one a warning).

    ``train_net`` calls it at start-up: ``quick_check(spec, cfg.INPUT.FRAME_NUM * cfg.INPUT.FRAME_SAMPLE_RATE,
    num_classes=cfg.MODEL.ROI_ACTION_HEAD.NUM_CLASSES).raise_on_errors()``.
    """
    return validate_dataset(spec, frame_span, None, num_classes, sample=sample, decode=8,
                            undecodable="warn" if on_bad_sample == "skip" else "error")
