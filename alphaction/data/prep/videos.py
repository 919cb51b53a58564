"""Raw movies -> 1-second clips and keyframes in AlphAction's layout (PyAV only, no ffmpeg binary).

``clips/<video_id>/<second>.mp4`` holds the frames of second ``s`` (``fps`` frames, H.264 yuv420p) and
``keyframes/<video_id>/<second>.jpg`` its first frame. Frames are resampled to ``fps`` by time: output frame
``k`` (time ``k / fps`` from the start of the stream) is the source frame nearest to that time, as ffmpeg's
``fps`` filter does. Frames whose short side exceeds ``short_side`` are scaled down to it; both sides are made
even (H.264 yuv420p needs even sizes).

Resuming: a second is finished when both its clip and its keyframe exist; finished seconds are skipped.
Files are written under a temporary name and renamed, so an interrupted run never leaves a partial file
under the final name (the temporary leftovers are rewritten on the next run).
"""

from __future__ import annotations

import json
import logging
import math
import multiprocessing
import os
import traceback
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from fractions import Fraction

import av
import cv2
import numpy as np

from ...utils.errors import UserError
from ...utils.io import atomic_write_text
from ...utils.progress import bar_disable
from ..video_io import quarter_turns, resample_by_time, source_frame_times

logger = logging.getLogger(__name__)

__all__ = ["PrepareError", "PrepareResult", "output_size", "prepare_video", "prepare_videos", "list_videos"]

ENCODER_OPTIONS = {"crf": "18", "preset": "veryfast", "threads": "1"}


class PrepareError(UserError, RuntimeError):
    """A raw video cannot be read or converted; the message names the file."""


@dataclass
class PrepareResult:
    video_id: str
    source: str
    written: list[int] = field(default_factory=list)  # seconds written in this run
    skipped: list[int] = field(default_factory=list)  # seconds already finished
    error: str = ""  # empty when the video succeeded
    error_log: str = ""  # path of the per-video error log ('' when none)


def output_size(width: int, height: int, short_side: int) -> tuple[int, int]:
    """``(width, height)`` after capping the short side at ``short_side`` (0: no cap); both even, >= 2."""
    scale = 1.0
    if short_side and min(width, height) > short_side:
        scale = short_side / min(width, height)
    w, h = width * scale, height * scale
    # round to the nearest even size (the short side lands exactly on short_side when it is even)
    return max(2, int(round(w / 2)) * 2), max(2, int(round(h / 2)) * 2)


def list_videos(inputs: list[str]) -> list[str]:
    """Files named in ``inputs``; a folder contributes its regular, non-hidden files (sorted)."""
    found = []
    for item in inputs:
        if os.path.isdir(item):
            found += [
                os.path.join(item, n)
                for n in sorted(os.listdir(item))
                if not n.startswith(".") and os.path.isfile(os.path.join(item, n))
            ]
        elif os.path.isfile(item):
            found.append(item)
        else:
            raise PrepareError(f"input video {item!r} does not exist")
    return found


def _finished(clip_dir: str, keyframe_dir: str, second: int) -> bool:
    return os.path.isfile(os.path.join(clip_dir, f"{second}.mp4")) and os.path.isfile(
        os.path.join(keyframe_dir, f"{second}.jpg")
    )


class _ClipWriter:
    """Encodes one second into ``<second>.mp4`` under a temporary name; ``close`` renames it and the keyframe."""

    def __init__(self, clip_dir: str, keyframe_dir: str, second: int, size: tuple[int, int], fps: int):
        self.final = os.path.join(clip_dir, f"{second}.mp4")
        self.tmp = os.path.join(clip_dir, f".{second}.mp4.part")
        self.jpg = os.path.join(keyframe_dir, f"{second}.jpg")
        self.container = av.open(self.tmp, "w", format="mp4")
        self.stream = self.container.add_stream("libx264", rate=fps)
        self.stream.width, self.stream.height = size
        self.stream.pix_fmt = "yuv420p"
        self.stream.options = dict(ENCODER_OPTIONS)
        self.count = 0
        self.time_base = Fraction(1, fps)

    def add(self, frame: av.VideoFrame) -> None:
        frame.pts, frame.time_base = self.count, self.time_base  # frames 0, 1, ... at the output rate
        for packet in self.stream.encode(frame):
            self.container.mux(packet)
        self.count += 1

    def close(self) -> None:
        for packet in self.stream.encode():
            self.container.mux(packet)
        self.container.close()
        os.replace(self.tmp, self.final)
        # the keyframe is the clip's first frame as a decoder returns it, so boxes drawn on it match the clip
        with av.open(self.final) as clip:
            first = next(clip.decode(video=0))
        tmp_jpg = self.jpg[:-4] + ".part.jpg"
        if not cv2.imwrite(tmp_jpg, first.to_ndarray(format="bgr24")):
            raise OSError(f"cannot write keyframe {tmp_jpg}")
        os.replace(tmp_jpg, self.jpg)

    def abort(self) -> None:
        try:
            self.container.close()
        except Exception:  # noqa: BLE001 - best effort; the .part file is rewritten next time
            pass


