"""A bundle's parts checked against each other by running the model once, at load.

The files can each be valid and still disagree: a ``tokenizer.json`` that maps a word past the
embedding's rows (the model would fail on that word, mid-batch), labels that number other than
the model's outputs, weights that give NaN. One probe run with the tokenizer's highest id finds
all three before the first real text. Torch-free, as the runtime.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from bilstm_clf.common import bundle
from bilstm_clf.common.bundle import first_line
from bilstm_clf.common.errors import DataError


def check_against_model(session, vocabulary: dict[str, int], labels: list[str], path: Path) -> None:
    """``session``: the bundle's onnxruntime session; ``vocabulary``: the tokenizer's word -> id."""
    top = max(vocabulary.values(), default=0)
    feed = {"input_ids": np.array([[top]], np.int64), "lengths": np.array([1], np.int64)}
    try:
        (probabilities,) = session.run(["probabilities"], feed)
    except Exception as err:  # noqa: BLE001 - onnxruntime's own exception types
        raise DataError(path / bundle.TOKENIZER_FILE, f"maps a word to id {top}, which the model cannot embed: {first_line(err)}") from None
    if probabilities.ndim != 2 or probabilities.shape[1] != len(labels):
        raise DataError(path / bundle.LABELS_FILE, f"{len(labels)} labels but the model gives {probabilities.shape[-1]} probabilities")
    if not np.isfinite(probabilities).all():
        raise DataError(path / bundle.MODEL_FILE, "gives non-finite probabilities (NaN or infinite weights: a diverged training run?)")


def positive(name: str, value: object) -> int:
    """A count argument of the runtime's API (``batch_size``, ``threads``): a positive int or ValueError."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name}={value!r}: must be a positive integer")
    return int(value)
