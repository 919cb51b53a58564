"""tools/prepare_custom_dataset.py on tiny PyAV-made videos: label sources, hand-computed split counts, unreadable
files, --force, source files left in place, and lists that VideoListDataset loads."""

from __future__ import annotations

import csv
import hashlib
import os

import numpy as np
import pytest

from alphaction.config.paths_catalog import DatasetCatalog
from alphaction.data.datasets.clip_sources import VideoListDataset
from alphaction.data.datasets.clips import ClipViewTransform
from alphaction.data.prep.clip_lists import (
    DatasetPrepError,
    labels_from_csv,
    labels_from_parent,
    labels_from_prefix,
    sorted_class_names,
    split_samples,
)
from alphaction.data.video_io import write_clip
from alphaction.utils.errors import run_cli
from tools import prepare_custom_dataset

# grey level of each class's frames, so a loaded sample shows which video it came from
LEVEL = {"jump": 40, "run": 130, "walk": 220}


def _video(path, level):
    write_clip(str(path), np.full((3, 32, 32, 3), level, np.uint8))


def _digest(folder):
    """{relative path: sha1} of every file under ``folder``."""
    out = {}
    for d, _, files in os.walk(folder):
        for f in files:
            p = os.path.join(d, f)
            out[os.path.relpath(p, folder)] = hashlib.sha1(open(p, "rb").read()).hexdigest()
    return out


@pytest.fixture
def flat_videos(tmp_path):
    """walk x5, run x3, jump x1 named <class>_<i>.mp4, plus a corrupt mp4 and a text file."""
    src = tmp_path / "my videos"
    src.mkdir()
    for cls, n in (("walk", 5), ("run", 3), ("jump", 1)):
        for i in range(n):
            _video(src / f"{cls}_{i}.mp4", LEVEL[cls])
    (src / "walk_broken.mp4").write_bytes(b"this is not a video" * 10)
    (src / "notes.txt").write_text("not a video")
    return src


def _lines(path):
    return [line.rsplit(" ", 1) for line in open(path, encoding="utf-8").read().splitlines()]


def _dataset(catalog, name, num_classes=3):
    spec = DatasetCatalog.get(name, str(catalog))
    transforms = ClipViewTransform(False, 2, 1, 32, 64, [0, 0, 0], [1, 1, 1], tau=2, alpha=2)
    return VideoListDataset(
        spec["args"]["ann_file"],
        transforms,
        num_classes,
        video_root=spec["args"]["video_root"],
        class_index=spec["args"]["class_index"],
    )


# --- pure pieces ------------------------------------------------------------------------------------------------
def test_split_counts_worked_by_hand():
    labels = [0] * 10 + [1] * 5 + [2] * 1
    train, val = split_samples(labels, 0.3, stratify=True, seed=3)
    per_class = np.bincount(np.asarray(labels)[val], minlength=3).tolist()
    # 10 x 0.3 = 3; 5 x 0.3 = 1.5 -> 2 (halves round up); 1 x 0.3 = 0.3 -> 0 (and one must stay for training)
    assert per_class == [3, 2, 0]
    assert sorted(train + val) == list(range(16)) and not set(train) & set(val)
    # a one-video class at ratio 0.5 would give its only video away: it stays in training
    _, val = split_samples([0, 0, 1], 0.5, stratify=True)
    assert np.bincount(np.asarray([0, 0, 1])[val], minlength=2).tolist() == [1, 0]
    # not stratified: round(16 x 0.3 = 4.8) = 5 drawn from all; same seed, same split
    _, val = split_samples(labels, 0.3, stratify=False, seed=3)
    assert len(val) == 5 and val == split_samples(labels, 0.3, stratify=False, seed=3)[1]
    with pytest.raises(DatasetPrepError, match="val-ratio"):
        split_samples(labels, 1.0, stratify=False)


