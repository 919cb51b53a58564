"""Drawing and encoding of one synthetic video: background, stick-figure persons with textured bodies, objects.

Persons are drawn in side view from a small skeleton whose limb angles depend on the pose and a gait phase,
so the pose shows both in the silhouette (crouch is short, jump raises both arms) and in the motion (leg
swing speed, translation, hopping). The facing side of the head carries an eye and a nose; a talking
person gestures with both arms and its mouth flickers. Objects are saturated squares with a dark rim; person
colours are muted.
"""

from __future__ import annotations

import colorsys
import math
import os
from dataclasses import dataclass

import av
import cv2
import numpy as np

from .plan import FPS, Actor, segment_of_frame

SHIFT = 3  # cv2 sub-pixel bits: coordinates are passed multiplied by 2 ** SHIFT
_ONE = 1 << SHIFT
ENCODER_OPTIONS = {"crf": "17", "preset": "veryfast", "bf": "0", "threads": "1"}  # threads=1: identical bytes
PHASE_HZ = {"stand": 0.0, "walk": 1.6, "run": 2.8, "jump": 2.0, "crouch": 0.9}
THROW_SPEED = (2.6, -1.2)  # object velocity at release, person heights / s (x along facing, y down)
GRAVITY = 4.0  # person heights / s^2
TALK_GESTURE_HZ = 1.3


def _muted(rng: np.random.Generator) -> tuple[int, int, int]:
    r, g, b = colorsys.hsv_to_rgb(rng.random(), rng.uniform(0.08, 0.5), rng.uniform(0.25, 0.85))
    return int(r * 255), int(g * 255), int(b * 255)


def _saturated(rng: np.random.Generator) -> tuple[int, int, int]:
    hue = rng.choice([0.0, 0.08, 0.16, 0.33, 0.5, 0.62, 0.8, 0.9]) + rng.uniform(-0.02, 0.02)
    r, g, b = colorsys.hsv_to_rgb(hue % 1.0, 1.0, 1.0)
    return int(r * 255), int(g * 255), int(b * 255)


def _darker(color, f: float = 0.72):
    return tuple(int(c * f) for c in color)


@dataclass
class Look:
    skin: tuple
    hair: tuple
    torso: tuple
    torso2: tuple
    texture: str
    pants: tuple
    sleeve: tuple
    item: tuple  # colour of the held / thrown object
    crate: tuple  # colour of the carried box
    phase0: float
    mouth_phase: float

    @classmethod
    def random(cls, seed: int) -> "Look":
        rng = np.random.default_rng(seed)
        skin_v = rng.uniform(0.35, 0.95)
        skin = tuple(int(c * 255) for c in colorsys.hsv_to_rgb(rng.uniform(0.03, 0.1), rng.uniform(0.3, 0.6), skin_v))
        torso = _muted(rng)
        return cls(
            skin,
            _muted(rng),
            torso,
            _muted(rng),
            str(rng.choice(["plain", "hstripes", "vstripe", "split", "dots"])),
            _muted(rng),
            torso if rng.random() < 0.6 else skin,
            _saturated(rng),
            _saturated(rng),
            rng.uniform(0, 2 * math.pi),
            rng.uniform(0, 2 * math.pi),
        )


def _pose_angles(pose: str, phase: float):
    """(lean, (thigh, shin) near, (thigh, shin) far, (upper, fore) near arm, far arm, lift in heights).

    Angles in degrees from straight down, positive towards the facing side.
    """
    s, c = math.sin(phase), math.cos(phase)
    if pose == "walk":
        near_leg = (25 * s, 25 * s - 30 * max(0.0, -s))
        far_leg = (-25 * s, -25 * s - 30 * max(0.0, s))
        return 4, near_leg, far_leg, (-22 * s, -22 * s + 15), (22 * s, 22 * s + 15), 0.0
    if pose == "run":
        near_leg = (15 + 45 * s, 15 + 45 * s - 20 - 70 * max(0.0, -s))
        far_leg = (15 - 45 * s, 15 - 45 * s - 20 - 70 * max(0.0, s))
        return 15, near_leg, far_leg, (-50 * s, -50 * s + 90), (50 * s, 50 * s + 90), 0.04 * abs(c)
    if pose == "jump":
        hop = max(0.0, s)
        near_leg = (30 + 20 * hop, -25 - 15 * hop)
        far_leg = (22 + 20 * hop, -33 - 15 * hop)
        return 5, near_leg, far_leg, (160 + 15 * hop, 170 + 15 * hop), (195 + 10 * hop, 200 + 10 * hop), 0.24 * hop
    if pose == "crouch":
        return 35, (85 + 8 * s, -5), (75 - 8 * s, -15), (60, 80), (50, 70), 0.0
    return 0, (4, 4), (-4, -4), (8, 15), (-8, -3), 0.0