def _upright_yuv(frame: av.VideoFrame, size: tuple[int, int], turns: int) -> av.VideoFrame:
    """``frame`` resized to the upright ``size = (width, height)`` and turned ``turns`` quarter turns
    counter-clockwise (its display rotation), as a yuv420p frame for the encoder."""
    if not turns:
        return frame.reformat(width=size[0], height=size[1], format="yuv420p")
    coded = size[::-1] if turns % 2 else size
    rgb = np.ascontiguousarray(np.rot90(frame.to_ndarray(width=coded[0], height=coded[1], format="rgb24"), turns))
    return av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(format="yuv420p")


def prepare_video(
    source: str,
    clip_root: str,
    keyframe_root: str,
    video_id: str | None = None,
    start: int | None = None,
    end: int | None = None,
    fps: int = 25,
    short_side: int = 360,
) -> PrepareResult:
    """Cut ``source`` into ``clip_root/<video_id>/<s>.mp4`` and ``keyframe_root/<video_id>/<s>.jpg``.

    Args:
        source: any file PyAV (libavformat) reads.
        clip_root, keyframe_root: output roots.
        video_id: folder name (default: the file name without its extension).
        start, end: first and last second to write, inclusive (default: the whole video; a final second shorter
            than ``fps`` frames is written with the frames it has).
        fps: output frame rate (frames per clip).
        short_side: cap of the short side in pixels (0: keep the size).

    Returns:
        A :class:`PrepareResult` (``error`` empty). Raises :class:`PrepareError` naming the file when it
        cannot be opened or decoded.
    """
    video_id = video_id or os.path.splitext(os.path.basename(source))[0]
    result = PrepareResult(video_id, source)
    clip_dir, keyframe_dir = os.path.join(clip_root, video_id), os.path.join(keyframe_root, video_id)
    first = max(0, int(start or 0))
    last = None if end is None else int(end)
    if last is not None and last < first:
        raise PrepareError(f"{source}: --end {last} is before --start {first}")
    _check_settings(clip_dir, keyframe_dir, source, fps, short_side)
    if last is not None:
        todo, result.skipped = _todo_seconds(clip_dir, keyframe_dir, first, last)
        if not todo:
            return result
    # whole video: skip finished seconds lazily while decoding (duration is not always known up front)
    skip_from = first if last is None else min(todo)
    with _open_video(source) as container:
        coded = _coded_size(container, source)
        os.makedirs(clip_dir, exist_ok=True)
        os.makedirs(keyframe_dir, exist_ok=True)
        _cut_seconds(container, source, clip_dir, keyframe_dir, coded, skip_from, last, fps, short_side, result)
    if last is not None:
        _require_all_seconds(source, clip_dir, keyframe_dir, first, last, result)
    return result


def _todo_seconds(clip_dir: str, keyframe_dir: str, first: int, last: int) -> tuple[list[int], list[int]]:
    """``(seconds to write, seconds already finished)`` of ``first .. last``."""
    done = {s for s in range(first, last + 1) if _finished(clip_dir, keyframe_dir, s)}
    return [s for s in range(first, last + 1) if s not in done], sorted(done)


