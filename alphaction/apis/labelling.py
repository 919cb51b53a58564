"""What labelling needs from above the data layer (``tools/export_for_labelling.py``, docs/LABELLING.md): person
ids from the demo's IoU tracker run over the keyframes, and actions pre-ticked by a trained model.

    persons = track_persons(boxes, keyframes, "data/my_videos/keyframes")
    model = init_model("config.yaml", "model_final.pth")
    predict_actions(model, "data/my_videos/raw/my_video.mp4", persons_of_that_video, labelmap, threshold=0.5)
"""

from __future__ import annotations

import os
from typing import Mapping, Sequence

import cv2
import numpy as np

from ..data.prep.labelling.keyframes import Keyframe, Person
from ..data.video_io import VideoFrames
from .predict import ActionModel, detect_actions
from .tracker import CUT_CORRELATION, IoUTracker, colour_histogram, is_cut

__all__ = ["track_persons", "predict_actions"]

Box = tuple[float, float, float, float]


def _histogram(path: str) -> np.ndarray:
    bgr = cv2.imread(path, cv2.IMREAD_COLOR)
    if bgr is None:
        raise OSError(f"cannot read keyframe {path}")
    return colour_histogram(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))


def track_persons(
    boxes: Mapping[tuple[str, int], Sequence[tuple[Box, Sequence[int]]]],
    keyframes: Sequence[Keyframe],
    keyframe_root: str,
    iou_thresh: float = 0.3,
    cut_threshold: float = CUT_CORRELATION,
) -> list[Person]:
    """Person ids for boxes that have none: :class:`~alphaction.apis.tracker.IoUTracker` over each video's
    keyframes in time order, as the demo tracks its seconds.

    A track ends when its person has no box in the next keyframe (``max_age=0``), and every track ends at a gap
    (a second without a keyframe) and at a scene cut between two keyframes
    (:func:`~alphaction.apis.tracker.is_cut` on their colour histograms), so an id never jumps to another
    person. Ids count from 0 in each video.

    Args:
        boxes: ``{(video, second): [(normalised box x1, y1, x2, y2, action ids), ...]}``.
        keyframes: every keyframe of the videos (:func:`~alphaction.data.prep.labelling.keyframes.list_keyframes`).
    """
    per_video: dict[str, list[Keyframe]] = {}
    for kf in keyframes:
        per_video.setdefault(kf.video, []).append(kf)
    persons = []
    for video, frames in per_video.items():
        tracker = IoUTracker(iou_thresh=iou_thresh, max_age=0)
        previous: tuple[int, np.ndarray] | None = None
        for kf in sorted(frames, key=lambda k: k.second):
            hist = _histogram(os.path.join(keyframe_root, kf.name))
            if previous is not None and (kf.second != previous[0] + 1 or is_cut(previous[1], hist, cut_threshold)):
                tracker.reset()
            previous = (kf.second, hist)
            given = boxes.get((video, kf.second), [])
            ids = tracker.update(np.array([b for b, _ in given], dtype=np.float32).reshape(-1, 4))
            persons += [Person(video, kf.second, tuple(b), int(i), list(a)) for (b, a), i in zip(given, ids)]
    return persons


def predict_actions(
    model: ActionModel,
    video: str,
    persons: Sequence[Person],
    labelmap: Mapping[int, str],
    threshold: float,
    fps: int = 25,
    short_side: int = 360,
) -> dict[tuple[int, int], np.ndarray]:
    """Replace the actions of ``persons`` (boxes of one video) by those ``model`` scores above ``threshold``.

    The scores are :func:`~alphaction.apis.detect_actions`'s on the video file with the persons' boxes (the frame
    window around each keyframe through the test transform, as ``test_net.py`` scores a box); output ``c`` is
    action id ``c + 1``, and only ids of ``labelmap`` are ticked. Returns ``{(second, index among that second's
    persons): scores [NUM_CLASSES]}``.
    """
    height, width = VideoFrames(video, fps, short_side).orig_size
    per_second: dict[int, list[Person]] = {}
    for p in persons:
        per_second.setdefault(p.second, []).append(p)
    pixels = {
        s: np.array(
            [[p.box[0] * width, p.box[1] * height, p.box[2] * width, p.box[3] * height] for p in ps], dtype=np.float32
        )
        for s, ps in per_second.items()
    }
    scores = {}
    for result in detect_actions(model, video, boxes=pixels, fps=fps, short_side=short_side):
        for i, p in enumerate(per_second.get(result["second"], [])):
            probs = np.asarray(result["scores"][i])
            scores[(p.second, i)] = probs
            p.actions = [c + 1 for c in range(len(probs)) if probs[c] > threshold and c + 1 in labelmap]
    return scores
