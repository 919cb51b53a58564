"""docs/LABELLING.md as written: every command of its ```bash blocks in order, in a fresh folder holding raw movies
(the tiny synthetic train videos), a label map and a CSV of person boxes, with a labeller simulated between export
and import (ticking the synthetic ground truth's actions by name, in VIA and in CVAT). Then the first round's
model pre-ticks the second round: exactly the actions detect_actions scores above the threshold.

Substitutions, and why: YOUR_CONFIG.yaml is the quick CPU schedule; the detector-boxes export line is skipped (it is
the alternative to the CSV of boxes, and its flags are checked by test_doc_commands.py)."""

from __future__ import annotations

import csv
import json
import os
import re
import shlex
import shutil
import xml.etree.ElementTree as ET

import numpy as np
from PIL import Image

import train_net
from alphaction.engine.defaults import REPO_ROOT
from tools import ava_csv_to_coco, export_for_labelling, import_labels, prepare_ava_videos, validate_dataset

QUICK = os.path.join(REPO_ROOT, "config_files", "quick_schedules", "synthetic_tiny_r14.yaml")


def _doc():
    text = open(os.path.join(REPO_ROOT, "docs", "LABELLING.md"), encoding="utf-8").read()
    commands = [
        shlex.split(line)
        for block in re.findall(r"```bash\n(.*?)```", text, re.S)
        for line in block.replace("\\\n", " ").splitlines()
        if line.startswith("python ")
    ]
    catalog = re.search(r"```yaml\n(my_videos_train:.*?)```", text, re.S).group(1)
    return commands, catalog


def _labelmap(path) -> dict[int, str]:
    text = open(path).read()
    return {int(i): n for n, i in re.findall(r'name:\s*"([^"]+)"\s*id:\s*(\d+)', text)}


def _truth(gt_csv) -> dict[tuple, set[int]]:
    """``{(video, second, box as 3-decimal strings): action ids}`` of the ground-truth CSV."""
    out: dict[tuple, set[int]] = {}
    for r in csv.reader(open(gt_csv)):
        out.setdefault((r[0], int(r[1]), tuple(r[2:6])), set()).add(int(r[6]))
    return out


def _key(name: str, box_px, root) -> tuple:
    """The ground-truth key of a box in keyframe pixels (normalised by the keyframe, 3 decimals)."""
    video, file = name.split("/")
    w, h = Image.open(root / video / file).size
    x1, y1, x2, y2 = box_px
    return video, int(file.split(".")[0]), tuple("%.3f" % v for v in (x1 / w, y1 / h, x2 / w, y2 / h))


def _label_via(path, truth, names, root):
    """What a labeller does in VIA: tick, on each box, the options named as its true actions."""
    p = json.loads(open(path).read())
    aid = next(a for a, spec in p["attribute"].items() if spec["type"] == 2)
    option = {n: o for o, n in p["attribute"][aid]["options"].items()}
    for m in p["metadata"].values():
        fname = p["file"][p["view"][m["vid"]]["fid_list"][0]]["fname"]
        x, y, w, h = m["xy"][1:]
        m["av"][aid] = ",".join(option[names[a]] for a in sorted(truth[_key(fname, (x, y, x + w, y + h), root)]))
    open(path, "w").write(json.dumps(p))


def _label_cvat(path, truth, names, root):
    """What a labeller does in CVAT: set the checkboxes of each box's true actions to true."""
    tree = ET.parse(path)
    for image in tree.getroot().findall("image"):
        for box in image.findall("box"):
            key = _key(image.get("name"), [float(box.get(k)) for k in ("xtl", "ytl", "xbr", "ybr")], root)
            wanted = {names[a] for a in truth[key]}
            for a in box.findall("attribute"):
                if a.get("name") in wanted:
                    a.text = "true"
    tree.write(path, encoding="utf-8", xml_declaration=True)


def _ticks(path, root) -> dict[tuple, set[str]]:
    """``{ground-truth key: ticked option names}`` of a VIA project."""
    p = json.loads(open(path).read())
    aid = next(a for a, spec in p["attribute"].items() if spec["type"] == 2)
    options = p["attribute"][aid]["options"]
    out = {}
    for m in p["metadata"].values():
        fname = p["file"][p["view"][m["vid"]]["fid_list"][0]]["fname"]
        x, y, w, h = m["xy"][1:]
        out[_key(fname, (x, y, x + w, y + h), root)] = {options[o] for o in m["av"][aid].split(",") if o}
    return out


