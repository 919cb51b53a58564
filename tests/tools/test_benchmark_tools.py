"""The dataset and evaluator benchmark tools run end to end at a tiny size (their figures come from real runs
on full-size cases: docs/benchmarks/); here: the phases, the cache states and the comparison with a reference."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from alphaction.engine.defaults import REPO_ROOT

TOOLS = os.path.join(REPO_ROOT, "tools")


def _run(args, **kw):
    out = subprocess.run([sys.executable, *args], capture_output=True, text=True, timeout=600, **kw)
    assert out.returncode == 0, out.stderr[-3000:]
    return out


def test_benchmark_dataset_builds_once_then_reads_the_cache_and_shares_it_between_ranks(tmp_path):
    report = tmp_path / "report.json"
    _run(
        [
            os.path.join(TOOLS, "benchmark_dataset.py"),
            "--work-dir",
            str(tmp_path / "case"),
            "--videos",
            "2",
            "--val-videos",
            "1",
            "--ranks",
            "2",
            "--phases",
            "train_cold,train_warm,evaluations,ranks",
            "--out",
            str(report),
        ]
    )
    phases = json.loads(report.read_text())["phases"]
    assert phases["train_cold"]["index_status"] == "built" and phases["train_warm"]["index_status"] == "cached"
    assert phases["train_cold"]["keyframes"] == phases["train_warm"]["keyframes"] > 0
    assert len(phases["evaluations"]["evaluations_2_to_4_s"]) == 3
    assert [r["index_status"] for r in phases["ranks"]["per_rank"]] == ["built", "cached"]


REFERENCE = '''
import pprint

def run_evaluation(labelmap, groundtruth, detections, exclusions):
    """A stand-in with the official interface: our evaluator, printed under the official keys, class 1 off."""
    from alphaction.evaluation.ava import frame_map
    r = frame_map(groundtruth.name, detections.name, labelmap.name, exclusions.name)
    metrics = {"PascalBoxes_Precision/mAP@0.5IOU": r["mAP"]}
    for i, ap in r["per_class"].items():
        metrics["PascalBoxes_PerformanceByCategory/AP@0.5IOU/" + r["class_names"][i]] = ap + (0.25 if i == 1 else 0)
    pprint.pprint(metrics, indent=2)
'''


def test_benchmark_eval_runs_the_reference_beside_ours_and_names_the_classes_that_differ(tmp_path):
    reference = tmp_path / "reference"
    reference.mkdir()
    (reference / "get_ava_performance.py").write_text(REFERENCE)
    report = tmp_path / "report.json"
    _run(
        [
            os.path.join(TOOLS, "benchmark_eval.py"),
            "--videos",
            "2",
            "--keyframes",
            "30",
            "--reference-dir",
            str(reference),
            "--tmpdir",
            str(tmp_path),
            "--out",
            str(report),
        ]
    )
    official = json.loads(report.read_text())["official"]
    assert official["same_mAP_bit_for_bit"] is True
    assert list(official["classes_that_differ"]) == ["1"] and official["classes_compared"] == 60
    assert official["process_time_ratio_official_over_ours"] > 0
    assert "get_ava_performance.py" in official["reference_files_sha256"]