def _throw_arm(u: float) -> tuple[float, float]:
    """Near-arm angles around the release (``u`` seconds after it): hold, wind back, swing, follow through."""

    def lerp(a, b, f):
        return a + (b - a) * min(max(f, 0.0), 1.0)

    if u < -0.40:
        return 45, 110
    if u < -0.12:
        f = (u + 0.40) / 0.28
        return lerp(45, 200, f), lerp(110, 200, f)
    if u < 0.0:
        f = (u + 0.12) / 0.12
        return lerp(200, 120, f), lerp(200, 130, f)
    f = u / 0.25
    return lerp(120, 10, f), lerp(130, 15, f)


class Figure:
    """Joint positions (frame pixels) of one person at one frame."""

    def __init__(self, pose: str, h: float, x: float, y: float, facing: int, phase: float, near_arm=None, far_arm=None):
        lean, near_leg, far_leg, arm_n, arm_f, lift = _pose_angles(pose, phase)
        arm_n = near_arm or arm_n
        arm_f = far_arm or arm_f
        self.h, self.facing = h, facing
        self.leg_w, self.arm_w, self.torso_w = 0.085 * h, 0.06 * h, 0.10 * h
        self.head_r = 0.105 * h

        def limb(p, angle, length):
            a = math.radians(angle)
            return p[0] + facing * math.sin(a) * length, p[1] + math.cos(a) * length

        hip = (0.0, 0.0)
        self.knee_n = limb(hip, near_leg[0], 0.24 * h)
        self.foot_n = limb(self.knee_n, near_leg[1], 0.23 * h)
        self.knee_f = limb(hip, far_leg[0], 0.24 * h)
        self.foot_f = limb(self.knee_f, far_leg[1], 0.23 * h)
        self.shoulder = limb(hip, 180 - lean, 0.30 * h)
        self.head = limb(self.shoulder, 180 - lean, 0.04 * h + self.head_r)
        self.elbow_n = limb(self.shoulder, arm_n[0], 0.16 * h)
        self.hand_n = limb(self.elbow_n, arm_n[1], 0.15 * h)
        self.elbow_f = limb(self.shoulder, arm_f[0], 0.16 * h)
        self.hand_f = limb(self.elbow_f, arm_f[1], 0.15 * h)
        self.hip = hip
        # stand on the ground (lowest foot), then hop
        dy = y - max(self.foot_n[1], self.foot_f[1]) - self.leg_w / 2 - lift * h
        for name in (
            "hip",
            "knee_n",
            "foot_n",
            "knee_f",
            "foot_f",
            "shoulder",
            "head",
            "elbow_n",
            "hand_n",
            "elbow_f",
            "hand_f",
        ):
            px, py = getattr(self, name)
            setattr(self, name, (px + x, py + dy))

    def torso_polygon(self) -> np.ndarray:
        (hx, hy), (sx, sy) = self.hip, self.shoulder
        length = math.hypot(sx - hx, sy - hy)
        nx, ny = -(sy - hy) / length * self.torso_w, (sx - hx) / length * self.torso_w
        return np.array([(hx + nx, hy + ny), (sx + nx, sy + ny), (sx - nx, sy - ny), (hx - nx, hy - ny)])

    def box(self) -> tuple[float, float, float, float]:
        """Tight xyxy box around the body (limbs with their thickness, the head and its nose)."""
        pts = [(p, self.leg_w / 2) for p in (self.knee_n, self.foot_n, self.knee_f, self.foot_f)]
        pts += [(p, self.arm_w / 2 + 0.02 * self.h) for p in (self.elbow_n, self.hand_n, self.elbow_f, self.hand_f)]
        pts += [(self.head, self.head_r), ((self.head[0] + self.facing * self.head_r * 1.4, self.head[1]), 0)]
        pts += [(tuple(p), 0) for p in self.torso_polygon()]
        x1 = min(p[0] - r for p, r in pts)
        y1 = min(p[1] - r for p, r in pts)
        x2 = max(p[0] + r for p, r in pts)
        y2 = max(p[1] + r for p, r in pts)
        return x1, y1, x2, y2


