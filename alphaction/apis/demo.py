"""Run an action detector over a whole video: person boxes per second (a box file or a torchvision detector),
IoU tracking, the model on the frame window around each second, an annotated MP4 and a CSV (``tools/demo.py``).

The video is decoded once as a stream (:class:`~alphaction.data.video_io.VideoFrames`: PyAV, resampled by frame
time to ``fps``, 25 being what the clips of the datasets hold, short side at most ``short_side``);
:func:`run_video` keeps only the frames that pending windows and the rendering still need. Second ``s``'s
keyframe is frame ``s * fps``; its
window is built exactly as ``alphaction.data.video_io.decode_window`` builds it from per-second clips (keyframe at
window position ``span // 2``, edge frames repeated past the ends of the video), and it goes through the dataset's
test transform (``build_transforms(cfg, is_train=False)``), so the model sees what ``test_net.py`` would show it.
"""

from __future__ import annotations

import csv
import json
import logging
import os
from dataclasses import dataclass, field
from typing import Callable, Iterable

import av
import cv2
import numpy as np
import torch

from ..checkpoint import Checkpointer
from ..data.build import build_transforms
from ..data.collate import collate
from ..data.prep.visualize import draw_boxes
from ..data.video_io import VideoFrames, window_positions
from ..engine.ia_memory import memory_settings, uses_memory
from ..engine.runner import head_prefixes
from ..modeling import build_model
from ..utils.errors import UserError
from ..utils.progress import progress as progress_bar
from .tracker import IoUTracker, colour_histogram, is_cut

logger = logging.getLogger(__name__)

__all__ = [
    "read_video",
    "load_box_file",
    "detect_persons",
    "SecondResult",
    "run_video",
    "predict_video",
    "Renderer",
    "render_video",
    "write_predictions_csv",
    "VideoWriter",
]


def read_video(path: str, fps: int = 25, short_side: int = 360, max_seconds: float | None = None):
    """Decode ``path`` -> ``(frames uint8 [T, H, W, 3] RGB, (orig_height, orig_width))``: the whole video in memory
    (for short videos and tests; :func:`run_video` streams). Frames as :class:`~alphaction.data.video_io.VideoFrames`
    gives them: at ``fps`` (nearest source frame by time), upright, short side at most ``short_side``."""
    video = VideoFrames(path, fps, short_side, max_seconds)
    return np.stack(list(video)), video.orig_size


def _keyframes_of(ann_file: str, video_id: str, path: str) -> dict[int, tuple[int, int, int]]:
    """``{image_id: (second, keyframe height, keyframe width)}`` of one video of an annotation JSON."""
    with open(ann_file, encoding="utf-8") as f:
        images = json.load(f).get("images", [])
    movies = sorted({str(im.get("movie")) for im in images})
    if not video_id:
        if len(movies) != 1:
            raise UserError(
                f"{path}: the annotation file {ann_file} holds {len(movies)} videos ({', '.join(movies[:5])}"
                f"{', ...' if len(movies) > 5 else ''})",
                where="--boxes-ann",
                fix="name the demo's video with --boxes-video VIDEO_ID",
            )
        video_id = movies[0]
    out = {
        int(im["id"]): (int(im["timestamp"]), int(im["height"]), int(im["width"]))
        for im in images
        if str(im.get("movie")) == video_id
    }
    if not out:
        raise UserError(
            f"video {video_id!r} is not in {ann_file}",
            where="--boxes-video",
            fix=f"use one of its videos: {', '.join(movies[:10])}",
        )
    return out


