"""Decode the frame window around a keyframe from per-second clips (PyAV).

Storage layout (see ``docs/internals.md``): ``<video_root>/<video_id>/<second>.mp4`` holds one second of
video; the keyframe of second ``t`` is the first frame of ``<t>.mp4``.

Window semantics. A window of ``span = frame_num * sample_rate`` consecutive frames is built with the
keyframe at window position ``L = span // 2``: positions ``0 .. L-1`` are the last ``L`` frames before
the keyframe (from clips ``t-1, t-2, ...``), positions ``L .. span-1`` are the keyframe and the frames
after it (from clips ``t, t+1, ...``). Clip frame counts are read from the files (25 is typical, not
assumed). Beyond the first or last existing clip of the video the edge frame is repeated (a missing
neighbouring clip counts as the edge of the video). The returned frames are the window positions
``offset, offset + sample_rate, ...`` with ``offset = (sample_rate - 1) // 2`` (AlphAction's
``TemporalCrop``), ``frame_num`` frames in all; for an even ``frame_num`` and ``sample_rate <= 2`` the
keyframe is returned frame ``frame_num // 2``.

Only the frames that are returned are converted to RGB (conversion costs about as much as decoding), and
a clip on the right side stops decoding once its last needed frame is reached.
"""

from __future__ import annotations

import os

import av
import cv2
import numpy as np

from ..utils.errors import UserError

__all__ = [
    "VideoDecodeError",
    "MissingClipError",
    "CorruptClipError",
    "clip_path",
    "window_positions",
    "decode_window",
    "write_clip",
    "quarter_turns",
    "display_rgb",
    "VideoFrames",
    "source_frame_times",
    "resample_by_time",
]


def quarter_turns(frame) -> int:
    """Counter-clockwise quarter turns a player applies to ``frame`` (PyAV's ``frame.rotation``: the container's
    display rotation, e.g. -90 for a phone video filmed upright, whose coded pixels stay landscape)."""
    return int(round(float(getattr(frame, "rotation", 0) or 0) / 90.0)) % 4


def display_rgb(frame, width: int | None = None, height: int | None = None) -> np.ndarray:
    """A decoded PyAV frame as uint8 RGB ``[H, W, 3]`` the way a player shows it: the display rotation applied,
    after an optional resize of the coded picture to ``width`` x ``height`` (coded orientation)."""
    if width is not None and height is not None:
        rgb = frame.to_ndarray(width=width, height=height, format="rgb24")
    else:
        rgb = frame.to_ndarray(format="rgb24")
    k = quarter_turns(frame)
    return np.ascontiguousarray(np.rot90(rgb, k)) if k else rgb


class VideoDecodeError(UserError, RuntimeError):
    """A clip needed by an annotation could not be read. ``path``, ``video_id`` and ``timestamp`` say
    which file and which annotation (keyframe) needed it."""

    def __init__(self, message: str, path: str, video_id: str, timestamp: int):
        super().__init__(
            message,
            fix="re-create the clip (tools/prepare_ava_videos.py), or let training skip "
            "unreadable clips with DATALOADER.ON_BAD_SAMPLE skip",
        )
        self.path = path
        self.video_id = video_id
        self.timestamp = timestamp


class MissingClipError(VideoDecodeError, FileNotFoundError):
    """The clip of the keyframe's own second does not exist."""


class CorruptClipError(VideoDecodeError):
    """A clip exists but cannot be decoded (or holds no frames)."""


def clip_path(video_root: str, video_id: str, second: int) -> str:
    """``<video_root>/<video_id>/<second>.mp4``."""
    return os.path.join(video_root, video_id, f"{int(second)}.mp4")


def window_positions(frame_num: int, sample_rate: int) -> np.ndarray:
    """Window positions of the returned frames, ``[frame_num]`` ints in ``[0, span)``.

    ``span = frame_num * sample_rate``; the keyframe is at position ``span // 2``.
    """
    if frame_num < 1 or sample_rate < 1:
        raise ValueError(f"frame_num and sample_rate must be >= 1, got {frame_num} and {sample_rate}")
    offset = (sample_rate - 1) // 2
    return offset + sample_rate * np.arange(frame_num)


def _where(video_id: str, timestamp: int) -> str:
    return f"annotation (video_id={video_id!r}, timestamp={timestamp})"


