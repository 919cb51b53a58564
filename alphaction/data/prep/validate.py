"""Dataset checks: the files of a catalog entry, the clips every annotated keyframe needs, boxes, action ids.

``validate_dataset(spec, frame_span, labelmap)`` checks everything and returns a :class:`ValidationReport`;
``quick_check(spec, frame_span)`` checks the files and a sample of keyframes (cheap); the start-up checks of
``train_net`` are its parts :func:`check_annotations` and :func:`check_keyframe_clips`.

Neighbouring clips. The window of ``frame_span`` frames has ``frame_span // 2`` frames before the keyframe and the
rest from it on (docs/internals.md). With ``n`` frames per clip, keyframe ``t`` needs clips ``t - ceil(L / n) ..
t + ceil(R / n) - 1``. Before the first or after the last clip of a video the decoder repeats the edge frame (a
real video edge); a clip missing *between* the video's first and last clip is treated the same way by the
decoder, silently, so it is an error here.
"""

from __future__ import annotations

import math
import os
import random
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from ...config.paths_catalog import missing_files
from ...utils.errors import InputFileError, UserError
from ..datasets.ava_index import keyframe_positions, unique_keyframes
from ..datasets.ava_json import BoxColumns, KeyframeColumns, read_annotation_columns, read_detection_columns

__all__ = [
    "ValidationReport",
    "DatasetValidationError",
    "validate_dataset",
    "quick_check",
    "check_annotations",
    "check_keyframe_clips",
]

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
    unlisted: Counter = field(default_factory=Counter)  # (kind) -> problems counted but not written out

    @property
    def ok(self) -> bool:
        return not any(self.errors.values())

    def error(self, kind: str, message: str) -> None:
        self.errors[kind].append(message)

    def warn(self, kind: str, message: str) -> None:
        self.warnings[kind].append(message)

    def messages(self) -> list[str]:
        """Every error message written out (the ``MAX_LISTED`` first of a kind met in bulk; ``unlisted`` counts
        the rest)."""
        return [m for msgs in self.errors.values() for m in msgs]

    def many(self, level: str, kind: str, positions: np.ndarray, message: Callable[[int], str]) -> None:
        """Problems of one kind found in bulk (array ``positions``): the first ``MAX_LISTED`` written out with
        ``message(position)``, the others counted."""
        add = self.error if level == "error" else self.warn
        for n in positions[:MAX_LISTED].tolist():
            add(kind, message(n))
        if len(positions) > MAX_LISTED:
            self.unlisted[kind] += len(positions) - MAX_LISTED

    def format(self) -> str:
        total = sum(len(msgs) + self.unlisted[kind] for kind, msgs in self.errors.items() if msgs)
        lines = [f"dataset '{self.name}': " + ("OK" if self.ok else f"{total} error(s)")]
        lines += [f"  {line}" for line in self.info]
        for title, table in (("ERROR", self.errors), ("warning", self.warnings)):
            for kind, msgs in table.items():
                if not msgs:
                    continue
                count = len(msgs) + self.unlisted[kind]
                lines.append(f"  {title}: {kind} ({count})")
                lines += [f"    - {m}" for m in msgs[:MAX_LISTED]]
                if count > MAX_LISTED:
                    lines.append(f"    ... and {count - MAX_LISTED} more")
        if self.class_counts:
            lines.append("  boxes per action:")
            ids = sorted(set(self.class_counts) | set(self.label_names))
            for aid in ids:
                name = self.label_names.get(aid, "?")
                lines.append(f"    {aid:4d}  {name[:40]:40s} {self.class_counts.get(aid, 0):8d}")
        return "\n".join(lines)

    def raise_on_errors(self) -> None:
        if not self.ok:
            raise DatasetValidationError(
                self.format(),
                fix=f"fix the files the report names, or check them all with "
                f"python tools/validate_dataset.py {self.name}",
            )


def _check_files(spec: dict, report: ValidationReport) -> bool:
    """The files the entry names (``paths_catalog.missing_files``, reported per field instead of raised); False
    when the clips folder or the annotation file is missing, since nothing else can be checked then."""
    problems = missing_files(spec)
    for _, message in problems:
        report.error("missing files", message)
    return not any(field in ("video_root", "ann_file") for field, _ in problems)


