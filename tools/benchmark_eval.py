"""Time the AVA frame-mAP evaluator on an AVA-v2.2-val-sized synthetic case; print (and optionally save) JSON.

Default case: 64 videos x 897 keyframes, about 3.5 person boxes per keyframe (Poisson), 60 class scores per box
(float32 probabilities, as a model gives), i.e. about 13M detection rows / 700 MB of CSV, written to a temporary
directory and deleted afterwards. Phases: the CSV path (``frame_map`` on file paths, reading included) and the
in-memory path (``frame_map`` on the same case built as :class:`AvaColumns` and ``rounded()``, what
``test_net`` does; building it is not timed).

    python tools/benchmark_eval.py [--videos 64] [--out benchmark.json] [--reference-dir ActivityNet/Evaluation]

Peak RSS is the child process's own high-water mark (``VmHWM``; ``ru_maxrss`` would start from the parent's RSS at
the fork, which Linux carries across ``exec``); each path runs in its own child process so the peaks are separate.
Seconds are wall time and process time (CPU seconds of all the process's threads).

With ``--reference-dir`` the official ActivityNet code runs on the same CSV files in another child process: the
folder that holds ``get_ava_performance.py`` and its ``ava/`` package (a checkout of activitynet/ActivityNet's
``Evaluation/``, or any copy with that layout; it is imported from there, never downloaded). Its
``run_evaluation`` is called as its ``main`` would; the metrics it prints are captured and compared with ours
class by class, and the report gives the ratio of the two process times.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import platform
import resource
import shutil
import sys
import tempfile
import time

import numpy as np

from alphaction.evaluation.ava import AVA_CLASS_GROUPS, AvaColumns, frame_map, write_csv
from alphaction.utils.report import emit_json

# The 60 ids of ava_action_list_v2.2_for_activitynet_2019.pbtxt
AVA60 = [
    1,
    3,
    4,
    5,
    6,
    7,
    8,
    9,
    10,
    11,
    12,
    13,
    14,
    15,
    17,
    20,
    22,
    24,
    26,
    27,
    28,
    29,
    30,
    34,
    36,
    37,
    38,
    41,
    43,
    45,
    46,
    47,
    48,
    49,
    51,
    52,
    54,
    56,
    57,
    58,
    59,
    60,
    61,
    62,
    63,
    64,
    65,
    66,
    67,
    68,
    69,
    70,
    72,
    73,
    74,
    76,
    77,
    78,
    79,
    80,
]


def make_case(videos: int, keyframes: int, boxes_per_frame: float, seed: int = 0):
    """(GT columns, detection columns, excluded frame keys) for a synthetic AVA-like validation set."""
    rng = np.random.default_rng(seed)
    names = [f"vid{v:08d}" for v in range(videos)]
    frame_video = np.repeat(np.arange(videos), keyframes)
    frame_ts = np.tile(np.arange(902, 902 + keyframes), videos)
    persons = rng.poisson(boxes_per_frame, size=len(frame_video))
    box_frame = np.repeat(np.arange(len(frame_video)), persons)
    n_boxes = len(box_frame)
    xy = rng.uniform(0, 0.7, size=(n_boxes, 2))
    wh = rng.uniform(0.1, 0.3, size=(n_boxes, 2))
    gt_boxes = np.concatenate([xy, xy + wh], axis=1)
    # GT: 1-3 actions per person among the 60 evaluated ids (plus a few outside the label map)
    labels_per_box = rng.integers(1, 4, size=n_boxes)
    gt_box = np.repeat(np.arange(n_boxes), labels_per_box)
    gt_action = rng.integers(1, 81, size=len(gt_box))
    gt = AvaColumns(
        names, frame_video[box_frame[gt_box]], frame_ts[box_frame[gt_box]], gt_boxes[gt_box], gt_action, gt_box % 7 + 1
    ).rounded()  # as the GT CSV holds it
    # detections: the person boxes, jittered, with 60 scores each; true classes score higher
    det_boxes = np.clip(gt_boxes + rng.normal(0, 0.02, size=gt_boxes.shape), 0, 1).astype(np.float32)
    scores = rng.beta(0.5, 4.0, size=(n_boxes, 60)).astype(np.float32)
    column = np.searchsorted(AVA60, gt_action)
    hit = np.isin(gt_action, AVA60)
    scores[gt_box[hit], column[hit]] = rng.uniform(0.3, 1.0, size=int(hit.sum())).astype(np.float32)
    det_box = np.repeat(np.arange(n_boxes), 60)
    det = AvaColumns(
        names,
        frame_video[box_frame[det_box]],
        frame_ts[box_frame[det_box]],
        det_boxes[det_box].astype(np.float64),
        np.tile(AVA60, n_boxes),
        scores.reshape(-1).astype(np.float64),
    ).rounded()
    excluded = rng.choice(len(frame_video), size=max(1, len(frame_video) // 500), replace=False)
    exclusions = [(names[frame_video[i]], int(frame_ts[i])) for i in excluded]
    return gt, det, exclusions


def _write_inputs(folder: str, gt: AvaColumns, det: AvaColumns, exclusions) -> dict:
    paths = {
        k: os.path.join(folder, f)
        for k, f in (("gt", "gt.csv"), ("det", "det.csv"), ("labelmap", "labelmap.pbtxt"), ("excl", "excluded.csv"))
    }
    write_csv(paths["gt"], gt)
    start = time.perf_counter()
    write_csv(paths["det"], det)
    write_seconds = time.perf_counter() - start
    with open(paths["labelmap"], "w") as f:
        f.writelines(f'item {{\n  name: "action {i}"\n  id: {i}\n}}\n' for i in AVA60)
    with open(paths["excl"], "w") as f:
        f.writelines(f"{v},{t:04d}\n" for v, t in exclusions)
    paths["write_seconds"] = write_seconds
    return paths


def _peak_rss_gib() -> float:
    with open("/proc/self/status") as f:  # VmHWM: this process's peak RSS (kB)
        kib = next((int(line.split()[1]) for line in f if line.startswith("VmHWM:")), None)
    if kib is None:  # not Linux
        kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return kib / 2**20


def _time_csv(paths: dict, queue) -> None:
    timings: dict = {}
    start, cpu = time.perf_counter(), time.process_time()
    result = frame_map(
        paths["gt"], paths["det"], paths["labelmap"], paths["excl"], class_groups=AVA_CLASS_GROUPS, timings=timings
    )
    total, cpu = time.perf_counter() - start, time.process_time() - cpu
    queue.put(
        {
            "seconds": total,
            "process_seconds": cpu,
            "phases": timings,
            "mAP": result["mAP"],
            "group_mAP": result["group_mAP"],
            "per_class": {int(k): float(v) for k, v in result["per_class"].items()},
            "peak_rss_gib": _peak_rss_gib(),
        }
    )


def _time_official(paths: dict, queue) -> None:
    """The official ActivityNet evaluation (``get_ava_performance.run_evaluation``) from ``paths["reference"]``."""
    import logging

    sys.path.insert(0, paths["reference"])
    # the official code predates NumPy 1.24, which removed these aliases of the builtins (same meaning)
    for alias, builtin in (("float", float), ("int", int), ("bool", bool), ("object", object)):
        if alias not in vars(np):
            setattr(np, alias, builtin)
    import get_ava_performance as official  # from the folder given, on purpose

    logging.getLogger().setLevel(logging.WARNING)  # it logs every excluded frame at INFO
    captured: dict = {}

    class _Capture:  # run_evaluation ends with pprint.pprint(metrics): keep them instead
        @staticmethod
        def pprint(obj, *args, **kwargs):
            captured.update(obj)

        pformat = staticmethod(__import__("pprint").pformat)

    official.pprint = _Capture
    start, cpu = time.perf_counter(), time.process_time()
    with open(paths["labelmap"]) as lm, open(paths["gt"]) as gt, open(paths["det"]) as det, open(paths["excl"]) as ex:
        official.run_evaluation(lm, gt, det, ex)
    total, cpu = time.perf_counter() - start, time.process_time() - cpu
    names = {f"action {i}": i for i in AVA60}
    prefix = "PascalBoxes_PerformanceByCategory/AP@0.5IOU/"
    per_class = {names[k[len(prefix) :]]: float(v) for k, v in captured.items() if k.startswith(prefix)}
    queue.put(
        {
            "seconds": total,
            "process_seconds": cpu,
            "mAP": float(captured["PascalBoxes_Precision/mAP@0.5IOU"]),
            "per_class": per_class,
            "peak_rss_gib": _peak_rss_gib(),
        }
    )


def _time_memory(paths: dict, queue) -> None:
    # the arrays test_net would hold: the same case, built in memory and rounded (not read from the CSV)
    gt, det, _ = make_case(*paths["case"])
    base_rss = _peak_rss_gib()
    timings: dict = {}
    start = time.perf_counter()
    result = frame_map(gt, det, paths["labelmap"], paths["excl"], class_groups=AVA_CLASS_GROUPS, timings=timings)
    total = time.perf_counter() - start
    queue.put(
        {
            "seconds": total,
            "phases": timings,
            "mAP": result["mAP"],
            "group_mAP": result["group_mAP"],
            "peak_rss_gib": _peak_rss_gib(),
            "peak_rss_gib_before_evaluation": base_rss,
        }
    )


def _in_child(target, paths: dict) -> dict:
    ctx = mp.get_context("spawn")  # a fresh process: its peak RSS is the evaluation's alone
    queue = ctx.Queue()
    proc = ctx.Process(target=target, args=(paths, queue))
    proc.start()
    while True:
        try:
            out = queue.get(timeout=5)
            break
        except Exception:  # noqa: BLE001 - queue.Empty: still working, unless it died
            if not proc.is_alive():
                raise SystemExit(f"{target.__name__} failed (exit {proc.exitcode}); see its traceback above")
    proc.join()
    return out


def _provenance(folder: str) -> dict:
    """sha256 of the reference's Python files, so a report says which copy of the official code ran."""
    import hashlib

    out = {}
    for root, _, files in os.walk(folder):
        for name in sorted(files):
            if name.endswith(".py"):
                path = os.path.join(root, name)
                with open(path, "rb") as f:
                    out[os.path.relpath(path, folder)] = hashlib.sha256(f.read()).hexdigest()[:16]
    return dict(sorted(out.items()))


