"""Rows dropped while a detection CSV is read (``prefilter``) never change a number: the CSV path equals the
in-memory path, which reads nothing away, on files made to stress the filter."""

from __future__ import annotations

import math

import numpy as np
import pytest

from alphaction.evaluation.ava import AvaColumns, fastcsv, frame_map, write_csv
from alphaction.evaluation.ava.prefilter import CapPrefilter

LABELS = {1: "a", 2: "b", 4: "c", 7: "d"}


def _case(rng, frames=12, interleave=False):
    gt, det = [], []
    for f in range(frames):
        vid, ts = f"v{f % 3}", 900 + f
        for p in range(int(rng.integers(1, 4))):
            x, y = rng.uniform(0, 0.5, 2)
            box = [round(x, 3), round(y, 3), round(x + 0.3, 3), round(y + 0.4, 3)]
            gt.append((vid, ts, *box, int(rng.choice([1, 2, 4, 7])), p))
        for _ in range(int(rng.integers(20, 90))):  # many rows per frame: the cap of 50 bites
            x, y = rng.uniform(0, 0.6, 2)
            box = [round(x, 3), round(y, 3), round(x + rng.uniform(-0.05, 0.4), 3), round(y + 0.35, 3)]
            score = float(rng.choice([0.1, 0.25, 0.5, 0.5, 0.75, 0.9]))  # heavy ties, at the cap boundary too
            det.append((vid, ts, *box, int(rng.choice([1, 2, 3, 4, 7, 9])), score))  # 3 and 9: not evaluated
    if interleave:  # frames split into runs, in several places of the file
        order = rng.permutation(len(det))
        det = [det[i] for i in np.sort(order[: len(det) // 2])] + [det[i] for i in np.sort(order[len(det) // 2 :])]
    return gt, det


def _same(a: dict, b: dict) -> bool:
    return (
        all(math.isnan(x) and math.isnan(y) or x == y for x, y in zip(a.values(), b.values())) and a.keys() == b.keys()
    )


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("interleave", [False, True])
def test_reading_with_the_prefilter_gives_the_numbers_of_reading_everything(tmp_path, monkeypatch, seed, interleave):
    monkeypatch.setattr(fastcsv, "CHUNK_BYTES", 700)  # frames straddle chunks; both reader paths run
    rng = np.random.default_rng(seed)
    gt, det = _case(rng, interleave=interleave)
    write_csv(tmp_path / "gt.csv", gt)
    write_csv(tmp_path / "det.csv", det)
    excluded = [("v1", 901)]
    from_file = frame_map(tmp_path / "gt.csv", tmp_path / "det.csv", LABELS, excluded)
    from_rows = frame_map(AvaColumns.from_rows(gt).rounded(), AvaColumns.from_rows(det).rounded(), LABELS, excluded)
    assert _same(from_file["per_class"], from_rows["per_class"])
    assert from_file["num_detections"] == from_rows["num_detections"]
    assert from_file["mAP"] == from_rows["mAP"] or (math.isnan(from_file["mAP"]) and math.isnan(from_rows["mAP"]))


def test_the_filter_keeps_what_the_heap_might_keep():
    lut = np.zeros(10, bool)
    lut[[1, 2]] = True
    # one frame: 6 rows of class 1 with scores 5,4,3,3,2,1 (cap 3), one row outside the label map, one NaN
    codes = np.zeros(8, np.int64)
    ts = np.full(8, 900)
    actions = np.array([1, 1, 1, 1, 1, 1, 5, 2])
    values = np.array([1.0, 5.0, 4.0, 3.0, 3.0, 2.0, 9.0, np.nan])
    keep, (first, thinned) = CapPrefilter(lut, 3)(codes, ts, np.zeros((8, 4)), actions, values, np.ones(8, bool))
    # a tie (3, 3) at the boundary of the cap: the heap decides which stays, so the frame keeps all its rows
    assert keep.tolist() == [True, True, True, True, True, True, False, True] and thinned.tolist() == [False]
    values[4] = 2.5  # no tie: 5, 4, 3 stay; 2.5 and 2 go; the 1 stays as the frame's first row
    keep, (first, thinned) = CapPrefilter(lut, 3)(codes, ts, np.zeros((8, 4)), actions, values, np.ones(8, bool))
    assert keep.tolist() == [True, True, True, True, False, False, False, True] and thinned.tolist() == [True]
    assert first.tolist() == [0]


def test_a_frames_first_row_keeps_its_place_even_when_the_cap_drops_it(tmp_path):
    # Frame A appears first with a row the cap of 3 drops (three higher rows follow); frame B's only row comes
    # before A's others. The official frame order is A, B (first appearance), so for class 1 the pooled tied
    # scores [A: TP 0.5, B: FP 0.5] go through np.argsort(...)[::-1] as [B, A]: FP first, AP = 0.5 by hand.
    # Had the reader lost A's first row, the order would be B, A and the AP 1.0.
    box = (0.1, 0.1, 0.5, 0.5)
    gt = [("vA", 900, *box, 1, 0)]
    det = [
        ("vA", 900, 0.6, 0.6, 0.9, 0.9, 1, 0.1),
        ("vB", 900, 0.6, 0.6, 0.9, 0.9, 1, 0.5),
        ("vA", 900, *box, 1, 0.5),
        ("vA", 900, 0.6, 0.6, 0.9, 0.9, 2, 0.9),
        ("vA", 900, 0.6, 0.6, 0.9, 0.8, 2, 0.8),
    ]
    write_csv(tmp_path / "gt.csv", gt)
    write_csv(tmp_path / "det.csv", det)
    result = frame_map(tmp_path / "gt.csv", tmp_path / "det.csv", LABELS, max_detections_per_frame=3)
    assert result["per_class"][1] == 0.5
    assert result["num_detections"][1] == 2  # A's 0.1 row did not survive the cap


@pytest.mark.parametrize("seed", range(4))
def test_a_small_cap_and_many_ties_still_give_the_unfiltered_numbers(tmp_path, seed):
    rng = np.random.default_rng(100 + seed)
    gt, det = _case(rng, frames=20, interleave=bool(seed % 2))
    write_csv(tmp_path / "gt.csv", gt)
    write_csv(tmp_path / "det.csv", det)
    for cap in (3, 7, 20):
        from_file = frame_map(tmp_path / "gt.csv", tmp_path / "det.csv", LABELS, max_detections_per_frame=cap)
        from_rows = frame_map(
            AvaColumns.from_rows(gt).rounded(),
            AvaColumns.from_rows(det).rounded(),
            LABELS,
            max_detections_per_frame=cap,
        )
        assert _same(from_file["per_class"], from_rows["per_class"]), cap
        assert from_file["num_detections"] == from_rows["num_detections"], cap


G, F = (0.1, 0.1, 0.5, 0.5), (0.6, 0.6, 0.9, 0.9)  # a box on the ground truth, one far from it
GT_AB = [("vA", 900, *G, 1, 0), ("vA", 900, *G, 2, 0), ("vB", 900, *G, 1, 0)]


def _file_and_rows(tmp_path, det, labels):
    write_csv(tmp_path / "gt.csv", GT_AB)
    write_csv(tmp_path / "det.csv", det)
    from_file = frame_map(tmp_path / "gt.csv", tmp_path / "det.csv", labels, max_detections_per_frame=3)
    from_rows = frame_map(
        AvaColumns.from_rows(GT_AB).rounded(), AvaColumns.from_rows(det).rounded(), labels, max_detections_per_frame=3
    )
    return from_file, from_rows


def test_a_thinned_frame_with_two_entries_of_one_class_and_one_score_keeps_its_heap_order(tmp_path):
    # frame vA: 8 rows over a cap of 3; its top 3 are the 0.9s of classes 2, 2 and 1. The two class-2 entries
    # share a score, so which one is matched first (the one on the ground truth or the far one) is the heap's
    # array order, which the rows below the cap shape too: the frame must keep all its rows
    det = [
        ("vA", 900, *F, 2, 0.2),
        ("vA", 900, *F, 1, 0.2),
        ("vA", 900, *G, 1, 0.5),
        ("vA", 900, *G, 2, 0.8),
        ("vA", 900, *G, 2, 0.9),
        ("vA", 900, *F, 2, 0.9),
        ("vA", 900, *F, 1, 0.2),
        ("vA", 900, *G, 1, 0.9),
        ("vB", 900, *G, 1, 0.5),
    ]
    from_file, from_rows = _file_and_rows(tmp_path, det, {1: "a", 2: "b"})
    assert from_file["per_class"] == from_rows["per_class"] == {1: 1.0, 2: 1.0}


def test_a_frame_split_in_two_blocks_is_read_again_in_full(tmp_path, caplog):
    det = [
        ("vA", 900, *G, 2, 0.8),
        ("vA", 900, *G, 2, 0.5),
        ("vA", 900, *G, 2, 0.9),
        ("vA", 900, *F, 1, 0.9),
        ("vB", 900, *F, 1, 0.8),
        ("vA", 900, *F, 2, 0.9),
        ("vB", 900, *G, 2, 0.2),
        ("vB", 900, *G, 2, 0.9),
        ("vB", 900, *G, 1, 0.5),
        ("vA", 900, *G, 2, 0.2),
        ("vB", 900, *G, 1, 0.9),
    ]
    with caplog.at_level("INFO", logger="alphaction.evaluation.ava.prefilter"):
        from_file, from_rows = _file_and_rows(tmp_path, det, {1: "a", 2: "b"})
    assert "reading it again in full" in caplog.text
    assert from_file["per_class"] == from_rows["per_class"] == {1: 0.5, 2: 0.5}


def test_scores_of_any_range_are_filtered_alike():
    # the fast one-key sort cannot order scores near 1e300 (the key overflows): the exact two-key sort takes over
    rng = np.random.default_rng(3)
    n = 400
    codes = np.repeat(np.arange(4), n // 4)
    ts = np.full(n, 900)
    actions = rng.choice([1, 2, 7], n)
    values = rng.permutation(n) * 0.37 + 0.01  # distinct scores: nothing ties, so runs are thinned
    lut = np.zeros(10, bool)
    lut[[1, 2, 7]] = True
    small = CapPrefilter(lut, 20)(codes, ts, np.zeros((n, 4)), actions, values, np.ones(n, bool))
    huge = CapPrefilter(lut, 20)(codes, ts, np.zeros((n, 4)), actions, values * 1e300, np.ones(n, bool))
    assert small[0].tolist() == huge[0].tolist() and small[1][1].tolist() == huge[1][1].tolist()
    assert 0 < small[0].sum() < n  # some rows thinned away, some kept
