"""Person and object boxes for every keyframe of an annotation JSON, with a torchvision detector.

The detector is built without any weights (``weights=None, weights_backbone=None``) and loaded from a file with
``torch.load(..., weights_only=True)``; every missing / unexpected / wrong-shape key is reported and stops the
load. The file is a local path, or torchvision's own weights (``DEFAULT`` or a name of the architecture's
weights enum, e.g. ``COCO_V1``) in torchvision's cache (``$TORCH_HOME/hub/checkpoints``): downloaded there once
when the machine can, as torchvision does (:func:`resolve_detector_weights`). Outputs are COCO detection-result
lists ``[{image_id, bbox [x, y, w, h], score, category_id}]`` in keyframe pixels: COCO category 1 (person) goes
to the person file, the others to the object file.
"""

from __future__ import annotations

import logging
import os
from collections import defaultdict

import numpy as np
import torch

from ...utils.errors import MissingFileError, UserError
from ...utils.progress import bar_disable

logger = logging.getLogger(__name__)

__all__ = [
    "ARCHITECTURES",
    "build_detector",
    "load_detector_weights",
    "resolve_detector_weights",
    "detect_keyframes",
    "split_detections",
]

ARCHITECTURES = ("fasterrcnn_resnet50_fpn", "fasterrcnn_resnet50_fpn_v2", "retinanet_resnet50_fpn")
PERSON_CATEGORY = 1  # COCO


def build_detector(
    arch: str,
    num_classes: int = 91,
    min_size: int = 800,
    max_size: int = 1333,
    score_thresh: float = 0.05,
    detections_per_img: int = 100,
) -> torch.nn.Module:
    """A torchvision detector without weights (they come from :func:`load_detector_weights`)."""
    from torchvision.models import detection

    if arch not in ARCHITECTURES:
        raise ValueError(f"unknown detector {arch!r}; choose one of {ARCHITECTURES}")
    kwargs = dict(
        weights=None,
        weights_backbone=None,
        num_classes=num_classes,
        min_size=min_size,
        max_size=max_size,
        detections_per_img=detections_per_img,
    )
    if arch.startswith("retinanet"):
        kwargs["score_thresh"] = score_thresh
    else:
        kwargs["box_score_thresh"] = score_thresh
    return getattr(detection, arch)(**kwargs)


def resolve_detector_weights(arch: str, weights: str) -> str:
    """The local file of ``weights``: a path as given, or torchvision's weights of ``arch`` named ``DEFAULT`` /
    an enum member (``COCO_V1``, or ``FasterRCNN_ResNet50_FPN_Weights.COCO_V1``) in torchvision's cache
    (``torch.hub.get_dir()/checkpoints``, i.e. ``$TORCH_HOME/hub/checkpoints``), downloaded there when missing and
    the network allows; otherwise one error naming the file, the folder and the address."""
    if os.path.isfile(weights) or os.sep in weights or weights.endswith((".pth", ".pt")):
        return weights
    from torchvision.models import get_model_weights

    if arch not in ARCHITECTURES:
        raise UserError(f"unknown detector {arch!r}", where="--arch", fix=f"choose one of {', '.join(ARCHITECTURES)}")
    enum = get_model_weights(arch)
    name = weights.split(".")[-1]
    if name not in enum.__members__:
        raise UserError(
            f"{weights!r} is neither a file nor weights of {arch}",
            where="--weights",
            fix=f"give a local .pth file, or one of {', '.join(enum.__members__)} (torchvision's {enum.__name__})",
        )
    entry = enum[name]
    folder = os.path.join(torch.hub.get_dir(), "checkpoints")
    path = os.path.join(folder, os.path.basename(entry.url))
    if os.path.isfile(path):
        return path
    try:
        os.makedirs(folder, exist_ok=True)
        logger.info("%s.%s is not in torchvision's cache: downloading %s to %s", enum.__name__, name, entry.url, path)
        torch.hub.download_url_to_file(entry.url, path, progress=True)
    except Exception as e:  # noqa: BLE001 - no network, a proxy, a full disk: one clear message for all
        if os.path.exists(path) and not os.path.getsize(path):
            os.remove(path)
        raise UserError(
            f"the {arch} weights {enum.__name__}.{name} are not in torchvision's cache and could not be "
            f"downloaded ({type(e).__name__}: {str(e).splitlines()[0][:160] if str(e) else 'no detail'})",
            where=path,
            fix=f"download {entry.url} where there is a network and put it at {path} (the folder is "
            "$TORCH_HOME/hub/checkpoints; TORCH_HOME defaults to ~/.cache/torch), or pass a local "
            "file",
        ) from None
    return path