def _load_columns(path: str, report: ValidationReport):
    """(keyframes, boxes, other top-level keys) of an annotation file, or None (reported) when unreadable."""
    try:
        return read_annotation_columns(path)
    except InputFileError as e:
        report.error(
            "malformed annotation file" if "COCO-style" in e.what else "unreadable annotation file",
            f"{e.where}: {e.what}; make it with tools/ava_csv_to_coco.py",
        )
    except OSError as e:
        report.error("unreadable annotation file", f"{path}: cannot read JSON ({e})")
    return None


def _check_structure(keyframes: KeyframeColumns, others: dict, ann_file: str, report: ValidationReport) -> bool:
    """The annotation file is ``{"images": [...], "annotations": [...]}`` with usable image entries; False when
    nothing else can be checked."""
    name = os.path.basename(ann_file)
    if not isinstance(others.get("images", None), list):
        found = f"a dict with keys {sorted(others)[:6]}"
        report.error(
            "malformed annotation file",
            f'{ann_file}: expected a COCO-style object {{"images": [...], '
            f'"annotations": [...]}}, got {found}; make it with tools/ava_csv_to_coco.py',
        )
        return False
    if not isinstance(others.get("annotations", []), list):
        report.error("malformed annotation file", f'{ann_file}: "annotations" must be a list')
        return False
    if not len(keyframes.ids):
        report.error("no keyframes", f'{ann_file}: "images" is empty: there is no keyframe to train or test on')
        return False
    for n, image_id, lacks in keyframes.missing:
        report.error(
            "malformed images",
            f"{name}: images[{n}] (id {image_id if image_id is not None else '?'}) "
            f"lacks {', '.join(lacks)} (every keyframe needs id, width, height, timestamp and movie or "
            "video_path)",
        )
    return not keyframes.missing


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


def _check_decoding(
    windows: list[tuple[str, str, list[int]]],
    video_root: str,
    frames_per_clip: dict[str, int],
    report: ValidationReport,
    undecodable: str = "error",
) -> None:
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
                        "undecodable clips",
                        f"{path}: cannot be decoded ({counts[path] or 'no frames'}); "
                        "re-create it with tools/prepare_ava_videos.py",
                    )
            n = counts[path]
            if isinstance(n, int) and 0 < n < frames_per_clip.get(folder, n):
                short.append(f"{where}: its window needs {path}, which has {n} of {frames_per_clip[folder]} frames")
    for message in short[:MAX_LISTED]:
        report.warn(
            "windows reaching into a short clip",
            message + " (the window repeats an edge frame there; a video's last, partial second is usually the cause)",
        )
    if len(short) > MAX_LISTED:
        report.warn("windows reaching into a short clip", f"... and {len(short) - MAX_LISTED} more")
    report.info.append(f"{len(counts)} clips decoded")


