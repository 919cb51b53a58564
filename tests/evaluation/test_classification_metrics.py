"""Classification metrics against hand-worked confusion matrices (values worked out on paper, see comments)."""

from __future__ import annotations

import csv

import numpy as np
import pytest

from alphaction.evaluation.classification import (
    average_precision,
    classification_metrics,
    confusion_matrix,
    multilabel_map,
    topk_accuracy,
    write_confusion_csv,
)


def _one_hot(preds, k):
    s = np.zeros((len(preds), k))
    s[np.arange(len(preds)), preds] = 1.0
    return s


def test_three_class_example_worked_by_hand():
    labels = np.array([0, 0, 0, 1, 1, 2])
    preds = np.array([0, 0, 1, 1, 2, 2])
    res = classification_metrics(_one_hot(preds, 3), labels)
    # rows = true class, columns = predicted
    assert res["confusion"].tolist() == [[2, 1, 0], [0, 1, 1], [0, 0, 1]]
    # class 0: P 2/2, R 2/3, F1 0.8 | class 1: P 1/2, R 1/2, F1 1/2 | class 2: P 1/2, R 1/1, F1 2/3
    assert res["per_class"]["precision"] == pytest.approx([1.0, 0.5, 0.5])
    assert res["per_class"]["recall"] == pytest.approx([2 / 3, 0.5, 1.0])
    assert res["per_class"]["f1"] == pytest.approx([0.8, 0.5, 2 / 3])
    assert res["top1"] == pytest.approx(4 / 6)
    assert res["mean_class_accuracy"] == pytest.approx(13 / 18)
    assert res["precision_macro"] == pytest.approx(2 / 3)
    assert res["recall_macro"] == pytest.approx(13 / 18)
    assert res["f1_macro"] == pytest.approx(59 / 90)
    # weights = supports 3, 2, 1
    assert res["precision_weighted"] == pytest.approx(4.5 / 6)
    assert res["recall_weighted"] == pytest.approx(4 / 6)
    assert res["f1_weighted"] == pytest.approx(61 / 90)


def test_macro_skips_absent_classes_and_zero_division_gives_zero():
    # K = 3; class 2 neither occurs nor is predicted; class 1 is predicted once but never occurs
    res = classification_metrics(_one_hot(np.array([0, 1]), 3), np.array([0, 0]))
    assert res["confusion"].tolist() == [[1, 1, 0], [0, 0, 0], [0, 0, 0]]
    assert res["precision_macro"] == pytest.approx((1.0 + 0.0) / 2)
    assert res["recall_macro"] == pytest.approx((0.5 + 0.0) / 2)
    assert res["mean_class_accuracy"] == pytest.approx(0.5)  # over classes with samples only


def test_top5_counts_the_label_among_the_five_best_scores():
    scores = np.array([[0.6, 0.5, 0.4, 0.3, 0.2, 0.1], [0.6, 0.5, 0.4, 0.3, 0.2, 0.1]])
    assert topk_accuracy(scores, np.array([4, 5]), 5) == pytest.approx(0.5)  # rank 5 hit, rank 6 miss
    assert topk_accuracy(scores, np.array([0, 1]), 1) == pytest.approx(0.5)
    assert topk_accuracy(scores[:, :3], np.array([2, 2]), 5) == 1.0  # fewer than 5 classes


def test_confusion_matrix_counts():
    cm = confusion_matrix(np.array([1, 1, 2, 0]), np.array([1, 0, 2, 2]), 3)
    assert cm.tolist() == [[0, 0, 1], [1, 1, 0], [0, 0, 1]]


def test_average_precision_by_hand_and_multilabel_map():
    # positives at ranks 1 and 3: precisions 1/1 and 2/3 -> AP 5/6
    assert average_precision(np.array([0.9, 0.8, 0.7, 0.6]), np.array([1, 0, 1, 0])) == pytest.approx(5 / 6)
    scores = np.array([[0.9, 0.1], [0.8, 0.7], [0.7, 0.2], [0.6, 0.3]])
    targets = np.array([[1, 0], [0, 1], [1, 0], [0, 0]])
    res = multilabel_map(scores, targets)
    # class 1: the only positive ranks first -> AP 1
    assert res["per_class_AP"] == pytest.approx([5 / 6, 1.0])
    assert res["mAP"] == pytest.approx((5 / 6 + 1.0) / 2)
    assert np.isnan(average_precision(np.array([0.5]), np.array([0])))


def test_confusion_csv_round_trip(tmp_path):
    path = tmp_path / "cm.csv"
    write_confusion_csv(str(path), np.array([[2, 1], [0, 3]]), ["run", "walk"])
    rows = list(csv.reader(open(path)))
    assert rows == [["true\\pred", "run", "walk"], ["run", "2", "1"], ["walk", "0", "3"]]
