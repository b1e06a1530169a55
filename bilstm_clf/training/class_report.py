"""Per-class precision, recall and F1 from a confusion matrix, and the classes a model never
predicts: what a rare class's fate looks like, in numbers a summary line can carry. Pure numpy."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def per_class(confusion: np.ndarray, label_names: Sequence[str]) -> dict[str, dict[str, float | int]]:
    """``confusion[true, predicted]`` counts -> {label: precision, recall, f1, support, predicted}.
    A class with no predictions has precision 0 (and so F1 0), as scikit-learn's zero_division=0."""
    confusion = np.asarray(confusion, dtype=np.int64)
    hits = np.diag(confusion)
    support = confusion.sum(axis=1)
    predicted = confusion.sum(axis=0)
    report: dict[str, dict[str, float | int]] = {}
    for i, name in enumerate(label_names):
        precision = hits[i] / predicted[i] if predicted[i] else 0.0
        recall = hits[i] / support[i] if support[i] else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        report[str(name)] = {
            "precision": float(precision),
            "recall": float(recall),
            "f1": float(f1),
            "support": int(support[i]),
            "predicted": int(predicted[i]),
        }
    return report


def never_predicted(report: dict[str, dict[str, float | int]]) -> list[str]:
    """Classes present in the split that the model predicts for no example."""
    return [name for name, row in report.items() if row["support"] > 0 and row["predicted"] == 0]


def summary_line(report: dict[str, dict[str, float | int]]) -> str:
    """``neg F1 81.2 (n=912), pos F1 80.3 (n=909)``: one line, in label order."""
    return ", ".join(f"{name} F1 {100 * row['f1']:.1f} (n={row['support']})" for name, row in report.items())