def _check_images(
    entries: list[tuple[str, int, int]],
    video_root: str,
    frame_span: int,
    report: ValidationReport,
    clip_frames: int | None,
    decode: int | None = None,
    undecodable: str = "error",
) -> None:
    """Clips of the keyframes ``(clip folder, second, image id)``: present, with the neighbours the window needs;
    the clips of the first ``decode`` keyframes (None: all) decoded."""
    left, right = frame_span // 2, frame_span - frame_span // 2
    windows: list[tuple[str, str, list[int]]] = []
    listing: dict[str, set[int]] = {}
    frames_per_clip: dict[str, int] = {}
    edge_keyframes: list[str] = []
    for folder, t, image_id in entries:
        where = f"keyframe (video {folder!r}, second {t}, image id {image_id})"
        if folder not in listing:
            d = os.path.join(video_root, folder)
            listing[folder] = (
                {int(n[:-4]) for n in os.listdir(d) if n.endswith(".mp4") and n[:-4].lstrip("-").isdigit()}
                if os.path.isdir(d)
                else set()
            )
        have = listing[folder]
        centre = os.path.join(video_root, folder, f"{t}.mp4")
        if t not in have:
            report.error(
                "missing clips",
                f"{where}: its clip {centre} does not exist; re-run "
                "tools/prepare_ava_videos.py for this video or remove the annotation",
            )
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
            report.error(
                "missing neighbouring clips",
                f"{where}: a window of {frame_span} frames needs clips {t - before}..{t + after}, "
                f"missing {', '.join(f'{s}.mp4' for s in gaps)} in {os.path.join(video_root, folder)} "
                "(the decoder would repeat an edge frame instead); prepare those seconds too",
            )
        elif any(s < first or s > last for s in needed):
            edge_keyframes.append(f"{folder}/{t}")
        if decode is None or len(windows) < decode:
            windows.append((where, folder, [s for s in range(t - before, t + after + 1) if s in have]))
    if edge_keyframes:
        shown = ", ".join(edge_keyframes[:MAX_LISTED]) + (
            f" and {len(edge_keyframes) - MAX_LISTED} more" if len(edge_keyframes) > MAX_LISTED else ""
        )
        report.warn(
            "keyframes at a video edge",
            f"{len(edge_keyframes)} annotated keyframe(s) lie within {frame_span // 2} frames of the first or "
            f"last clip of their video ({shown}: video/second); their windows repeat the edge frame (prepare "
            "a few more seconds around the annotated range, e.g. AVA's 902..1798 needs 895..1805)",
        )
    if windows:
        _check_decoding(windows, video_root, frames_per_clip, report, undecodable)


def _check_boxes(
    keyframes: KeyframeColumns,
    boxes: BoxColumns,
    report: ValidationReport,
    tolerance: float,
    labelmap: dict[int, str] | None,
    num_classes: int | None,
    ann_file: str,
) -> None:
    """Every annotation: its keyframe exists, its bbox is ``[x, y, w, h]`` inside the keyframe, its action ids are in
    the label map (or ``1..num_classes``). Vectorised: an AVA-train-sized file (739k boxes) takes well under a
    second; the first ``MAX_LISTED`` problems of each kind are written out, the others counted."""
    name = os.path.basename(ann_file)
    image_ids, rows = unique_keyframes(keyframes)
    pos, found = keyframe_positions(image_ids, boxes.image_id)
    row = rows[pos] if len(rows) else pos

    def where(n: int) -> str:
        text = f"{name}: annotation id {int(boxes.ids[n])}"
        if found[n]:
            text += f" (video {str(keyframes.movie[row[n]])!r}, second {int(keyframes.timestamp[row[n]])})"
        return text

    report.many(
        "error",
        "annotations without image",
        np.flatnonzero(~found),
        lambda n: f"{where(n)}: image_id {int(boxes.image_id[n])} is not in images",
    )
    report.many(
        "error",
        "malformed annotations",
        np.flatnonzero(found & ~boxes.bbox_ok),
        lambda n: f"{where(n)}: bbox must be [x, y, w, h] of 4 numbers",
    )
    usable = found & boxes.bbox_ok
    x, y, w, h = boxes.bbox.T
    width, height = keyframes.width[row], keyframes.height[row]
    with np.errstate(invalid="ignore"):
        inside = (
            (w > 0)
            & (h > 0)
            & (x >= -tolerance)
            & (y >= -tolerance)
            & (x + w <= width + tolerance)
            & (y + h <= height + tolerance)
        )

    def outside(n: int) -> str:
        bx, by, bw, bh = boxes.bbox[n].tolist()
        return (
            f"{where(n)}: bbox [x={bx:g}, y={by:g}, w={bw:g}, h={bh:g}] (xyxy {bx:g},{by:g},{bx + bw:g},"
            f"{by + bh:g}) is not inside the {width[n]:g}x{height[n]:g} keyframe; bbox is [x, y, w, h] in "
            "keyframe pixels"
        )

    report.many("error", "boxes outside the image", np.flatnonzero(usable & ~inside), outside)
    report.many(
        "error",
        "malformed annotations",
        np.flatnonzero(usable & ~boxes.has_actions),
        lambda n: (
            f"{where(n)}: no action_ids (plain COCO form? convert it with tools/ava_csv_to_coco.py, "
            "which merges it into multi-label boxes)"
        ),
    )
    counts = np.diff(boxes.action_ptr)
    labelled = usable & boxes.has_actions
    report.many(
        "warning",
        "boxes without actions",
        np.flatnonzero(labelled & (counts == 0)),
        lambda n: f"{where(n)}: empty action_ids",
    )
    owner = np.repeat(np.arange(len(boxes)), counts)
    ids = boxes.action_ids
    mine = labelled[owner]
    values, tally = np.unique(ids[mine], return_counts=True)
    report.class_counts.update(dict(zip(values.tolist(), tally.tolist())))
    if labelmap is not None:
        bad = np.flatnonzero(mine & ~np.isin(ids, np.fromiter(labelmap, np.int64, len(labelmap))))
        report.many(
            "error",
            "action ids not in the label map",
            bad,
            lambda k: (
                f"{where(owner[k])}: action id {int(ids[k])} is not in the label map "
                f"(ids {min(labelmap)}..{max(labelmap)})"
            ),
        )
    else:
        bad = np.flatnonzero(mine & ((ids < 1) | ((ids > num_classes) if num_classes is not None else False)))
        report.many(
            "error",
            "action ids out of range",
            bad,
            lambda k: (
                f"{where(owner[k])}: action id {int(ids[k])} is outside 1..{num_classes or 'N'} "
                "(class c = action id c + 1)"
            ),
        )


