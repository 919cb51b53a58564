"""The in-memory path of inference(): same number as the CLI on the result.csv it writes."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from alphaction.engine.evaluate_detection import inference, merge_predictions
from alphaction.evaluation.ava import AvaColumns, frame_map, write_csv
from alphaction.evaluation.ava.__main__ import main as cli_main

ACTIONS = {1: "stand", 2: "sit", 3: "walk", 4: "talk", 6: "watch"}  # 5 is not evaluated


class FakeModel(torch.nn.Module):
    """Random float32 probabilities per box, with the GT class boosted; deterministic per clip."""

    def forward(self, slow, fast, boxes, image_sizes, objects=None):
        out = []
        for b in boxes:
            g = torch.Generator().manual_seed(int(b.sum().item() * 1000))
            out.append(torch.rand(len(b), 6, generator=g))
        return out


def _dataset(tmp_path, seed=0):
    rng = np.random.default_rng(seed)
    samples, gt = [], []
    for index in range(23):
        vid, ts = f"v{index % 3}", 900 + index
        n = int(rng.integers(0, 4))
        xy = rng.uniform(0, 50, (n, 2))
        boxes = np.concatenate([xy, xy + rng.uniform(10, 40, (n, 2))], axis=1).astype(np.float32)
        for box in boxes:
            for action in rng.choice([1, 2, 3, 4, 5, 6], size=2, replace=False):
                gt.append((vid, ts, box[0] / 100, box[1] / 80, box[2] / 100, box[3] / 80, int(action), 1))
        samples.append(
            {
                "boxes": torch.from_numpy(boxes),
                "image_size": (80, 100),
                "video_id": vid,
                "timestamp": ts,
                "index": index,
            }
        )
    write_csv(tmp_path / "gt.csv", gt)
    (tmp_path / "map.pbtxt").write_text("".join(f'item {{\n  name: "{n}"\n  id: {i}\n}}\n' for i, n in ACTIONS.items()))
    return samples


def _loader(samples, batch_size=4):
    class Loader(list):
        dataset = samples

    batches = Loader()
    for i in range(0, len(samples), batch_size):
        part = samples[i : i + batch_size]
        batches.append(
            {
                "slow": torch.zeros(len(part), 3, 1, 2, 2),
                "fast": torch.zeros(len(part), 3, 1, 2, 2),
                "boxes": [s["boxes"] for s in part],
                "image_sizes": [s["image_size"] for s in part],
                "video_ids": [s["video_id"] for s in part],
                "timestamps": [s["timestamp"] for s in part],
                "indices": [s["index"] for s in part],
                "objects": [torch.zeros(0, 4) for _ in part],
            }
        )
    return batches


def test_cli_on_result_csv_equals_the_in_memory_map(tmp_path, capsys):
    samples = _dataset(tmp_path)
    eval_files = {"csv_gt_file": str(tmp_path / "gt.csv"), "labelmap_file": str(tmp_path / "map.pbtxt")}
    metrics = inference(
        FakeModel(),
        _loader(samples),
        "fake",
        torch.device("cpu"),
        str(tmp_path / "out"),
        eval_files,
        action_thresh=0.05,
        class_groups={"pose": [1, 2, 3], "object": [4, 5], "interaction": [6]},
    )
    assert 0.0 < metrics["mAP@0.5"] < 1.0 and set(metrics) == {
        "mAP@0.5",
        "mAP@0.5/pose",
        "mAP@0.5/object",
        "mAP@0.5/interaction",
    }
    csv_path = tmp_path / "out" / "result.csv"
    cli = cli_main(
        [
            "--groundtruth",
            eval_files["csv_gt_file"],
            "--detections",
            str(csv_path),
            "--labelmap",
            eval_files["labelmap_file"],
        ]
    )
    assert cli["mAP"] == metrics["mAP@0.5"]  # exactly, not approximately
    # scoring the raw (unrounded) predictions would be a different computation; the CSV has 5 decimals
    first = csv_path.read_text().splitlines()[0].split(",")
    assert len(first[7].split(".")[1]) == 5 and len(first) == 8


def test_world_size_does_not_change_the_rows(tmp_path):
    samples = _dataset(tmp_path, seed=1)
    from alphaction.engine.evaluate_detection import predict

    single = predict(FakeModel(), _loader(samples), torch.device("cpu"), 0.05)
    # two ranks of an interleaving sampler, the last clip padded onto rank 1 as well
    rank0 = predict(FakeModel(), _loader(samples[0::2]), torch.device("cpu"), 0.05)
    rank1 = predict(FakeModel(), _loader(samples[1::2] + [samples[0]]), torch.device("cpu"), 0.05)
    one, two = merge_predictions([single], len(samples)), merge_predictions([rank0, rank1], len(samples))
    assert one.to_rows() == two.to_rows()
    with pytest.raises(RuntimeError, match="distinct clips"):
        merge_predictions([rank0], len(samples))


def test_rounded_columns_score_like_the_file(tmp_path):
    rng = np.random.default_rng(3)
    n = 4000
    xs, ys = np.sort(rng.random((n, 2)), axis=1), np.sort(rng.random((n, 2)), axis=1)
    boxes = np.stack([xs[:, 0], ys[:, 0], xs[:, 1], ys[:, 1]], axis=1).astype(np.float32)
    columns = AvaColumns(
        ["a", "b"],
        rng.integers(0, 2, n),
        rng.integers(900, 910, n),
        boxes,
        rng.integers(1, 4, n),
        rng.random(n).astype(np.float32),
    ).rounded()
    gt = AvaColumns(
        ["a", "b"], rng.integers(0, 2, 300), rng.integers(900, 910, 300), boxes[:300], rng.integers(1, 4, 300)
    )
    write_csv(tmp_path / "det.csv", columns)
    labelmap = {1: "x", 2: "y", 3: "z"}
    assert frame_map(gt, tmp_path / "det.csv", labelmap) == frame_map(gt, columns, labelmap)
