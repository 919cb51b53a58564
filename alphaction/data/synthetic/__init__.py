"""A synthetic AVA-style action detection dataset with real learning signal (motion and context cues).

``make_synthetic_dataset(root, size, seed)`` writes AlphAction's layout (clips, keyframes, COCO-style and AVA
annotations, label map, exclusions, person / object detection files; see docs/internals.md);
``ensure_synthetic_dataset`` does so only when ``root/DONE.json`` does not already match.
Classes, in AlphAction's group order: pose (stand, walk, run, jump, crouch; exactly one per box), object
manipulation (hold, carry, throw), person interaction (talk to, shown by the talker; listen to and watch, shown
only by another person: a talker, a jumper) and one class that needs memory (rest: standing still after a run;
the clip itself shows only a standing person).
"""

from __future__ import annotations

from .dataset import FORMAT_VERSION, SIZES, ensure_synthetic_dataset, label_map_text, make_synthetic_dataset
from .plan import ACTION_IDS, ACTION_NAMES, MEMORY_CLASSES, OBJECT_CLASSES, PERSON_CLASSES, POSE_CLASSES

__all__ = [
    "ACTION_IDS",
    "ACTION_NAMES",
    "FORMAT_VERSION",
    "MEMORY_CLASSES",
    "OBJECT_CLASSES",
    "PERSON_CLASSES",
    "POSE_CLASSES",
    "SIZES",
    "ensure_synthetic_dataset",
    "label_map_text",
    "make_synthetic_dataset",
]
