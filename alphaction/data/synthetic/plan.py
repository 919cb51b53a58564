"""What the persons of a synthetic video do: class list, per-second action plans and their trajectories.

Time grid: 25 fps; the keyframe of second ``k`` is frame ``25 k``. Plans are made of *segments*: segment
``k`` covers frames ``25 k - 12 .. 25 k + 12``, so every keyframe sits in the middle of a segment and a
1.28 s window around it (32 frames) reaches only 4 frames into each neighbour. The label of keyframe ``k``
is the state of segment ``k``.

Two classes need another person: ``listen to`` (standing while someone else talks) and ``watch`` (standing or
crouching while someone else jumps); the listener and the watcher look like any standing person, so only the
features of the others in the clip (IA person blocks) tell them. ``talk to`` itself shows in the talker.

One class needs memory: ``rest`` is a person standing still after a run. Its first standing second is a
transition without the label (the clip window still shows the run's last frames); from the second standing
second on, the window shows only a standing person, so only the features of earlier seconds (IA memory) tell
a resting person from any other standing one.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

FPS = 25
HALF_SEGMENT = 12  # frames before / after the keyframe that belong to its segment

# AlphAction's group order: pose (exclusive, softmax) first, then object manipulation, then person interaction.
POSE_CLASSES = ("stand", "walk", "run", "jump", "crouch")
OBJECT_CLASSES = ("hold", "carry", "throw")
# "talk to" shows in the talker (gestures, moving mouth); "listen to" and "watch" show only in another person: a
# talker, a jumper anywhere in the frame (IA's person features), not in the listener or watcher themselves
PERSON_CLASSES = ("talk to", "listen to", "watch")
# needs what the person did seconds earlier; a sigmoid class, after the person interactions in the label order
MEMORY_CLASSES = ("rest",)
ACTION_NAMES = POSE_CLASSES + OBJECT_CLASSES + PERSON_CLASSES + MEMORY_CLASSES
ACTION_IDS = {name: i + 1 for i, name in enumerate(ACTION_NAMES)}  # 1-based AVA-style ids

KEEP, TURN = 0, 2  # Segment.facing codes besides +1 / -1 (set that direction)

# speeds in person heights per second
WALK_SPEED = (0.40, 0.55)
RUN_SPEED = (1.10, 1.40)
CROUCH_SPEED = 0.12


@dataclass(frozen=True)
class Segment:
    """The state of one person during one segment (one keyframe)."""

    pose: str
    obj: str | None = None  # "hold" | "carry" | "throw" | None
    inter: str | None = None  # "talk to" | None: drawn (gestures, moving mouth)
    speed: float = 0.0  # px / s along the facing direction
    facing: int = KEEP  # KEEP, TURN, +1 or -1, applied at the segment's first frame
    release: int = 0  # throw only: release frame relative to the keyframe
    after: str | None = None  # "rest" | None: a label given by what the person did before (not drawn)
    context: tuple[str, ...] = ()  # "listen to" / "watch": labels given by what others do (not drawn)

    def action_ids(self) -> list[int]:
        names = [self.pose] + [n for n in (self.obj, self.inter, self.after) if n is not None] + list(self.context)
        return [ACTION_IDS[n] for n in names]


@dataclass
class Actor:
    """A person of a video: placement, plan (one Segment per segment 0..S) and appearance seed."""

    y: float  # feet row, px
    h: float  # standing height, px
    x0: float  # centre column at frame 0, px
    facing0: int
    plan: list[Segment]
    reflect: bool  # bounce off the frame edges (else simulate reports leaving the frame)
    look_seed: int = 0
    xs: np.ndarray = field(default=None, repr=False)  # [num_frames] centre column per frame
    facings: np.ndarray = field(default=None, repr=False)  # [num_frames] +-1 per frame


def segment_of_frame(n: int) -> int:
    return (n + HALF_SEGMENT) // FPS


def x_bounds(h: float, width: int) -> tuple[float, float]:
    margin = 0.28 * h + 2.0
    return margin, width - margin


def simulate(actor: Actor, num_frames: int, width: int) -> bool:
    """Fill ``actor.xs`` / ``actor.facings``; return False when a non-reflecting actor leaves the frame."""
    lo, hi = x_bounds(actor.h, width)
    xs = np.empty(num_frames)
    facings = np.empty(num_frames, dtype=np.int64)
    x, facing, ok = actor.x0, actor.facing0, True
    for n in range(num_frames):
        seg = actor.plan[segment_of_frame(n)]
        if n == 0 or segment_of_frame(n - 1) != segment_of_frame(n):
            if seg.facing == TURN:
                facing = -facing
            elif seg.facing in (1, -1):
                facing = seg.facing
        if n > 0:
            x += facing * seg.speed / FPS
            if x < lo or x > hi:
                if actor.reflect:
                    x = 2 * lo - x if x < lo else 2 * hi - x
                    facing = -facing
                else:
                    ok = False
                    x = min(max(x, lo), hi)
        xs[n], facings[n] = x, facing
    actor.xs, actor.facings = xs, facings
    return ok


def _speed(rng: np.random.Generator, pose: str, h: float) -> float:
    if pose == "walk":
        return rng.uniform(*WALK_SPEED) * h
    if pose == "run":
        return rng.uniform(*RUN_SPEED) * h
    if pose == "crouch" and rng.random() < 0.5:
        return CROUCH_SPEED * h
    return 0.0


REST_SECONDS = (2, 4)  # standing seconds a run is followed by, after the transition second (integers' bounds)
# seconds after a run's last second that get "rest" while the person stands still: from the first second after
# the transition to the last appended one (1 transition + at most REST_SECONDS[1] - 1 standing seconds)
REST_AFTER_RUN = (2, REST_SECONDS[1])


def solo_plan(rng: np.random.Generator, num_segments: int, h: float) -> list[Segment]:
    """Episodes of 1-4 s; stand / walk frequent, jump / run / throw rare; objects come and go between episodes.
    Every run is followed by a rest: one standing transition second, then 2-3 seconds labelled ``rest``."""
    plan: list[Segment] = []
    thrown = False
    while len(plan) < num_segments:
        pose = str(rng.choice(POSE_CLASSES, p=[0.17, 0.24, 0.24, 0.13, 0.22]))
        dur = int(rng.integers(1, 3 if pose == "run" else 4)) if pose in ("run", "jump") else int(rng.integers(2, 5))
        obj = None
        if pose in ("stand", "walk", "crouch") and not thrown:
            r = rng.random()
            if r < 0.36:
                obj = "hold"
            elif r < 0.50 and pose != "crouch":
                obj = "carry"
        thrown = False
        speed = _speed(rng, pose, h)
        turn = rng.random() < 0.35
        for i in range(dur):
            plan.append(Segment(pose, obj, None, speed, TURN if (i == 0 and turn) else KEEP))
        if pose == "run":
            plan.append(Segment("stand", None, None, 0.0, KEEP))
            rest = int(rng.integers(REST_SECONDS[0], REST_SECONDS[1]))
            plan += [Segment("stand", None, None, 0.0, KEEP)] * rest  # labelled by label_context
        if obj == "hold" and rng.random() < 0.7:
            # the throw is its own one-second event, standing, right after holding the object
            plan.append(Segment("stand", "throw", None, 0.0, KEEP, int(rng.integers(-5, 4))))
            thrown = True
    return plan[:num_segments]


def _still(seg: Segment) -> bool:
    return seg.pose == "stand" and seg.speed == 0 and seg.obj is None


def _overwrite(plan: list[Segment], start: int, end: int, seg: Segment) -> None:
    """Put ``seg`` on segments ``start .. end - 1``; a throw whose holding was overwritten becomes a stand."""
    plan[start:end] = [seg] * (end - start)
    for k, s in enumerate(plan):
        if s.obj == "throw" and (k == 0 or plan[k - 1].obj != "hold"):
            plan[k] = Segment("stand", None, s.inter, 0.0, s.facing)


def add_scenes(rng: np.random.Generator, plans: list[list[Segment]]) -> None:
    """Script the events that others react to, in place: a speech (a person talks for 2-4 s, often while another
    stands by) and a show (a person jumps for 2-3 s, often while another stands by)."""
    if len(plans) < 2:
        return
    num_segments = len(plans[0])
    for kind, prob, lengths in (("talk to", 0.75, (2, 5)), ("jump", 0.5, (2, 4))):
        if rng.random() >= prob:
            continue
        who = rng.permutation(len(plans))
        length = int(rng.integers(*lengths))
        start = int(rng.integers(0, num_segments - length + 1))
        if kind == "talk to":
            actor = Segment("stand", None, "talk to", 0.0, KEEP)
        else:
            actor = Segment("jump", None, None, 0.0, KEEP)
        _overwrite(plans[who[0]], start, start + length, actor)
        if rng.random() < 0.7:  # a bystander who stays (standing or crouching) while it happens
            pose = "stand" if kind == "talk to" or rng.random() < 0.6 else "crouch"
            _overwrite(plans[who[1]], start, start + length, Segment(pose, None, None, 0.0, KEEP))


def label_context(plans: list[list[Segment]]) -> None:
    """Give every segment the labels that depend on others or on the past, by rule, in place.

    - ``listen to``: standing, not talking, while another person of the video talks;
    - ``watch``: standing or crouching on the spot, not talking, while another person jumps;
    - ``rest`` (``Segment.after``): standing still with no object, 2-4 s after the end of a run, having stood
      still since (the second right after the run is a transition: its clip window still shows running).
    """
    for a, plan in enumerate(plans):
        others = [p for b, p in enumerate(plans) if b != a]
        for k, seg in enumerate(plan):
            context = []
            talking = seg.inter == "talk to"
            if seg.pose == "stand" and not talking and any(p[k].inter == "talk to" for p in others):
                context.append("listen to")
            if (
                seg.pose in ("stand", "crouch")
                and seg.speed == 0
                and not talking
                and any(p[k].pose == "jump" for p in others)
            ):
                context.append("watch")
            after = None
            if _still(seg):
                j = k - 1
                while j >= 0 and _still(plan[j]):
                    j -= 1
                if j >= 0 and plan[j].pose == "run" and REST_AFTER_RUN[0] <= k - j <= REST_AFTER_RUN[1]:
                    after = "rest"
            plan[k] = replace(seg, context=tuple(context), after=after)


def make_actors(rng: np.random.Generator, num_seconds: int, width: int, height: int) -> list[Actor]:
    """2-5 persons for one video: solo plans, then a scripted speech and show (see :func:`add_scenes`), then the
    labels that need another person or the past (:func:`label_context`)."""
    num_segments = num_seconds + 1
    num_frames = num_seconds * FPS
    scale = height / 144.0
    n_persons = int(rng.integers(2, 6))
    # spread feet rows so persons stand at different depths (nearer = lower = taller)
    rows = np.sort(rng.uniform(0.64, 0.97, size=n_persons))[rng.permutation(n_persons)]
    places = []
    for j in range(n_persons):
        depth = (rows[j] - 0.64) / 0.33
        places.append((rows[j] * height, (45.0 + 45.0 * depth) * scale))
    plans = [solo_plan(rng, num_segments, h) for _, h in places]
    add_scenes(rng, plans)
    label_context(plans)
    actors: list[Actor] = []
    for (y, h), plan in zip(places, plans):
        lo, hi = x_bounds(h, width)
        actor = Actor(y, h, rng.uniform(lo, hi), 1 if rng.random() < 0.5 else -1, plan, reflect=True)
        simulate(actor, num_frames, width)
        actors.append(actor)
    for actor in actors:
        actor.look_seed = int(rng.integers(2**31))
    return actors


__all__ = [
    "ACTION_IDS",
    "ACTION_NAMES",
    "Actor",
    "FPS",
    "MEMORY_CLASSES",
    "OBJECT_CLASSES",
    "PERSON_CLASSES",
    "POSE_CLASSES",
    "Segment",
    "make_actors",
    "segment_of_frame",
]
