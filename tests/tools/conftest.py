"""Fixtures for the dataset-preparation tools: the tiny synthetic dataset, made once per session."""
from __future__ import annotations

import os

import av
import pytest


def _concat_clips(clip_dir, out_path, fps: int = 25) -> int:
    """The per-second clips of one synthetic video as one raw H.264 movie (what a user starts from);
    returns the frame count."""
    seconds = sorted(int(p.split(".")[0]) for p in os.listdir(clip_dir) if p.endswith(".mp4"))
    frames = []
    for s in seconds:
        with av.open(os.path.join(clip_dir, f"{s}.mp4")) as c:
            frames += [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
    with av.open(str(out_path), "w") as c:
        st = c.add_stream("libx264", rate=fps)
        st.height, st.width, st.pix_fmt = frames[0].shape[0], frames[0].shape[1], "yuv420p"
        for f in frames:
            for p in st.encode(av.VideoFrame.from_ndarray(f, format="rgb24")):
                c.mux(p)
        for p in st.encode():
            c.mux(p)
    return len(frames)


@pytest.fixture(scope="session")
def concat_clips():
    """``concat_clips(clip_dir, out_path, fps=25) -> frame count``."""
    return _concat_clips