def test_prefix_and_parent_labels_and_class_order():
    assert labels_from_prefix(["a/walk_01.mp4", "run_2_x.avi"]) == {"a/walk_01.mp4": "walk", "run_2_x.avi": "run"}
    assert labels_from_prefix(["walk-1.mp4"], separator="-") == {"walk-1.mp4": "walk"}
    with pytest.raises(ValueError, match=r"(?s)2 video name.*walk1.mp4.*_run.mp4"):
        labels_from_prefix(["walk1.mp4", "_run.mp4", "ok_1.mp4"])
    assert labels_from_parent(["d/walk/1.mp4", "run/2.mp4"]) == {"d/walk/1.mp4": "walk", "run/2.mp4": "run"}
    with pytest.raises(ValueError, match="top.mp4"):
        labels_from_parent(["top.mp4", "run/2.mp4"])
    assert sorted_class_names(["10", "2", "1", "2"]) == ["1", "2", "10"]
    assert sorted_class_names(["walk", "Run", "jump"]) == ["Run", "jump", "walk"]


# --- the tool ---------------------------------------------------------------------------------------------------
def test_prefix_labels_stratified_split_and_lists_load(flat_videos, tmp_path, capsys):
    out = tmp_path / "prepared"
    before = _digest(flat_videos)
    rc = prepare_custom_dataset.main(
        [
            "--video-dir",
            str(flat_videos),
            "--output-dir",
            str(out),
            "--val-ratio",
            "0.4",
            "--stratify",
            "--name",
            "mine",
            "--no-progress",
        ]
    )
    assert rc == 1  # done, but the corrupt video was left out
    captured = capsys.readouterr()
    assert "SKIPPED walk_broken.mp4" in captured.err
    # the printed training command names the dataset's own output folder
    assert "OUTPUT_DIR data/output/mine" in captured.out
    ann = out / "annotations"
    assert open(ann / "class_index.txt").read() == "0 jump\n1 run\n2 walk\n"
    train, val = _lines(ann / "train_list.txt"), _lines(ann / "val_list.txt")
    # walk 5 x 0.4 = 2 val; run 3 x 0.4 = 1.2 -> 1; jump 1 -> 0 (its only video trains)
    assert len(val) == 3 and len(train) == 6
    index = {"jump": 0, "run": 1, "walk": 2}
    for path, label in train + val:  # the label is the file name's prefix
        assert int(label) == index[os.path.basename(path).split("_")[0]]
    summary = list(csv.DictReader(open(ann / "class_summary.csv")))
    assert [(r["class"], r["train"], r["val"]) for r in summary] == [
        ("jump", "1", "0"),
        ("run", "2", "1"),
        ("walk", "3", "2"),
    ]
    assert open(ann / "skipped_videos.txt").read().startswith("walk_broken.mp4\t")
    assert _digest(flat_videos) == before  # nothing under the source folder changed, nothing added
    ds = _dataset(out / "catalog.yaml", "mine_train")
    assert len(ds) == 6 and ds.class_names == ["jump", "run", "walk"]
    for i in range(len(ds)):  # each sample's frames have the grey level of its labelled class
        level = LEVEL[ds.class_names[ds.labels[i]]]
        assert abs(float(ds.read_frames(i).mean()) - level) < 4
    assert len(_dataset(out / "catalog.yaml", "mine_val")) == 3


