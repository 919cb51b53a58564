"""A synthetic clip-classification video set: one person per clip doing one action for the whole clip.

Same renderer, frame size (192x144) and frame rate (25 fps) as the detection data, so a classifier trained
here transfers to detection (``--transfer --no-head``). Eight classes: the five poses (stand, walk, run,
jump, crouch) and the three object manipulations (hold: standing, walking or crouching with an object in the
hand; carry: standing or walking with a box in both arms; throw: standing, throwing once every second). A
clip's label is its object manipulation when it has one, else its pose.

Layout under ``root``::

    videos/{train,val}/<split>_<index>.mp4   one clip each
    train_list.txt, val_list.txt             "videos/<split>/<file> label" lines (VideoListDataset)
    class_index.txt                          "index name" lines
    clips.json                               per clip: path, label, class, pose, object, speed (px / s)
    DONE.json                                size, seed, format version, counts (written last)

Every clip is made from its own seed (``SeedSequence([seed, split, index])``); labels are a seeded
permutation of a balanced list, so the set depends on ``(size, seed)`` only.
"""

from __future__ import annotations

import json
import logging
import os
import time

import numpy as np

from .dataset import ensure_generated, map_jobs, staging_folder
from .plan import CROUCH_SPEED, FPS, KEEP, RUN_SPEED, WALK_SPEED, Actor, Segment, simulate, x_bounds
from .render import ENCODER_OPTIONS, render_clip

logger = logging.getLogger(__name__)

FORMAT_VERSION = 1
CLASS_NAMES = ("stand", "walk", "run", "jump", "crouch", "hold", "carry", "throw")
WIDTH, HEIGHT = 192, 144  # the detection data's "default" / "large" frame size
SIZES = {
    "default": {"train": 400, "val": 96, "seconds": 2},
    "tiny": {"train": 8, "val": 8, "seconds": 2},
}
# poses a clip of each object class may show (uniformly chosen)
_OBJECT_POSES = {"hold": ("stand", "walk", "crouch"), "carry": ("stand", "walk"), "throw": ("stand",)}


def clip_segment(label: int, rng: np.random.Generator, h: float) -> Segment:
    """The one state a person of class ``CLASS_NAMES[label]`` keeps for the whole clip (height ``h`` px)."""
    name = CLASS_NAMES[label]
    obj = name if name in _OBJECT_POSES else None
    pose = str(rng.choice(_OBJECT_POSES[name])) if obj else name
    if pose == "walk":
        speed = rng.uniform(*WALK_SPEED) * h
    elif pose == "run":
        speed = rng.uniform(*RUN_SPEED) * h
    elif pose == "crouch" and rng.random() < 0.5:
        speed = CROUCH_SPEED * h
    else:
        speed = 0.0
    release = int(rng.integers(-5, 4)) if obj == "throw" else 0
    return Segment(pose, obj, None, float(speed), KEEP, release)


def make_clip_actor(label: int, rng: np.random.Generator, num_seconds: int) -> Actor:
    """One person at a random depth (the detection data's rows and heights), bouncing off the frame edges."""
    row = rng.uniform(0.64, 0.97)
    h = (45.0 + 45.0 * (row - 0.64) / 0.33) * HEIGHT / 144.0
    seg = clip_segment(label, rng, h)
    lo, hi = x_bounds(h, WIDTH)
    actor = Actor(
        row * HEIGHT, h, rng.uniform(lo, hi), 1 if rng.random() < 0.5 else -1, [seg] * (num_seconds + 1), reflect=True
    )
    simulate(actor, num_seconds * FPS, WIDTH)
    actor.look_seed = int(rng.integers(2**31))
    return actor


def _make_clip(job: tuple) -> dict:
    """Render one clip (runs in a worker process); returns its clips.json record."""
    tmp_root, rel_path, label, seed_words, num_seconds = job
    plan_ss, render_ss = np.random.SeedSequence(list(seed_words)).spawn(2)
    actor = make_clip_actor(label, np.random.default_rng(plan_ss), num_seconds)
    render_clip([actor], np.random.default_rng(render_ss), num_seconds, WIDTH, HEIGHT, os.path.join(tmp_root, rel_path))
    seg = actor.plan[0]
    return {
        "path": rel_path,
        "label": label,
        "class": CLASS_NAMES[label],
        "pose": seg.pose,
        "object": seg.obj,
        "speed": round(seg.speed, 3),
    }


def make_clip_dataset(root: str, size: str = "default", seed: int = 0, workers: int | None = None) -> dict:
    """Write the set into ``root`` (atomically: a temporary folder renamed into place) and return DONE.json."""
    if size not in SIZES:
        raise ValueError(f"synthetic clips size {size!r}: use one of {sorted(SIZES)}")
    spec = SIZES[size]
    root = os.path.abspath(root)
    if os.path.isdir(root) and not os.path.isfile(os.path.join(root, "DONE.json")) and os.listdir(root):
        raise FileExistsError(
            f"{root} exists, is not empty and holds no synthetic clip set (DONE.json); "
            "refusing to replace it: pick an empty or new folder"
        )
    start = time.perf_counter()
    with staging_folder(root) as tmp:
        jobs = []
        for s, split in enumerate(("train", "val")):
            os.makedirs(os.path.join(tmp, "videos", split))
            labels = np.random.default_rng(np.random.SeedSequence([seed, s, 1 << 20])).permutation(
                np.arange(spec[split]) % len(CLASS_NAMES)
            )
            jobs += [
                (tmp, f"videos/{split}/{split}_{i:04d}.mp4", int(lab), (seed, s, i), spec["seconds"])
                for i, lab in enumerate(labels)
            ]
        if workers is None:
            workers = 1 if size == "tiny" else min(2, os.cpu_count() or 1)
        records = list(map_jobs(_make_clip, jobs, workers, chunksize=8))
        counts = {}
        for split in ("train", "val"):
            mine = [r for r in records if r["path"].startswith(f"videos/{split}/")]
            with open(os.path.join(tmp, f"{split}_list.txt"), "w", encoding="utf-8") as f:
                f.write("".join(f"{r['path']} {r['label']}\n" for r in mine))
            counts[split] = np.bincount([r["label"] for r in mine], minlength=len(CLASS_NAMES)).tolist()
        with open(os.path.join(tmp, "class_index.txt"), "w", encoding="utf-8") as f:
            f.write("".join(f"{i} {c}\n" for i, c in enumerate(CLASS_NAMES)))
        with open(os.path.join(tmp, "clips.json"), "w", encoding="utf-8") as f:
            json.dump(records, f, indent=0)
        done = {
            "format_version": FORMAT_VERSION,
            "size": size,
            "seed": seed,
            "width": WIDTH,
            "height": HEIGHT,
            "fps": FPS,
            "seconds_per_clip": spec["seconds"],
            "classes": list(CLASS_NAMES),
            "counts": counts,
            "encoder": ENCODER_OPTIONS,
            "generation_seconds": round(time.perf_counter() - start, 2),
        }
        with open(os.path.join(tmp, "DONE.json"), "w", encoding="utf-8") as f:
            json.dump(done, f, indent=1)
    logger.info(
        "synthetic clip set '%s' (seed %d) written to %s in %.1f s", size, seed, root, done["generation_seconds"]
    )
    return done


def ensure_clip_dataset(root: str, size: str = "default", seed: int = 0) -> None:
    """Generate the set unless ``root/DONE.json`` already records this size, seed and format version."""
    ensure_generated(root, size, seed, FORMAT_VERSION, make_clip_dataset)
