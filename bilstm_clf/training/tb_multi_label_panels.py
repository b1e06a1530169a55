"""TensorBoard panels of multi-label models as pure functions (no Lightning): the per-label table
(support, precision, recall, F1, threshold) and dev texts whose predicted label set is wrong,
with the labels it misses and the ones it adds. ``tb_reports`` writes them, with one PR curve per
label over its sigmoid probability."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from bilstm_clf.training.tb_panels import ErrorSample, markdown_escape, shorten


def per_label_markdown(report: dict[str, dict[str, float | int]], scores: dict[str, float]) -> str:
    """One row per label, then the split's micro-/macro-F1, subset accuracy and Hamming loss."""
    lines = ["| label | support | predicted | precision | recall | F1 | threshold |", "|---|---:|---:|---:|---:|---:|---:|"]
    for name, row in report.items():
        lines.append(
            f"| {markdown_escape(name)} | {row['support']} | {row['predicted']} | {row['precision']:.4f} "
            f"| {row['recall']:.4f} | {row['f1']:.4f} | {row['threshold']:.4f} |"
        )
    lines += ["", ", ".join(f"{k} {v:.4f}" for k, v in scores.items())]
    return "\n".join(lines)


def _names(mask: np.ndarray, label_names: Sequence[str]) -> str:
    return ", ".join(markdown_escape(str(label_names[j])) for j in np.flatnonzero(mask)) or "∅"


def wrong_sets_markdown(
    texts: Sequence[str], targets: np.ndarray, probabilities: np.ndarray, thresholds: np.ndarray, label_names: Sequence[str], sample: ErrorSample
) -> str:
    """A fixed random sample of the texts whose predicted set differs from the true one, the
    most wrong (labels missed + added) first: true set, predicted set, missing, extra."""
    truth = np.asarray(targets) > 0.5
    predicted = np.asarray(probabilities) >= np.asarray(thresholds)[None, :]
    errors = (truth != predicted).sum(axis=1)
    wrong = np.flatnonzero(errors)
    header = f"{len(wrong)} of {len(truth)} texts with a wrong label set"
    if len(wrong) == 0:
        return header + "."
    chosen = sample.draw(wrong, errors)
    lines = [
        f"{header}; {len(chosen)} shown, most wrong labels first. Missing: true labels not predicted; "
        "extra: predicted labels that are not true (with their probability).",
        "",
        "| text | true | predicted | missing | extra |",
        "|---|---|---|---|---|",
    ]
    for i in chosen:
        missing = truth[i] & ~predicted[i]
        extra = predicted[i] & ~truth[i]
        with_p = lambda mask: ", ".join(f"{markdown_escape(str(label_names[j]))} ({probabilities[i, j]:.2f})" for j in np.flatnonzero(mask)) or "∅"  # noqa: E731
        lines.append(
            f"| {markdown_escape(shorten(texts[i], sample.max_chars))} | {_names(truth[i], label_names)} | {_names(predicted[i], label_names)} "
            f"| {with_p(missing)} | {with_p(extra)} |"
        )
    return "\n".join(lines)
