"""Run an action detector over a whole video: person boxes per second (a box file or a torchvision detector),
IoU tracking, the model on the frame window around each second, an annotated MP4 and a CSV (``tools/demo.py``).

The video is decoded once (PyAV), resampled by frame time to ``fps`` (25: what the clips of the datasets hold) and
kept in memory at a short side of at most ``short_side`` pixels. Second ``s``'s keyframe is frame ``s * fps``; its
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

import av
import cv2
import numpy as np
import torch

from ..checkpoint import Checkpointer
from ..data.build import build_transforms
from ..data.collate import collate
from ..data.prep.visualize import draw_boxes
from ..data.video_io import display_rgb, window_positions
from ..modeling import build_model
from ..utils.errors import UserError
from .ia_memory import memory_settings, uses_memory
from .runner import head_prefixes
from .tracker import IoUTracker, scene_cut

logger = logging.getLogger(__name__)

__all__ = ["read_video", "load_box_file", "detect_persons", "SecondResult", "predict_video", "render_video",
           "write_predictions_csv", "VideoWriter"]


def read_video(path: str, fps: int = 25, short_side: int = 360, max_seconds: float | None = None):
    """Decode ``path`` -> ``(frames uint8 [T, H, W, 3] RGB, (orig_height, orig_width))``, resampled to ``fps``
    (nearest source frame by time) and resized so that the short side is at most ``short_side`` (0: never)."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f"video {path} not found")
    frames, times = [], []
    try:
        with av.open(path) as container:
            if not container.streams.video:
                raise ValueError(f"{path} has no video stream")
            stream = container.streams.video[0]
            for frame in container.decode(stream):
                t = float(frame.pts * stream.time_base) if frame.pts is not None else len(times) / fps
                if max_seconds is not None and t >= max_seconds:
                    break
                frames.append(display_rgb(frame))  # a phone video's display rotation applied
                times.append(t)
    except av.FFmpegError as e:
        raise ValueError(f"cannot decode {path}: {e}") from e
    if not frames:
        raise ValueError(f"{path} holds no decodable video frames")
    orig = frames[0].shape[:2]
    times = np.asarray(times) - times[0]
    duration = times[-1] + (times[-1] / max(1, len(times) - 1) if len(times) > 1 else 1.0 / fps)
    n_out = max(1, int(round(duration * fps)))
    pick = np.searchsorted(times, (np.arange(n_out) / fps) - 1e-6)
    pick = np.clip(pick, 0, len(frames) - 1)
    h, w = orig
    scale = short_side / min(h, w) if short_side and min(h, w) > short_side else 1.0
    size = (int(round(w * scale / 2)) * 2, int(round(h * scale / 2)) * 2)  # even: H.264 yuv420p
    out = np.stack([cv2.resize(frames[i], size, interpolation=cv2.INTER_AREA) if size != (w, h) else frames[i]
                    for i in pick])
    return out, orig


def _keyframes_of(ann_file: str, video_id: str, path: str) -> dict[int, tuple[int, int, int]]:
    """``{image_id: (second, keyframe height, keyframe width)}`` of one video of an annotation JSON."""
    with open(ann_file, encoding="utf-8") as f:
        images = json.load(f).get("images", [])
    movies = sorted({str(im.get("movie")) for im in images})
    if not video_id:
        if len(movies) != 1:
            raise UserError(f"{path}: the annotation file {ann_file} holds {len(movies)} videos ({', '.join(movies[:5])}"
                            f"{', ...' if len(movies) > 5 else ''})", where="--boxes-ann",
                            fix="name the demo's video with --boxes-video VIDEO_ID")
        video_id = movies[0]
    out = {int(im["id"]): (int(im["timestamp"]), int(im["height"]), int(im["width"]))
           for im in images if str(im.get("movie")) == video_id}
    if not out:
        raise UserError(f"video {video_id!r} is not in {ann_file}", where="--boxes-video",
                        fix=f"use one of its videos: {', '.join(movies[:10])}")
    return out