def _pt(p) -> tuple[int, int]:
    return int(round(p[0] * _ONE)), int(round(p[1] * _ONE))


def _line(img, a, b, color, width):
    cv2.line(img, _pt(a), _pt(b), color, max(1, int(round(width))), cv2.LINE_AA, SHIFT)


def _disc(img, c, r, color):
    cv2.circle(img, _pt(c), max(1, int(round(r * _ONE))), color, -1, cv2.LINE_AA, SHIFT)


def _poly(img, pts, color):
    cv2.fillConvexPoly(img, np.round(np.asarray(pts) * _ONE).astype(np.int32), color, cv2.LINE_AA, SHIFT)


def square_box(center, size) -> tuple[float, float, float, float]:
    (cx, cy), (w, h) = center, size
    return cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2


def draw_item(img, box, color):
    x1, y1, x2, y2 = box
    pts = [(x1, y1), (x2, y1), (x2, y2), (x1, y2)]
    _poly(img, pts, (20, 20, 20))
    inset = max(1.0, 0.12 * (x2 - x1))
    _poly(
        img,
        [(x1 + inset, y1 + inset), (x2 - inset, y1 + inset), (x2 - inset, y2 - inset), (x1 + inset, y2 - inset)],
        color,
    )


def _draw_torso(img, fig: Figure, look: Look):
    poly = fig.torso_polygon()
    _poly(img, poly, look.torso)
    hip_l, sh_l, sh_r, hip_r = poly
    if look.texture == "hstripes":
        for f in (0.3, 0.65):
            a, b = hip_l + (sh_l - hip_l) * f, hip_r + (sh_r - hip_r) * f
            _line(img, a, b, look.torso2, 0.07 * fig.h)
    elif look.texture == "vstripe":
        _line(img, (hip_l + hip_r) / 2, (sh_l + sh_r) / 2, look.torso2, 0.07 * fig.h)
    elif look.texture == "split":
        _poly(img, [hip_l, sh_l, (sh_l + sh_r) / 2, (hip_l + hip_r) / 2], look.torso2)
    elif look.texture == "dots":
        for f in (0.25, 0.6):
            _disc(img, (hip_l + hip_r) / 2 + ((sh_l + sh_r) / 2 - (hip_l + hip_r) / 2) * f, 0.035 * fig.h, look.torso2)


def draw_person(img, fig: Figure, look: Look, obj: str | None, item_in_hand: bool, talking_mouth: bool):
    """Far limbs, torso, near leg, head, carried box, near arm, held item (back to front)."""
    _line(img, fig.hip, fig.knee_f, _darker(look.pants), fig.leg_w)
    _line(img, fig.knee_f, fig.foot_f, _darker(look.pants), fig.leg_w)
    _line(img, fig.shoulder, fig.elbow_f, _darker(look.sleeve), fig.arm_w)
    _line(img, fig.elbow_f, fig.hand_f, _darker(look.skin), fig.arm_w)
    _draw_torso(img, fig, look)
    _line(img, fig.hip, fig.knee_n, look.pants, fig.leg_w)
    _line(img, fig.knee_n, fig.foot_n, look.pants, fig.leg_w)
    r, (hx, hy), f = fig.head_r, fig.head, fig.facing
    _disc(img, (hx, hy), r, look.hair)
    _disc(img, (hx + f * 0.18 * r, hy + 0.12 * r), 0.86 * r, look.skin)
    _poly(
        img,
        [(hx + f * 0.7 * r, hy - 0.25 * r), (hx + f * 1.4 * r, hy + 0.1 * r), (hx + f * 0.7 * r, hy + 0.3 * r)],
        look.skin,
    )
    _disc(img, (hx + f * 0.45 * r, hy - 0.2 * r), max(0.8, 0.16 * r), (15, 15, 15))
    if talking_mouth:
        _disc(img, (hx + f * 0.6 * r, hy + 0.5 * r), max(0.9, 0.22 * r), (120, 10, 10))
    if obj == "carry":
        draw_item(img, carried_box(fig), look.crate)
    _line(img, fig.shoulder, fig.elbow_n, look.sleeve, fig.arm_w)
    _line(img, fig.elbow_n, fig.hand_n, look.skin, fig.arm_w)
    if item_in_hand:
        draw_item(img, held_item_box(fig), look.item)


