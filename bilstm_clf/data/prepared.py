"""Encoded splits as flat arrays, built from the data files in one streaming pass.

Pass 1 (``file_rows``) reads each file once and turns its texts into provisional word ids on disk.
Then the validation rows are carved (when there is no dev file), the vocabulary is counted on the
training rows, labels and texts without tokens are checked exactly as before, and each split is
written as the arrays ``prepared_store`` describes and reads back. ``bilstm_clf.data.cache`` keys
and publishes the directory. No torch here.
"""

from __future__ import annotations

import functools
import json
import shutil
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bilstm_clf.common.errors import ConfigError, DataError
from bilstm_clf.data.file_rows import FileRows, read_file
from bilstm_clf.data.label_sets import label_vocabulary
from bilstm_clf.data.prepared_store import FORMAT_VERSION, SPLITS, NpyWriter, PrepareOptions, report_to_json
from bilstm_clf.data.readers import SKIP_HINT, label_order
from bilstm_clf.data.tokenizer import Tokenizer
from bilstm_clf.data.word_ids import WordIndex, ranked_vocabulary

BLOCK_TOKENS = 1 << 22  # tokens read back at once while writing the splits (16 MB of int32)


# --- the build ----------------------------------------------------------------------------
@dataclass
class _Split:
    """A split as rows of one file: ``rows`` (sorted indices) of ``source``."""

    source: FileRows
    report_key: str  # whose ReadReport counts its skips (carved dev rows are train-file rows)
    rows: np.ndarray


def build(options: PrepareOptions, out: Path) -> None:
    """Read the files, check them as the datamodule always has, and write the arrays into ``out``."""
    work = out / "work"
    work.mkdir(parents=True)
    index = WordIndex(lowercase=options.tokenizer_options["lowercase"], style=options.tokenizer_options["style"])
    label_index: defaultdict = defaultdict()
    label_index.default_factory = label_index.__len__
    files = {}
    for split in SPLITS:  # train, then dev, then test: errors come in the order the files are read
        path = options.files[split]
        if path is not None:
            carve_texts = split == "train" and options.files["val"] is None
            files[split] = read_file(path, work, split, options, index, label_index, keep_texts=split != "train" or carve_texts)
    splits = {"train": _Split(files["train"], "train", np.arange(len(files["train"])))}
    if "val" in files:
        splits["val"] = _Split(files["val"], "val", np.arange(len(files["val"])))
    else:
        splits["train"].rows, val_rows = _carve(files["train"], options)
        splits["val"] = _Split(files["train"], "train", val_rows)
    if "test" in files:
        splits["test"] = _Split(files["test"], "test", np.arange(len(files["test"])))
    reports = {split: rows.report for split, rows in files.items()}

    label_names = [None] * len(label_index)
    for name, i in label_index.items():
        label_names[i] = name
    file_labels = _file_labels(splits["train"], label_names, options)
    label_map = np.full(len(label_names), -1, np.int64)
    for i, name in enumerate(file_labels):
        label_map[label_index[name]] = i
    for split in ("val", "test"):
        if split in splits:
            _drop_unknown_labels(splits[split], reports, label_map, label_names, file_labels, options)

    counts = _train_word_counts(splits["train"], len(index.ids))
    vocabulary = ranked_vocabulary(index.words(), counts, min_freq=options.tokenizer_options["min_freq"],
                                   max_size=options.tokenizer_options["max_size"])
    trained_words = len(vocabulary)
    tokenizer_of = functools.partial(Tokenizer.from_vocabulary, lowercase=options.tokenizer_options["lowercase"],
                                     style=options.tokenizer_options["style"], max_length=options.tokenizer_options["max_length"])
    tokenizer = tokenizer_of(vocabulary)
    added = options.tokenizer_options.get("added_words")
    if added:  # words the vectors know and training lacks, after the trained ones (frozen in the model)
        present = set(vocabulary)
        vocabulary = [*vocabulary, *(w for w in dict.fromkeys(tokenizer.own_words(added)) if w not in present)]
        tokenizer = tokenizer_of(vocabulary)
    for split, part in splits.items():
        _drop_tokenless(split, part, reports, options)
    if trained_words <= 2:  # the vectors' words alone teach nothing
        _refuse_empty_vocabulary(options)

    final_ids = index.final_ids(vocabulary)
    max_length = options.tokenizer_options["max_length"]
    manifest = {"format_version": FORMAT_VERSION, "file_labels": file_labels, "trained_words": trained_words, "splits": {}, "reports": {}}
    for split, part in splits.items():
        manifest["splits"][split] = _write_split(out, split, part, final_ids, max_length, label_map, len(file_labels), options.multi_label,
                                                 token_counts_size=len(vocabulary) if split == "train" else None)
    tokenizer.save(out / "tokenizer.json")
    manifest["reports"] = {k: report_to_json(r) for k, r in reports.items()}
    shutil.rmtree(work)
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n", encoding="utf-8")  # last: it marks the build whole