def _open_frames(path: str, video_id: str, timestamp: int):
    """Yield the decoded ``av.VideoFrame`` objects of one clip; wrap decoder failures."""
    try:
        with av.open(path) as container:
            if not container.streams.video:
                raise CorruptClipError(
                    f"clip {path} has no video stream; needed by {_where(video_id, timestamp)}",
                    path,
                    video_id,
                    timestamp,
                )
            yield from container.decode(video=0)
    except VideoDecodeError:
        raise
    except (av.FFmpegError, OSError, ValueError, EOFError) as exc:
        raise CorruptClipError(
            f"cannot decode clip {path} ({type(exc).__name__}: {exc}); needed by {_where(video_id, timestamp)}. "
            "Re-extract the clip or drop the annotation.",
            path,
            video_id,
            timestamp,
        ) from exc


def source_frame_times(container, start: float = 0.0):
    """Yield ``(time in seconds from the stream's start, frame, nominal frame duration)`` for the frames of the
    first video stream from about ``start`` on (earlier frames after the seek are the caller's to drop). The one
    time base of every resampler here: ``tools/prepare_ava_videos.py``, :class:`VideoFrames`, the clip readers."""
    stream = container.streams.video[0]
    stream.thread_type = "AUTO"
    base = float(stream.time_base) if stream.time_base else 1.0
    t0 = float(stream.start_time * base) if stream.start_time is not None else 0.0
    rate = float(stream.average_rate or stream.guessed_rate or 25)
    if start > 1.0:
        # seek to a keyframe before start - 1 s
        container.seek(int((t0 + start - 1.0) / base), stream=stream, backward=True, any_frame=False)
    index = 0
    for frame in container.decode(stream):
        t = frame.time - t0 if frame.time is not None else index / rate
        index += 1
        yield t, frame, 1.0 / rate


def resample_by_time(timed_frames, fps: int, limit: float | None = None, first: int = 0):
    """``(output index k, source item)`` for output times ``k / fps`` (k = first, first + 1, ...) from
    ``(time, item, duration)`` triples in time order: the item nearest in time (ties to the earlier one), the
    first item covering the times before it, the last one lasting its ``duration``; stops before ``limit``
    seconds. Variable frame rates are followed; a 30 fps source at 25 drops frames, a 15 fps one repeats them.
    ``first``: start at that output index (the source having been sought to about there)."""
    k, prev = first, None
    for t, item, duration in timed_frames:
        if prev is not None:
            boundary = (prev[0] + t) / 2  # output times nearer to the previous source frame
            if limit is not None:
                boundary = min(boundary, limit)
            while k / fps < boundary:
                yield k, prev[1]
                k += 1
            if limit is not None and k / fps >= limit:
                return
        prev = (t, item, duration)
    if prev is not None:
        boundary = prev[0] + prev[2] - 1e-6
        if limit is not None:
            boundary = min(boundary, limit)
        while k / fps < boundary or k == 0:
            yield k, prev[1]
            k += 1


class VideoFrames:
    """The frames of a video file at ``fps``, decoded as they are iterated (memory does not grow with the
    video's length): output frame ``k`` is the source frame nearest to time ``k / fps`` by the rule
    :func:`resample_by_time` (the one ``tools/prepare_ava_videos.py`` cuts clips by), shown upright (display
    rotation applied) and resized with area interpolation so that the short side is at most ``short_side``
    (0: the original size; even sizes when resized). Only frames that are yielded are converted and resized.

    Attributes (read from the first frame when built): ``orig_size`` ``(H, W)`` as shown, ``size`` ``(h, w)`` of
    the yielded frames. Iterating yields uint8 RGB ``[h, w, 3]`` arrays; ``max_seconds`` stops early.
    """

    def __init__(self, path: str, fps: int = 25, short_side: int = 360, max_seconds: float | None = None) -> None:
        if not os.path.isfile(path):
            raise MissingClipError(f"video {path} not found", path, os.path.basename(path), 0)
        self.path, self.fps, self.max_seconds = path, int(fps), max_seconds
        timed = self._timed()
        first = next(timed, None)
        timed.close()  # the file is closed now, not when the generator is collected
        if first is None:
            raise CorruptClipError(f"{path} holds no decodable video frames", path, os.path.basename(path), 0)
        h, w = display_rgb(first[1]).shape[:2]
        self.orig_size = (h, w)
        scale = short_side / min(h, w) if short_side and min(h, w) > short_side else 1.0
        self.size = (int(round(h * scale / 2)) * 2, int(round(w * scale / 2)) * 2) if scale != 1.0 else (h, w)

    def _timed(self):
        try:
            with av.open(self.path) as container:
                if not container.streams.video:
                    raise CorruptClipError(f"{self.path} has no video stream", self.path, "", 0)
                yield from source_frame_times(container)
        except av.FFmpegError as e:
            raise CorruptClipError(f"cannot decode {self.path}: {e}", self.path, "", 0) from e

    def __iter__(self):
        last_src, last_out = None, None
        for _, frame in resample_by_time(self._timed(), self.fps, self.max_seconds):
            if frame is not last_src:  # a repeated source frame is converted once
                rgb = display_rgb(frame)
                if rgb.shape[:2] != self.size:
                    rgb = cv2.resize(rgb, (self.size[1], self.size[0]), interpolation=cv2.INTER_AREA)
                last_src, last_out = frame, rgb
            yield last_out