def load_box_file(
    path: str,
    fps: int = 25,
    score_thresh: float = 0.0,
    frame_size: tuple[int, int] | None = None,
    ann_file: str = "",
    video_id: str = "",
) -> dict[int, np.ndarray]:
    """Person boxes per second from a JSON list of COCO detection results. Both of our formats are read:

    - ``[{"timestamp" (or "second", or "frame" at ``fps``), "bbox": [x, y, w, h], "score", "category_id"}]``
      (the demo's own), in pixels of the video;
    - ``[{"image_id", "bbox", "score", "category_id"}]`` (``tools/detect_boxes.py``'s), in pixels of the
      keyframes of ``ann_file`` (the annotation JSON it read; ``video_id`` picks the video when it holds several):
      the keyframe of an image id gives the second, and its size the scale to the video's ``frame_size``.

    Coordinates all within [0, 1] (as AVA CSVs hold them) are taken as normalised and multiplied by the video's
    ``frame_size = (height, width)``; the log says which was assumed. ``category_id`` other than 1 (person) and
    scores below ``score_thresh`` are left out. Returns ``{second: float32 [N, 5] (x1, y1, x2, y2, score)}``.
    """
    with open(path, encoding="utf-8") as f:
        entries = json.load(f)
    if not isinstance(entries, list):
        raise UserError(
            "expected a JSON list of detections",
            where=path,
            fix='write [{"timestamp": SECOND, "bbox": [x, y, w, h], "score": S}, ...]',
        )
    keyframes = None
    rows: list[tuple[int, list[float], float, tuple[int, int] | None]] = []
    for n, e in enumerate(entries):
        if not isinstance(e, dict) or "bbox" not in e:
            raise UserError(f"entry {n} has no bbox: {e!r}", where=path, fix='every entry needs "bbox": [x, y, w, h]')
        if e.get("category_id", 1) != 1 or float(e.get("score", 1.0)) < score_thresh:
            continue
        size = None
        if "timestamp" in e or "second" in e:
            sec = int(e.get("timestamp", e.get("second")))
        elif "frame" in e:
            sec = int(e["frame"]) // fps
        elif "image_id" in e:
            if not ann_file:
                raise UserError(
                    "the entries name image_id (tools/detect_boxes.py's format), not seconds",
                    where=path,
                    fix="pass the annotation file detect_boxes.py read: --boxes-ann ANN.json "
                    "(and --boxes-video VIDEO_ID when it holds several videos)",
                )
            keyframes = keyframes if keyframes is not None else _keyframes_of(ann_file, video_id, path)
            if int(e["image_id"]) not in keyframes:
                continue  # a keyframe of another video of the file
            sec, kh, kw = keyframes[int(e["image_id"])]
            size = (kh, kw)
        else:
            raise UserError(
                f"entry {n} has no 'timestamp', 'second', 'frame' or 'image_id' field: {e}",
                where=path,
                fix="give each detection the second (timestamp) it belongs to",
            )
        rows.append((sec, [float(v) for v in e["bbox"]], float(e.get("score", 1.0)), size))
    normalised = bool(rows) and all(0.0 <= v <= 1.0 for _, b, _, _ in rows for v in b)
    if rows:
        logger.info(
            "%s: %d boxes, coordinates taken as %s",
            path,
            len(rows),
            "normalised (all within [0, 1]): multiplied by the video size"
            if normalised
            else "pixels" + (" of the annotation's keyframes, scaled to the video" if keyframes else " of the video"),
        )
    per: dict[int, list] = {}
    for sec, (x, y, w, h), score, size in rows:
        sx = sy = 1.0
        if normalised and frame_size is not None:
            sy, sx = frame_size
        elif size is not None and frame_size is not None:
            sy, sx = frame_size[0] / size[0], frame_size[1] / size[1]
        per.setdefault(sec, []).append([x * sx, y * sy, (x + w) * sx, (y + h) * sy, score])
    return {s: np.asarray(b, dtype=np.float32) for s, b in per.items()}


def detect_persons(
    model: torch.nn.Module, frame: np.ndarray, scale: float, device: torch.device, score_thresh: float = 0.5
) -> np.ndarray:
    """A torchvision detector (``alphaction.data.prep.detect.build_detector``, in eval mode on ``device``) on one
    uint8 RGB keyframe: persons (COCO category 1) scoring >= ``score_thresh`` as ``[N, 5]`` (x1, y1, x2, y2,
    score) in pixels of the original video (``scale`` = original / decoded size)."""
    with torch.inference_mode():
        img = torch.from_numpy(np.ascontiguousarray(frame)).permute(2, 0, 1).float().div_(255)
        det = model([img.to(device)])[0]
        keep = (det["labels"] == 1) & (det["scores"] >= score_thresh)
        boxes = det["boxes"][keep].float().cpu().numpy() * scale
        return np.concatenate([boxes, det["scores"][keep].cpu().numpy()[:, None]], 1).astype(np.float32)


@dataclass
class SecondResult:
    second: int
    boxes: np.ndarray  # float32 [N, 4] xyxy in pixels of the original video
    scores: np.ndarray  # float32 [N] person scores
    track_ids: list[int] = field(default_factory=list)
    probs: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), np.float32))  # [N, NUM_CLASSES]


