"""Multi-label scores against values computed by hand, and threshold tuning on dev."""

import numpy as np
import pytest

from bilstm_clf.training import multi_label_metrics as ml

# 4 texts, 3 labels
TRUTH = np.array([[1, 0, 1], [0, 1, 0], [1, 1, 0], [0, 0, 0]])
PRED = np.array([[1, 0, 0], [0, 1, 1], [1, 1, 0], [1, 0, 0]], bool)


def test_scores_by_hand():
    # label 0: tp 2 fp 1 fn 0 -> F1 4/5; label 1: tp 2 fp 0 fn 0 -> 1; label 2: tp 0 fp 1 fn 1 -> 0
    # micro: tp 4, fp 2, fn 1 -> 8 / 11; subset: rows 2 only -> 1/4; Hamming: 3 wrong cells of 12
    got = ml.scores(PRED, TRUTH)
    assert got["f1_micro"] == pytest.approx(8 / 11)
    assert got["f1_macro"] == pytest.approx((0.8 + 1.0 + 0.0) / 3)
    assert got["subset_acc"] == pytest.approx(0.25)
    assert got["hamming_loss"] == pytest.approx(3 / 12)


def test_per_label_report_by_hand():
    report = ml.per_label(PRED, TRUTH, np.array([0.5, 0.4, 0.3]), ["a", "b", "c"])
    assert report["a"] == {"precision": pytest.approx(2 / 3), "recall": 1.0, "f1": pytest.approx(0.8), "support": 2, "predicted": 3, "threshold": 0.5}
    assert report["c"]["f1"] == 0.0 and report["c"]["support"] == 1 and report["c"]["threshold"] == 0.3


def test_best_f1_threshold_lies_between_the_last_positive_kept_and_the_next_score():
    scores = np.array([0.9, 0.8, 0.7, 0.6, 0.2])
    truth = np.array([1, 0, 1, 0, 0])
    # keep top 1: F1 2/3; top 3: 2*2/(3+2) = 0.8 (best); so the cut is between 0.7 and 0.6
    assert ml.best_f1_threshold(scores, truth) == pytest.approx(0.65)
    assert ml.best_f1_threshold(scores, np.zeros(5)) == ml.DEFAULT_THRESHOLD  # nothing to tune on
    # equal scores are kept or dropped together
    assert ml.best_f1_threshold(np.array([0.5, 0.5, 0.1]), np.array([1, 0, 0])) == pytest.approx(0.3)


def test_tuned_thresholds_beat_a_fixed_half_on_the_dev_set_they_are_tuned_on():
    rng = np.random.default_rng(1)
    truth = rng.random((400, 4)) < np.array([0.5, 0.2, 0.05, 0.3])
    # probabilities informative but badly placed around 0.5 (one label's scores are all low)
    probs = np.clip(0.25 * truth + rng.normal(0.3, 0.12, truth.shape), 0.001, 0.999)
    fixed = ml.scores(ml.decide(probs, np.full(4, 0.5)), truth)
    per_label = ml.tune_thresholds(probs, truth, "per_label")
    globally = ml.tune_thresholds(probs, truth, "global")
    assert len(set(globally)) == 1 and len(set(per_label)) == 4
    tuned = ml.scores(ml.decide(probs, per_label), truth)
    assert tuned["f1_macro"] > fixed["f1_macro"] + 0.03
    # each label's tuned threshold is that label's best on dev: no other threshold does better
    for j in range(4):
        best = ml.scores(ml.decide(probs[:, [j]], per_label[[j]]), truth[:, [j]])["f1_macro"]
        for t in np.linspace(0.01, 0.99, 99):
            assert ml.scores(ml.decide(probs[:, [j]], np.array([t])), truth[:, [j]])["f1_macro"] <= best + 1e-12
    assert ml.scores(ml.decide(probs, globally), truth)["f1_micro"] >= fixed["f1_micro"]
    np.testing.assert_array_equal(ml.tune_thresholds(probs, truth, 0.3), np.full(4, 0.3))
