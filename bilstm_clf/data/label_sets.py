"""Multi-label data (``data.multi_label=true``): a row's label field holds a *set* of labels.

- JSONL: a JSON list (``["billing", "urgent"]``); a string is split on ``data.label_separator``
  as in CSV/TSV, an integer is one label;
- CSV/TSV: one field with the labels joined by ``data.label_separator`` (default ``|``:
  ``billing|urgent``);
- an empty set (``[]``, or an empty field) is a bad row unless ``data.allow_empty_labels=true``.

``LabelSetParser`` turns a raw field into a sorted tuple of label names, or a problem that the
readers report as ``file:line: problem`` exactly like single-label bad rows. The targets of a
split are a multi-hot matrix [N, L]; ``MultiHotDataset`` / ``MultiHotCollate`` batch them as
float32 rows. No torch at import except in the two batching classes' methods.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from bilstm_clf.common import config_checks as check
from bilstm_clf.common.errors import ConfigError
from bilstm_clf.data.batching import EncodedDataset, PadCollate
from bilstm_clf.data.labels import canonical_label

DEFAULT_SEPARATOR = "|"
LabelSet = tuple[str, ...]


@dataclass(frozen=True)
class LabelSetParser:
    """Raw label value (CSV/TSV field text, or any JSON value) -> (labels, problem)."""

    separator: str = DEFAULT_SEPARATOR
    allow_empty: bool = False

    def __call__(self, value) -> tuple[LabelSet | None, str | None]:
        if value is None:
            return None, "missing label"
        if isinstance(value, bool) or isinstance(value, (dict, float)) and not (isinstance(value, float) and value.is_integer()):
            return None, f"label {value!r} is not a list of labels, a string or an integer"
        if isinstance(value, list):
            names = []
            for item in value:
                whole = isinstance(item, int) or isinstance(item, float) and item.is_integer()  # JSON 1.0 is class 1
                if isinstance(item, bool) or not (isinstance(item, str) or whole):
                    return None, f"label list {value!r}: {item!r} is not a string or an integer"
                names.append(canonical_label(item))
        elif isinstance(value, (int, float)):
            names = [canonical_label(int(value))]
        else:
            text = str(value).strip()
            names = [canonical_label(part) for part in text.split(self.separator)] if text else []
        if any(not name for name in names):
            return None, f"an empty label name in {value!r} (separator {self.separator!r})"
        for name in names:
            if "\x00" in name:
                return None, "contains a NUL character (a binary file, or UTF-16 text: set data.encoding=utf-16)"
            try:
                name.encode("utf-8")
            except UnicodeEncodeError:
                return None, "an unpaired surrogate escape (such as \\ud800) in a string"
        if not names and not self.allow_empty:
            return None, "empty label set (set data.allow_empty_labels=true if a text may have no label)"
        return tuple(sorted(set(names))), None


def label_set_options(multi_label, separator, allow_empty) -> dict:
    """The reader options of ``data.multi_label`` / ``label_separator`` / ``allow_empty_labels``,
    checked: ``{"label_parser": LabelSetParser(...)}`` in multi-label mode, else nothing."""
    check.boolean("data.multi_label", multi_label)
    check.boolean("data.allow_empty_labels", allow_empty)
    if not isinstance(separator, str) or not separator:
        raise ConfigError("data.label_separator", separator, "must be a non-empty string, such as '|'")
    return {"label_parser": LabelSetParser(separator, allow_empty)} if multi_label else {}


def label_vocabulary(label_sets: Iterable[LabelSet]) -> list[str]:
    """Every label that occurs, in the stable order of single-label data (numeric, else alphabetical)."""
    from bilstm_clf.data.readers import label_order

    return label_order(name for labels in label_sets for name in labels)


def multi_hot(label_sets: Sequence[LabelSet], label_ids: dict[str, int]) -> np.ndarray:
    """[N, L] float32, 1 where the row carries the label."""
    targets = np.zeros((len(label_sets), len(label_ids)), np.float32)
    for row, labels in enumerate(label_sets):
        targets[row, [label_ids[name] for name in labels]] = 1.0
    return targets


def multi_hot_dataset(ids: Sequence[Sequence[int]], label_sets: Sequence[LabelSet], label_ids: dict[str, int]) -> MultiHotDataset:
    return MultiHotDataset(ids, multi_hot(label_sets, label_ids))


class MultiHotDataset(EncodedDataset):
    """Item ``i`` is ``(ids, multi-hot row [L], i)``; rows may be stored as uint8 (the cache)."""

    def __init__(self, ids: Sequence[Sequence[int]], targets: np.ndarray):
        super().__init__(ids, np.zeros(len(ids), np.int64))
        self.labels = np.asarray(targets, dtype=np.float32)

    def __getitem__(self, i: int):
        return self.row(i), self.labels[i], i


class MultiHotCollate(PadCollate):
    """As ``PadCollate``, with ``labels`` a float32 [B, L] multi-hot matrix."""

    def __call__(self, items) -> dict:
        import torch

        batch = super().__call__([(ids, 0, i) for ids, _, i in items])
        batch["labels"] = torch.from_numpy(np.stack([labels for _, labels, _ in items]).astype(np.float32, copy=False))
        return batch
