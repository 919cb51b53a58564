"""Frame-window decoding: which frames are taken, edge repetition, errors."""

from __future__ import annotations

import os

import numpy as np
import pytest

from alphaction.data.video_io import (
    CorruptClipError,
    MissingClipError,
    VideoDecodeError,
    clip_path,
    decode_window,
    write_clip,
)

H, W = 48, 64


def index_frame(g: int) -> np.ndarray:
    """A frame whose flat top and bottom halves encode the global frame index ``g`` (< 64)."""
    f = np.zeros((H, W, 3), np.uint8)
    f[: H // 2] = (g // 8) * 30 + 15
    f[H // 2 :] = (g % 8) * 30 + 15
    return f


def read_index(frame: np.ndarray) -> int:
    top = int(round((float(frame[H // 4, W // 2].mean()) - 15) / 30))
    bottom = int(round((float(frame[3 * H // 4, W // 2].mean()) - 15) / 30))
    return top * 8 + bottom


def make_video(root, video_id: str, counts: list[int], first_second: int = 0) -> list[int]:
    """Clips ``first_second, first_second + 1, ...`` with ``counts[i]`` frames; returns each clip's first index."""
    starts, g = [], 0
    for i, n in enumerate(counts):
        starts.append(g)
        write_clip(
            clip_path(str(root), video_id, first_second + i), np.stack([index_frame(g + j) for j in range(n)]), fps=n
        )
        g += n
    return starts


def expected_indices(counts, starts, clip_offset, frame_num, rate):
    """Independent reference: the window is the clamped run of global indices around the keyframe."""
    total = sum(counts)
    key = starts[clip_offset]
    span = frame_num * rate
    pos = (rate - 1) // 2 + rate * np.arange(frame_num)
    return np.clip(key + pos - span // 2, 0, total - 1).tolist()


COUNTS = [6, 7, 6, 6, 5]  # real per-clip frame counts differ; the decoder must not assume 25


@pytest.fixture(scope="module")
def video(tmp_path_factory):
    root = tmp_path_factory.mktemp("clips")
    starts = make_video(root, "vid", COUNTS, first_second=10)
    return str(root), starts


@pytest.mark.parametrize("second", [10, 11, 12, 13, 14])
@pytest.mark.parametrize("frame_num,rate", [(8, 2), (4, 1), (4, 3), (16, 2), (1, 4)])  # (1, 4): left side only
def test_window_indices(video, second, frame_num, rate):
    root, starts = video
    frames = decode_window(root, "vid", second, frame_num, rate)
    assert frames.dtype == np.uint8 and frames.shape == (frame_num, H, W, 3)
    got = [read_index(f) for f in frames]
    assert got == expected_indices(COUNTS, starts, second - 10, frame_num, rate)


def test_edges_repeat_first_and_last_frame(video):
    root, starts = video
    first = [read_index(f) for f in decode_window(root, "vid", 10, 8, 2)]
    assert first[:4] == [0, 0, 0, 0] and first[4] == 0 and first[5] == 2  # keyframe at index 4
    last = [read_index(f) for f in decode_window(root, "vid", 14, 8, 2)]
    total = sum(COUNTS)
    assert last[4] == starts[4] and last[-1] == total - 1 and last[-2] == total - 1


def test_resize_while_decoding(video):
    root, starts = video
    frames = decode_window(root, "vid", 12, 4, 2, size=(24, 32))
    assert frames.shape == (4, 24, 32, 3)


def test_missing_centre_clip_names_path_and_annotation(video):
    root, _ = video
    with pytest.raises(MissingClipError) as err:
        decode_window(root, "vid", 20, 4, 2)
    msg = str(err.value)
    assert os.path.join(root, "vid", "20.mp4") in msg and "'vid'" in msg and "timestamp=20" in msg
    assert isinstance(err.value, VideoDecodeError) and isinstance(err.value, FileNotFoundError)
    assert err.value.video_id == "vid" and err.value.timestamp == 20


def test_corrupt_clip(tmp_path):
    make_video(tmp_path, "v", [5, 5, 5])
    bad = clip_path(str(tmp_path), "v", 1)
    with open(bad, "wb") as f:
        f.write(b"\x00\x01 not an mp4 at all" * 20)
    with pytest.raises(CorruptClipError) as err:
        decode_window(str(tmp_path), "v", 1, 4, 1)
    assert bad in str(err.value) and "timestamp=1" in str(err.value)
    # a corrupt neighbour is an error too, naming the neighbour and the annotation that needed it
    with pytest.raises(VideoDecodeError) as err:
        decode_window(str(tmp_path), "v", 2, 4, 2)
    assert bad in str(err.value) and "timestamp=2" in str(err.value)