def load_detector_weights(model: torch.nn.Module, path: str) -> None:
    """Load a state dict (or ``{"model": ...}`` / ``{"state_dict": ...}``) strictly, reporting every key problem."""
    if not os.path.isfile(path):
        raise MissingFileError(
            f"detector weights {path} not found",
            where="--weights / --detector-weights",
            fix="pass DEFAULT (torchvision's weights, from its cache or downloaded there once), or "
            "the local path of the torchvision checkpoint (e.g. "
            "fasterrcnn_resnet50_fpn_coco-258fb6c6.pth)",
        )
    state = torch.load(path, map_location="cpu", weights_only=True)
    for key in ("model", "state_dict"):
        if isinstance(state, dict) and key in state and isinstance(state[key], dict):
            state = state[key]
    own = model.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    shape = sorted(k for k in set(own) & set(state) if tuple(own[k].shape) != tuple(state[k].shape))
    if missing or unexpected or shape:

        def group(keys):
            by = defaultdict(int)
            for k in keys:
                by[".".join(k.split(".")[:2])] += 1
            return ", ".join(f"{p} ({n})" for p, n in sorted(by.items())) or "none"

        raise UserError(
            f"{path} does not match the {type(model).__name__} built here: missing keys: {group(missing)}; "
            f"unexpected keys: {group(unexpected)}; wrong shapes: "
            + (", ".join(f"{k} {tuple(state[k].shape)} vs {tuple(own[k].shape)}" for k in shape[:5]) or "none"),
            fix="check that --arch matches the checkpoint (v1 vs v2, Faster R-CNN vs RetinaNet) and --num-classes",
        )
    model.load_state_dict(state, strict=True)
    logger.info("loaded detector weights from %s (%d tensors)", path, len(state))


def _load_image(path: str) -> torch.Tensor:
    import cv2

    img = cv2.imread(path, cv2.IMREAD_COLOR)
    if img is None:
        raise FileNotFoundError(f"keyframe {path} is missing or unreadable; run tools/prepare_ava_videos.py first")
    return torch.from_numpy(np.ascontiguousarray(img[:, :, ::-1])).permute(2, 0, 1).float().div_(255)


def detect_keyframes(
    model: torch.nn.Module,
    images: list[dict],
    keyframe_root: str,
    device: str = "cpu",
    batch_size: int = 4,
    progress: bool = True,
) -> list[dict]:
    """Run ``model`` over ``keyframe_root/<img_path>`` of every image entry.

    Returns:
        ``[{image_id, bbox [x, y, w, h], score, category_id}]`` for all detections (rounded to 2 / 4 decimals),
        boxes in the pixels of the keyframe; a keyframe whose size differs from the entry's ``width`` /
        ``height`` is scaled to it.
    """
    from tqdm import tqdm

    model.eval().to(device)
    results = []
    with (
        torch.inference_mode(),
        tqdm(total=len(images), desc="keyframes", unit="img", disable=bar_disable(progress)) as bar,
    ):
        for start in range(0, len(images), batch_size):
            batch = images[start : start + batch_size]
            tensors = []
            for im in batch:
                rel = im.get("img_path") or im.get("file_name") or f"{im['movie']}/{im['timestamp']}.jpg"
                tensors.append(_load_image(os.path.join(keyframe_root, rel)).to(device))
            outputs = model(tensors)
            for im, t, out in zip(batch, tensors, outputs):
                sx = float(im.get("width", t.shape[2])) / t.shape[2]
                sy = float(im.get("height", t.shape[1])) / t.shape[1]
                boxes = out["boxes"].float().cpu().numpy() * np.array([sx, sy, sx, sy])
                for (x1, y1, x2, y2), s, c in zip(
                    boxes.tolist(), out["scores"].cpu().tolist(), out["labels"].cpu().tolist()
                ):
                    results.append(
                        {
                            "image_id": int(im["id"]),
                            "bbox": [round(x1, 2), round(y1, 2), round(x2 - x1, 2), round(y2 - y1, 2)],
                            "score": round(float(s), 4),
                            "category_id": int(c),
                        }
                    )
            bar.update(len(batch))
    return results


def split_detections(results: list[dict], person_category: int = PERSON_CATEGORY) -> tuple[list[dict], list[dict]]:
    """``(persons, objects)``: detections of ``person_category`` and of every other category."""
    persons = [r for r in results if r["category_id"] == person_category]
    objects = [r for r in results if r["category_id"] != person_category]
    return persons, objects
