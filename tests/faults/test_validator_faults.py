"""tools/validate_dataset.py on broken datasets: it decodes the clips the windows need, reads the ground-truth CSV,
and reports malformed annotation files, never passing them (exit 1) and never with a traceback."""

from __future__ import annotations

import json

import av
import numpy as np
import pytest

from tools import validate_dataset


@pytest.fixture
def dataset(registered_copy):
    return registered_copy


def _run(catalog, capsys, *extra):
    rc = validate_dataset.main(["mine_train", "--catalog", catalog, "--frame-num", "32", "--sample-rate", "2", *extra])
    out = capsys.readouterr()
    assert "Traceback" not in out.err
    return rc, out.out


def test_the_clean_dataset_passes_and_its_clips_are_decoded(dataset, capsys):
    rc, out = _run(dataset[1], capsys)
    assert rc == 0, out
    assert "clips decoded" in out and "ground-truth rows" in out


@pytest.mark.parametrize("damage", ["truncated", "random bytes"])
def test_a_clip_that_does_not_decode_fails(dataset, capsys, damage):
    root, catalog = dataset
    clip = root / "clips" / "syn_train_000" / "2.mp4"
    data = clip.read_bytes()
    clip.write_bytes(data[: len(data) // 3] if damage == "truncated" else np.random.default_rng(0).bytes(len(data)))
    rc, out = _run(catalog, capsys)
    assert rc == 1 and "undecodable clips" in out and "syn_train_000/2.mp4" in out


def test_a_window_reaching_into_a_short_clip_is_reported(dataset, capsys):
    root, catalog = dataset
    clip = root / "clips" / "syn_train_000" / "4.mp4"  # the last second, cut to one frame
    with av.open(str(clip)) as c:
        first = next(c.decode(video=0)).to_ndarray(format="rgb24")
    with av.open(str(clip), "w") as c:
        st = c.add_stream("libx264", rate=25)
        st.height, st.width, st.pix_fmt = first.shape[0], first.shape[1], "yuv420p"
        for packet in [*st.encode(av.VideoFrame.from_ndarray(first, format="rgb24")), *st.encode()]:
            c.mux(packet)
    rc, out = _run(catalog, capsys)
    assert "windows reaching into a short clip" in out and "4.mp4, which has 1 of" in out


@pytest.mark.parametrize(
    "content, message",
    [
        ([], "expected a COCO-style object"),
        ({"images": []}, '"images" is empty'),
        ({"annotations": []}, "expected a COCO-style object"),
    ],
)
def test_malformed_annotation_files_fail(dataset, capsys, content, message):
    root, catalog = dataset
    (root / "annotations" / "train.json").write_text(json.dumps(content))
    rc, out = _run(catalog, capsys)
    assert rc == 1 and message in out


def test_an_image_entry_without_width_is_named(dataset, capsys):
    root, catalog = dataset
    ann = root / "annotations" / "train.json"
    data = json.loads(ann.read_text())
    del data["images"][3]["width"]
    ann.write_text(json.dumps(data))
    rc, out = _run(catalog, capsys)
    assert rc == 1 and "images[3]" in out and "lacks width" in out


def test_the_ground_truth_csv_is_read(dataset, capsys):
    root, catalog = dataset
    gt = root / "annotations" / "train.csv"
    lines = gt.read_text().splitlines()
    video, second = lines[0].split(",")[:2]
    lines[1] = f"{video},{second},0.5,0.1,0.2,0.9,1,0"  # x1 > x2
    lines[2] = f"{video},{second},0.1,0.1,0.2,0.9,99,0"  # not in the label map
    gt.write_text("\n".join(lines) + "\n")
    rc, out = _run(catalog, capsys)
    assert rc == 1 and "ground-truth CSV" in out
    assert "train.csv:2: box 0.5,0.1,0.2,0.9" in out and "train.csv:3: action id 99 is not in the label map" in out
