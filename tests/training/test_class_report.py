"""Per-class precision / recall / F1 against hand-computed values."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from bilstm_clf.training.class_report import never_predicted, per_class, summary_line


def test_per_class_numbers_by_hand():
    # rows: true class, columns: predicted
    confusion = np.array([[3, 1, 0],
                          [2, 4, 0],
                          [1, 0, 0]])  # "rare" is never predicted
    report = per_class(confusion, ["a", "b", "rare"])
    assert report["a"]["precision"] == pytest.approx(3 / 6) and report["a"]["recall"] == pytest.approx(3 / 4)
    assert report["a"]["f1"] == pytest.approx(2 * 0.5 * 0.75 / 1.25)
    assert report["b"]["precision"] == pytest.approx(4 / 5) and report["b"]["recall"] == pytest.approx(4 / 6)
    assert report["rare"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 1, "predicted": 0}
    assert never_predicted(report) == ["rare"]
    assert summary_line(report) == "a F1 60.0 (n=4), b F1 72.7 (n=6), rare F1 0.0 (n=1)"


@given(st.lists(st.integers(0, 3), min_size=1, max_size=60), st.data())
def test_macro_f1_of_the_report_matches_sklearn_style_definition(true, data):
    pred = data.draw(st.lists(st.integers(0, 3), min_size=len(true), max_size=len(true)))
    confusion = np.zeros((4, 4), np.int64)
    np.add.at(confusion, (true, pred), 1)
    report = per_class(confusion, list("abcd"))
    for c, name in enumerate("abcd"):
        tp = sum(t == c and p == c for t, p in zip(true, pred))
        fp = sum(t != c and p == c for t, p in zip(true, pred))
        fn = sum(t == c and p != c for t, p in zip(true, pred))
        expected = 2 * tp / (2 * tp + fp + fn) if tp else 0.0
        assert report[name]["f1"] == pytest.approx(expected)
        assert report[name]["support"] == tp + fn and report[name]["predicted"] == tp + fp


def test_a_class_absent_from_the_split_is_not_reported_as_ignored():
    report = per_class(np.array([[2, 0], [0, 0]]), ["a", "b"])
    assert never_predicted(report) == []