def _to_rgb(frame, size: tuple[int, int] | None) -> np.ndarray:
    # yuv420p (what H.264 clips hold) is converted by OpenCV from the raw planes: measured ~3x faster
    # than swscale's rgb24 path on 360p and within 3 levels of it (both BT.601, limited range; they
    # differ only in chroma interpolation). Resizing with cv2 after conversion also measured faster
    # than letting swscale resize during conversion (360p -> 256p).
    if frame.format.name == "yuv420p" and frame.width % 2 == 0 and frame.height % 2 == 0:
        rgb = cv2.cvtColor(frame.to_ndarray(format="yuv420p"), cv2.COLOR_YUV2RGB_I420)
    else:
        rgb = frame.to_ndarray(format="rgb24")
    turns = quarter_turns(frame)  # clips with a display rotation are read as a player shows them
    if turns:
        rgb = np.ascontiguousarray(np.rot90(rgb, turns))
    if size is not None and rgb.shape[:2] != tuple(size):
        rgb = cv2.resize(rgb, (int(size[1]), int(size[0])), interpolation=cv2.INTER_LINEAR)
    return rgb


def _no_frames(path: str, video_id: str, timestamp: int) -> CorruptClipError:
    """The error for a clip that decodes to no frames."""
    return CorruptClipError(
        f"clip {path} holds no frames; needed by {_where(video_id, timestamp)}", path, video_id, timestamp
    )


def _centre_clip(video_root: str, video_id: str, timestamp: int) -> str:
    """The path of the keyframe's own clip; raises :class:`MissingClipError` when it does not exist."""
    centre = clip_path(video_root, video_id, timestamp)
    if not os.path.isfile(centre):
        raise MissingClipError(
            f"clip {centre} does not exist; needed by {_where(video_id, timestamp)} "
            f"(video_root={video_root!r}). Check the dataset's video_root or remove the annotation.",
            centre,
            video_id,
            timestamp,
        )
    return centre


def _fill_right(
    out: list[np.ndarray | None],
    right_need: dict[int, int],
    video_root: str,
    video_id: str,
    timestamp: int,
    size: tuple[int, int] | None,
) -> av.VideoFrame | None:
    """Decode clips ``t, t+1, ...`` into the slots of ``right_need`` (right index -> slot of ``out``), the last
    frame repeated past the last clip; returns the keyframe (the first frame of clip ``t``)."""
    last_needed = max(right_need)
    r = 0
    second = timestamp
    edge = None
    keyframe = None
    while r <= last_needed:
        path = clip_path(video_root, video_id, second)
        if second != timestamp and not os.path.isfile(path):
            break  # past the last clip: repeat the edge frame below
        decoded = 0
        for frame in _open_frames(path, video_id, timestamp):
            decoded += 1
            edge = frame
            if keyframe is None:
                keyframe = frame
            if r in right_need:
                out[right_need[r]] = _to_rgb(frame, size)
            r += 1
            if r > last_needed:
                break
        if decoded == 0:
            raise _no_frames(path, video_id, timestamp)
        second += 1
    if r <= last_needed:
        edge_rgb = _to_rgb(edge, size)
        for rr, k in right_need.items():
            if rr >= r:
                out[k] = edge_rgb
    return keyframe