def test_organize_by_class_links_and_copies_never_move_sources(flat_videos, tmp_path):
    before = _digest(flat_videos)
    links = tmp_path / "links"
    args = ["--video-dir", str(flat_videos), "--val-ratio", "0.4", "--stratify", "--organize-by-class", "--no-progress"]
    assert prepare_custom_dataset.main(args + ["--output-dir", str(links)]) == 1
    walk = links / "videos_train" / "walk"
    assert sorted(os.listdir(walk)) and all(os.path.islink(walk / f) for f in os.listdir(walk))
    for f in os.listdir(walk):
        assert os.path.samefile(walk / f, flat_videos / f)
    assert _lines(links / "annotations" / "train_list.txt")[0][0].startswith("jump/jump_0.mp4")
    ds = _dataset(links / "catalog.yaml", "links_val")
    assert abs(float(ds.read_frames(0).mean()) - LEVEL[ds.class_names[ds.labels[0]]]) < 4

    copies = tmp_path / "copies"
    assert prepare_custom_dataset.main(args + ["--output-dir", str(copies), "--copy-files"]) == 1
    copied = copies / "videos_val" / "walk"
    assert all(not os.path.islink(copied / f) for f in os.listdir(copied))
    assert {f: h for f, h in _digest(copied).items()} == {f: before[f] for f in os.listdir(copied)}
    assert _digest(flat_videos) == before


def test_existing_outputs_need_force_and_force_keeps_sources(flat_videos, tmp_path, capsys):
    out = tmp_path / "out"
    base = ["--video-dir", str(flat_videos), "--output-dir", str(out), "--no-progress"]
    assert prepare_custom_dataset.main(base + ["--organize-by-class", "--val-ratio", "0.4", "--stratify"]) == 1
    first = open(out / "annotations" / "train_list.txt").read()
    before = _digest(flat_videos)
    assert run_cli(prepare_custom_dataset.main, base + ["--val-ratio", "0.0"]) == 2
    assert "--force" in capsys.readouterr().err
    assert open(out / "annotations" / "train_list.txt").read() == first  # untouched
    # --force without --organize-by-class: the old link folders go, the videos they pointed to stay
    assert prepare_custom_dataset.main(base + ["--val-ratio", "0.0", "--force"]) == 1
    assert not (out / "videos_train").exists() and not (out / "videos_val").exists()
    assert len(_lines(out / "annotations" / "train_list.txt")) == 9
    assert open(out / "annotations" / "val_list.txt").read() == ""
    assert _digest(flat_videos) == before


def test_csv_labels_by_path_name_or_stem(tmp_path, caplog):
    src = tmp_path / "v"
    (src / "day1").mkdir(parents=True)
    for name, level in (("a.mp4", 40), ("day1/b.mp4", 130), ("c.mkv", 220), ("unlisted.mp4", 40)):
        _video(src / name, level)
    table = tmp_path / "labels.csv"
    table.write_text("filename,class\na.mp4,dark\nday1/b.mp4,mid\nc,bright\nmissing.mp4,dark\n")
    out = tmp_path / "out"
    rc = prepare_custom_dataset.main(
        [
            "--video-dir",
            str(src),
            "--output-dir",
            str(out),
            "--label-csv",
            str(table),
            "--video-col",
            "filename",
            "--label-col",
            "class",
            "--val-ratio",
            "0",
            "--no-progress",
        ]
    )
    assert rc == 1  # unlisted.mp4 has no row
    assert open(out / "annotations" / "class_index.txt").read() == "0 bright\n1 dark\n2 mid\n"
    assert sorted(map(tuple, _lines(out / "annotations" / "train_list.txt"))) == [
        ("a.mp4", "1"),
        ("c.mkv", "0"),
        ("day1/b.mp4", "2"),
    ]
    assert "unlisted.mp4\tno row in" in open(out / "annotations" / "skipped_videos.txt").read()
    assert "labels.csv:5: no video 'missing.mp4'" in caplog.text

    table.write_text("filename,class\na.mp4,dark\na,mid\n")  # the same video twice, two labels
    with pytest.raises(ValueError, match=r"labels.csv:3: a.mp4 labelled 'mid', but 'dark' on line 2"):
        labels_from_csv(str(table), "filename", "class", ["a.mp4"])
    assert (
        run_cli(
            prepare_custom_dataset.main,
            [
                "--video-dir",
                str(src),
                "--output-dir",
                str(tmp_path / "o2"),
                "--label-csv",
                str(table),
                "--label-col",
                "label",
            ],
        )
        == 2
    )


