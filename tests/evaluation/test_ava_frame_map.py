"""AVA frame-mAP: hand-computed cases for every protocol rule, and a brute-force reference on random data."""

from __future__ import annotations

import json
import math
import random
from collections import defaultdict

import pytest

from alphaction.evaluation.ava import frame_map as frame_map_by_id
from alphaction.evaluation.ava import write_csv
from alphaction.evaluation.ava.__main__ import main as cli_main


def frame_map(*args, **kwargs):
    """``frame_map`` with the per-class dicts keyed by class name (the tests read better that way)."""
    result = frame_map_by_id(*args, **kwargs)
    names = result["class_names"]
    named = {
        k: (
            {names[i]: v for i, v in result[k].items()}
            if k in ("per_class", "num_gt", "num_detections", "num_true_positives")
            else v
        )
        for k, v in result.items()
    }
    named["class_ids"] = {n: i for i, n in names.items()}
    return named


LABELMAP = {1: "stand", 2: "sit"}
P = (0.1, 0.1, 0.5, 0.5)  # x1, y1, x2, y2
Q = (0.6, 0.6, 0.9, 0.9)
R = (0.2, 0.2, 0.6, 0.6)
FAR = (0.6, 0.1, 0.9, 0.3)  # overlaps none of P, Q, R


def gt_row(ts, box, action, person=1):
    return ("vid", ts, *box, action, person)


def det_row(ts, box, action, score):
    return ("vid", ts, *box, action, score)


# Frame 902: P (stand, sit), Q (stand). Frame 903: R (stand). Plus a row of an action outside the label map.
TINY_GT = [gt_row(902, P, 1, 1), gt_row(902, P, 2, 1), gt_row(902, Q, 1, 2), gt_row(903, R, 1, 1), gt_row(903, R, 3, 1)]
TINY_DET = [
    det_row(902, P, 1, 0.9),  # stand: TP (takes P)
    det_row(902, P, 1, 0.8),  # stand: FP (P already taken)
    det_row(903, (0.25, 0.2, 0.65, 0.6), 1, 0.7),  # stand: TP, IoU with R = 0.14 / 0.18 = 0.78
    det_row(902, FAR, 1, 0.6),  # stand: FP (IoU 0 with P and Q)
    det_row(903, Q, 1, 0.5),  # stand: FP (no Q in frame 903)
    det_row(902, Q, 1, 0.4),  # stand: TP (takes Q)
    det_row(902, (0.2, 0.1, 0.6, 0.5), 2, 0.3),  # sit: TP, IoU with P = 0.12 / 0.20 = 0.6
    det_row(903, R, 2, 0.95),  # sit: FP (no sit GT in frame 903)
    det_row(902, P, 3, 0.99),  # action 3 is not in the label map: ignored
]


def test_tiny_case_by_hand():
    # stand, in score order: TP FP TP FP FP TP, 3 GT.
    #   precision 1, 1/2, 2/3, 2/4, 2/5, 3/6; recall 1/3, 1/3, 2/3, 2/3, 2/3, 1
    #   monotone precision at the recall steps: 1 (at 1/3), 2/3 (at 2/3), 1/2 (at 1)
    #   AP = 1/3 * 1 + 1/3 * 2/3 + 1/3 * 1/2 = 13/18
    # sit, in score order: FP TP, 1 GT: precision 0, 1/2; recall 0, 1 -> AP = 1 * 1/2 = 1/2
    result = frame_map(TINY_GT, TINY_DET, LABELMAP)
    assert result["per_class"] == pytest.approx({"stand": 13 / 18, "sit": 0.5}, abs=1e-12)
    assert result["mAP"] == pytest.approx((13 / 18 + 0.5) / 2, abs=1e-12)
    assert result["num_gt"] == {"stand": 3, "sit": 1}
    assert result["num_detections"] == {"stand": 6, "sit": 2}
    assert result["num_true_positives"] == {"stand": 3, "sit": 1}
    assert result["class_ids"] == {"stand": 1, "sit": 2}


