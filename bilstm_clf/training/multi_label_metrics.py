"""Multi-label scores and decision thresholds, as pure numpy.

A prediction is the set of labels whose sigmoid probability is at least that label's threshold.
Thresholds are tuned on dev (``tune_thresholds``): per label, the one that maximises that
label's F1 (``per_label``); one for all labels, the one that maximises micro-F1 (``global``); or a
fixed number. Scores (``scores``), as scikit-learn computes them with ``zero_division=0``:

- micro-F1: 2·TP / (2·TP + FP + FN), the counts summed over all labels;
- macro-F1: the mean over labels of each label's F1;
- subset accuracy: the share of texts whose predicted set equals the true set exactly;
- Hamming loss: the share of (text, label) decisions that are wrong.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

THRESHOLD_MODES = ("per_label", "global")
MIN_THRESHOLD = 1e-6
DEFAULT_THRESHOLD = 0.5  # for a label that has no positive dev example to tune on


def best_f1_threshold(probabilities: np.ndarray, targets: np.ndarray) -> float:
    """The threshold t for which ``probabilities >= t`` has the highest F1 against ``targets``
    (1-D). It lies halfway between the last score predicted positive and the next lower distinct
    score, so it does not sit on a dev example. No positives: ``DEFAULT_THRESHOLD``."""
    scores = np.asarray(probabilities, dtype=np.float64).ravel()
    truth = np.asarray(targets).ravel() > 0.5
    positives = int(truth.sum())
    if positives == 0 or scores.size == 0:
        return DEFAULT_THRESHOLD
    order = np.argsort(-scores, kind="stable")
    scores, truth = scores[order], truth[order]
    true_positives = np.cumsum(truth)
    predicted = np.arange(1, scores.size + 1)
    # only cut where the next score differs: equal scores are all in or all out
    cut = np.append(scores[1:] < scores[:-1], True)
    f1 = np.where(cut, 2 * true_positives / (predicted + positives), -1.0)
    k = int(np.argmax(f1))  # the first (highest threshold) of equally good cuts
    lower = scores[k + 1] if k + 1 < scores.size else 0.0
    return float((scores[k] + lower) / 2)


def tune_thresholds(probabilities: np.ndarray, targets: np.ndarray, mode: str | float) -> np.ndarray:
    """One threshold per label [L] (float64): ``per_label``, ``global`` or a fixed number."""
    probabilities = np.asarray(probabilities, dtype=np.float64)
    labels = probabilities.shape[1]
    if not isinstance(mode, str):
        return np.full(labels, float(mode))
    if mode == "global":
        tuned = np.full(labels, best_f1_threshold(probabilities.ravel(), np.asarray(targets).ravel()))
    elif mode == "per_label":
        tuned = np.array([best_f1_threshold(probabilities[:, j], np.asarray(targets)[:, j]) for j in range(labels)])
    else:
        raise ValueError(f"threshold mode {mode!r}: expected one of {', '.join(THRESHOLD_MODES)} or a number")
    return np.clip(tuned, MIN_THRESHOLD, 1.0)  # a bundle's thresholds lie in (0, 1]


def decide(probabilities: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """bool [N, L]: each label at or above its threshold."""
    return np.asarray(probabilities) >= np.asarray(thresholds)[None, :]


def _f1(tp, fp, fn):
    denominator = 2 * tp + fp + fn
    return np.divide(2 * tp, denominator, out=np.zeros_like(denominator, dtype=np.float64), where=denominator > 0)


def scores(predicted: np.ndarray, targets: np.ndarray) -> dict[str, float]:
    """f1_micro, f1_macro, subset_acc, hamming_loss of bool decisions [N, L] against targets [N, L]."""
    predicted = np.asarray(predicted, dtype=bool)
    truth = np.asarray(targets) > 0.5
    tp = (predicted & truth).sum(axis=0).astype(np.float64)
    fp = (predicted & ~truth).sum(axis=0).astype(np.float64)
    fn = (~predicted & truth).sum(axis=0).astype(np.float64)
    return {
        "f1_micro": float(_f1(tp.sum(), fp.sum(), fn.sum())),
        "f1_macro": float(_f1(tp, fp, fn).mean()) if tp.size else 0.0,
        "subset_acc": float((predicted == truth).all(axis=1).mean()) if len(truth) else 0.0,
        "hamming_loss": float((predicted != truth).mean()) if truth.size else 0.0,
    }


def per_label(predicted: np.ndarray, targets: np.ndarray, thresholds: np.ndarray, label_names: Sequence[str]) -> dict[str, dict[str, float | int]]:
    """{label: precision, recall, f1, support, predicted, threshold}, the keys of single-label
    ``class_report.per_class`` plus the threshold."""
    predicted = np.asarray(predicted, dtype=bool)
    truth = np.asarray(targets) > 0.5
    report: dict[str, dict[str, float | int]] = {}
    for j, name in enumerate(label_names):
        tp = int((predicted[:, j] & truth[:, j]).sum())
        n_pred, support = int(predicted[:, j].sum()), int(truth[:, j].sum())
        precision = tp / n_pred if n_pred else 0.0
        recall = tp / support if support else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        report[str(name)] = {
            "precision": float(precision),
            "recall": float(recall),
            "f1": float(f1),
            "support": support,
            "predicted": n_pred,
            "threshold": float(thresholds[j]),
        }
    return report
