"""Phone videos store landscape pixels and a display rotation: every reader shows them upright, as a player does
(preparation, the demo, the API / classification reader, the dataset's clip decoder)."""

from __future__ import annotations

import av
import cv2
import numpy as np
import pytest

from alphaction.apis.demo import read_video as read_demo_video
from alphaction.data.datasets.clip_sources import read_video as read_clip_video
from alphaction.data.prep.videos import prepare_video
from alphaction.data.video_io import decode_window

CODED_H, CODED_W = 48, 64


def _rotated_video(path, degrees: int, seconds: int = 2):
    """A white marker in the coded picture's top-left corner; the container says: turn it ``degrees`` CCW."""
    frames = np.zeros((25 * seconds, CODED_H, CODED_W, 3), np.uint8)
    frames[:, :12, :20] = 255
    with av.open(str(path), "w") as c:
        st = c.add_stream("libx264", rate=25)
        st.width, st.height, st.pix_fmt = CODED_W, CODED_H, "yuv420p"
        st.set_display_rotation(degrees)
        for f in frames:
            for p in st.encode(av.VideoFrame.from_ndarray(f, format="rgb24")):
                c.mux(p)
        for p in st.encode():
            c.mux(p)


def _upright_marker(degrees: int) -> np.ndarray:
    """Where the marker is when shown: the coded picture turned ``degrees`` counter-clockwise, by hand."""
    coded = np.zeros((CODED_H, CODED_W), bool)
    coded[:12, :20] = True
    return np.rot90(coded, degrees // 90 % 4)


@pytest.mark.parametrize("degrees", [90, -90, 180])
def test_every_reader_shows_the_video_upright(tmp_path, degrees):
    video = tmp_path / "phone.mp4"
    _rotated_video(video, degrees)
    expected = _upright_marker(degrees)
    frames, orig = read_demo_video(str(video), fps=25, short_side=0)
    assert orig == expected.shape
    for name, picture in (("demo", frames[0]), ("classification / API", read_clip_video(str(video))[0])):
        assert picture.shape[:2] == expected.shape, name
        np.testing.assert_array_equal(picture[..., 0] > 128, expected, err_msg=name)
    # preparation writes upright clips and keyframes; the dataset decoder reads them as they are
    prepare_video(str(video), str(tmp_path / "clips"), str(tmp_path / "keyframes"), short_side=0)
    keyframe = cv2.imread(str(tmp_path / "keyframes" / "phone" / "0.jpg"))
    np.testing.assert_array_equal(keyframe[..., 0] > 128, expected)
    window = decode_window(str(tmp_path / "clips"), "phone", 1, 4, 2)
    np.testing.assert_array_equal(window[0][..., 0] > 128, expected)
    # a clip that still carries its rotation is read upright by the dataset decoder too
    (tmp_path / "raw" / "phone").mkdir(parents=True)
    _rotated_video(tmp_path / "raw" / "phone" / "1.mp4", degrees, seconds=1)
    raw = decode_window(str(tmp_path / "raw"), "phone", 1, 4, 2)
    np.testing.assert_array_equal(raw[0][..., 0] > 128, expected)
