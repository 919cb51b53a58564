"""Python inference API: load a model once, then detect the actions of the persons of a video or classify a clip.

    from alphaction.apis import init_model, detect_actions, recognize
    model = init_model("config_files/....yaml", "model_final.pth")          # device="cuda" on a GPU
    recognize(model, "clip.mp4", topk=5)            # classifier: [(label, score), ...]
    detect_actions(model, "video.mp4", boxes={0: [[x1, y1, x2, y2]]})       # detector: one dict per second

The pipelines are the ones of ``test_net.py`` / ``tools/demo.py`` (``alphaction.apis.demo`` for detection,
``alphaction.engine.evaluate_classification`` and the test-time clip transform for classification), not copies.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import numpy as np
import torch

from ..checkpoint import Checkpointer, LoadReport
from ..config import CfgNode, get_cfg
from ..data.build import build_clip_transforms
from ..data.datasets.clip_sources import SparseVideo
from ..data.kinds import data_kind
from ..data.labels import class_names as config_class_names
from ..data.labels import num_classes
from ..data.video_io import VideoFrames
from ..engine.evaluate_classification import clip_scores
from ..engine.runner import head_prefixes
from ..modeling import build_model
from . import demo

logger = logging.getLogger(__name__)

__all__ = ["ActionModel", "init_model", "detect_actions", "recognize"]


@dataclass
class ActionModel:
    """A loaded model with what inference needs besides its weights.

    Attributes:
        module: the ``nn.Module`` (eval mode, on ``device``).
        cfg: the frozen config it was built from (its test transform is the API's preprocessing).
        class_names: one name per output (output ``c`` of a detector is action id ``c + 1``).
        device: where ``module`` lives.
        report: what the checkpoint load matched (None without a checkpoint).
    """

    module: torch.nn.Module
    cfg: CfgNode
    class_names: list[str]
    device: torch.device
    report: LoadReport | None = None

    @property
    def is_classifier(self) -> bool:
        return self.cfg.MODEL.META_ARCHITECTURE == "ClipClassifier"


def _config(config: str | CfgNode, overrides: Sequence[str] = ()) -> CfgNode:
    if isinstance(config, CfgNode):
        cfg = config.clone()
        cfg.defrost()
    else:
        if not os.path.isfile(str(config)):
            raise FileNotFoundError(f"init_model: config file {config} not found")
        cfg = get_cfg()
        cfg.merge_from_file(str(config))
    cfg.merge_from_list(list(overrides))
    cfg.freeze()
    return cfg


def _names(cfg: CfgNode, saved: Any, given: Sequence[str] | None, source: str) -> list[str]:
    """``given`` > the checkpoint's ``class_names`` > the config's datasets > numbers; the chosen list must
    have one name per model output."""
    k = num_classes(cfg)
    for names, where in ((given, "class_names argument"), (saved, f"{source} (class_names)")):
        if names:
            names = [str(n) for n in names]
            if len(names) != k:
                raise ValueError(f"init_model: the {where} has {len(names)} names, the model has {k} outputs")
            return names
    names = config_class_names(cfg)
    if names:
        return names
    logger.warning(
        "init_model: neither the checkpoint nor the config's datasets name the classes: outputs are "
        "named by number (pass class_names=... or a config whose DATASETS name a label map / class "
        "index)"
    )
    return [str(c + data_kind(cfg).first_id) for c in range(k)]


def init_model(
    config: str | CfgNode,
    checkpoint: str | None,
    device: str | torch.device = "cpu",
    class_names: Sequence[str] | None = None,
    overrides: Sequence[str] = (),
) -> ActionModel:
    """Build the model of ``config`` (a YAML path or a ``CfgNode``; ``overrides`` are ``KEY VALUE`` pairs) and
    load ``checkpoint`` as ``test_net.py`` does: ``torch.load(weights_only=True)``, every model key must load
    (a missing one raises :class:`~alphaction.checkpoint.CheckpointError` naming the keys), unexpected keys
    are listed in the log. ``checkpoint`` None or ``""``: random weights, with a warning.

    Class names: ``class_names``, else those saved in the checkpoint (``train_net.py`` saves them), else the
    label map / class index of the config's datasets, else numbers.
    """
    cfg = _config(config, overrides)
    device = torch.device(device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("init_model: device 'cuda' asked for, but torch sees no CUDA device; use device='cpu'")
    model = build_model(cfg)
    report, saved = None, None
    if checkpoint:
        checkpointer = Checkpointer(model, head_prefixes=head_prefixes(model))
        checkpointer.load(checkpoint, transfer=True, purpose="test")
        report = checkpointer.report
        saved = checkpointer.loaded_info.get("class_names")
        if report.unexpected:
            logger.warning(
                "init_model: %d keys of %s are not used by this model (first: %s)",
                len(report.unexpected),
                checkpoint,
                ", ".join(report.unexpected[:5]),
            )
    else:
        logger.warning("init_model: no checkpoint given: the model has random weights")
    names = _names(cfg, saved, class_names, str(checkpoint))
    return ActionModel(model.to(device).eval(), cfg, names, device, report)


def _top(probs: np.ndarray, names: Sequence[str], topk: int) -> list[tuple[str, float]]:
    order = np.argsort(-probs, kind="stable")[:topk]
    return [(names[int(c)], float(probs[c])) for c in order]


def _clip_frames(video: str | np.ndarray, fps: float = 0) -> np.ndarray | SparseVideo:
    if isinstance(video, np.ndarray):
        if video.dtype != np.uint8 or video.ndim != 4 or video.shape[-1] != 3:
            raise ValueError(f"expected uint8 RGB frames [T, H, W, 3], got {video.dtype} {video.shape}")
        return video
    if not os.path.isfile(str(video)):
        raise FileNotFoundError(f"video {video} not found")
    return SparseVideo(str(video), fps=fps)  # only the frames the test views sample are decoded into memory


@torch.no_grad()
def recognize(model: ActionModel, video: str | np.ndarray, topk: int = 5) -> list[tuple[str, float]]:
    """Top ``topk`` ``(class name, probability)`` of a clip classifier on a video file (any container PyAV
    reads) or uint8 RGB frames ``[T, H, W, 3]``, best first. The clip goes through the test transform of the
    config (``INPUT.NUM_CLIPS_TEST`` x ``NUM_CROPS_TEST`` views, probabilities averaged), as in ``test_net.py``.

    Raises :class:`~alphaction.data.datasets.clip_sources.VideoReadError` for an unreadable file.
    """
    if not model.is_classifier:
        raise ValueError(
            "recognize() needs a clip classifier (MODEL.META_ARCHITECTURE 'ClipClassifier'); "
            "use detect_actions() for a detector"
        )
    transform = build_clip_transforms(model.cfg, is_train=False)
    frames = _clip_frames(video, fps=transform.clip_fps)  # a file at INPUT.CLIP_FPS when set
    slow, fast = transform(frames, np.random.default_rng(0))
    scores = clip_scores(model.module, slow.to(model.device), fast.to(model.device), transform.num_views)[0]
    return _top(scores, model.class_names, topk)


def _person_boxes(boxes: Mapping[int, Any]) -> dict[int, np.ndarray]:
    out = {}
    for second, b in boxes.items():
        arr = np.asarray(b, dtype=np.float32)
        arr = np.zeros((0, 4), np.float32) if arr.size == 0 else arr.reshape(1, -1) if arr.ndim == 1 else arr
        if arr.ndim != 2 or arr.shape[1] not in (4, 5):
            raise ValueError(
                f"detect_actions: boxes of second {second} have shape {arr.shape}; expected [N, 4] "
                "xyxy or [N, 5] xyxy + score, in pixels of the video"
            )
        if arr.shape[1] == 4:
            arr = np.concatenate([arr, np.ones((len(arr), 1), np.float32)], axis=1)
        out[int(second)] = arr
    return out


def detect_actions(
    model: ActionModel,
    video: str | np.ndarray,
    boxes: Mapping[int, Any] | None = None,
    detector: torch.nn.Module | None = None,
    topk: int = 3,
    fps: int = 25,
    short_side: int = 360,
    person_thresh: float | None = None,
) -> list[dict]:
    """The actions of the persons of a video, second by second (the keyframe of second ``s`` is frame ``s * fps``).

    Args:
        video: a video file, or uint8 RGB frames ``[T, H, W, 3]`` already at ``fps``.
        boxes: person boxes ``{second: [N, 4] xyxy (or [N, 5] with a score)}`` in pixels of the video.
        detector: instead of ``boxes``, a torchvision detector (``alphaction.data.prep.detect.build_detector``
            with local weights) run on each keyframe; persons scoring >= ``person_thresh`` (default
            ``TEST.BOX_THRESH``) are kept.
        topk: actions listed per person.
        fps, short_side: decoding of a file (see ``alphaction.apis.demo.read_video``).

    Returns:
        One dict per second of the video: ``second``, ``boxes`` float32 ``[N, 4]`` (pixels of the video),
        ``person_scores`` ``[N]``, ``track_ids`` (IoU tracking across seconds), ``scores`` ``[N, NUM_CLASSES]``
        action probabilities and ``actions``: per person the ``topk`` ``(name, probability)``, best first.
    """
    if model.is_classifier:
        raise ValueError("detect_actions() needs an action detector; use recognize() for a clip classifier")
    if (boxes is None) == (detector is None):
        raise ValueError("detect_actions: give exactly one of boxes={second: [[x1, y1, x2, y2], ...]} or detector=")
    if isinstance(video, np.ndarray):
        frames, orig = _clip_frames(video), tuple(video.shape[1:3])
    else:  # decoded as the model goes: memory does not grow with the video's length
        frames = VideoFrames(str(video), fps, short_side)
        orig = frames.orig_size
    persons = _person_boxes(boxes) if boxes is not None else None
    thresh = model.cfg.TEST.BOX_THRESH if person_thresh is None else person_thresh
    results = demo.run_video(
        model.cfg,
        model.module,
        frames,
        orig,
        fps,
        model.device,
        person_boxes=persons,
        detector=detector,
        person_thresh=thresh,
        progress=False,
    )
    outside = sorted(s for s in (persons or {}) if not 0 <= s < len(results))
    if outside:
        raise ValueError(
            f"detect_actions: boxes given for seconds {outside}, but the video has seconds "
            f"0..{len(results) - 1} (at {fps} fps)"
        )
    out = []
    for r in results:
        probs = r.probs if r.probs.size else np.zeros((0, len(model.class_names)), np.float32)
        out.append(
            {
                "second": r.second,
                "boxes": r.boxes,
                "person_scores": r.scores,
                "track_ids": r.track_ids,
                "scores": probs,
                "actions": [_top(p, model.class_names, topk) for p in probs],
            }
        )
    return out
