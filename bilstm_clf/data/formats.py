"""The one table of input formats, for training (``data.format``) and predict (``--input-format``):
file suffix -> format -> reader.

The format is settled from the name (or the explicit option) before a byte is read, and the
format's reader then decodes the file its own way: training streams decoded lines
(``bilstm_clf.data.rows``: bad rows named ``file:line``), predict streams line by line
(``bilstm_clf.data.records``: a bad line spoils only its own record).

| format | suffixes | what a file holds | training | predict |
|---|---|---|---|---|
| tsv | .tsv .tab | tab-separated fields, GLUE convention (no quoting) | yes | yes |
| csv | .csv | comma-separated, RFC 4180 (quoted fields may span lines) | yes | yes |
| jsonl | .jsonl .ndjson .json | one JSON object per line | yes | yes |
| txt | .txt .text, no suffix, stdin | one text per line, no labels | no | yes |
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bilstm_clf.common.errors import DataError
from bilstm_clf.data import records, rows


@dataclass(frozen=True)
class InputFormat:
    name: str
    suffixes: tuple[str, ...]  # without the dot; "" is a file without a suffix
    holds: str
    # training: (path, decoded lines, format, text_field, label_field, has_header) -> rows; None: not training data
    read_rows: Callable | None
    # predict: (LineReader, source name, format, text_field, has_header) -> records
    read_records: Callable


TABLE = (
    InputFormat("tsv", ("tsv", "tab"), "tab-separated fields, GLUE convention (no quoting)", rows.delimited_rows, records.read_delimited),
    InputFormat("csv", ("csv",), "comma-separated fields, RFC 4180", rows.delimited_rows, records.read_delimited),
    InputFormat("jsonl", ("jsonl", "ndjson", "json"), "one JSON object per line", rows.jsonl_rows, records.read_jsonl),
    InputFormat("txt", ("txt", "text", ""), "one text per line, no labels", None, records.read_txt),
)
BY_NAME = {f.name: f for f in TABLE}
BY_SUFFIX = {suffix: f for f in TABLE for suffix in f.suffixes}
TRAINING_FORMATS = tuple(f.name for f in TABLE if f.read_rows is not None)  # tsv, csv, jsonl
PREDICT_FORMATS = ("txt", "csv", "tsv", "jsonl")  # --input-format's choices, in its help's order


def format_for(path: str | Path, explicit: str | None, *, hint: str) -> InputFormat:
    """The format of ``path``: ``explicit`` when given, else from the suffix (``-``, standard
    input, is txt). ``hint`` ends the error for an unknown suffix (which option to set)."""
    if explicit:
        name = str(explicit).lower()
        if name not in BY_NAME:
            raise DataError(path, f"unknown format {name!r}; expected one of {', '.join(BY_NAME)}")
        return BY_NAME[name]
    suffix = "" if str(path) == "-" else Path(path).suffix.lower().lstrip(".")
    if suffix not in BY_SUFFIX:
        raise DataError(path, f"cannot tell the format from the suffix {suffix!r}; {hint}")
    return BY_SUFFIX[suffix]


def training_format(path: str | Path, explicit: str | None = None) -> InputFormat:
    """A format training can read (labelled rows), or a ``DataError`` saying which to set."""
    choices = ", ".join(TRAINING_FORMATS)
    fmt = format_for(path, explicit, hint=f"set data.format to one of {choices}")
    if fmt.read_rows is None:
        raise DataError(path, f"a {fmt.name} file holds {fmt.holds}; training reads {choices} (set data.format=tsv for tab-separated text)")
    return fmt


def predict_format(path: str, explicit: str | None) -> InputFormat:
    return format_for(path, explicit, hint=f"pass --input-format {'|'.join(PREDICT_FORMATS)}")