def _carve(train: FileRows, options: PrepareOptions) -> tuple[np.ndarray, np.ndarray]:
    """No dev file (TREC): hold out ``val_fraction`` of train, the same rows for a given split_seed."""
    n = len(train)
    order = np.random.default_rng(options.split_seed).permutation(n)
    n_val = max(1, int(round(n * options.val_fraction)))
    if n_val >= n:
        raise ConfigError("data.val_fraction", options.val_fraction, f"holds out {n_val} of the {n} rows of {train.path}, "
                          "leaving none to train on; use a smaller fraction or set data.val_file")
    is_val = np.zeros(n, bool)
    is_val[order[:n_val]] = True
    return np.flatnonzero(~is_val), np.flatnonzero(is_val)


def _row_labels(part: _Split) -> tuple[np.ndarray, np.ndarray]:
    """(flat provisional label ids of the split's rows, labels per row)."""
    source = part.source
    if source.single_label:
        return source.label_ids[part.rows], np.ones(len(part.rows), np.int64)
    starts = np.concatenate([[0], np.cumsum(source.label_counts)])
    counts = source.label_counts[part.rows]
    return source.label_ids[np.repeat(starts[part.rows], counts) + _positions_in_rows(counts)], counts


def _positions_in_rows(lengths: np.ndarray) -> np.ndarray:
    """For rows of ``lengths`` laid end to end: each element's position within its row."""
    return np.arange(int(lengths.sum())) - np.repeat(np.cumsum(lengths) - lengths, lengths)


def _file_labels(train: _Split, label_names: list, options: PrepareOptions) -> list[str]:
    ids, _ = _row_labels(train)
    present = [label_names[i] for i in np.unique(ids)]
    file_labels = label_vocabulary([present]) if options.multi_label else label_order(present)
    path = options.files["train"]
    if options.multi_label and not file_labels:
        raise DataError(path, "no row of the training split carries a label")
    if len(file_labels) < 2 and not options.multi_label:
        raise DataError(path, f"the training split has a single class ({file_labels[0]!r}); need at least 2")
    return file_labels


def _drop_unknown_labels(part: _Split, reports, label_map, label_names, file_labels, options: PrepareOptions) -> None:
    """A label the training split lacks cannot be learnt or scored: an error, or a counted skip."""
    ids, counts = _row_labels(part)
    unknown = label_map[ids] < 0
    row_of = np.repeat(np.arange(len(part.rows)), counts)
    first_unknown = {}
    for flat in np.flatnonzero(unknown):  # the first unknown label of each bad row (a set's, in order)
        first_unknown.setdefault(int(row_of[flat]), label_names[ids[flat]])
    bad = np.zeros(len(part.rows), bool)
    bad[list(first_unknown)] = True
    labels = ", ".join(file_labels)
    _drop_rows(part, reports, options, bad, lambda row: f"label {first_unknown[row]!r} does not occur in the training split (labels: {labels})",
               "no usable rows: none of its labels occurs in the training split")


def _drop_tokenless(split: str, part: _Split, reports, options: PrepareOptions) -> None:
    """A text the tokenizer reduces to nothing teaches nothing: a bad row, as an empty text is."""
    style = options.tokenizer_options["style"]
    problem = f"no tokens: the tokenizer (data.tokenizer_style={style}) drops every character of this text"
    _drop_rows(part, reports, options, part.source.lengths[part.rows] == 0, lambda row: problem,
               f"no usable rows: no text of the {split} split has a token under data.tokenizer_style={style}")