def load_box_file(path: str, fps: int = 25, score_thresh: float = 0.0, frame_size: tuple[int, int] | None = None,
                  ann_file: str = "", video_id: str = "") -> dict[int, np.ndarray]:
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
        raise UserError("expected a JSON list of detections", where=path,
                        fix='write [{"timestamp": SECOND, "bbox": [x, y, w, h], "score": S}, ...]')
    keyframes = None
    rows: list[tuple[int, list[float], float, tuple[int, int] | None]] = []
    for n, e in enumerate(entries):
        if not isinstance(e, dict) or "bbox" not in e:
            raise UserError(f"entry {n} has no bbox: {e!r}", where=path, fix="every entry needs \"bbox\": [x, y, w, h]")
        if e.get("category_id", 1) != 1 or float(e.get("score", 1.0)) < score_thresh:
            continue
        size = None
        if "timestamp" in e or "second" in e:
            sec = int(e.get("timestamp", e.get("second")))
        elif "frame" in e:
            sec = int(e["frame"]) // fps
        elif "image_id" in e:
            if not ann_file:
                raise UserError("the entries name image_id (tools/detect_boxes.py's format), not seconds",
                                where=path, fix="pass the annotation file detect_boxes.py read: --boxes-ann ANN.json "
                                                "(and --boxes-video VIDEO_ID when it holds several videos)")
            keyframes = keyframes if keyframes is not None else _keyframes_of(ann_file, video_id, path)
            if int(e["image_id"]) not in keyframes:
                continue  # a keyframe of another video of the file
            sec, kh, kw = keyframes[int(e["image_id"])]
            size = (kh, kw)
        else:
            raise UserError(f"entry {n} has no 'timestamp', 'second', 'frame' or 'image_id' field: {e}", where=path,
                            fix="give each detection the second (timestamp) it belongs to")
        rows.append((sec, [float(v) for v in e["bbox"]], float(e.get("score", 1.0)), size))
    normalised = bool(rows) and all(0.0 <= v <= 1.0 for _, b, _, _ in rows for v in b)
    if rows:
        logger.info("%s: %d boxes, coordinates taken as %s", path, len(rows),
                    "normalised (all within [0, 1]): multiplied by the video size" if normalised else
                    "pixels" + (" of the annotation's keyframes, scaled to the video" if keyframes else " of the video"))
    per: dict[int, list] = {}
    for sec, (x, y, w, h), score, size in rows:
        sx = sy = 1.0
        if normalised and frame_size is not None:
            sy, sx = frame_size
        elif size is not None and frame_size is not None:
            sy, sx = frame_size[0] / size[0], frame_size[1] / size[1]
        per.setdefault(sec, []).append([x * sx, y * sy, (x + w) * sx, (y + h) * sy, score])
    return {s: np.asarray(b, dtype=np.float32) for s, b in per.items()}


def detect_persons(model: torch.nn.Module, frames: np.ndarray, seconds: list[int], fps: int, scale: float,
                   device: torch.device, score_thresh: float = 0.5) -> dict[int, np.ndarray]:
    """Run a torchvision detector (``alphaction.data.prep.detect.build_detector``) on each second's keyframe;
    persons (COCO category 1) scoring >= ``score_thresh``, in pixels of the original video (``scale`` = original
    / decoded size)."""
    model.eval().to(device)
    out = {}
    with torch.inference_mode():
        for s in seconds:
            img = torch.from_numpy(np.ascontiguousarray(frames[s * fps])).permute(2, 0, 1).float().div_(255)
            det = model([img.to(device)])[0]
            keep = (det["labels"] == 1) & (det["scores"] >= score_thresh)
            boxes = det["boxes"][keep].float().cpu().numpy() * scale
            out[s] = np.concatenate([boxes, det["scores"][keep].cpu().numpy()[:, None]], 1).astype(np.float32)
    return out


@dataclass
class SecondResult:
    second: int
    boxes: np.ndarray  # float32 [N, 4] xyxy in pixels of the original video
    scores: np.ndarray  # float32 [N] person scores
    track_ids: list[int] = field(default_factory=list)
    probs: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), np.float32))  # [N, NUM_CLASSES]


def _window(frames: np.ndarray, key: int, frame_num: int, sample_rate: int) -> np.ndarray:
    left = frame_num * sample_rate // 2
    idx = np.clip(key - left + window_positions(frame_num, sample_rate), 0, len(frames) - 1)
    return frames[idx]


def build_action_model(cfg, weights: str, device: torch.device) -> torch.nn.Module:
    """The model of ``cfg`` with ``weights`` loaded as ``test_net.py`` loads them (report in the log). The class
    names the checkpoint holds (``train_net.py`` saves them) are kept as ``model.class_names`` (None without)."""
    model = build_model(cfg)
    checkpointer = Checkpointer(model, head_prefixes=head_prefixes(model))
    checkpointer.load(weights, transfer=True, purpose="test")
    names = checkpointer.loaded_info.get("class_names")
    model.class_names = [str(n) for n in names] if names else None
    return model.to(device).eval()