def build_action_model(cfg, weights: str, device: torch.device) -> torch.nn.Module:
    """The model of ``cfg`` with ``weights`` loaded as ``test_net.py`` loads them (report in the log). The class
    names the checkpoint holds (``train_net.py`` saves them) are kept as ``model.class_names`` (None without)."""
    model = build_model(cfg)
    checkpointer = Checkpointer(model, head_prefixes=head_prefixes(model))
    checkpointer.load(weights, transfer=True, purpose="test")
    names = checkpointer.loaded_info.get("class_names")
    model.class_names = [str(n) for n in names] if names else None
    return model.to(device).eval()


class _Scorer:
    """Scores the persons of one second from its frame window (the test transform of ``cfg``), with the online
    memory of the seconds before for an IA model with memory blocks."""

    def __init__(self, cfg, model: torch.nn.Module, orig_size: tuple[int, int], device: torch.device) -> None:
        self.cfg, self.model, self.orig_size, self.device = cfg, model, tuple(orig_size), device
        self.transform = build_transforms(cfg, is_train=False)
        self.memory = memory_settings(cfg) if uses_memory(model) else None
        self.pool = self.memory.new_pool() if self.memory is not None else None

    @torch.no_grad()
    def __call__(self, res: SecondResult, clip: np.ndarray) -> None:
        cfg, device, s = self.cfg, self.device, res.second
        sample = self.transform(
            clip, torch.from_numpy(res.boxes), box_size=self.orig_size, rng=np.random.default_rng(0)
        )
        sample.update(
            labels=torch.zeros(len(res.boxes), 0),
            scores=torch.from_numpy(res.scores),
            video_id="",
            timestamp=s,
            index=s,
        )
        batch = collate([sample], cfg.DATALOADER.SIZE_DIVISIBILITY)
        args = (
            batch["slow"].to(device),
            batch["fast"].to(device),
            [b.to(device) for b in batch["boxes"]],
            batch["image_sizes"],
        )
        objects = [o.to(device) for o in batch["objects"]]
        if self.pool is None:
            probs = self.model(*args, objects=objects)
        else:
            pooled = self.model.extract_features(*args, objects=objects)
            window = self.pool.window("demo", s, device=device, **self.memory.window_kwargs(online=True))
            probs = self.model.predict_from_features(pooled, [window])
            self.pool.update(["demo"], [s], [pooled.persons[0]])
        res.probs = probs[0].float().cpu().numpy()