def _drop_rows(part: _Split, reports, options: PrepareOptions, bad: np.ndarray, problem_of, none_left: str) -> None:
    """Rows of ``part`` where ``bad`` is set: with ``on_bad_row=error`` the first is a ``file:line``
    error; with ``skip`` each is reported and dropped (``none_left`` when no row remains)."""
    bad_rows = np.flatnonzero(bad)
    if not bad_rows.size:
        return
    path, report = part.source.path, reports[part.report_key]
    for row in bad_rows.tolist():
        line = int(part.source.lines[part.rows[row]])
        if options.read_options["on_bad_row"] == "error":
            raise DataError(path, problem_of(row) + SKIP_HINT, line=line)
        report.skip(line, problem_of(row))
    if len(bad_rows) == len(part.rows):
        raise DataError(path, none_left)
    report.kept -= len(bad_rows)
    part.rows = part.rows[~bad]


def _refuse_empty_vocabulary(options: PrepareOptions) -> None:
    """A vocabulary of only ``<pad>`` and ``<unk>`` makes every text the same input: refused."""
    min_freq = options.tokenizer_options["min_freq"]
    if min_freq > 1:
        raise ConfigError("data.min_freq", min_freq, "no word of the training split occurs that often; "
                          "the vocabulary would hold only <pad> and <unk>")
    raise DataError(options.files["train"], "the vocabulary is empty: no text of the training split has a token")


def _blocks(part: _Split) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """(rows, their lengths, their provisional ids end to end) in blocks, reading the ids file once in order."""
    source = part.source
    starts = np.concatenate([[0], np.cumsum(source.lengths)])
    with source.token_path.open("rb") as ids_file:
        first = 0
        while first < len(source):
            last = int(np.searchsorted(starts, starts[first] + BLOCK_TOKENS, side="right")) - 1
            last = min(max(last, first + 1), len(source))
            block = np.fromfile(ids_file, np.int32, int(starts[last] - starts[first]))
            lo, hi = np.searchsorted(part.rows, [first, last])
            rows = part.rows[lo:hi]
            lengths = source.lengths[rows]
            local = starts[rows] - starts[first]
            yield rows, lengths, block[np.repeat(local, lengths) + _positions_in_rows(lengths)]
            first = last


def _train_word_counts(train: _Split, size: int) -> np.ndarray:
    counts = np.zeros(size, np.int64)
    for _, _, ids in _blocks(train):
        counts += np.bincount(ids, minlength=size)
    return counts


def _write_split(out: Path, split: str, part: _Split, final_ids, max_length, label_map, n_labels: int, multi_label: bool,
                 token_counts_size: int | None) -> dict:
    lengths = part.source.lengths[part.rows]
    kept_lengths = np.minimum(lengths, max_length) if max_length else lengths
    offsets = np.concatenate([[0], np.cumsum(kept_lengths)]).astype(np.int64)
    np.save(out / f"{split}.offsets.npy", offsets)
    token_counts = np.zeros(token_counts_size or 0, np.int64)
    with NpyWriter(out / f"{split}.tokens.npy", np.int32, (int(offsets[-1]),)) as tokens_file:
        for _, block_lengths, ids in _blocks(part):
            if max_length:
                ids = ids[_positions_in_rows(block_lengths) < max_length]
            ids = final_ids[ids]
            if token_counts_size:
                token_counts += np.bincount(ids, minlength=token_counts_size)
            tokens_file.write(ids.astype(np.int32).tobytes())
    if token_counts_size:
        np.save(out / "train.token_counts.npy", token_counts)
    label_ids, counts = _row_labels(part)
    if multi_label:
        targets = np.zeros((len(part.rows), n_labels), np.uint8)
        targets[np.repeat(np.arange(len(part.rows)), counts), label_map[label_ids]] = 1
        np.save(out / f"{split}.labels.npy", targets)
    else:
        np.save(out / f"{split}.labels.npy", label_map[label_ids])
    has_texts = part.source.text_path is not None and split != "train"
    if has_texts:
        _write_texts(out, split, part)
    return {"rows": len(part.rows), "tokens": int(offsets[-1]), "texts": has_texts}


def _write_texts(out: Path, split: str, part: _Split) -> None:
    source = part.source
    starts = np.concatenate([[0], np.cumsum(source.text_lengths)])
    lengths = source.text_lengths[part.rows]
    np.save(out / f"{split}.text_offsets.npy", np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64))
    with source.text_path.open("rb") as texts, NpyWriter(out / f"{split}.texts.npy", np.uint8, (int(lengths.sum()),)) as target:
        for row in part.rows.tolist():  # in file order: a forward read
            texts.seek(int(starts[row]))
            target.write(texts.read(int(source.text_lengths[row])))