def _open_video(source: str) -> av.container.InputContainer:
    """``source`` opened with PyAV; a file it cannot open is a :class:`PrepareError` naming it."""
    try:
        return av.open(source)
    except (av.FFmpegError, OSError, ValueError) as exc:
        raise PrepareError(
            f"cannot open video {source} ({type(exc).__name__}: {exc}); is it a video file PyAV/libavformat can read?"
        ) from exc


def _coded_size(container: av.container.InputContainer, source: str) -> tuple[int, int]:
    """``(width, height)`` of the first video stream as coded (before its display rotation); none is an error."""
    if not container.streams.video:
        raise PrepareError(f"{source} has no video stream")
    stream = container.streams.video[0]
    return (stream.codec_context.width, stream.codec_context.height)


def _upright_size(frame: av.VideoFrame, coded: tuple[int, int], short_side: int) -> tuple[tuple[int, int], int]:
    """``((width, height) of the upright output, quarter turns)`` from the first frame's display rotation (a
    phone video's): clips are written upright."""
    turns = quarter_turns(frame)
    upright = coded[::-1] if turns % 2 else coded
    return output_size(upright[0], upright[1], short_side), turns


def _cut_seconds(
    container: av.container.InputContainer,
    source: str,
    clip_dir: str,
    keyframe_dir: str,
    coded: tuple[int, int],
    skip_from: int,
    last: int | None,
    fps: int,
    short_side: int,
    result: PrepareResult,
) -> None:
    """Write the clip and keyframe of every unfinished second from ``skip_from`` to ``last`` (None: the end),
    recording them in ``result.written`` and the finished ones in ``result.skipped``; a decoding error is a
    :class:`PrepareError` and the clip being written is abandoned."""
    size = None  # (width, height) of the upright output: known at the first frame (its display rotation)
    turns = 0
    writer: _ClipWriter | None = None
    writer_second = None
    try:
        for k, frame in resample_by_time(source_frame_times(container, skip_from), fps, first=skip_from * fps):
            second = k // fps
            if last is not None and second > last:
                break
            if size is None:
                size, turns = _upright_size(frame, coded, short_side)
            if second != writer_second:
                if writer is not None:
                    _finish_clip(writer, writer_second, result)
                    writer = None
                writer_second = second
                # a start/end run listed its finished seconds before decoding; a whole-video run lists them here
                skipped = result.skipped if last is None else None
                writer = _start_clip(clip_dir, keyframe_dir, second, size, fps, skipped)
            if writer is not None:
                writer.add(_upright_yuv(frame, size, turns))
        if writer is not None:
            _finish_clip(writer, writer_second, result)
            writer = None
    except av.FFmpegError as exc:
        if writer is not None:
            writer.abort()
        raise PrepareError(
            f"cannot decode video {source} near second {writer_second} ({type(exc).__name__}: {exc})"
        ) from exc
    except BaseException:
        if writer is not None:
            writer.abort()
        raise


def _start_clip(
    clip_dir: str, keyframe_dir: str, second: int, size: tuple[int, int], fps: int, skipped: list[int] | None
) -> _ClipWriter | None:
    """A writer of ``second``'s clip, or None when the second is finished (then appended to ``skipped`` if given)."""
    if _finished(clip_dir, keyframe_dir, second):
        if skipped is not None:
            skipped.append(second)
        return None
    return _ClipWriter(clip_dir, keyframe_dir, second, size, fps)


def _finish_clip(writer: _ClipWriter, second: int, result: PrepareResult) -> None:
    """Close ``writer`` (its clip and keyframe renamed into place) and record ``second`` in ``result.written``."""
    writer.close()
    result.written.append(second)


def _require_all_seconds(
    source: str, clip_dir: str, keyframe_dir: str, first: int, last: int, result: PrepareResult
) -> None:
    """Raise a :class:`PrepareError` (carrying ``result``: the seconds written still count) when a second of
    ``first .. last`` is not finished (the video ends before it)."""
    missing = [s for s in range(first, last + 1) if not _finished(clip_dir, keyframe_dir, s)]
    if missing:
        err = PrepareError(
            f"{source} ends before second {missing[0]} (asked for {first}..{last}); "
            f"{len(missing)} second(s) missing, {len(result.written)} written. Lower --end or "
            "check the video's duration."
        )
        err.result = result  # the seconds that were written still count
        raise err


SETTINGS_FILE = ".prepare.json"  # in clips/<video_id>/: the fps and short side its clips were cut with


