"""Draw person boxes and their action labels on keyframes (PNG) or on the frames of a clip (MP4)."""

from __future__ import annotations

import os
from collections import OrderedDict, defaultdict

import cv2
import numpy as np

__all__ = ["gt_boxes", "predicted_boxes", "draw_boxes", "write_keyframe_png", "write_clip_mp4"]

_COLORS = [
    (230, 25, 75),
    (60, 180, 75),
    (255, 225, 25),
    (0, 130, 200),
    (245, 130, 48),
    (145, 30, 180),
    (70, 240, 240),
    (240, 50, 230),
    (210, 245, 60),
    (250, 190, 190),
]


def _name(aid: int, labelmap: dict[int, str] | None) -> str:
    return (labelmap or {}).get(int(aid), str(int(aid)))


def gt_boxes(coco: dict, labelmap: dict[int, str] | None = None) -> "OrderedDict[tuple[str, int], list]":
    """``{(video_id, second): [(xyxy pixels, [label, ...]), ...]}`` of an annotation JSON (action_ids form)."""
    images = {im["id"]: im for im in coco["images"]}
    out: "OrderedDict[tuple[str, int], list]" = OrderedDict()
    for im in coco["images"]:
        out[(str(im["movie"]), int(im["timestamp"]))] = []
    for ann in coco["annotations"]:
        im = images[ann["image_id"]]
        x, y, w, h = ann["bbox"]
        out[(str(im["movie"]), int(im["timestamp"]))].append(
            ((x, y, x + w, y + h), [_name(a, labelmap) for a in ann.get("action_ids", [])])
        )
    return out


def predicted_boxes(
    rows,
    sizes: dict[tuple[str, int], tuple[int, int]],
    labelmap: dict[int, str] | None = None,
    score_thresh: float = 0.3,
    top_k: int = 3,
) -> "OrderedDict[tuple[str, int], list]":
    """Group result-CSV rows ``(video_id, ts, x1, y1, x2, y2, action_id, score)`` per box, labels ``name 0.87``.

    ``sizes``: ``(video_id, ts) -> (height, width)`` of the keyframe, to turn normalized boxes into pixels.
    """
    per_box: dict[tuple, list] = defaultdict(list)
    for r in rows:
        per_box[(str(r[0]), int(r[1]), tuple(round(float(v), 4) for v in r[2:6]))].append(
            (float(r[7]) if len(r) > 7 and r[7] is not None else 1.0, int(r[6]))
        )
    out: "OrderedDict[tuple[str, int], list]" = OrderedDict()
    for (vid, ts, (x1, y1, x2, y2)), scored in per_box.items():
        if (vid, ts) not in sizes:
            continue
        h, w = sizes[(vid, ts)]
        scored = sorted((s for s in scored if s[0] >= score_thresh), reverse=True)[:top_k]
        if scored:
            out.setdefault((vid, ts), []).append(
                ((x1 * w, y1 * h, x2 * w, y2 * h), [f"{_name(a, labelmap)} {s:.2f}" for s, a in scored])
            )
    return out


def draw_boxes(image: np.ndarray, boxes: list) -> np.ndarray:
    """Draw ``[(xyxy, [label, ...]), ...]`` on a copy of an RGB ``[H, W, 3]`` uint8 image."""
    img = np.ascontiguousarray(image).copy()
    height, width = img.shape[:2]
    scale = max(0.25, min(height, width) / 720)  # 0.25 on QCIF-sized frames: about 6 px letters
    for n, (box, labels) in enumerate(boxes):
        color = _COLORS[n % len(_COLORS)]
        x1, y1, x2, y2 = (int(round(v)) for v in box)
        cv2.rectangle(img, (x1, y1), (x2, y2), color, max(1, int(2 * scale)))
        for k, text in enumerate(labels):
            (tw, th), _ = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)
            # labels stay inside the frame: moved left / up from a box at the right or bottom edge
            tx = max(0, min(x1, width - tw - 3))
            ty = min(max(th + 2, y1 + (k + 1) * (th + 4)), height - 2)
            cv2.rectangle(img, (tx, ty - th - 3), (tx + tw + 2, ty + 1), color, -1)
            cv2.putText(img, text, (tx + 1, ty - 1), cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0), 1, cv2.LINE_AA)
    return img


def write_keyframe_png(keyframe_path: str, boxes: list, out_path: str) -> None:
    """Read a keyframe JPG, draw ``boxes`` and write a PNG."""
    bgr = cv2.imread(keyframe_path, cv2.IMREAD_COLOR)
    if bgr is None:
        raise FileNotFoundError(f"keyframe {keyframe_path} is missing or unreadable")
    os.makedirs(os.path.dirname(os.path.abspath(out_path)), exist_ok=True)
    if not cv2.imwrite(out_path, draw_boxes(bgr[:, :, ::-1], boxes)[:, :, ::-1]):
        raise OSError(f"cannot write {out_path}")


def write_clip_mp4(clip_paths: list[str], boxes: list, out_path: str, fps: int = 25) -> None:
    """Decode the clips (in order), draw the keyframe's ``boxes`` on every frame, write an H.264 MP4."""
    import av

    from ..video_io import write_clip

    frames = []
    for path in clip_paths:
        with av.open(path) as c:
            frames += [draw_boxes(f.to_ndarray(format="rgb24"), boxes) for f in c.decode(video=0)]
    if not frames:
        raise ValueError(f"no frames decoded from {clip_paths}")
    arr = np.stack(frames)
    arr = arr[:, : arr.shape[1] // 2 * 2, : arr.shape[2] // 2 * 2]  # H.264 yuv420p needs even sizes
    write_clip(out_path, arr, fps=fps, crf=18)
