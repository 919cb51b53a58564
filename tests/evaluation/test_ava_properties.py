"""Property tests of frame_map (hypothesis): perfect detections, row order, classes outside the label map."""

from __future__ import annotations

import math
import random

import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from alphaction.evaluation.ava import frame_map  # noqa: E402

LABELMAP = {1: "a", 2: "b", 4: "d"}
coordinate = st.integers(0, 10).map(lambda i: i / 20)  # x1, y1 <= 0.5 < x2, y2: valid boxes


@st.composite
def boxes(draw):
    x1, y1 = draw(coordinate), draw(coordinate)
    w, h = draw(st.integers(1, 10)), draw(st.integers(1, 10))
    return (x1, y1, x1 + w / 20, y1 + h / 20)


@st.composite
def ground_truth(draw):
    rows = []
    for video in ("v0", "v1"):
        for ts in range(900, 900 + draw(st.integers(1, 3))):
            for person in range(draw(st.integers(0, 3))):
                box = draw(boxes())
                for action in draw(st.sets(st.sampled_from([1, 2, 3, 4]), min_size=1, max_size=3)):
                    rows.append((video, ts, *box, action, person))
    return rows


@st.composite
def detections(draw, gt):
    rows = []
    frames = sorted({(r[0], r[1]) for r in gt}) + [("v2", 950)]  # plus a frame without GT
    for video, ts in frames:
        for _ in range(draw(st.integers(0, 8))):
            rows.append(
                (video, ts, *draw(boxes()), draw(st.sampled_from([1, 2, 3, 4])), draw(st.integers(0, 1000)) / 1000)
            )
    return rows


def _same(x, y):
    assert x["per_class"] == pytest.approx(y["per_class"], abs=1e-12, nan_ok=True)
    assert math.isnan(x["mAP"]) and math.isnan(y["mAP"]) or x["mAP"] == pytest.approx(y["mAP"], abs=1e-12)


@settings(max_examples=60, deadline=None)
@given(ground_truth())
def test_perfect_detections_score_one(gt):
    # one detection per GT (box, action) with distinct GT boxes per class and frame: every class with GT gets 1.0
    unique = list(dict.fromkeys((r[0], r[1], *r[2:7]) for r in gt))
    det = [(*r, 1.0 - i / (10 * len(unique) + 1)) for i, r in enumerate(unique)]
    gt = [r for r in gt if (r[0], r[1], *r[2:7]) in set(unique)]
    # identical boxes of different persons under one action are duplicates that cannot both be matched
    seen, gt_unique = set(), []
    for r in gt:
        if (r[0], r[1], *r[2:7]) not in seen:
            seen.add((r[0], r[1], *r[2:7]))
            gt_unique.append(r)
    result = frame_map(gt_unique, det, LABELMAP)
    for class_id, ap in result["per_class"].items():
        if result["num_gt"][class_id]:
            assert ap == pytest.approx(1.0, abs=1e-12)
        else:
            assert math.isnan(ap)


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_row_order_changes_nothing(data):
    gt = data.draw(ground_truth())
    det = data.draw(detections(gt))
    # distinct scores per frame: with ties, file order legitimately decides (the official heap)
    det = [(*r[:7], round(r[7] + i * 1e-7, 9)) for i, r in enumerate(det)]
    seed = data.draw(st.integers(0, 2**32 - 1))
    shuffled_gt, shuffled_det = gt[:], det[:]
    random.Random(seed).shuffle(shuffled_gt)
    random.Random(seed + 1).shuffle(shuffled_det)
    # random frames: GT and detections may share none (allowed here: the property holds for mAP 0 too)
    _same(
        frame_map(gt, det, LABELMAP, max_detections_per_frame=5, allow_disjoint=True),
        frame_map(shuffled_gt, shuffled_det, LABELMAP, max_detections_per_frame=5, allow_disjoint=True),
    )


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_classes_outside_the_labelmap_change_nothing(data):
    gt = data.draw(ground_truth())
    det = data.draw(detections(gt))
    extra = [(*r[:6], data.draw(st.sampled_from([3, 5, 99])), data.draw(st.floats(0, 1))) for r in det]
    mixed = det + extra
    random.Random(data.draw(st.integers(0, 1000))).shuffle(mixed)
    order = {r: i for i, r in enumerate(mixed)}
    # the evaluated rows keep their relative order, so heap ties resolve identically
    det_in_mixed_order = sorted(det, key=order.__getitem__)
    _same(
        frame_map(gt, det_in_mixed_order, LABELMAP, max_detections_per_frame=4, allow_disjoint=True),
        frame_map(gt, mixed, LABELMAP, max_detections_per_frame=4, allow_disjoint=True),
    )