@torch.no_grad()
def run_video(
    cfg,
    model: torch.nn.Module,
    frames: Iterable[np.ndarray],
    orig_size: tuple[int, int],
    fps: int,
    device: torch.device,
    person_boxes: dict[int, np.ndarray] | None = None,
    detector: torch.nn.Module | None = None,
    person_thresh: float = 0.5,
    iou_thresh: float = 0.3,
    on_frame: Callable[[int, np.ndarray, list["SecondResult"]], None] | None = None,
    progress: bool = True,
) -> list[SecondResult]:
    """Track the persons of every second of a frame stream and score their actions, holding only the frames the
    pending windows and the rendering still need (a few seconds, whatever the video's length).

    Args:
        frames: uint8 RGB frames at ``fps`` (e.g. :class:`~alphaction.data.video_io.VideoFrames`, or an array).
        orig_size: ``(H, W)`` of the original video; boxes are in its pixels.
        person_boxes: ``{second: [N, 5]}`` (x1, y1, x2, y2, score); or ``detector`` (a torchvision detector) run
            on each second's keyframe, persons scoring >= ``person_thresh``.
        on_frame: called as ``on_frame(n, frame, results)`` for every frame in order once the seconds it shows
            and the next one are scored (what :class:`Renderer` draws from).

    Returns one :class:`SecondResult` per second. A track ends when its person is missing for a second or at a
    scene cut (:func:`~alphaction.apis.tracker.scene_cut`), so another person never takes over its id.
    """
    score = _Scorer(cfg, model, orig_size, device)
    if detector is not None:
        detector.eval().to(device)
    tracker = IoUTracker(iou_thresh=iou_thresh, max_age=0)
    left = cfg.INPUT.FRAME_NUM * cfg.INPUT.FRAME_SAMPLE_RATE // 2
    positions = window_positions(cfg.INPUT.FRAME_NUM, cfg.INPUT.FRAME_SAMPLE_RATE)
    buffer: dict[int, np.ndarray] = {}
    cut_before: dict[int, bool] = {}  # frame index -> a cut between it and the frame before
    hist_prev = None
    persons = dict(person_boxes or {})
    results: list[SecondResult] = []
    rendered = 0

    def process(s: int, last_index: int) -> None:
        dets = persons.get(s, np.zeros((0, 5), np.float32))
        res = SecondResult(s, dets[:, :4].copy(), dets[:, 4].copy())
        if s > 0 and any(cut_before.get(i, False) for i in range((s - 1) * fps + 1, s * fps + 1)):
            tracker.reset()
            logger.info("scene cut between seconds %d and %d: new track ids", s - 1, s)
        res.track_ids = tracker.update(res.boxes)
        if len(dets):
            idx = np.clip(s * fps - left + positions, 0, last_index)
            score(res, np.stack([buffer[int(i)] for i in idx]))
        results.append(res)

    def render_until(stop: int) -> None:
        nonlocal rendered
        while rendered < stop:
            if on_frame is not None:
                on_frame(rendered, buffer[rendered], results)
            rendered += 1

    n = -1
    for n, frame in enumerate(progress_bar(frames, "video", "frame", enabled=progress, logger=logger)):
        buffer[n] = frame
        hist = colour_histogram(frame)
        cut_before[n] = hist_prev is not None and is_cut(hist_prev, hist)
        hist_prev = hist
        if detector is not None and n % fps == 0:
            persons[n // fps] = detect_persons(detector, frame, orig_size[0] / frame.shape[0], device, person_thresh)
        # every second whose window is complete
        while len(results) * fps <= n and len(results) * fps - left + int(positions[-1]) <= n:
            process(len(results), n)
            if len(results) >= 2:  # second k - 2 is drawn once k - 1 (its boxes' next positions) is scored
                render_until((len(results) - 1) * fps)
        keep_from = min(rendered, max(0, len(results) * fps - left))
        for i in [i for i in buffer if i < keep_from]:
            del buffer[i]
    total = n + 1
    while len(results) * fps < total:  # the last seconds: windows reach past the end (edge frame repeated)
        process(len(results), total - 1)
    render_until(total)
    return results


def predict_video(
    cfg,
    model: torch.nn.Module,
    frames: np.ndarray,
    orig_size: tuple[int, int],
    person_boxes: dict[int, np.ndarray],
    fps: int,
    device: torch.device,
    iou_thresh: float = 0.3,
) -> list[SecondResult]:
    """:func:`run_video` on frames held in memory, with given person boxes ``{second: [N, 5]}`` in pixels of the
    original video (``orig_size = (H, W)``). Seconds without boxes get empty results."""
    return run_video(
        cfg, model, frames, orig_size, fps, device, person_boxes=person_boxes, iou_thresh=iou_thresh, progress=False
    )


def _labels(res: SecondResult, i: int, labelmap: dict[int, str], top_k: int, thresh: float) -> list[str]:
    order = np.argsort(-res.probs[i])[:top_k] if res.probs.size else []
    text = [
        f"{labelmap.get(int(c) + 1, str(int(c) + 1))} {res.probs[i, c]:.2f}" for c in order if res.probs[i, c] >= thresh
    ]
    return [f"#{res.track_ids[i]}"] + text


def _frame_boxes(results: list[SecondResult], frame: int, fps: int, scale: float, labelmap, top_k, thresh):
    """Boxes to draw on ``frame``: the tracks of its second, moved linearly towards their next-second box."""
    s, frac = divmod(frame, fps)
    if s >= len(results):
        return []
    cur = results[s]
    nxt = {tid: b for tid, b in zip(results[s + 1].track_ids, results[s + 1].boxes)} if s + 1 < len(results) else {}
    out = []
    for i, (box, tid) in enumerate(zip(cur.boxes, cur.track_ids)):
        b = box + (nxt[tid] - box) * (frac / fps) if tid in nxt else box
        out.append((tuple(float(v) * scale for v in b), _labels(cur, i, labelmap, top_k, thresh)))
    return out


class VideoWriter:
    """Streaming H.264 (yuv420p) MP4 writer over PyAV; frames are uint8 RGB with even sizes."""

    def __init__(self, path: str, width: int, height: int, fps: int = 25, crf: int = 20):
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        self.container = av.open(path, "w")
        self.stream = self.container.add_stream("libx264", rate=fps)
        self.stream.width, self.stream.height, self.stream.pix_fmt = width, height, "yuv420p"
        self.stream.options = {"crf": str(crf)}

    def write(self, frame: np.ndarray) -> None:
        for packet in self.stream.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")):
            self.container.mux(packet)

    def close(self) -> None:
        for packet in self.stream.encode():
            self.container.mux(packet)
        self.container.close()


class Renderer:
    """Draws each frame as :func:`run_video` hands it over (``on_frame``) and writes the annotated MP4 as it goes;
    ``close()`` finishes it and writes the screenshot: the annotated keyframe of the (first) second with the most
    persons. ``render_scale`` enlarges small videos so that the labels stay readable."""

    def __init__(
        self,
        out_path: str,
        frame_size: tuple[int, int],
        orig_size: tuple[int, int],
        fps: int,
        labelmap: dict[int, str],
        top_k: int = 3,
        thresh: float = 0.1,
        screenshot: str = "",
        render_scale: float = 1.0,
    ) -> None:
        self.out_h, self.out_w = (int(round(d * render_scale / 2)) * 2 for d in frame_size)
        self.scale = self.out_h / orig_size[0]
        self.fps, self.labelmap, self.top_k, self.thresh, self.screenshot = fps, labelmap, top_k, thresh, screenshot
        self.writer = VideoWriter(out_path, self.out_w, self.out_h, fps)
        self.count = 0
        self._best: tuple[int, np.ndarray] | None = None

    def __call__(self, n: int, frame: np.ndarray, results: list[SecondResult]) -> None:
        if (self.out_h, self.out_w) != frame.shape[:2]:
            frame = cv2.resize(frame, (self.out_w, self.out_h), interpolation=cv2.INTER_LINEAR)
        img = draw_boxes(frame, _frame_boxes(results, n, self.fps, self.scale, self.labelmap, self.top_k, self.thresh))
        cv2.putText(
            img,
            f"{n / self.fps:5.1f}s",
            (4, img.shape[0] - 6),
            cv2.FONT_HERSHEY_SIMPLEX,
            0.4,
            (255, 255, 255),
            1,
            cv2.LINE_AA,
        )
        self.writer.write(img)
        self.count += 1
        if self.screenshot and n % self.fps == 0 and n // self.fps < len(results):
            persons = len(results[n // self.fps].boxes)
            if self._best is None or persons > self._best[0]:
                self._best = (persons, img.copy())

    def close(self) -> None:
        self.writer.close()
        if self.screenshot and self._best is not None:
            os.makedirs(os.path.dirname(os.path.abspath(self.screenshot)), exist_ok=True)
            if not cv2.imwrite(self.screenshot, self._best[1][:, :, ::-1]):
                raise OSError(f"cannot write {self.screenshot}")


def render_video(
    frames: np.ndarray,
    results: list[SecondResult],
    orig_size: tuple[int, int],
    out_path: str,
    fps: int,
    labelmap: dict[int, str],
    top_k: int = 3,
    thresh: float = 0.1,
    screenshot: str = "",
    render_scale: float = 1.0,
) -> int:
    """Write the annotated MP4 of frames held in memory (:class:`Renderer` over them). Returns the frame count."""
    renderer = Renderer(out_path, frames.shape[1:3], orig_size, fps, labelmap, top_k, thresh, screenshot, render_scale)
    try:
        for n, frame in enumerate(frames):
            renderer(n, frame, results)
    finally:
        renderer.close()
    return renderer.count


def write_predictions_csv(
    path: str, results: list[SecondResult], orig_size: tuple[int, int], labelmap: dict[int, str], thresh: float = 0.0
) -> int:
    """One row per (second, person, action) scoring >= ``thresh``: ``second,track_id,x1,y1,x2,y2,action_id,
    action_name,score`` (box normalized by the original size, like AVA). Returns the number of rows."""
    h, w = orig_size
    rows = 0
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as f:
        out = csv.writer(f)
        out.writerow(["second", "track_id", "x1", "y1", "x2", "y2", "action_id", "action_name", "score"])
        for res in results:
            for i, (box, tid) in enumerate(zip(res.boxes, res.track_ids)):
                nb = [min(max(float(v) / d, 0.0), 1.0) for v, d in zip(box, (w, h, w, h))]
                for c in range(res.probs.shape[1] if res.probs.size else 0):
                    if res.probs[i, c] >= thresh:
                        out.writerow(
                            [
                                res.second,
                                tid,
                                *(f"{v:.3f}" for v in nb),
                                c + 1,
                                labelmap.get(c + 1, str(c + 1)),
                                f"{res.probs[i, c]:.4f}",
                            ]
                        )
                        rows += 1
    return rows
