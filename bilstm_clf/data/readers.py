"""Labelled text in TSV, CSV and JSONL, read whole: ``read_examples`` (the format table and its
row parsers: ``bilstm_clf.data.formats``, ``bilstm_clf.data.rows``).

Every read returns ``Example`` rows and raises ``DataError`` (file:line: problem) on bad input;
no other exception escapes for any file content (tests/data/test_reader_fuzz.py holds them to that).
No torch here.

Policy (docs/robustness.md has the full table):
- a bad row (missing or extra fields, missing label, empty text, malformed quoting or JSON) is an
  error naming file:line, or with ``on_bad_row="skip"`` is dropped and counted in a ``ReadReport``;
- a bad file (missing, a directory, unreadable, undecodable, empty, wrong columns) is always an error;
- texts longer than ``max_chars`` characters are cut to that length and counted.
"""

from __future__ import annotations

import codecs
from dataclasses import dataclass, field
from pathlib import Path

from bilstm_clf.common.errors import DataError
from bilstm_clf.common.file_checks import refuse_compressed, regular_file
from bilstm_clf.data.formats import TRAINING_FORMATS, training_format

FORMATS = TRAINING_FORMATS  # tsv, csv, jsonl
BAD_ROW_POLICIES = ("error", "skip")
SKIP_HINT = " (set data.on_bad_row=skip to skip such rows)"


@dataclass(frozen=True)
class Example:
    text: str
    label: str | tuple[str, ...] | None  # a tuple of names in multi-label data
    line: int  # 1-based physical line where the row starts, for error messages


@dataclass
class ReadReport:
    """What a read kept, skipped and cut; reported to the user at the end of a run."""

    path: str
    kept: int = 0
    skipped: list[tuple[int, str]] = field(default_factory=list)
    truncated: int = 0  # texts cut to max_chars
    max_chars: int | None = None

    def skip(self, line: int, problem: str) -> None:
        self.skipped.append((line, problem))

    def summary(self) -> str:
        parts = [f"{self.kept} rows"]
        if self.skipped:
            first = ", ".join(f"line {line}: {why}" for line, why in self.skipped[:3])
            more = ", ..." if len(self.skipped) > 3 else ""
            parts.append(f"{len(self.skipped)} skipped ({first}{more})")
        if self.truncated:
            parts.append(f"{self.truncated} cut to {self.max_chars} characters")
        return f"{self.path}: " + ", ".join(parts)


def infer_format(path: str | Path) -> str:
    """The training format of ``path`` from its suffix (the table: ``bilstm_clf.data.formats``)."""
    return training_format(path).name


def _is_utf8(encoding: str) -> bool:
    return encoding.lower().replace("_", "-") in ("utf-8", "utf8", "utf-8-sig")


def read_text_file(path: str | Path, encoding: str = "utf-8") -> str:
    """Whole file as text; a UTF-8 BOM is dropped, a decode error names its line and byte offset."""
    path = Path(path)
    regular_file(path)  # a FIFO, /dev/zero or a directory is refused before a byte is read
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise DataError(path, "file not found") from None
    except PermissionError:
        raise DataError(path, "permission denied") from None
    except (OSError, ValueError) as err:  # ValueError: a NUL in the path
        raise DataError(path, f"cannot read the file ({getattr(err, 'strerror', None) or err})") from None
    refuse_compressed(path, raw[:8])
    skip, codec = 0, encoding
    if _is_utf8(encoding):
        codec = "utf-8"
        if raw.startswith(codecs.BOM_UTF8):
            skip = len(codecs.BOM_UTF8)
    try:
        text = raw[skip:].decode(codec)
    except UnicodeDecodeError as err:
        offset = skip + err.start
        line = raw[:offset].decode(codec, errors="replace").count("\n") + 1
        byte = f"byte 0x{raw[offset]:02x}" if offset < len(raw) else "the end of the file"
        hint = "set data.encoding (for example latin-1) if the file uses another encoding"
        if raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
            hint = "the file starts with a UTF-16 byte-order mark: set data.encoding=utf-16"
        raise DataError(path, f"cannot decode {byte} at byte offset {offset} as {encoding}; {hint}", line=line) from None
    except LookupError:
        raise DataError(path, f"unknown text encoding {encoding!r}") from None
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as err:  # only escape codecs can produce lone surrogates
        raise DataError(path, f"decodes to an unpaired surrogate {text[err.start]!r}", line=text.count("\n", 0, err.start) + 1) from None
    return text


def read_examples(
    path: str | Path,
    *,
    format: str | None = None,
    text_field: str | int = "sentence",
    label_field: str | int | None = "label",
    has_header: bool = True,
    encoding: str = "utf-8",
    on_bad_row: str = "error",
    max_chars: int | None = None,
    report: ReadReport | None = None,
    label_parser=None,
) -> list[Example]:
    """Read labelled (or, with ``label_field=None``, unlabelled) rows.

    ``text_field`` / ``label_field`` are column names (files with a header, JSONL keys) or
    0-based column indices (files without a header). Texts longer than ``max_chars`` are cut.
    ``label_parser`` (multi-label data, ``bilstm_clf.data.label_sets.LabelSetParser``) reads the
    label field as a set of labels: ``Example.label`` is then a tuple of names.
    """
    if format is not None and str(format).lower() not in FORMATS:
        raise DataError(path, f"unknown format {str(format).lower()!r}; expected one of {', '.join(FORMATS)}")
    reader = training_format(path, format)  # from the name alone: nothing is read yet
    if on_bad_row not in BAD_ROW_POLICIES:
        raise DataError(path, f"on_bad_row={on_bad_row!r}; expected one of {', '.join(BAD_ROW_POLICIES)}")
    if max_chars is not None and (isinstance(max_chars, bool) or not isinstance(max_chars, int) or max_chars < 1):
        raise DataError(path, f"max_chars={max_chars!r}; expected a positive integer or null")
    report = report if report is not None else ReadReport(str(path))
    report.max_chars = max_chars
    text = read_text_file(path, encoding)
    if not text.strip():
        raise DataError(path, "empty file")
    extra = {"label_parser": label_parser} if label_parser is not None else {}
    rows = reader.read_rows(path, text, reader.name, text_field, label_field, has_header, **extra)
    examples: list[Example] = []
    for line, sentence, label, problem in rows:
        if problem is None:
            problem = _row_problem(sentence, label)
        if problem is not None:
            if on_bad_row == "error":
                raise DataError(path, problem + SKIP_HINT, line=line)
            report.skip(line, problem)
            continue
        if max_chars is not None and len(sentence) > max_chars:
            sentence = sentence[:max_chars]
            report.truncated += 1
        examples.append(Example(sentence, label, line))
    report.kept = len(examples)
    if not examples:
        if report.skipped:
            line, why = report.skipped[0]
            raise DataError(path, f"no usable rows: all {len(report.skipped)} rows were skipped (first at line {line}: {why})")
        raise DataError(path, "no data rows" + (" after the header" if has_header and reader.name != "jsonl" else ""))
    return examples


def _row_problem(sentence: str, label: str | None) -> str | None:
    if not sentence.strip():
        return "empty text"
    if "\x00" in sentence or (isinstance(label, str) and "\x00" in label):
        return "contains a NUL character (a binary file, or UTF-16 text: set data.encoding=utf-16)"
    return None


def label_order(labels) -> list[str]:
    """A stable label order: numeric labels by value ("2" < "10"), otherwise alphabetical."""
    unique = set(labels)
    try:
        return sorted(unique, key=lambda s: (int(s), s))
    except ValueError:
        return sorted(unique)