def test_paths_and_rows_give_the_same_result(tmp_path):
    gt, det, lm = tmp_path / "gt.csv", tmp_path / "det.csv", tmp_path / "map.pbtxt"
    write_csv(gt, TINY_GT)
    write_csv(det, TINY_DET)
    lm.write_text('item {\n  name: "stand"\n  id: 1\n}\nitem {\n  name: "sit"\n  id: 2\n}\n')
    assert frame_map(str(gt), det, lm) == frame_map(TINY_GT, TINY_DET, LABELMAP)


def test_exclusions_drop_gt_and_detections(tmp_path):
    # Without frame 903: stand TP FP FP TP over 2 GT -> precision 1, 1/2, 1/3, 1/2; recall 1/2, 1/2, 1/2, 1
    #   AP = 1/2 * 1 + 1/2 * 1/2 = 3/4. sit: the 0.95 FP was in 903, only the TP is left -> AP 1.
    excl = tmp_path / "excl.csv"
    excl.write_text("vid,0903\nother,0902\n")
    for exclusions in (excl, ["vid,0903"], [("vid", 903)]):
        result = frame_map(TINY_GT, TINY_DET, LABELMAP, exclusions)
        assert result["per_class"] == pytest.approx({"stand": 0.75, "sit": 1.0}, abs=1e-12)
        assert result["num_gt"] == {"stand": 2, "sit": 1}


def test_class_outside_labelmap_is_dropped():
    result = frame_map(TINY_GT, TINY_DET, {1: "stand"})
    assert list(result["per_class"]) == ["stand"]
    assert result["mAP"] == pytest.approx(13 / 18, abs=1e-12)


def test_gt_without_detections_is_zero_and_class_without_gt_is_left_out():
    gt = [gt_row(902, P, 1), gt_row(902, Q, 2)]
    det = [det_row(902, P, 1, 0.5), det_row(902, Q, 3, 0.9)]
    result = frame_map(gt, det, {1: "a", 2: "b", 3: "c"})
    assert result["per_class"]["a"] == 1.0
    assert result["per_class"]["b"] == 0.0
    assert math.isnan(result["per_class"]["c"])
    assert result["mAP"] == pytest.approx(0.5)  # mean of 1 and 0; c is not counted
    assert math.isnan(frame_map([], det, {1: "a"})["mAP"])