def _check_settings(clip_dir: str, keyframe_dir: str, source: str, fps: int, short_side: int) -> None:
    """Refuse to add clips cut with other settings to a video's folder (a rerun with another --fps would
    otherwise skip the finished seconds and mix both); record the settings on the first run."""
    path = os.path.join(clip_dir, SETTINGS_FILE)
    ours = {"fps": int(fps), "short_side": int(short_side)}
    if os.path.isfile(path):
        with open(path, encoding="utf-8") as f:
            theirs = json.load(f)
        if {k: theirs.get(k) for k in ours} != ours:
            raise PrepareError(
                f"{clip_dir} holds clips of {source} cut with --fps {theirs.get('fps')} --short-side "
                f"{theirs.get('short_side')}; this run asks for --fps {fps} --short-side {short_side}",
                fix="rerun with the same settings, or give another --output-root, or delete "
                f"{clip_dir} and {keyframe_dir} to cut the video again",
            )
        return
    atomic_write_text(path, json.dumps(ours))


def _job(args: tuple) -> PrepareResult:
    source, clip_root, keyframe_root, video_id, start, end, fps, short_side, log_dir = args
    video_id = video_id or os.path.splitext(os.path.basename(source))[0]
    log_path = os.path.join(log_dir, f"{video_id}.err")
    try:
        result = prepare_video(source, clip_root, keyframe_root, video_id, start, end, fps, short_side)
    except Exception as exc:  # noqa: BLE001 - one bad video must not stop the others; logged per video
        os.makedirs(log_dir, exist_ok=True)
        with open(log_path, "w", encoding="utf-8") as f:
            f.write(f"{source}\n{exc}\n\n{traceback.format_exc()}")
        partial = getattr(exc, "result", None)  # seconds written before the error
        return PrepareResult(
            video_id,
            source,
            written=list(partial.written) if partial else [],
            skipped=list(partial.skipped) if partial else [],
            error=str(exc),
            error_log=log_path,
        )
    if os.path.isfile(log_path):
        os.remove(log_path)  # an earlier failure is fixed
    return result


def prepare_videos(
    sources: list[str],
    clip_root: str,
    keyframe_root: str,
    start: int | None = None,
    end: int | None = None,
    fps: int = 25,
    short_side: int = 360,
    workers: int = 1,
    log_dir: str | None = None,
    progress: bool = True,
) -> list[PrepareResult]:
    """:func:`prepare_video` for every source, ``workers`` processes (spawn), a tqdm bar over videos.

    A failing video does not stop the others: its result carries ``error`` and ``error_log``
    (``<log_dir>/<video_id>.err``, default ``<clip_root>/../logs``).
    """
    ids = [os.path.splitext(os.path.basename(s))[0] for s in sources]
    dup = {i for i in ids if ids.count(i) > 1}
    if dup:
        raise PrepareError(f"several inputs map to the same video id(s) {sorted(dup)}; rename the files")
    log_dir = log_dir or os.path.join(os.path.dirname(os.path.abspath(clip_root)), "logs")
    jobs = [(s, clip_root, keyframe_root, i, start, end, fps, short_side, log_dir) for s, i in zip(sources, ids)]
    from tqdm import tqdm

    results: list[PrepareResult] = []
    bar = tqdm(total=len(jobs), desc="videos", unit="video", disable=bar_disable(progress))
    if workers <= 1 or len(jobs) <= 1:
        for job in jobs:
            results.append(_job(job))
            bar.update(1)
    else:
        # spawn, not fork: the caller may hold torch / OpenMP threads that a forked child would inherit locked
        with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
            for fut in as_completed([pool.submit(_job, job) for job in jobs]):
                results.append(fut.result())
                bar.update(1)
    bar.close()
    order = {i: n for n, i in enumerate(ids)}
    return sorted(results, key=lambda r: order[r.video_id])


def video_seconds(source: str) -> float:
    """Duration of the first video stream in seconds (``nan`` when the container does not say)."""
    with av.open(source) as c:
        s = c.streams.video[0]
        if s.duration is not None and s.time_base:
            return float(s.duration * s.time_base)
        if c.duration:
            return c.duration / 1e6
    return math.nan
