"""Checks that need the fitted tokenizer: a text that tokenises to nothing is a bad row, and a
vocabulary without words (``data.min_freq`` above every word's count) is refused.

Such a text (``";;; :"`` under basic_english, which drops ``;``, ``:`` and ``"``) would train as
the single token ``<unk>``; a split made only of them gives a vocabulary of ``<pad>`` and
``<unk>`` and a model that learns nothing, with no warning. So it is a bad row, as an empty text
is: ``data.on_bad_row=error`` names its ``file:line``, ``skip`` drops and counts it.
"""

from __future__ import annotations

from bilstm_clf.common.errors import ConfigError, DataError
from bilstm_clf.data.readers import SKIP_HINT, Example


def drop_tokenless(datamodule, split: str, rows: list[Example], ids: list[list[int]]) -> tuple[list[Example], list[list[int]]]:
    """``rows`` of ``split`` and their token ``ids`` (``Tokenizer.token_ids``) without the texts
    that have no tokens (or a ``DataError`` at the first)."""
    empty = [ex for ex, row_ids in zip(rows, ids) if not row_ids]
    if not empty:
        return rows, ids
    source = split if split in datamodule.reports else "train"  # carved validation rows are train-file lines
    path, report = datamodule.path(source), datamodule.reports[source]
    style = datamodule.tokenizer_options["style"]
    problem = f"no tokens: the tokenizer (data.tokenizer_style={style}) drops every character of this text"
    if datamodule.read_options["on_bad_row"] == "error":
        raise DataError(path, problem + SKIP_HINT, line=empty[0].line)
    for ex in empty:
        report.skip(ex.line, problem)
    report.kept -= len(empty)
    kept = [(ex, row_ids) for ex, row_ids in zip(rows, ids) if row_ids]
    if not kept:
        raise DataError(path, f"no usable rows: no text of the {split} split has a token under data.tokenizer_style={style}")
    return [ex for ex, _ in kept], [row_ids for _, row_ids in kept]


def check_vocabulary(datamodule) -> None:
    """A vocabulary of only ``<pad>`` and ``<unk>`` makes every text the same input: refused."""
    if datamodule.tokenizer.vocab_size > 2:
        return
    options = datamodule.tokenizer_options
    if options["min_freq"] > 1:
        raise ConfigError("data.min_freq", options["min_freq"], "no word of the training split occurs that often; "
                          "the vocabulary would hold only <pad> and <unk>")
    raise DataError(datamodule.path("train"), "the vocabulary is empty: no text of the training split has a token")