def _grid_box(i):
    # 60 disjoint boxes on a 10 x 6 grid
    x, y = (i % 10) / 10, (i // 10) / 6
    return (x, y, x + 0.05, y + 0.1)


def test_more_than_50_detections_per_frame_keep_the_top_50():
    gt = [gt_row(902, _grid_box(i), 1, i) for i in range(60)]
    det = [det_row(902, _grid_box(i), 1, 0.01 * (i + 1)) for i in range(60)]
    # 100 high-scoring rows of an unevaluated action must not take slots from the cap
    det += [det_row(902, _grid_box(0), 7, 0.99)] * 100
    # top 50 are all TPs of distinct GT boxes: precision 1 up to recall 50/60 -> AP = 50/60
    result = frame_map(gt, det, {1: "a"})
    assert result["per_class"]["a"] == pytest.approx(50 / 60)
    assert result["num_detections"]["a"] == 50
    assert frame_map(gt, det, {1: "a"}, max_detections_per_frame=0)["per_class"]["a"] == pytest.approx(1.0)


def test_cap_ties_follow_the_official_heap():
    # 50 FPs at score 0.5 fill the heap; a 51st entry needs a strictly higher score to get in.
    gt = [gt_row(902, P, 1)]
    fps = [det_row(902, FAR, 1, 0.5)] * 50
    assert frame_map(gt, fps + [det_row(902, P, 1, 0.5)], {1: "a"})["per_class"]["a"] == 0.0
    with_tp = frame_map(gt, fps + [det_row(902, P, 1, 0.5 + 1e-9)], {1: "a"})
    assert with_tp["per_class"]["a"] == 1.0 and with_tp["num_detections"]["a"] == 50


def test_duplicate_detection_on_one_gt_is_a_false_positive():
    result = frame_map([gt_row(902, P, 1)], [det_row(902, P, 1, 0.9), det_row(902, P, 1, 0.8)], {1: "a"})
    assert result["num_true_positives"]["a"] == 1
    assert result["per_class"]["a"] == 1.0  # TP then FP: the FP comes after recall 1


def test_same_box_under_two_actions_is_matched_once_per_class():
    gt = [gt_row(902, P, 1), gt_row(902, P, 2)]
    det = [det_row(902, P, 1, 0.9), det_row(902, P, 2, 0.8)]
    assert frame_map(gt, det, LABELMAP)["per_class"] == {"stand": 1.0, "sit": 1.0}


def test_duplicated_gt_row_is_a_second_box_that_cannot_be_matched():
    # Official behaviour: both copies count as GT, but every detection's argmax is the first copy,
    # so the second detection is an FP. TP, FP over 2 GT: precision 1, 1/2; recall 1/2, 1/2 -> AP 1/2.
    gt = [gt_row(902, P, 1, 1), gt_row(902, P, 1, 1)]
    det = [det_row(902, P, 1, 0.9), det_row(902, P, 1, 0.8)]
    result = frame_map(gt, det, {1: "a"})
    assert result["num_gt"]["a"] == 2
    assert result["per_class"]["a"] == pytest.approx(0.5)


def test_zero_area_detections_are_dropped_after_the_cap():
    gt = [gt_row(902, P, 1)]
    flat = [det_row(902, (0.3, 0.1, 0.3, 0.5), 1, 0.9), det_row(902, (0.1, 0.4, 0.5, 0.2), 1, 0.95)]
    result = frame_map(gt, flat + [det_row(902, P, 1, 0.5)], {1: "a"})
    assert result["per_class"]["a"] == 1.0  # the FPs they would have been are gone
    assert result["num_detections"]["a"] == 1
    # they still occupy cap slots, as in the official reader (cap first, invalid boxes removed later)
    many_flat = [det_row(902, (0.3, 0.1, 0.3, 0.5), 1, 0.9)] * 50
    assert frame_map(gt, many_flat + [det_row(902, P, 1, 0.5)], {1: "a"})["per_class"]["a"] == 0.0


def test_iou_threshold_is_inclusive_at_one_half():
    # det (0, 0, 1, 1) vs GT (0, 0, 0.5, 1): IoU = 0.5 / 1 = 0.5 exactly -> TP
    result = frame_map([gt_row(902, (0.0, 0.0, 0.5, 1.0), 1)], [det_row(902, (0.0, 0.0, 1.0, 1.0), 1, 0.9)], {1: "a"})
    assert result["per_class"]["a"] == 1.0


def test_inverted_gt_box_is_rejected():
    with pytest.raises(ValueError, match="vid,0902"):
        frame_map([gt_row(902, (0.5, 0.1, 0.1, 0.5), 1)], [], {1: "a"})


def test_cli_prints_and_writes_json(tmp_path, capsys):
    gt, det, lm, out = tmp_path / "gt.csv", tmp_path / "det.csv", tmp_path / "map.pbtxt", tmp_path / "r.json"
    write_csv(gt, TINY_GT)
    write_csv(det, TINY_DET)
    lm.write_text(
        'item {\n  name: "stand"\n  id: 1\n}\nitem {\n  name: "sit"\n  id: 2\n}\nitem {\n  name: "run"\n  id: 5\n}\n'
    )
    cli_main(["--gt", str(gt), "--det", str(det), "--labelmap", str(lm), "--json", str(out)])
    assert f"mAP@0.5IOU: {(13 / 18 + 0.5) / 2:.4f}" in capsys.readouterr().out
    saved = json.loads(out.read_text())
    assert saved["per_class"]["5"] is None  # "run" (id 5) has no GT
    assert saved["per_class"]["1"] == pytest.approx(13 / 18)  # "stand"
    assert saved["mAP"] == pytest.approx((13 / 18 + 0.5) / 2)


# --- brute-force reference: plain loops, sorting instead of a heap, a different AP formula ----------------


def _iou(a, b):
    iw = min(a[2], b[2]) - max(a[0], b[0])
    ih = min(a[3], b[3]) - max(a[1], b[1])
    if iw <= 0 or ih <= 0:
        return 0.0
    inter = iw * ih
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


def reference_frame_map(gt_rows, det_rows, labelmap, excluded):
    """Valid only without score ties (the cap and the orders are plain sorts here)."""

    def key(r):
        return (r[0], int(r[1]))

    gt = defaultdict(list)
    num_gt = defaultdict(int)
    for r in gt_rows:
        if r[6] in labelmap and key(r) not in excluded:
            gt[key(r), r[6]].append(tuple(r[2:6]))
            num_gt[r[6]] += 1
    per_frame = defaultdict(list)
    for r in det_rows:
        if r[6] in labelmap and key(r) not in excluded:
            per_frame[key(r)].append(r)
    pooled = defaultdict(list)
    for frame, rows in per_frame.items():
        kept = sorted(rows, key=lambda r: r[7], reverse=True)[:50]
        taken = set()
        for r in kept:
            box = tuple(r[2:6])
            if not (box[0] < box[2] and box[1] < box[3]):
                continue
            candidates = gt.get((frame, r[6]), [])
            best, best_j = -1.0, None
            for j, g in enumerate(candidates):
                o = _iou(box, g)
                if o > best:
                    best, best_j = o, j
            tp = best_j is not None and best >= 0.5 and (frame, r[6], best_j) not in taken
            if tp:
                taken.add((frame, r[6], best_j))
            pooled[r[6]].append((r[7], tp))
    aps = {}
    for c in labelmap:
        if num_gt[c] == 0:
            aps[c] = math.nan
            continue
        dets = sorted(pooled[c], reverse=True)
        points, tp_count = [], 0
        for i, (_, tp) in enumerate(dets, 1):
            tp_count += tp
            points.append((tp_count / num_gt[c], tp_count / i))
        ap, prev_recall = 0.0, 0.0
        for i, (recall, _) in enumerate(points):
            if recall > prev_recall:
                ap += (recall - prev_recall) * max(p for _, p in points[i:])
                prev_recall = recall
        aps[c] = ap
    valid = [a for a in aps.values() if not math.isnan(a)]
    return aps, (sum(valid) / len(valid) if valid else math.nan)


def _random_case(seed):
    rng = random.Random(seed)
    gt, det, frames = [], [], []
    for v in range(8):
        for ts in range(902, 922):
            frames.append((f"v{v}", ts))
            persons = [] if rng.random() < 0.2 else [_random_box(rng) for _ in range(rng.randint(1, 4))]
            boxes = []
            for p, box in enumerate(persons):
                actions = rng.sample(range(1, 8), rng.randint(1, 3))
                gt.extend((f"v{v}", ts, *box, action, p) for action in actions)
                boxes.append((_jitter(rng, box), actions))
            clutter = rng.randint(15, 25) if rng.random() < 0.25 else rng.randint(0, 3)  # some frames pass the cap
            boxes += [(_random_box(rng), []) for _ in range(clutter)]
            if rng.random() < 0.1:
                boxes.append(((0.4, 0.4, 0.4, 0.7), [1, 2, 3]))  # zero width
            for box, actions in boxes:
                for action in range(1, 8):
                    if rng.random() < 0.6:  # scores carry some signal, so the ranking matters
                        score = rng.uniform(0.3, 1.0) if action in actions else rng.uniform(0.0, 0.9)
                        det.append((f"v{v}", ts, *box, action, score))
    rng.shuffle(det)
    excluded = set(rng.sample(frames, 10))
    return gt, det, excluded


def _random_box(rng):
    x, y = rng.uniform(0, 0.7), rng.uniform(0, 0.7)
    return (x, y, x + rng.uniform(0.1, 0.3), y + rng.uniform(0.1, 0.3))


def _jitter(rng, box):
    return tuple(min(1.0, max(0.0, c + rng.gauss(0, 0.02))) for c in box)


@pytest.mark.parametrize("seed", range(5))
def test_matches_brute_force_reference_on_random_data(seed):
    gt, det, excluded = _random_case(seed)
    labelmap = {1: "a", 2: "b", 3: "c", 5: "e", 6: "f", 9: "no_gt"}  # 4 and 7 are not evaluated
    ref_aps, ref_map = reference_frame_map(gt, det, labelmap, excluded)
    result = frame_map(gt, det, labelmap, excluded)
    rows_per_frame = defaultdict(int)
    for r in det:
        rows_per_frame[r[0], r[1]] += r[6] in labelmap
    assert max(rows_per_frame.values()) > 50  # the cap is exercised
    for c, name in labelmap.items():
        if math.isnan(ref_aps[c]):
            assert math.isnan(result["per_class"][name])
        else:
            assert result["per_class"][name] == pytest.approx(ref_aps[c], abs=1e-6)
    assert result["mAP"] == pytest.approx(ref_map, abs=1e-6)
    assert 0.05 < result["mAP"] < 0.95  # a case where matching matters, not a degenerate one


# --- ties: a loop-by-loop rendering of the official code (heap reader, per-image loops, argsort pooling) ----


def official_loop_reference(gt_rows, det_rows, labelmap, excluded):
    import heapq

    import numpy as np

    def read(rows, capacity):
        entries = defaultdict(list)
        for r in rows:
            if r[6] not in labelmap:
                continue
            score = r[7] if len(r) > 7 and r[7] is not None else 1.0
            item = (score, r[6], r[3], r[2], r[5], r[4])
            heap = entries["%s,%04d" % (r[0], r[1])]
            if capacity < 1 or len(heap) < capacity:
                heapq.heappush(heap, item)
            elif score > heap[0][0]:
                heapq.heapreplace(heap, item)
        return {k: sorted(v, key=lambda t: -t[0]) for k, v in entries.items() if k not in excluded}

    gt, det = read(gt_rows, 0), read(det_rows, 50)
    num_gt = defaultdict(int)
    for items in gt.values():
        for item in items:
            num_gt[item[1]] += 1
    scores, labels = defaultdict(list), defaultdict(list)
    for key, items in det.items():
        for c in labelmap:
            boxes = [i[2:] for i in items if i[1] == c and i[2] < i[4] and i[3] < i[5]]
            gts = [i[2:] for i in gt.get(key, []) if i[1] == c]
            taken = [False] * len(gts)
            for i, item in enumerate(items):
                if item[1] != c or not (item[2] < item[4] and item[3] < item[5]):
                    continue
                box = item[2:]
                ious = [_iou((box[1], box[0], box[3], box[2]), (g[1], g[0], g[3], g[2])) for g in gts]
                tp = False
                if ious:
                    j = ious.index(max(ious))
                    if ious[j] >= 0.5 and not taken[j]:
                        tp = taken[j] = True
                scores[c].append(item[0])
                labels[c].append(tp)
            assert len(boxes) == sum(1 for i in items if i[1] == c and i[2] < i[4] and i[3] < i[5])
    aps = {}
    for c in labelmap:
        if num_gt[c] == 0:
            aps[c] = math.nan
            continue
        s = np.array(scores[c], dtype=float)
        order = np.argsort(s)[::-1]
        tp = np.array(labels[c], dtype=bool)[order]
        ap = 0.0
        cum_tp = np.cumsum(tp)
        precision = cum_tp / np.arange(1, len(tp) + 1)
        recall = cum_tp / num_gt[c]
        prev = 0.0
        for i in range(len(tp)):
            if recall[i] > prev:
                ap += (recall[i] - prev) * precision[i:].max()
                prev = recall[i]
        aps[c] = ap
    return aps


def _tied_case(seed):
    rng = random.Random(seed)
    gt, det = [], []
    for v in range(4):
        for ts in range(902, 912):
            persons = [_random_box(rng) for _ in range(rng.randint(0, 4))]
            for p, box in enumerate(persons):
                for action in rng.sample(range(1, 5), rng.randint(1, 2)):
                    gt.append((f"v{v}", ts, *box, action, p % 2))  # person-id ties
                    if rng.random() < 0.1:
                        gt.append((f"v{v}", ts, *box, action, p % 2))  # a duplicated GT row
            boxes = [_jitter(rng, b) for b in persons for _ in range(2)]  # two boxes per person
            boxes += [_random_box(rng) for _ in range(rng.randint(3, 12) if rng.random() < 0.4 else 1)]
            for box in boxes:
                for action in range(1, 6):
                    if rng.random() < 0.7:
                        det.append((f"v{v}", ts, *box, action, round(rng.random(), 1)))  # many score ties
    rng.shuffle(det)
    return gt, det, {"v0,0903", "v2,0905"}


@pytest.mark.parametrize("seed", range(6))
def test_score_ties_resolve_as_in_the_official_code(seed):
    gt, det, excluded = _tied_case(seed)
    labelmap = {1: "a", 2: "b", 3: "c", 4: "d"}
    expected = official_loop_reference(gt, det, labelmap, excluded)
    result = frame_map(gt, det, labelmap, excluded)
    for c, name in labelmap.items():
        assert result["per_class"][name] == pytest.approx(expected[c], abs=1e-12, nan_ok=True)


# --- more hand-computed cases -------------------------------------------------------------------------------


def test_detection_overlapping_two_gt_boxes_takes_the_best_and_never_falls_back():
    # GT A = (0, 0, 0.5, 1) and B = (0.1, 0, 0.6, 1); det d = (0, 0, 0.55, 1):
    #   IoU(d, A) = 0.5 / 0.55 = 0.909, IoU(d, B) = 0.45 / 0.6 = 0.75 -> argmax A.
    # d1 (0.9) takes A (TP); d2 (0.8, same box) has argmax A again: FP although B is free (no fall-back).
    # TP, FP over 2 GT: precision 1, 1/2; recall 1/2, 1/2 -> AP = 1/2.
    a, b, d = (0.0, 0.0, 0.5, 1.0), (0.1, 0.0, 0.6, 1.0), (0.0, 0.0, 0.55, 1.0)
    result = frame_map(
        [gt_row(902, a, 1, 1), gt_row(902, b, 1, 2)], [det_row(902, d, 1, 0.9), det_row(902, d, 1, 0.8)], {1: "a"}
    )
    assert result["num_true_positives"]["a"] == 1
    assert result["per_class"]["a"] == pytest.approx(0.5, abs=1e-12)


def test_equal_iou_goes_to_the_first_gt_box():
    # det (0.25, 0, 0.75, 1) has IoU 1/3 with both halves... use boxes giving IoU exactly 0.5 with two GT boxes:
    # GT L = (0, 0, 0.5, 1), R = (0.5, 0, 1, 1) [person ids 2, 1: the official order is by descending person id],
    # det D = (0, 0, 1, 1): IoU 0.5 with each -> takes the first in the official order (L, person 2): TP.
    # A second det (0.5, 0, 1, 1) = R exactly: IoU(R) = 1 -> TP. AP = 1.
    left, right = (0.0, 0.0, 0.5, 1.0), (0.5, 0.0, 1.0, 1.0)
    gt = [gt_row(902, right, 1, 1), gt_row(902, left, 1, 2)]
    result = frame_map(gt, [det_row(902, (0.0, 0.0, 1.0, 1.0), 1, 0.9), det_row(902, right, 1, 0.8)], {1: "a"})
    assert result["per_class"]["a"] == 1.0
    # with the person ids swapped, R comes first: D takes R, the exact R detection then finds R taken -> FP,
    # TP, FP over 2 GT -> AP = 1/2
    gt = [gt_row(902, right, 1, 2), gt_row(902, left, 1, 1)]
    result = frame_map(gt, [det_row(902, (0.0, 0.0, 1.0, 1.0), 1, 0.9), det_row(902, right, 1, 0.8)], {1: "a"})
    assert result["per_class"]["a"] == pytest.approx(0.5, abs=1e-12)


def test_frame_without_gt_is_evaluated_as_false_positives():
    # frame 950 has no GT at all: its detection (score 0.95) is an FP ranked first.
    # FP, TP over 1 GT: precision 0, 1/2; recall 0, 1 -> AP = 1/2 (MMAction2's default would drop it: AP 1)
    result = frame_map([gt_row(902, P, 1)], [det_row(950, P, 1, 0.95), det_row(902, P, 1, 0.9)], {1: "a"})
    assert result["per_class"]["a"] == pytest.approx(0.5, abs=1e-12)


def test_class_with_gt_only_on_excluded_frames_is_nan():
    gt = [gt_row(902, P, 1), gt_row(903, Q, 2)]
    det = [det_row(902, P, 1, 0.9), det_row(903, Q, 2, 0.9)]
    result = frame_map(gt, det, LABELMAP, ["vid,0903"])
    assert result["per_class"]["stand"] == 1.0
    assert math.isnan(result["per_class"]["sit"]) and result["num_gt"]["sit"] == 0
    assert result["mAP"] == 1.0


def test_timestamps_are_keyed_by_their_integer_value():
    # "0902" in the GT and 902 in the detections are one keyframe
    result = frame_map([("vid", "0902", *P, 1, 1)], [("vid", 902, *P, 1, 0.9)], {1: "a"})
    assert result["per_class"]["a"] == 1.0


def test_cap_counts_box_class_rows_not_boxes():
    # one box with 60 class rows of an evaluated class... the cap is over (box, class) rows: 51 rows of class 1
    # at one box, the GT-matching one scored lowest, is cut by the cap even though it is "the same box"
    gt = [gt_row(902, P, 1)]
    det = [det_row(902, FAR, 1, 0.9)] * 50 + [det_row(902, P, 1, 0.1)]
    assert frame_map(gt, det, {1: "a"})["per_class"]["a"] == 0.0


def test_class_groups_average_their_classes():
    gt = [gt_row(902, P, 1), gt_row(902, Q, 2), gt_row(902, R, 3)]
    det = [det_row(902, P, 1, 0.9), det_row(902, FAR, 2, 0.9), det_row(902, R, 3, 0.9)]
    result = frame_map_by_id(
        gt,
        det,
        {1: "a", 2: "b", 3: "c", 4: "d"},
        class_groups={"pose": [1, 2], "object": [3, 4], "interaction": [5, 6]},
    )
    assert result["group_mAP"]["pose"] == pytest.approx(0.5)  # 1 and 0
    assert result["group_mAP"]["object"] == 1.0  # 3 only: 4 has no GT (NaN, left out)
    assert math.isnan(result["group_mAP"]["interaction"])  # no evaluated class


def test_class_groups_from_counts_is_the_ava_layout():
    from alphaction.evaluation.ava import AVA_CLASS_GROUPS, class_groups_from_counts

    assert class_groups_from_counts(14, 49, 17) == AVA_CLASS_GROUPS
    assert class_groups_from_counts(5, 3, 2) == {"pose": (1, 2, 3, 4, 5), "object": (6, 7, 8), "interaction": (9, 10)}


def test_column_arrays_are_accepted():
    import numpy as np

    gt = {"video_ids": ["vid"] * 2, "timestamps": [902, 902], "boxes": np.array([P, Q]), "action_ids": [1, 1]}
    det = {
        "video_ids": np.array(["vid", "vid"]),
        "timestamps": np.array([902, 902]),
        "boxes": np.array([P, FAR]),
        "action_ids": np.array([1, 1]),
        "scores": np.array([0.9, 0.8]),
    }
    # TP, FP over 2 GT -> AP 1/2
    assert frame_map(gt, det, {1: "a"})["per_class"]["a"] == pytest.approx(0.5)


def test_cli_long_and_short_flags_groups_and_errors(tmp_path, capsys):
    gt, det, lm = tmp_path / "gt.csv", tmp_path / "det.csv", tmp_path / "map.pbtxt"
    write_csv(gt, TINY_GT)
    write_csv(det, TINY_DET)
    lm.write_text('item {\n  name: "stand"\n  id: 1\n}\nitem {\n  name: "sit"\n  id: 2\n}\n')
    result = cli_main(
        [
            "--groundtruth",
            str(gt),
            "--detections",
            str(det),
            "--labelmap",
            str(lm),
            "--class-groups",
            "pose=1",
            "object=2",
        ]
    )
    assert result["group_mAP"] == pytest.approx({"pose": 13 / 18, "object": 0.5})
    assert "mAP@0.5IOU [pose]: 0.7222" in capsys.readouterr().out
    with pytest.raises(SystemExit) as exit_info:
        cli_main(["-g", str(gt), "-d", str(tmp_path / "missing.csv"), "-l", str(lm)])
    assert exit_info.value.code != 0
    assert "missing.csv" in capsys.readouterr().err
    det.write_text("vid,0902,0.1,0.1,0.5,0.5,1,0.9\nvid,0902,0.1,oops,0.5,0.5,1,0.9\n")
    with pytest.raises(SystemExit) as exit_info:
        cli_main(["--gt", str(gt), "--det", str(det), "--labelmap", str(lm)])
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and "det.csv:2)" in err and "Traceback" not in err
    assert err.startswith("error: bad AVA row") and "\nfix: " in err
