"""tools/prepare_ava_videos.py on a raw movie made here: clip count, frame count, resampling, resume, errors."""

from __future__ import annotations

import os

import av
import numpy as np

from tools import prepare_ava_videos

SRC_FPS, SECONDS, STEP = 30, 7, 16


def _level(i: int) -> int:
    return (i % 15) * STEP  # source frame i is a flat grey of this level; neighbours differ by STEP


def _make_movie(path: str, width: int = 160, height: int = 120) -> None:
    with av.open(path, "w") as c:
        s = c.add_stream("mpeg4", rate=SRC_FPS)
        s.width, s.height, s.pix_fmt = width, height, "yuv420p"
        s.options = {"qscale": "2"}
        for i in range(SECONDS * SRC_FPS):
            img = np.full((height, width, 3), _level(i), np.uint8)
            for p in s.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                c.mux(p)
        for p in s.encode():
            c.mux(p)


def _frames(path: str) -> list[np.ndarray]:
    with av.open(path) as c:
        return [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]


def test_prepare_whole_video_resample_and_resume(tmp_path):
    raw = tmp_path / "raw"
    raw.mkdir()
    _make_movie(str(raw / "movie_a.avi"))
    out = tmp_path / "data"
    args = [str(raw), "--output-root", str(out), "--short-side", "64", "--no-progress"]
    assert prepare_ava_videos.main(args) == 0

    clips, keys = out / "clips" / "movie_a", out / "keyframes" / "movie_a"
    assert sorted(n for n in os.listdir(clips) if n.endswith(".mp4")) == sorted(f"{s}.mp4" for s in range(SECONDS))
    assert sorted(os.listdir(keys)) == [f"{s}.jpg" for s in range(SECONDS)]
    for s in range(SECONDS):
        frames = _frames(str(clips / f"{s}.mp4"))
        assert len(frames) == 25
        # 160x120 with the short side capped at 64: 64 x 85.3 -> even 86
        assert frames[0].shape == (64, 86, 3)
        # output frame k of second s shows the source frame nearest to time (25 s + k) / 25
        expected = [_level(int(round((25 * s + k) * SRC_FPS / 25))) for k in range(25)]
        got = [float(f.mean()) for f in frames]
        assert max(abs(g - e) for g, e in zip(got, expected)) < STEP / 2

    # resume: nothing to do; then a lost clip and a partial leftover are rewritten, the rest is kept
    mtime = os.path.getmtime(clips / "2.mp4")
    os.remove(clips / "4.mp4")
    (clips / ".4.mp4.part").write_bytes(b"partial")
    assert prepare_ava_videos.main(args) == 0
    assert len(_frames(str(clips / "4.mp4"))) == 25
    assert os.path.getmtime(clips / "2.mp4") == mtime
    assert not (clips / ".4.mp4.part").exists()


def test_prepare_second_range_parallel_and_error_log(tmp_path, capsys):
    raw = tmp_path / "raw"
    raw.mkdir()
    _make_movie(str(raw / "movie_a.avi"))
    (raw / "broken.mp4").write_bytes(b"this is not a video")
    out = tmp_path / "data"
    rc = prepare_ava_videos.main(
        [str(raw), "--output-root", str(out), "--start", "2", "--end", "4", "--workers", "2", "--no-progress"]
    )
    assert rc == 1
    assert sorted(n for n in os.listdir(out / "clips" / "movie_a") if n.endswith(".mp4")) == ["2.mp4", "3.mp4", "4.mp4"]
    frames = _frames(str(out / "clips" / "movie_a" / "3.mp4"))
    assert len(frames) == 25 and frames[0].shape == (120, 160, 3)  # no cap needed below 360
    log = (out / "logs" / "broken.err").read_text()
    assert "broken.mp4" in log and "cannot open video" in log
    assert "broken.mp4" in capsys.readouterr().err
    assert not (out / "logs" / "movie_a.err").exists()


def test_a_rerun_with_other_settings_is_refused_and_keeps_the_clips(tmp_path, capsys):
    raw = tmp_path / "raw"
    raw.mkdir()
    _make_movie(str(raw / "movie_a.avi"), width=64, height=48)
    out = tmp_path / "data"
    args = [str(raw), "--output-root", str(out), "--end", "2", "--no-progress"]
    assert prepare_ava_videos.main(args) == 0
    clip = out / "clips" / "movie_a" / "1.mp4"
    before = clip.read_bytes()
    capsys.readouterr()
    assert prepare_ava_videos.main(args + ["--fps", "30"]) == 1
    err = capsys.readouterr().err
    assert "cut with --fps 25 --short-side 360; this run asks for --fps 30 --short-side 360" in err
    assert "another --output-root" in err
    assert clip.read_bytes() == before and len(_frames(str(clip))) == 25
    assert prepare_ava_videos.main(args) == 0  # the same settings again: nothing to do, no error


def test_end_past_the_video_reports_the_seconds_it_wrote(tmp_path, capsys):
    raw = tmp_path / "raw"
    raw.mkdir()
    _make_movie(str(raw / "movie_a.avi"), width=64, height=48)  # 7 s
    out = tmp_path / "data"
    assert (
        prepare_ava_videos.main([str(raw), "--output-root", str(out), "--start", "2", "--end", "9", "--no-progress"])
        == 1
    )
    captured = capsys.readouterr()
    assert "5 second(s) written" in captured.out  # 2..6
    assert "ends before second 7 (asked for 2..9); 3 second(s) missing, 5 written" in captured.err


def test_a_range_rerun_lists_each_finished_second_once(tmp_path):
    from alphaction.data.prep.videos import prepare_video

    _make_movie(str(tmp_path / "movie.avi"))
    clips, keys = str(tmp_path / "clips"), str(tmp_path / "keyframes")
    first = prepare_video(str(tmp_path / "movie.avi"), clips, keys, start=1, end=4, short_side=64)
    assert first.written == [1, 2, 3, 4] and first.skipped == []
    os.remove(os.path.join(clips, "movie", "2.mp4"))
    again = prepare_video(str(tmp_path / "movie.avi"), clips, keys, start=1, end=4, short_side=64)
    assert again.written == [2] and sorted(again.skipped) == [1, 3, 4] and len(again.skipped) == 3