def _compare(official: dict, ours: dict) -> dict:
    """The official run beside ours: its figures, the ratios, and whether every number is the same."""
    classes = sorted(set(official["per_class"]) | set(ours["per_class"]))
    differ = {
        c: [official["per_class"].get(c), ours["per_class"].get(c)]
        for c in classes
        if not _same(official["per_class"].get(c), ours["per_class"].get(c))
    }
    return {
        **{k: v for k, v in official.items() if k != "per_class"},
        "process_time_ratio_official_over_ours": official["process_seconds"] / ours["process_seconds"],
        "wall_time_ratio_official_over_ours": official["seconds"] / ours["seconds"],
        "peak_rss_ours_over_official": ours["peak_rss_gib"] / official["peak_rss_gib"],
        "same_mAP_bit_for_bit": official["mAP"] == ours["mAP"],
        "max_abs_mAP_difference": abs(official["mAP"] - ours["mAP"]),
        "classes_compared": len(classes),
        "classes_that_differ": differ,
    }


def _same(a, b) -> bool:
    return (a is None and b is None) or (a is not None and b is not None and (a == b or (a != a and b != b)))


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--videos", type=int, default=64)
    parser.add_argument("--keyframes", type=int, default=897)
    parser.add_argument("--boxes-per-frame", type=float, default=3.5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--tmpdir", default=None, help="where to write the CSVs (deleted afterwards)")
    parser.add_argument("--out", default=None, help="also write the JSON here")
    parser.add_argument(
        "--reference-dir",
        default=None,
        help="folder with the official get_ava_performance.py and its ava/ package: run it too",
    )
    args = parser.parse_args(argv)
    if args.reference_dir and not os.path.isfile(os.path.join(args.reference_dir, "get_ava_performance.py")):
        parser.error(
            f"--reference-dir {args.reference_dir}: no get_ava_performance.py there (give the folder of a "
            "copy of activitynet/ActivityNet's Evaluation/, which holds it and ava/)"
        )

    gt, det, exclusions = make_case(args.videos, args.keyframes, args.boxes_per_frame, args.seed)
    folder = tempfile.mkdtemp(prefix="ava_bench_", dir=args.tmpdir)
    try:
        paths = _write_inputs(folder, gt, det, exclusions)
        paths["case"] = (args.videos, args.keyframes, args.boxes_per_frame, args.seed)
        csv_bytes = os.path.getsize(paths["det"])
        num_rows, num_gt = len(det), len(gt)
        del gt, det
        from_csv = _in_child(_time_csv, paths)
        in_memory = _in_child(_time_memory, paths)
        official = None
        if args.reference_dir:
            paths["reference"] = os.path.abspath(args.reference_dir)
            official = _in_child(_time_official, paths)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    report = {
        "case": {
            "videos": args.videos,
            "keyframes_per_video": args.keyframes,
            "boxes_per_keyframe": args.boxes_per_frame,
            "classes": len(AVA60),
            "detection_rows": num_rows,
            "groundtruth_rows": num_gt,
            "detection_csv_mb": round(csv_bytes / 1e6, 1),
            "excluded_keyframes": len(exclusions),
        },
        "write_detection_csv_seconds": round(paths["write_seconds"], 3),
        "from_csv": {**from_csv, "rows_per_second": num_rows / from_csv["seconds"]},
        "in_memory": {**in_memory, "rows_per_second": num_rows / in_memory["seconds"]},
        "same_mAP": from_csv["mAP"] == in_memory["mAP"],
        **(
            {"official": {**_compare(official, from_csv), "reference_files_sha256": _provenance(paths["reference"])}}
            if official
            else {}
        ),
        "machine": {
            "python": platform.python_version(),
            "numpy": np.__version__,
            "cpus": os.cpu_count(),
            "processor": platform.processor() or platform.machine(),
        },
    }
    emit_json(report, args.out)
    return report


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