def test_output_folder_inside_the_video_folder_is_not_searched(flat_videos):
    out = flat_videos / "prepared"
    args = ["--video-dir", str(flat_videos), "--output-dir", str(out), "--organize-by-class", "--no-progress"]
    assert prepare_custom_dataset.main(args) == 1
    first = open(out / "annotations" / "train_list.txt").read()
    assert prepare_custom_dataset.main(args + ["--force"]) == 1  # the links of the first run are not new videos
    assert open(out / "annotations" / "train_list.txt").read() == first
    assert len(first.splitlines()) + len(open(out / "annotations" / "val_list.txt").read().splitlines()) == 9


def test_prepared_catalog_trains_and_tests_with_train_net(tmp_path):
    import cv2

    import train_net
    from alphaction.engine.defaults import REPO_ROOT

    src = tmp_path / "videos"
    src.mkdir()
    for cls in LEVEL:
        for i in range(3):
            write_clip(str(src / f"{cls}_{i}.mp4"), np.full((8, 32, 32, 3), LEVEL[cls], np.uint8))
    data = tmp_path / "my_set"
    assert (
        prepare_custom_dataset.main(
            ["--video-dir", str(src), "--output-dir", str(data), "--val-ratio", "0.34", "--stratify", "--no-progress"]
        )
        == 0
    )
    quick = os.path.join(REPO_ROOT, "config_files", "classification", "thermal_tiny_quick.yaml")
    out = tmp_path / "train"
    results = train_net.main(
        [
            "--config-file",
            quick,
            "OUTPUT_DIR",
            str(out),
            "DATASETS.CATALOG",
            str(data / "catalog.yaml"),
            "DATASETS.TRAIN",
            '("my_set_train",)',
            "DATASETS.TEST",
            '("my_set_val",)',
            "MODEL.CLIP_HEAD.NUM_CLASSES",
            "3",
            "SOLVER.MAX_ITER",
            "2",
            "SOLVER.VIDEOS_PER_BATCH",
            "3",
            "TEST.VIDEOS_PER_BATCH",
            "3",
        ]
    )
    assert 0.0 <= results["my_set_val"]["top1"] <= 1.0
    folder = out / "inference" / "my_set_val"
    rows = list(csv.reader(open(folder / "confusion_matrix.csv")))
    assert [r[0] for r in rows[1:]] == ["jump", "run", "walk"]  # names from the written class index
    assert sum(int(v) for r in rows[1:] for v in r[1:]) == 3  # 3 x 0.34 = 1.02 -> one val video per class
    assert cv2.imread(str(folder / "confusion_matrix.png")).shape == (24 + 120 + 3 * 40 + 8,) * 2 + (3,)


def test_the_split_is_stratified_by_default_and_an_empty_class_is_warned_about(flat_videos, tmp_path, capsys):
    # jump has one video: a stratified split keeps it for training (and says it has no validation video)
    out = tmp_path / "default"
    prepare_custom_dataset.main(
        ["--video-dir", str(flat_videos), "--output-dir", str(out), "--val-ratio", "0.4", "--no-progress"]
    )
    captured = capsys.readouterr()
    train = _lines(out / "annotations" / "train_list.txt")
    assert any(path.startswith("jump") for path, _ in train)
    assert "warning: class 'jump' has no validation video (1 train, 0 val)" in captured.err
    assert "jump" in captured.out and "train" in captured.out  # the per-class table
    # --no-stratify draws from all: whichever class is left without training videos is named
    for seed in range(20):
        out = tmp_path / f"flat{seed}"
        prepare_custom_dataset.main(
            [
                "--video-dir",
                str(flat_videos),
                "--output-dir",
                str(out),
                "--val-ratio",
                "0.4",
                "--no-stratify",
                "--seed",
                str(seed),
                "--no-progress",
            ]
        )
        err = capsys.readouterr().err
        trained = {path.split("_")[0] for path, _ in _lines(out / "annotations" / "train_list.txt")}
        if "jump" not in trained:
            assert "warning: class 'jump' has no training video (0 train, 1 val): it cannot be learned" in err
            break
    else:
        pytest.fail("no seed put the only jump video into validation")


