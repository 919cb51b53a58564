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


@pytest.fixture
def labelling_set(tmp_path):
    """Keyframes and a label map for the labelling tests: ``(keyframe_root, labelmap_path)``.

    ``vidA`` seconds 0, 1, 2, 4 (320x240; 0 and 1 of one shot, 2 of another: a scene cut; 3 missing: a gap) and
    ``vidB`` seconds 5, 6 (200x100). The label map's ids are not 1..K and its names hold spaces and a slash.
    """
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    root = tmp_path / "keyframes"
    shots = {
        ("vidA", 0): (40, 60, 200),
        ("vidA", 1): (40, 60, 200),
        ("vidA", 2): (220, 40, 30),
        ("vidA", 4): (220, 40, 30),
        ("vidB", 5): (30, 200, 40),
        ("vidB", 6): (30, 200, 40),
    }
    for (video, second), colour in shots.items():
        (root / video).mkdir(parents=True, exist_ok=True)
        size = (240, 320) if video == "vidA" else (100, 200)
        img = np.clip(np.array(colour) + rng.integers(-20, 20, (*size, 3)), 0, 255).astype(np.uint8)
        Image.fromarray(img).save(root / video / f"{second}.jpg", quality=95)
    labelmap = tmp_path / "action_list.pbtxt"
    labelmap.write_text(
        'item {\n  name: "stand"\n  id: 1\n}\nitem {\n  name: "walk"\n  id: 2\n}\n'
        'item {\n  name: "talk to (e.g., self, a person, a group)"\n  id: 5\n}\n'
        'item {\n  name: "carry/hold (an object)"\n  id: 7\n}\n'
    )
    return root, labelmap
