"""What the persons of a synthetic video do: class list, per-second action plans and their trajectories.

Time grid: 25 fps; the keyframe of second ``k`` is frame ``25 k``. Plans are made of *segments*: segment
``k`` covers frames ``25 k - 12 .. 25 k + 12``, so every keyframe sits in the middle of a segment and a
1.28 s window around it (32 frames) reaches only 4 frames into each neighbour. The label of keyframe ``k``
is the state of segment ``k``.

One class needs memory: ``rest`` is a person standing still after a run. Its first standing second is a
transition without the label (the clip window still shows the run's last frames); from the second standing
second on, the window shows only a standing person, so only the features of earlier seconds (IA memory) tell
a resting person from any other standing one.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

FPS = 25
HALF_SEGMENT = 12  # frames before / after the keyframe that belong to its segment

# AlphAction's group order: pose (exclusive, softmax) first, then object manipulation, then person interaction.
POSE_CLASSES = ("stand", "walk", "run", "jump", "crouch")
OBJECT_CLASSES = ("hold", "carry", "throw")
PERSON_CLASSES = ("talk to", "follow")
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
    inter: str | None = None  # "talk to" | "follow" | None
    speed: float = 0.0  # px / s along the facing direction
    facing: int = KEEP  # KEEP, TURN, +1 or -1, applied at the segment's first frame
    release: int = 0  # throw only: release frame relative to the keyframe
    after: str | None = None  # "rest" | None: a label given by what the person did before (not drawn)

    def action_ids(self) -> list[int]:
        names = [self.pose] + [n for n in (self.obj, self.inter, self.after) if n is not None]
        return [ACTION_IDS[n] for n in names]


@dataclass
class Actor:
    """A person of a video: placement, plan (one Segment per segment 0..S) and appearance seed."""

    y: float  # feet row, px
    h: float  # standing height, px
    x0: float  # centre column at frame 0, px
    facing0: int
    plan: list[Segment]
    reflect: bool  # solo persons bounce off the frame edges; scripted pair members must not need to
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


REST_SECONDS = (2, 4)  # labelled "rest" seconds after the unlabelled transition second that follows a run


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
            plan += [Segment("stand", None, None, 0.0, KEEP, after="rest")] * rest
        if obj == "hold" and rng.random() < 0.7:
            # the throw is its own one-second event, standing, right after holding the object
            plan.append(Segment("stand", "throw", None, 0.0, KEEP, int(rng.integers(-5, 4))))
            thrown = True
    return plan[:num_segments]


def _pad_plan(plan: list[Segment], num_segments: int, filler: Segment) -> list[Segment]:
    return (plan + [filler] * num_segments)[:num_segments]


def talk_pair(rng, num_segments: int, num_frames: int, width: int, y: float, h: float):
    """Two persons: B walks up to A, they stand face to face and talk for 2-4 s, then B walks away."""
    lo, hi = x_bounds(h, width)
    for _ in range(40):
        start = int(rng.integers(1, max(2, num_segments - 3)))
        length = int(rng.integers(2, 5))
        end = min(start + length, num_segments)
        n_approach = int(rng.integers(0, min(start, 2) + 1))
        n_leave = int(rng.integers(0, 3))
        gap = rng.uniform(0.55, 0.70) * h
        side = 1 if rng.random() < 0.5 else -1  # where B stands relative to A
        speed = rng.uniform(*WALK_SPEED) * h
        obj_a = "hold" if rng.random() < 0.25 else None
        talk_a = Segment("stand", obj_a, "talk to", 0.0, side)
        talk_b = Segment("stand", None, "talk to", 0.0, -side)
        plan_a = [Segment("stand", obj_a, None, 0.0, side)] * start + [talk_a] * (end - start)
        plan_a = _pad_plan(plan_a, num_segments, Segment("stand", None, None, 0.0, side))
        plan_b = [Segment("stand", None, None, 0.0, -side)] * (start - n_approach)
        plan_b += [Segment("walk", None, None, speed, -side)] * n_approach + [talk_b] * (end - start)
        plan_b += [Segment("walk", None, None, speed, side)] * n_leave
        plan_b = _pad_plan(plan_b, num_segments, Segment("stand", None, None, 0.0, side))
        xa = rng.uniform(lo, hi)
        a = Actor(y, h, xa, side, plan_a, reflect=False)
        b = Actor(y + rng.uniform(-2, 2), h * rng.uniform(0.95, 1.05), 0.0, -side, plan_b, reflect=False)
        # B's start column: the one that puts it at A + side * gap on the first talking frame
        first_talk = max(0, start * FPS - HALF_SEGMENT)
        disp = _displacement(plan_b, -side, first_talk)
        b.x0 = xa + side * gap - disp
        if simulate(a, num_frames, width) and simulate(b, num_frames, width):
            return a, b
    return None


def _displacement(plan: list[Segment], facing0: int, upto_frame: int) -> float:
    """x travelled from frame 0 to ``upto_frame`` by a non-reflecting actor."""
    x, facing = 0.0, facing0
    for n in range(upto_frame + 1):
        seg = plan[segment_of_frame(n)]
        if n == 0 or segment_of_frame(n - 1) != segment_of_frame(n):
            facing = -facing if seg.facing == TURN else (seg.facing if seg.facing in (1, -1) else facing)
        if n > 0:
            x += facing * seg.speed / FPS
    return x


def follow_pair(rng, num_segments: int, num_frames: int, width: int, y: float, h: float):
    """Leader and follower stand, then walk the same way for 2-4 s with the follower a short distance behind."""
    lo, hi = x_bounds(h, width)
    for _ in range(40):
        start = int(rng.integers(0, max(1, num_segments - 3)))
        end = min(start + int(rng.integers(2, 6)), num_segments)
        direction = 1 if rng.random() < 0.5 else -1
        speed = rng.uniform(*WALK_SPEED) * h
        gap = rng.uniform(0.75, 1.05) * h
        obj = "carry" if rng.random() < 0.2 else None
        lead = [Segment("stand", None, None, 0.0, direction)] * start
        lead += [Segment("walk", None, None, speed, direction)] * (end - start)
        foll = [Segment("stand", obj, None, 0.0, direction)] * start
        foll += [Segment("walk", obj, "follow", speed, direction)] * (end - start)
        stop = Segment("stand", None, None, 0.0, KEEP)
        lead, foll = _pad_plan(lead, num_segments, stop), _pad_plan(foll, num_segments, stop)
        x_lead = rng.uniform(lo, hi)
        leader = Actor(y, h, x_lead, direction, lead, reflect=False)
        follower = Actor(y + rng.uniform(-2, 2), h * rng.uniform(0.95, 1.05), x_lead - direction * gap,
                         direction, foll, reflect=False)
        if simulate(leader, num_frames, width) and simulate(follower, num_frames, width):
            return leader, follower
    return None


def make_actors(rng: np.random.Generator, num_seconds: int, width: int, height: int) -> list[Actor]:
    """2-5 persons for one video: optionally a talking pair and a following pair, the rest solo."""
    num_segments = num_seconds + 1
    num_frames = num_seconds * FPS
    scale = height / 144.0
    n_persons = int(rng.integers(2, 6))
    # spread feet rows so persons stand at different depths (nearer = lower = taller)
    rows = np.sort(rng.uniform(0.64, 0.97, size=n_persons))[rng.permutation(n_persons)]
    actors: list[Actor] = []
    i = 0

    def row(j: int) -> tuple[float, float]:
        depth = (rows[j] - 0.64) / 0.33
        return rows[j] * height, (45.0 + 45.0 * depth) * scale

    if n_persons - i >= 2 and rng.random() < 0.5:
        pair = talk_pair(rng, num_segments, num_frames, width, *row(i))
        if pair:
            actors += pair
            i += 2
    if n_persons - i >= 2 and rng.random() < 0.8:
        pair = follow_pair(rng, num_segments, num_frames, width, *row(i))
        if pair:
            actors += pair
            i += 2
    while len(actors) < n_persons:
        y, h = row(i)
        lo, hi = x_bounds(h, width)
        actor = Actor(y, h, rng.uniform(lo, hi), 1 if rng.random() < 0.5 else -1,
                      solo_plan(rng, num_segments, h), reflect=True)
        simulate(actor, num_frames, width)
        actors.append(actor)
        i += 1
    for actor in actors:
        actor.look_seed = int(rng.integers(2 ** 31))
    return actors


__all__ = ["ACTION_IDS", "ACTION_NAMES", "Actor", "FPS", "MEMORY_CLASSES", "OBJECT_CLASSES", "PERSON_CLASSES",
           "POSE_CLASSES",
           "Segment", "make_actors", "segment_of_frame"]