@torch.no_grad()
def predict_video(cfg, model: torch.nn.Module, frames: np.ndarray, orig_size: tuple[int, int],
                  person_boxes: dict[int, np.ndarray], fps: int, device: torch.device,
                  iou_thresh: float = 0.3) -> list[SecondResult]:
    """Track the persons of every second and score their actions. ``person_boxes``: ``{second: [N, 5]}`` in
    pixels of the original video (``orig_size = (H, W)``). Seconds without boxes get empty results."""
    transform = build_transforms(cfg, is_train=False)
    # no track bridges a second without its box, nor a scene cut: both would give another person the same id
    tracker = IoUTracker(iou_thresh=iou_thresh, max_age=0)
    # an IA model with memory sees the persons of the seconds already processed (online memory, as streaming)
    memory = memory_settings(cfg) if uses_memory(model) else None
    pool = memory.new_pool() if memory is not None else None
    num_seconds = int(np.ceil(len(frames) / fps))
    results = []
    for s in range(num_seconds):
        dets = person_boxes.get(s, np.zeros((0, 5), np.float32))
        res = SecondResult(s, dets[:, :4].copy(), dets[:, 4].copy())
        if s > 0 and scene_cut(frames[(s - 1) * fps: s * fps + 1]):
            tracker.reset()
            logger.info("scene cut between seconds %d and %d: new track ids", s - 1, s)
        res.track_ids = tracker.update(res.boxes)
        if len(dets):
            clip = _window(frames, s * fps, cfg.INPUT.FRAME_NUM, cfg.INPUT.FRAME_SAMPLE_RATE)
            sample = transform(clip, torch.from_numpy(res.boxes), box_size=tuple(orig_size),
                               rng=np.random.default_rng(0))
            sample.update(labels=torch.zeros(len(dets), 0), scores=torch.from_numpy(res.scores), video_id="",
                          timestamp=s, index=s)
            batch = collate([sample], cfg.DATALOADER.SIZE_DIVISIBILITY)
            args = (batch["slow"].to(device), batch["fast"].to(device), [b.to(device) for b in batch["boxes"]],
                    batch["image_sizes"])
            objects = [o.to(device) for o in batch["objects"]]
            if pool is None:
                probs = model(*args, objects=objects)
            else:
                pooled = model.extract_features(*args, objects=objects)
                window = pool.window("demo", s, device=device, **memory.window_kwargs(online=True))
                probs = model.predict_from_features(pooled, [window])
                pool.update(["demo"], [s], [pooled.persons[0]])
            res.probs = probs[0].float().cpu().numpy()
        results.append(res)
    return results


def _labels(res: SecondResult, i: int, labelmap: dict[int, str], top_k: int, thresh: float) -> list[str]:
    order = np.argsort(-res.probs[i])[:top_k] if res.probs.size else []
    text = [f"{labelmap.get(int(c) + 1, str(int(c) + 1))} {res.probs[i, c]:.2f}" for c in order
            if res.probs[i, c] >= thresh]
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


def render_video(frames: np.ndarray, results: list[SecondResult], orig_size: tuple[int, int], out_path: str,
                 fps: int, labelmap: dict[int, str], top_k: int = 3, thresh: float = 0.1,
                 screenshot: str = "", render_scale: float = 1.0) -> int:
    """Write the annotated MP4 (and the annotated keyframe of the second with the most persons as a PNG);
    ``render_scale`` enlarges small videos so that the labels stay readable. Returns the number of frames written."""
    out_h, out_w = (int(round(d * render_scale / 2)) * 2 for d in frames.shape[1:3])
    scale = out_h / orig_size[0]
    writer = VideoWriter(out_path, out_w, out_h, fps)
    shot_second = max(range(len(results)), key=lambda s: (len(results[s].boxes), -abs(s - len(results) // 2)))
    try:
        for n, frame in enumerate(frames):
            if (out_h, out_w) != frame.shape[:2]:
                frame = cv2.resize(frame, (out_w, out_h), interpolation=cv2.INTER_LINEAR)
            img = draw_boxes(frame, _frame_boxes(results, n, fps, scale, labelmap, top_k, thresh))
            cv2.putText(img, f"{n / fps:5.1f}s", (4, img.shape[0] - 6), cv2.FONT_HERSHEY_SIMPLEX, 0.4,
                        (255, 255, 255), 1, cv2.LINE_AA)
            writer.write(img)
            if screenshot and n == shot_second * fps:
                os.makedirs(os.path.dirname(os.path.abspath(screenshot)), exist_ok=True)
                if not cv2.imwrite(screenshot, img[:, :, ::-1]):
                    raise OSError(f"cannot write {screenshot}")
    finally:
        writer.close()
    return len(frames)


def write_predictions_csv(path: str, results: list[SecondResult], orig_size: tuple[int, int],
                          labelmap: dict[int, str], thresh: float = 0.0) -> int:
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
                        out.writerow([res.second, tid, *(f"{v:.3f}" for v in nb), c + 1,
                                      labelmap.get(c + 1, str(c + 1)), f"{res.probs[i, c]:.4f}"])
                        rows += 1
    return rows
