"""Streaming inference over a user's video: frame resampling by the nearest-time rule (29.97 fps, variable frame
rate, a last partial second), the windows the demo scores built from a stream with a few seconds in memory,
and the classification reader that decodes only the sampled frames. Expectations are hand computations."""

from __future__ import annotations

import logging
import os
import weakref
from fractions import Fraction

import av
import numpy as np
import pytest
import torch

from alphaction.apis import demo
from alphaction.config import get_cfg
from alphaction.data.build import build_clip_transforms
from alphaction.data.datasets.clip_sources import SparseVideo, read_video
from alphaction.data.prep.videos import prepare_video
from alphaction.data.video_io import VideoFrames
from alphaction.engine.defaults import REPO_ROOT
from alphaction.utils.progress import progress

QUICK = os.path.join(REPO_ROOT, "config_files", "quick_schedules", "synthetic_tiny_r14.yaml")
STEP = 16  # grey level step between neighbouring source frames


def _level(i: int) -> int:
    return (i % 15) * STEP


def _grey_movie(path, times: list[float], rate, size=(48, 64), levels: list[int] | None = None) -> None:
    """Source frame ``i`` is a flat grey of ``levels[i]`` (default ``_level(i)``) shown at ``times[i]`` seconds
    (lossless H.264)."""
    levels = levels or [_level(i) for i in range(len(times))]
    tb = Fraction(1, 90000)
    with av.open(str(path), "w") as c:
        st = c.add_stream("libx264", rate=rate)
        st.height, st.width, st.pix_fmt = size[0], size[1], "yuv420p"
        st.codec_context.time_base = tb
        st.time_base = tb
        st.options = {"qp": "0", "bf": "0"}
        for i, t in enumerate(times):
            frame = av.VideoFrame.from_ndarray(np.full((*size, 3), levels[i], np.uint8), format="rgb24")
            frame.pts, frame.time_base = int(round(t / tb)), tb
            for p in st.encode(frame):
                c.mux(p)
        for p in st.encode():
            c.mux(p)


def _levels(frames) -> list[int]:
    """The source frame level each frame shows (nearest multiple of STEP)."""
    return [int(round(float(f.mean()) / STEP)) * STEP for f in frames]


def _nearest(times: list[float], fps: int, count: int) -> list[int]:
    """By hand: output frame k shows the source frame nearest to k / fps (ties to the earlier one)."""
    t = np.asarray(times)
    return [_level(int(np.argmin(np.abs(t - k / fps) + 1e-9 * np.arange(len(t))))) for k in range(count)]


def test_29_97_fps_video_is_read_at_25_by_the_nearest_source_frame_as_preparation_cuts_it(tmp_path):
    period = 1001 / 30000
    times = [i * period for i in range(105)]  # 3.5 s: a last partial second
    movie = tmp_path / "phone.mp4"
    _grey_movie(movie, times, Fraction(30000, 1001))

    video = VideoFrames(str(movie), fps=25)
    frames = list(video)
    # the last source frame (3.470 s) lasts one frame period: output times below 3.5035 s -> 88 frames
    assert len(frames) == 88 and video.orig_size == (48, 64) and frames[0].shape == (48, 64, 3)
    assert _levels(frames) == _nearest(times, 25, 88)

    # preparation's per-second clips hold the very same frames: one rule everywhere
    out = tmp_path / "prep"
    prepare_video(str(movie), str(out / "clips"), str(out / "keyframes"), fps=25)
    prepared = []
    for s in range(4):
        prepared += list(read_video(str(out / "clips" / "phone" / f"{s}.mp4")))
    assert _levels(prepared) == _levels(frames)

    # --max-seconds: the first two seconds only
    assert len(list(VideoFrames(str(movie), fps=25, max_seconds=2))) == 50


def test_variable_frame_rate_video_follows_the_timestamps(tmp_path):
    gaps = [0.02, 0.06, 0.02, 0.1, 0.04, 0.03, 0.05] * 6
    times = list(np.cumsum([0.0] + gaps))
    movie = tmp_path / "vfr.mkv"
    _grey_movie(movie, times, 25)
    with av.open(str(movie)) as c:  # the file keeps the irregular timestamps
        got = [float(f.time) for f in c.decode(video=0)]
    np.testing.assert_allclose(got, times, atol=2e-3)

    frames = list(VideoFrames(str(movie), fps=25))
    assert _levels(frames) == _nearest(times, 25, len(frames))
    assert len(frames) == int(np.ceil((times[-1] + 1 / 25 - 1e-6) * 25))