def _check_detections(
    path: str, kind: str, keyframes: KeyframeColumns, report: ValidationReport, tolerance: float
) -> None:
    try:
        dets = read_detection_columns(path)
    except InputFileError as e:
        report.error(f"malformed {kind}", f"{e.where}: {e.what}")
        return
    except OSError as e:
        report.error(f"unreadable {kind}", f"{path}: cannot read JSON ({e})")
        return
    image_ids, rows = unique_keyframes(keyframes)
    pos, found = keyframe_positions(image_ids, dets.image_id)
    if not found.all():
        unknown = np.unique(dets.image_id[~found])
        report.warn(
            f"{kind} of unknown images",
            f"{path}: {int((~found).sum())} detections name image ids not in "
            f"the annotation file (e.g. {unknown[:3].tolist()}); they are ignored",
        )
    row = rows[pos[found]]
    x, y, w, h = dets.bbox[found].T
    right, bottom = keyframes.width[row] + tolerance, keyframes.height[row] + tolerance
    outside = int(((x < -tolerance) | (y < -tolerance) | (x + w > right) | (y + h > bottom)).sum())
    if outside:
        report.warn(f"{kind} outside the image", f"{path}: {outside} detections reach outside their keyframe")
    report.info.append(f"{os.path.basename(path)}: {len(dets)} detections")


def check_annotations(
    keyframes: KeyframeColumns,
    boxes: BoxColumns,
    others: dict,
    ann_file: str,
    report: ValidationReport,
    num_classes: int | None = None,
    labelmap: dict[int, str] | None = None,
    tolerance: float = 1.0,
) -> bool:
    """The annotation file's structure, boxes and action ids (no clips). False when its structure is too broken
    for anything else to be checked."""
    if not _check_structure(keyframes, others, ann_file, report):
        return False
    _check_boxes(keyframes, boxes, report, tolerance, labelmap, num_classes, ann_file)
    return True


def check_keyframe_clips(
    name: str,
    video_root: str,
    keyframes: list[tuple[str, int, int]],
    frame_span: int,
    decode: int = 8,
    undecodable: str = "error",
) -> ValidationReport:
    """The clips of the keyframes ``(clip folder, second, image id)`` a dataset will use (the caller picks a
    sample; those of ``decode`` of them decoded): the part of :func:`quick_check` that reads the clips."""
    report = ValidationReport(name)
    _check_images(keyframes, video_root, frame_span, report, None, decode, undecodable)
    return report


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
                    problems.append(
                        f"{where}: bad row {','.join(row)!r} ({e}); expected "
                        "video_id,timestamp,x1,y1,x2,y2,action_id[,person_id]"
                    )
                    continue
                if not (0 <= x1 < x2 <= 1 and 0 <= y1 < y2 <= 1):
                    problems.append(
                        f"{where}: box {x1:g},{y1:g},{x2:g},{y2:g} is not a normalised box inside "
                        "[0, 1] with x1 < x2 and y1 < y2"
                    )
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


