"""A synthetic thermal-sensor clip-classification set in HDF5, with the seed user's shape.

``train.h5`` / ``val.h5`` hold ``frames`` float32 ``[N, T, 40, 60]`` (degrees Celsius, one channel) and
``labels`` int64 ``[N]``; ``class_index.txt`` names the 14 classes. The "default" size has the seed's 314 train /
73 val samples of 16 frames; "tiny" (28 / 14 samples of 8 frames) is for tests.

A class is a warm body shape (7: small, medium, large, wide, tall, two side by side, two stacked) times its
motion (2: still, moving in a random direction), on a noisy ambient background with a random slope. Body
temperature rises slightly with the shape index. Nothing else depends on the class, so what a model learns is
shape, size, warmth and motion, as in a real thermal action set.
"""

from __future__ import annotations

import json
import logging
import os
import time

import numpy as np

from .dataset import ensure_generated, staging_folder

logger = logging.getLogger(__name__)

FORMAT_VERSION = 1
HEIGHT, WIDTH = 40, 60
SHAPES = ("small", "medium", "large", "wide", "tall", "pair_side", "pair_stacked")
MOTIONS = ("still", "moving")
CLASS_NAMES = tuple(f"{s}_{m}" for s in SHAPES for m in MOTIONS)  # label = 2 * shape + motion
SIZES = {"default": {"train": 314, "val": 73, "frames": 16}, "tiny": {"train": 28, "val": 14, "frames": 8}}
# (sigma_y, sigma_x) of each Gaussian blob and the blob offsets (dy, dx) from the body centre, pixels
_BLOBS = {
    "small": ((2.0, 2.0), ((0, 0),)),
    "medium": ((3.5, 3.5), ((0, 0),)),
    "large": ((6.0, 6.0), ((0, 0),)),
    "wide": ((2.0, 7.0), ((0, 0),)),
    "tall": ((7.0, 2.0), ((0, 0),)),
    "pair_side": ((2.0, 2.0), ((0, -5), (0, 5))),
    "pair_stacked": ((2.0, 2.0), ((-5, 0), (5, 0))),
}


def render_sample(label: int, num_frames: int, rng: np.random.Generator) -> np.ndarray:
    """One clip of class ``label``: float32 ``[T, 40, 60]`` in degrees Celsius."""
    shape, motion = SHAPES[label // 2], MOTIONS[label % 2]
    (sy, sx), offsets = _BLOBS[shape]
    yy, xx = np.mgrid[0:HEIGHT, 0:WIDTH].astype(np.float32)
    ambient = rng.uniform(18.0, 24.0) + rng.uniform(-0.03, 0.03) * xx + rng.uniform(-0.03, 0.03) * yy
    warmth = rng.uniform(6.0, 8.0) + 0.5 * (label // 2)
    cy, cx = rng.uniform(12, HEIGHT - 12), rng.uniform(15, WIDTH - 15)
    if motion == "moving":
        angle = rng.uniform(0, 2 * np.pi)
        vy, vx = 1.2 * np.sin(angle), 1.2 * np.cos(angle)
    else:
        vy = vx = 0.0
    frames = np.empty((num_frames, HEIGHT, WIDTH), np.float32)
    for t in range(num_frames):
        # bounce off the borders so that a moving body stays in view
        py, px = cy + vy * t, cx + vx * t
        py = 8 + abs((py - 8) % (2 * (HEIGHT - 16)) - (HEIGHT - 16)) if vy else py
        px = 8 + abs((px - 8) % (2 * (WIDTH - 16)) - (WIDTH - 16)) if vx else px
        body = np.zeros((HEIGHT, WIDTH), np.float32)
        for dy, dx in offsets:
            body = np.maximum(body, np.exp(-0.5 * (((yy - py - dy) / sy) ** 2 + ((xx - px - dx) / sx) ** 2)))
        frames[t] = ambient + warmth * body + rng.normal(0.0, 0.3, (HEIGHT, WIDTH))
    return frames


def make_thermal_dataset(root: str, size: str = "default", seed: int = 0) -> dict:
    """Write ``root/{train,val}.h5``, ``class_index.txt`` and ``DONE.json`` (atomically: a temporary folder
    renamed into place)."""
    import h5py

    if size not in SIZES:
        raise ValueError(f"synthetic thermal size {size!r}: use one of {sorted(SIZES)}")
    spec = SIZES[size]
    start = time.perf_counter()
    with staging_folder(root) as tmp:
        counts = {}
        for s, split in enumerate(("train", "val")):
            rng = np.random.default_rng(np.random.SeedSequence([seed, s]))
            n = spec[split]
            labels = rng.permutation(np.arange(n) % len(CLASS_NAMES)).astype(np.int64)
            frames = np.stack([render_sample(int(lab), spec["frames"], rng) for lab in labels])
            with h5py.File(os.path.join(tmp, f"{split}.h5"), "w") as f:
                f.create_dataset("frames", data=frames, chunks=(1, *frames.shape[1:]))
                f.create_dataset("labels", data=labels)
            counts[split] = np.bincount(labels, minlength=len(CLASS_NAMES)).tolist()
        with open(os.path.join(tmp, "class_index.txt"), "w", encoding="utf-8") as f:
            f.write("".join(f"{i} {c}\n" for i, c in enumerate(CLASS_NAMES)))
        done = {
            "format_version": FORMAT_VERSION,
            "size": size,
            "seed": seed,
            "height": HEIGHT,
            "width": WIDTH,
            "frames": spec["frames"],
            "classes": list(CLASS_NAMES),
            "counts": counts,
            "generation_seconds": round(time.perf_counter() - start, 2),
        }
        with open(os.path.join(tmp, "DONE.json"), "w", encoding="utf-8") as f:
            json.dump(done, f, indent=1)
    logger.info("synthetic thermal set '%s' (seed %d) written to %s", size, seed, root)
    return done


def ensure_thermal_dataset(root: str, size: str = "default", seed: int = 0) -> None:
    """Generate the set unless ``root/DONE.json`` already records this size, seed and format version."""
    ensure_generated(root, size, seed, FORMAT_VERSION, make_thermal_dataset)
