"""Pass 1 of a build: each data file read once, row by row (``readers.iter_examples``), its texts
turned into provisional word ids (``word_ids.WordIndex``) appended to a file on disk; memory holds
the vocabulary and a few numbers per row, never the corpus."""

from __future__ import annotations

import itertools
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from bilstm_clf.data.prepared_store import PrepareOptions
from bilstm_clf.data.readers import ReadReport, iter_examples
from bilstm_clf.data.word_ids import WordIndex

CHUNK_ROWS = 20_000  # rows tokenised at once


@dataclass
class FileRows:
    """One file's rows after pass 1: provisional ids on disk, a few numbers per row in memory."""

    path: Path
    report: ReadReport
    token_path: Path
    lengths: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    lines: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    label_ids: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))  # flat, provisional
    label_counts: np.ndarray | None = None  # labels per row (multi-label data); None: one each
    text_path: Path | None = None
    text_lengths: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.lengths)

    @property
    def single_label(self) -> bool:
        return self.label_counts is None


def read_file(path: Path, work: Path, name: str, options: PrepareOptions, index: WordIndex, labels: defaultdict, keep_texts: bool) -> FileRows:
    report = ReadReport(str(path))
    rows = FileRows(path, report, work / f"{name}.ids")
    lengths, lines, label_ids, label_counts, text_lengths = [], [], [], [], []
    text_file = None
    if keep_texts:
        rows.text_path = work / f"{name}.texts"
        text_file = rows.text_path.open("wb")
    with rows.token_path.open("wb") as token_file:
        for chunk in _chunks(iter_examples(path, report=report, **options.read_options), CHUNK_ROWS):
            ids, chunk_lengths = index.encode([ex.text for ex in chunk])
            token_file.write(ids.tobytes())
            lengths.append(chunk_lengths)
            lines.append(np.fromiter((ex.line for ex in chunk), np.int64, len(chunk)))
            if options.multi_label:
                label_ids.append(np.fromiter((labels[n] for ex in chunk for n in ex.label), np.int64))
                label_counts.append(np.fromiter((len(ex.label) for ex in chunk), np.int64, len(chunk)))
            else:
                label_ids.append(np.fromiter(map(labels.__getitem__, (ex.label for ex in chunk)), np.int64, len(chunk)))
            if text_file is not None:
                encoded = [ex.text.encode("utf-8") for ex in chunk]
                text_file.write(b"".join(encoded))
                text_lengths.append(np.fromiter(map(len, encoded), np.int64, len(encoded)))
    if text_file is not None:
        text_file.close()
        rows.text_lengths = concat(text_lengths)
    rows.lengths, rows.lines, rows.label_ids = concat(lengths), concat(lines), concat(label_ids)
    rows.label_counts = concat(label_counts) if options.multi_label else None
    return rows


def _chunks(items, size: int) -> Iterator[list]:
    iterator = iter(items)
    while chunk := list(itertools.islice(iterator, size)):
        yield chunk


def concat(parts: list[np.ndarray]) -> np.ndarray:
    return np.concatenate(parts) if parts else np.zeros(0, np.int64)