def validate_dataset(
    spec: dict,
    frame_span: int,
    labelmap: dict[int, str] | None = None,
    num_classes: int | None = None,
    sample: int | None = None,
    tolerance: float = 1.0,
    clip_frames: int | None = None,
    seed: int = 0,
    decode: int | None = None,
    undecodable: str = "error",
) -> ValidationReport:
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
    columns = _load_columns(args["ann_file"], report)
    if columns is None:
        return report
    keyframes, boxes, others = columns
    if not _check_structure(keyframes, others, args["ann_file"], report):
        return report
    image_ids, rows = unique_keyframes(keyframes)
    annotated = np.zeros(len(image_ids), bool)
    pos, found = keyframe_positions(image_ids, boxes.image_id)
    annotated[pos[found]] = True
    videos = len(np.unique(keyframes.folder))
    report.info.append(
        f"{args['ann_file']}: {len(keyframes.ids)} keyframes, {len(boxes)} person boxes, "
        f"{int(annotated.sum())} annotated keyframes in {videos} videos"
    )
    # the annotated keyframes in file order (only they are trained on; test keyframes are checked via the box file)
    entries = [
        (str(keyframes.folder[r]), int(keyframes.timestamp[r]), int(keyframes.ids[r]))
        for r in np.sort(rows[annotated]).tolist()
    ]
    if sample is not None and len(keyframes.ids) > sample:
        picked = {int(keyframes.ids[i]) for i in random.Random(seed).sample(range(len(keyframes.ids)), sample)}
        entries = [e for e in entries if e[2] in picked]
        report.info.append(f"clips checked for a sample of {sample} keyframes (quick check)")
    _check_images(entries, args["video_root"], frame_span, report, clip_frames, decode, undecodable)
    _check_boxes(keyframes, boxes, report, tolerance, labelmap, num_classes, args["ann_file"])
    for key, kind in (("box_file", "person detections"), ("object_file", "object detections")):
        if args.get(key) and sample is None:
            _check_detections(args[key], kind, keyframes, report, tolerance)
    gt_csv = args.get("eval_file_paths", {}).get("csv_gt_file")
    if gt_csv and os.path.isfile(gt_csv) and sample is None:
        _check_groundtruth_csv(gt_csv, labelmap, report)
    if labelmap:
        unused = sorted(set(labelmap) - set(report.class_counts))
        if unused and len(boxes):
            report.warn(
                "actions without boxes",
                f"{len(unused)} label-map action(s) have no box in this split: "
                + ", ".join(f"{a} {labelmap[a]!r}" for a in unused[:10]),
            )
    return report


def quick_check(
    spec: dict, frame_span: int, sample: int = 64, num_classes: int | None = None, on_bad_sample: str = "error"
) -> ValidationReport:
    """The cheap part: files, boxes and action ids of every annotation, clips of ``sample`` random keyframes (those
    of 8 decoded; ``on_bad_sample`` "skip", as DATALOADER.ON_BAD_SAMPLE, makes an undecodable one a warning).

    For a catalog spec on its own (e.g. ``quick_check(spec, 64).raise_on_errors()``). ``train_net`` / ``test_net``
    run the same checks while they build a dataset (``alphaction.data.build``): :func:`check_annotations` on the
    columns the index is built from (skipped when the index comes from its cache), :func:`check_keyframe_clips` on
    a sample of the keyframes the dataset will decode.
    """
    return validate_dataset(
        spec,
        frame_span,
        None,
        num_classes,
        sample=sample,
        decode=8,
        undecodable="warn" if on_bad_sample == "skip" else "error",
    )