def _doc_blocks(name: str) -> list[str]:
    import re

    from alphaction.engine.defaults import REPO_ROOT

    text = open(os.path.join(REPO_ROOT, "docs", name), encoding="utf-8").read()
    return re.findall(r"```bash\n(.*?)```", text, re.S)


def _commands(block: str) -> list[list[str]]:
    """The commands of a bash block: continuations joined, comments dropped, split as the shell would."""
    import shlex

    joined = block.replace("\\\n", " ")
    return [shlex.split(line) for line in joined.splitlines() if line.strip() and not line.lstrip().startswith("#")]


def test_the_classification_walk_of_the_docs_runs_as_written(tmp_path, monkeypatch, capsys):
    """docs/CLASSIFICATION.md as a user follows it, in a fresh folder: prepare (the first command of section 1,
    on 5 classes of videos), the training command the tool prints (which the docs quote word for word), then
    section 5's inference on new videos with the run's own config.yaml. Only the schedule is shortened."""
    import train_net
    from alphaction.engine.defaults import REPO_ROOT
    from tools import inference_videos

    monkeypatch.chdir(tmp_path)
    videos = tmp_path / "path" / "to" / "videos"
    videos.mkdir(parents=True)
    classes = {"crawl": 20, "jump": 70, "run": 120, "swim": 170, "walk": 220}
    for name, level in classes.items():
        for i in range(5):
            write_clip(str(videos / f"{name}_{i:03d}.mp4"), np.full((8, 32, 32, 3), level, np.uint8))

    prepare = next(
        c
        for b in _doc_blocks("CLASSIFICATION.md")
        for c in _commands(b)
        if c[:2] == ["python", "tools/prepare_custom_dataset.py"]
    )
    args = [a.replace("/path/to/videos", str(videos)) for a in prepare[2:]]
    assert prepare_custom_dataset.main(args + ["--no-progress"]) == 0
    printed = capsys.readouterr().out.split("Train with:\n")[1].strip()
    quoted = [b.strip() for b in _doc_blocks("CLASSIFICATION.md") if b.startswith("python train_net.py")]
    assert printed in quoted  # the docs quote exactly what the tool prints

    train = _commands(printed)[0]
    config = os.path.join(REPO_ROOT, train[3])  # the repository's config, from this fresh folder
    results = train_net.main(
        [
            train[2],
            config,
            *train[4:],
            "SOLVER.MAX_ITER",
            "2",
            "SOLVER.VIDEOS_PER_BATCH",
            "2",
            "TEST.VIDEOS_PER_BATCH",
            "2",
            "SOLVER.EVAL_PERIOD",
            "0",
        ]
    )
    assert 0.0 <= results["my_dataset_val"]["top1"] <= 1.0
    run = tmp_path / "data" / "output" / "my_dataset"
    assert (run / "model_final.pth").is_file() and (run / "config.yaml").is_file()

    infer = next(
        c
        for b in _doc_blocks("CLASSIFICATION.md")
        for c in _commands(b)
        if c[:2] == ["python", "tools/inference_videos.py"]
    )
    new = tmp_path / "path" / "to" / "new_videos"
    new.mkdir()
    write_clip(str(new / "clip.mp4"), np.full((8, 32, 32, 3), 120, np.uint8))
    argv = [a.replace("/path/to/new_videos", str(new)).replace("model_best.pth", "model_final.pth") for a in infer[2:]]
    assert inference_videos.main(argv + ["--cpu"]) == 0
    rows = list(csv.reader(open(tmp_path / "predictions.csv")))
    assert rows[1][0] == "clip.mp4" and rows[1][1] in classes