def test_labelling_doc_runs_as_written(tiny_root, tmp_path, monkeypatch, capsys, concat_clips):
    monkeypatch.chdir(tmp_path)
    data = tmp_path / "data" / "my_videos"
    (data / "raw").mkdir(parents=True)
    (data / "annotations").mkdir()
    (data / "boxes").mkdir()
    gt = tiny_root / "annotations" / "train.csv"
    videos = sorted({r[0] for r in csv.reader(open(gt))})
    for vid in videos:
        concat_clips(tiny_root / "clips" / vid, data / "raw" / f"{vid}.mp4")
    shutil.copy(tiny_root / "annotations" / "action_list.pbtxt", data / "annotations" / "action_list.pbtxt")
    truth = _truth(gt)
    with open(data / "boxes" / "persons.csv", "w") as f:  # the boxes a user has, without actions or ids
        f.write("video_id,timestamp,x1,y1,x2,y2\n")
        f.writelines(f"{v},{s:04d},{','.join(b)}\n" for v, s, b in truth)
    names = _labelmap(data / "annotations" / "action_list.pbtxt")
    commands, catalog = _doc()

    ran, imported = [], []
    tools = {
        "tools/prepare_ava_videos.py": prepare_ava_videos,
        "tools/export_for_labelling.py": export_for_labelling,
        "tools/import_labels.py": import_labels,
        "tools/ava_csv_to_coco.py": ava_csv_to_coco,
        "tools/validate_dataset.py": validate_dataset,
    }
    for cmd in commands:
        script, argv = cmd[1], cmd[2:]
        if script == "tools/export_for_labelling.py" and "--ann-file" in argv:
            continue  # the detector-boxes alternative
        if script == "tools/prepare_ava_videos.py":
            argv = argv + ["--no-progress"]
        if script == "tools/import_labels.py":
            project = argv[0]
            (_label_via if project.endswith(".json") else _label_cvat)(project, truth, names, data / "keyframes")
        if script == "tools/validate_dataset.py":
            (data / "catalog.yaml").write_text(catalog)
        if script == "train_net.py":
            argv = [QUICK if a == "YOUR_CONFIG.yaml" else a for a in argv]
            train_net.main(argv)
        else:
            assert tools[script].main(argv) == 0, (cmd, capsys.readouterr())
        if script == "tools/import_labels.py":
            imported.append(open(argv[argv.index("--output") + 1]).read())
        ran.append(script)
    assert ran == [
        "tools/prepare_ava_videos.py",
        "tools/export_for_labelling.py",
        "tools/export_for_labelling.py",
        "tools/import_labels.py",
        "tools/import_labels.py",
        "tools/ava_csv_to_coco.py",
        "tools/validate_dataset.py",
        "train_net.py",
        "tools/export_for_labelling.py",
    ]

    # the imported CSV holds the ground truth's boxes and actions; VIA and CVAT give the same file
    assert len(imported) == 2 and imported[0] == imported[1]
    rows = [r for r in csv.reader(imported[0].splitlines())]
    assert {(r[0], int(r[1]), tuple(r[2:6]), int(r[6])) for r in rows} == {
        (*k, a) for k, actions in truth.items() for a in actions
    }
    person = {}
    for r in rows:  # one person id per box, none twice in a keyframe
        person.setdefault((r[0], r[1], tuple(r[2:6])), set()).add(r[7])
    assert all(len(p) == 1 for p in person.values())
    per_keyframe = {}
    for (v, s, _), p in person.items():
        per_keyframe.setdefault((v, s), []).append(p.pop())
    assert all(len(ids) == len(set(ids)) for ids in per_keyframe.values())

    out = data.parent / "output" / "my_videos_round1"
    assert (out / "model_final.pth").is_file()
    _model_assisted_ticks_are_the_scores_above_the_threshold(data, out, names)


def _model_assisted_ticks_are_the_scores_above_the_threshold(data, out, names):
    """Round 2 (the doc's threshold, then one that splits the scores): the ticked actions are exactly those
    detect_actions, called here on each raw video with the persons' boxes, scores above the threshold."""
    from alphaction.apis import detect_actions, init_model

    model = init_model(str(out / "config.yaml"), str(out / "model_final.pth"))
    root = data / "keyframes"
    boxes: dict[str, dict[int, list]] = {}
    for r in list(csv.reader(open(data / "boxes" / "persons.csv")))[1:]:
        boxes.setdefault(r[0], {}).setdefault(int(r[1]), []).append(tuple(r[2:6]))
    scores = {}
    for video, seconds in boxes.items():
        w, h = Image.open(root / video / "0.jpg").size  # the movies are smaller than 360 px: not resized
        pixels = {
            s: np.array(
                [[float(b[0]) * w, float(b[1]) * h, float(b[2]) * w, float(b[3]) * h] for b in bs], dtype=np.float32
            )
            for s, bs in seconds.items()
        }
        for result in detect_actions(model, str(data / "raw" / f"{video}.mp4"), boxes=pixels):
            for b, probs in zip(seconds.get(result["second"], []), result["scores"]):
                scores[(video, result["second"], b)] = np.asarray(probs)
    assert set(scores) == set(_ticks(data / "labelling" / "round2_via.json", root))
    values = np.sort(np.concatenate(list(scores.values())))
    middle = len(values) // 2
    for threshold, project in (
        (0.5, data / "labelling" / "round2_via.json"),
        ((values[middle - 1] + values[middle]) / 2, data / "labelling" / "round2_mid.json"),
    ):
        if project.name == "round2_mid.json":
            assert (
                export_for_labelling.main(
                    [
                        "--keyframe-root",
                        str(root),
                        "--boxes",
                        str(data / "boxes" / "persons.csv"),
                        "--labelmap",
                        str(data / "annotations" / "action_list.pbtxt"),
                        "--model",
                        str(out / "config.yaml"),
                        str(out / "model_final.pth"),
                        "--threshold",
                        repr(float(threshold)),
                        "--video-root",
                        str(data / "raw"),
                        "--output",
                        str(project),
                    ]
                )
                == 0
            )
        expected = {
            k: {names[c + 1] for c in range(len(p)) if p[c] > threshold and c + 1 in names} for k, p in scores.items()
        }
        assert _ticks(project, root) == expected
    assert 0 < sum(len(t) for t in expected.values()) < len(values)  # the split threshold ticks some, not all