def _fill_left(
    out: list[np.ndarray | None],
    left_need: dict[int, int],
    video_root: str,
    video_id: str,
    timestamp: int,
    size: tuple[int, int] | None,
    centre: str,
    keyframe: av.VideoFrame | None,
) -> None:
    """Decode clips ``t-1, t-2, ...`` into the slots of ``left_need`` (distance -> slot of ``out``), the first
    frame repeated before the first clip. Clips must be decoded to their end to reach their last frames, so whole
    clips are decoded, and only the needed frames converted."""
    farthest = max(left_need)
    covered = 0  # distances 1 .. covered are resolved
    second = timestamp - 1
    edge = None
    while covered < farthest:
        path = clip_path(video_root, video_id, second)
        if not os.path.isfile(path):
            break  # before the first clip
        frames = list(_open_frames(path, video_id, timestamp))
        if not frames:
            raise _no_frames(path, video_id, timestamp)
        n = len(frames)
        for d, k in left_need.items():
            if covered < d <= covered + n:
                out[k] = _to_rgb(frames[n - (d - covered)], size)
        covered += n
        edge = frames[0]
        second -= 1
    if covered < farthest:
        edge_rgb = _to_rgb(_left_edge(edge, keyframe, centre, video_id, timestamp), size)
        for d, k in left_need.items():
            if d > covered:
                out[k] = edge_rgb


def _left_edge(
    edge: av.VideoFrame | None, keyframe: av.VideoFrame | None, centre: str, video_id: str, timestamp: int
) -> av.VideoFrame:
    """The frame repeated before the first clip: ``edge`` (the first frame of the earliest clip read), else the
    keyframe (``t`` is the first clip), read from the centre clip when no right-side frame was needed."""
    if edge is None:
        edge = keyframe  # t is the first clip: the keyframe is the edge
    if edge is None:  # no right-side frame was needed, so the centre clip is still unread
        edge = next(iter(_open_frames(centre, video_id, timestamp)), None)
        if edge is None:
            raise _no_frames(centre, video_id, timestamp)
    return edge


def decode_window(
    video_root: str,
    video_id: str,
    timestamp: int,
    frame_num: int,
    sample_rate: int,
    size: tuple[int, int] | None = None,
) -> np.ndarray:
    """Decode the sampled frames of the window around the keyframe of second ``timestamp``.

    Args:
        video_root: folder holding ``<video_id>/<second>.mp4``.
        video_id: the video's folder name.
        timestamp: the keyframe's second.
        frame_num: number of frames returned (``INPUT.FRAME_NUM``).
        sample_rate: stride between returned frames (``INPUT.FRAME_SAMPLE_RATE``).
        size: optional ``(height, width)``; returned frames are resized to it (bilinear).

    Returns:
        uint8 RGB array ``[frame_num, H, W, 3]`` (window semantics in the module docstring).

    Raises:
        MissingClipError: ``<timestamp>.mp4`` itself is missing.
        CorruptClipError: a clip that exists cannot be decoded or has no frames.
    """
    positions = window_positions(frame_num, sample_rate)
    span = frame_num * sample_rate
    left = span // 2
    out: list[np.ndarray | None] = [None] * frame_num
    centre = _centre_clip(video_root, video_id, timestamp)
    # right side: right index r = position - left; clip t holds r = 0 .. n_t - 1, then clip t+1, ...
    right_need = {int(p) - left: k for k, p in enumerate(positions) if p >= left}
    keyframe = _fill_right(out, right_need, video_root, video_id, timestamp, size) if right_need else None
    # left side: distance d = left - position (d = 1 is the last frame of clip t-1)
    left_need = {left - int(p): k for k, p in enumerate(positions) if p < left}
    if left_need:
        _fill_left(out, left_need, video_root, video_id, timestamp, size, centre, keyframe)
    return np.stack(out)


def write_clip(path: str, frames: np.ndarray, fps: int = 25, crf: int = 10) -> None:
    """Encode uint8 RGB frames ``[T, H, W, 3]`` (even H and W) as an H.264 mp4 (tests, synthetic data)."""
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    with av.open(path, "w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.height, stream.width = int(frames.shape[1]), int(frames.shape[2])
        stream.pix_fmt = "yuv420p"
        stream.options = {"crf": str(crf)}
        for frame in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