def test_stream_scores_each_second_on_the_hand_built_window_with_a_few_seconds_in_memory(monkeypatch):
    """Frame n is a flat image of value n; a spy records which frames each second's clip holds. Expected by
    hand: AlphAction's window of second s at 25 fps is frames ``s*25 - L + (rate-1)//2 + rate*j`` (L = span // 2)
    with the first / last frame repeated past the ends of the video."""
    cfg = get_cfg()
    cfg.merge_from_file(QUICK)
    num, rate, fps, total = cfg.INPUT.FRAME_NUM, cfg.INPUT.FRAME_SAMPLE_RATE, 25, 235  # 9.4 s
    seen: dict[int, list[int]] = {}

    def spy(self, res, clip):
        seen[res.second] = [int(f[0, 0, 0]) for f in clip]
        res.probs = np.full((len(res.boxes), 3), res.second, np.float32)

    monkeypatch.setattr(demo._Scorer, "__init__", lambda self, *a, **k: None)
    monkeypatch.setattr(demo._Scorer, "__call__", spy)

    alive: list[weakref.ref] = []
    held: list[int] = []

    def stream():
        for n in range(total):
            frame = np.full((8, 8, 3), n, np.uint8)
            alive.append(weakref.ref(frame))  # freed by reference counting once the demo lets go of it
            yield frame

    def on_frame(n, frame, results):
        assert int(frame[0, 0, 0]) == n
        assert n // fps + 1 < len(results) or len(results) * fps >= total  # its next second is already scored
        held.append(sum(r() is not None for r in alive))

    boxes = {s: np.array([[1, 1, 6, 6, 0.9]], np.float32) for s in range(10)}
    results = demo.run_video(
        cfg, None, stream(), (8, 8), fps, torch.device("cpu"), person_boxes=boxes, on_frame=on_frame, progress=False
    )

    assert [r.second for r in results] == list(range(10))
    half = num * rate // 2
    for s in range(10):
        want = [min(max(s * fps - half + (rate - 1) // 2 + rate * j, 0), total - 1) for j in range(num)]
        assert seen[s] == want, s
    assert len(held) == total
    # memory: a window and two seconds of frames, not the video (235 frames)
    assert max(held) <= half + 2 * fps + 2


def test_sparse_video_keeps_only_the_sampled_frames_and_gives_the_whole_video_results(tmp_path):
    times = [i / 30 for i in range(95)]
    movie = tmp_path / "clip.mp4"
    _grey_movie(movie, times, 30)
    whole = read_video(str(movie))
    sparse = SparseVideo(str(movie))
    assert sparse.shape == whole.shape
    idx = np.array([90, 3, 3, 47, 0])
    np.testing.assert_array_equal(sparse[idx], whole[idx])

    cfg = get_cfg()
    cfg.merge_from_file(os.path.join(REPO_ROOT, "config_files", "classification", "synthetic_clips_tiny_quick.yaml"))
    cfg.INPUT.NUM_CLIPS_TEST = 3
    transform = build_clip_transforms(cfg, is_train=False)
    rng = np.random.default_rng(0)
    for a, b in zip(transform(whole, rng), transform(SparseVideo(str(movie)), rng)):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_progress_logs_lines_when_no_bar_is_shown(caplog):
    log = logging.getLogger("alphaction.test_progress")
    with caplog.at_level(logging.INFO, logger="alphaction.test_progress"):
        assert list(progress(range(5), "video", "frame", logger=log, every=0.0)) == list(range(5))
    lines = [r.getMessage() for r in caplog.records]
    assert lines and lines[-1].startswith("video: 5 frame(s)")


@pytest.mark.parametrize("short_side, size", [(0, (144, 176)), (72, (72, 88))])
def test_video_frames_size_and_upright(tmp_path, short_side, size):
    movie = tmp_path / "qcif.mp4"
    _grey_movie(movie, [i / 25 for i in range(30)], 25, size=(144, 176))
    video = VideoFrames(str(movie), fps=25, short_side=short_side)
    assert video.orig_size == (144, 176) and video.size == size
    assert next(iter(video)).shape == (*size, 3)


def test_clip_fps_reads_50_and_25_fps_recordings_of_one_scene_alike(tmp_path):
    """INPUT.CLIP_FPS 25: a 50 fps file is read by time (frame k = the source frame nearest k / 25 s, by hand:
    source 2k) and gives the 25 fps file's frames; INPUT.CLIP_FPS 0 indexes the 50 fps file's own frames."""
    fast = tmp_path / "fast.mp4"
    _grey_movie(fast, [i / 50 for i in range(100)], 50)  # level _level(i) at i / 50 s
    at25 = SparseVideo(str(fast), fps=25)
    assert at25.shape[0] == 50 and SparseVideo(str(fast)).shape[0] == 100
    idx = np.array([0, 7, 31, 49])
    assert _levels(at25[idx]) == [_level(2 * int(k)) for k in idx]
    assert _levels(SparseVideo(str(fast))[idx]) == [_level(int(k)) for k in idx]
    # the same scene recorded at 25 fps: frame k shows what the 50 fps file shows at k / 25 s
    slow_fixed = tmp_path / "slow.mp4"
    _grey_movie(slow_fixed, [k / 25 for k in range(50)], 25, levels=[_level(2 * k) for k in range(50)])

    cfg = get_cfg()
    cfg.merge_from_file(os.path.join(REPO_ROOT, "config_files", "classification", "synthetic_clips_tiny_quick.yaml"))
    cfg.INPUT.CLIP_FPS = 25.0
    transform = build_clip_transforms(cfg, is_train=False)
    rng = np.random.default_rng(0)
    a = transform(SparseVideo(str(fast), fps=transform.clip_fps), rng)
    b = transform(SparseVideo(str(slow_fixed), fps=transform.clip_fps), rng)
    for x, y in zip(a, b):
        torch.testing.assert_close(x, y, rtol=0, atol=0)