def held_item_box(fig: Figure):
    return square_box((fig.hand_n[0], fig.hand_n[1] - 0.03 * fig.h), (0.15 * fig.h, 0.15 * fig.h))


def carried_box(fig: Figure):
    cx = (fig.hand_n[0] + fig.hand_f[0]) / 2 + fig.facing * 0.05 * fig.h
    cy = (fig.hand_n[1] + fig.hand_f[1]) / 2 - 0.06 * fig.h
    return square_box((cx, cy), (0.30 * fig.h, 0.24 * fig.h))


class Background:
    """A textured scene larger than the frame; the camera pans slowly, light drifts, sensor noise is added."""

    def __init__(self, rng: np.random.Generator, width: int, height: int):
        self.pad = pad = max(6, width // 20)
        bh, bw = height + 2 * pad, width + 2 * pad
        horizon = int(rng.uniform(0.35, 0.55) * height) + pad
        wall, ground = np.array(_muted(rng), float), np.array(_muted(rng), float)
        low = cv2.resize(
            rng.uniform(0.75, 1.25, (5, 7, 1)) * rng.uniform(0.9, 1.1, (5, 7, 3)),
            (bw, bh),
            interpolation=cv2.INTER_CUBIC,
        )
        grain = cv2.resize(rng.normal(1.0, 0.05, (bh // 2 + 1, bw // 2 + 1)), (bw, bh), interpolation=cv2.INTER_LINEAR)
        grain = grain[:, :, None]
        img = np.where(np.arange(bh)[:, None, None] < horizon, wall, ground) * low * grain
        for _ in range(int(rng.integers(3, 8))):  # buildings / trees above the horizon
            x = rng.uniform(0, bw)
            w, hh = rng.uniform(0.05, 0.2) * bw, rng.uniform(0.1, 0.4) * bh
            cv2.rectangle(
                img, (int(x), int(horizon - hh)), (int(x + w), horizon), tuple(float(c) for c in _muted(rng)), -1
            )
        for _ in range(int(rng.integers(2, 5))):  # ground markings
            y = int(rng.uniform(horizon, bh))
            cv2.line(
                img,
                (0, y),
                (bw, y + int(rng.integers(-10, 10))),
                tuple(float(c) for c in ground * rng.uniform(0.7, 1.2)),
                1,
            )
        self.items = []  # objects lying on the ground: (box in scene coordinates, colour)
        for _ in range(int(rng.integers(0, 3))):
            size = rng.uniform(0.05, 0.08) * height
            cx, cy = rng.uniform(pad + size, bw - pad - size), rng.uniform(horizon + size, bh - pad - size)
            box = square_box((cx, cy), (size, size))
            self.items.append((box, _saturated(rng)))
        self.image = np.clip(img, 0, 255).astype(np.uint8)
        for box, color in self.items:
            draw_item(self.image, box, color)
        self.width, self.height = width, height
        self.pan = (rng.uniform(0.5, 1.0) * (pad - 1), rng.uniform(8, 16), rng.uniform(0, 2 * math.pi))
        self.light = (rng.uniform(0.04, 0.1), rng.uniform(5, 12), rng.uniform(0, 2 * math.pi))
        self.noise = [rng.normal(0, 3.0, (height, width, 3)).astype(np.int16) for _ in range(6)]
        self.noise_rng = rng

    def offset(self, t: float) -> tuple[int, int]:
        amp, period, phi = self.pan
        return int(round(self.pad + amp * math.sin(2 * math.pi * t / period + phi))), self.pad

    def frame(self, t: float) -> np.ndarray:
        ox, oy = self.offset(t)
        crop = self.image[oy : oy + self.height, ox : ox + self.width]
        amp, period, phi = self.light
        gain = 1.0 + amp * math.sin(2 * math.pi * t / period + phi)
        return cv2.convertScaleAbs(crop, alpha=gain)

    def item_boxes(self, t: float) -> list[tuple[float, float, float, float]]:
        ox, oy = self.offset(t)
        return [(b[0] - ox, b[1] - oy, b[2] - ox, b[3] - oy) for b, _ in self.items]

    def add_noise(self, img: np.ndarray) -> np.ndarray:
        noise = self.noise[int(self.noise_rng.integers(len(self.noise)))]
        return np.clip(img.astype(np.int16) + noise, 0, 255).astype(np.uint8)


def _state(actor: Actor, n: int):
    seg_index = segment_of_frame(n)
    return seg_index, actor.plan[seg_index]


def render_frames(actors: list[Actor], rng: np.random.Generator, num_seconds: int, width: int, height: int):
    """Draw the video frame by frame.

    Yields:
        ``(n, image, record)``: frame index, uint8 RGB ``[height, width, 3]`` with sensor noise, and on
        keyframes (``n % FPS == 0``) the second's record (see :func:`render_video`), else None.
    """
    background = Background(rng, width, height)
    looks = [Look.random(a.look_seed) for a in actors]
    phases = [look.phase0 for look in looks]
    order = sorted(range(len(actors)), key=lambda i: actors[i].y)  # far (higher up) first
    flights: list[dict] = []
    for n in range(num_seconds * FPS):
        t = n / FPS
        img = background.frame(t)
        record = {"second": n // FPS, "persons": [], "objects": []} if n % FPS == 0 else None
        for i in order:
            actor, look = actors[i], looks[i]
            _, seg = _state(actor, n)
            rate = PHASE_HZ[seg.pose] if (seg.pose != "crouch" or seg.speed > 0) else 0.0
            phases[i] += 2 * math.pi * rate / FPS
            near_arm = far_arm = None
            in_hand = seg.obj == "hold"
            if seg.obj == "hold":
                near_arm = (45, 110)
            elif seg.obj == "carry":
                near_arm, far_arm = (30, 80), (25, 75)
            elif seg.obj == "throw":
                u = (n - (segment_of_frame(n) * FPS + seg.release)) / FPS
                near_arm, in_hand = _throw_arm(u), u < 0
            if seg.inter == "talk to":  # gestures: both forearms swing up and down, out of step
                g = math.sin(2 * math.pi * TALK_GESTURE_HZ * t + look.mouth_phase)
                near_arm, far_arm = (75 + 35 * g, 140 + 45 * g), (55 - 30 * g, 110 - 40 * g)
            fig = Figure(seg.pose, actor.h, actor.xs[n], actor.y, int(actor.facings[n]), phases[i], near_arm, far_arm)
            if seg.obj == "throw" and n == segment_of_frame(n) * FPS + seg.release:
                cx, cy = fig.hand_n[0], fig.hand_n[1] - 0.03 * fig.h
                flights.append(
                    {
                        "n0": n,
                        "p": (cx, cy),
                        "v": (fig.facing * THROW_SPEED[0] * fig.h, THROW_SPEED[1] * fig.h),
                        "g": GRAVITY * fig.h,
                        "ground": actor.y,
                        "size": 0.15 * fig.h,
                        "color": look.item,
                    }
                )
            talking = seg.inter == "talk to" and math.sin(2 * math.pi * 4.0 * t + look.mouth_phase) > 0
            draw_person(img, fig, look, seg.obj, in_hand, talking)
            if record is not None:
                record["persons"].append({"person_id": i, "box": fig.box(), "action_ids": seg.action_ids()})
                if in_hand:
                    record["objects"].append(held_item_box(fig))
                elif seg.obj == "carry":
                    record["objects"].append(carried_box(fig))
        alive = []
        for fl in flights:
            u = (n - fl["n0"]) / FPS
            cx, cy = fl["p"][0] + fl["v"][0] * u, fl["p"][1] + fl["v"][1] * u + 0.5 * fl["g"] * u * u
            if cy > fl["ground"] or cx < -fl["size"] or cx > width + fl["size"]:
                continue
            alive.append(fl)
            box = square_box((cx, cy), (fl["size"], fl["size"]))
            draw_item(img, box, fl["color"])
            if record is not None:
                record["objects"].append(box)
        flights = alive
        if record is not None:
            record["objects"] += background.item_boxes(t)
            _add_visibility(record["persons"], [actors[p["person_id"]].y for p in record["persons"]])
        yield n, background.add_noise(img), record


def render_video(
    actors: list[Actor],
    rng: np.random.Generator,
    num_seconds: int,
    width: int,
    height: int,
    clip_dir: str,
    keyframe_dir: str,
) -> list[dict]:
    """Draw, encode ``clip_dir/<s>.mp4`` and ``keyframe_dir/<s>.jpg`` for every second ``s``.

    Returns:
        One dict per second: ``second``, ``persons`` (``person_id``, ``box`` xyxy, ``action_ids``,
        ``visible``: the fraction of the box not covered by nearer persons' boxes) and ``objects`` (xyxy
        boxes of held, carried, flying and lying objects in the frame).
    """
    os.makedirs(clip_dir, exist_ok=True)
    os.makedirs(keyframe_dir, exist_ok=True)
    seconds = []
    container = stream = None
    for n, img, record in render_frames(actors, rng, num_seconds, width, height):
        if record is not None:
            seconds.append(record)
            if container is not None:
                _close_clip(container, stream)
            container, stream = _open_clip(os.path.join(clip_dir, f"{n // FPS}.mp4"), width, height)
        for packet in stream.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
            container.mux(packet)
    _close_clip(container, stream)
    for s in range(num_seconds):
        _write_keyframe(os.path.join(clip_dir, f"{s}.mp4"), os.path.join(keyframe_dir, f"{s}.jpg"))
    return seconds


def render_clip(
    actors: list[Actor], rng: np.random.Generator, num_seconds: int, width: int, height: int, path: str
) -> list[dict]:
    """Draw and encode the whole video as one mp4 at ``path``; returns the per-second records."""
    seconds = []
    container, stream = _open_clip(path, width, height)
    for _, img, record in render_frames(actors, rng, num_seconds, width, height):
        if record is not None:
            seconds.append(record)
        for packet in stream.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
            container.mux(packet)
    _close_clip(container, stream)
    return seconds


def _add_visibility(persons: list[dict], feet_rows: list[float]) -> None:
    for p, y in zip(persons, feet_rows):
        x1, y1, x2, y2 = p["box"]
        area = max(1e-6, (x2 - x1) * (y2 - y1))
        covered = 0.0
        for q, yq in zip(persons, feet_rows):
            if yq > y:  # nearer persons are drawn over this one
                ix = max(0.0, min(x2, q["box"][2]) - max(x1, q["box"][0]))
                iy = max(0.0, min(y2, q["box"][3]) - max(y1, q["box"][1]))
                covered += ix * iy
        p["visible"] = max(0.0, 1.0 - covered / area)


def _open_clip(path: str, width: int, height: int):
    container = av.open(path, "w", format="mp4")
    stream = container.add_stream("libx264", rate=FPS)
    stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
    stream.options = dict(ENCODER_OPTIONS)
    return container, stream


def _close_clip(container, stream) -> None:
    for packet in stream.encode():
        container.mux(packet)
    container.close()


def _write_keyframe(clip_path: str, jpg_path: str) -> None:
    """The keyframe image is the clip's first frame as a decoder returns it (not the pre-encoding image)."""
    with av.open(clip_path) as container:
        frame = next(container.decode(video=0))
        cv2.imwrite(jpg_path, frame.to_ndarray(format="bgr24"))
