"""Readers for labelled text in TSV, CSV and JSONL.

Every reader returns ``Example`` rows and raises ``DataError`` (file:line: problem) on bad input.
No torch here: the inference CLI reuses these readers for its file input.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field
from pathlib import Path

from bilstm_clf.errors import DataError

FORMATS = ("tsv", "csv", "jsonl")
BAD_ROW_POLICIES = ("error", "skip")


@dataclass(frozen=True)
class Example:
    text: str
    label: str | None
    line: int  # 1-based physical line where the row ends, for error messages


@dataclass
class ReadReport:
    """What a read kept and skipped; skips are reported to the user at the end of a run."""

    path: str
    kept: int = 0
    skipped: list[tuple[int, str]] = field(default_factory=list)

    def summary(self) -> str:
        if not self.skipped:
            return f"{self.path}: {self.kept} rows"
        first = ", ".join(f"line {line}: {why}" for line, why in self.skipped[:3])
        return f"{self.path}: {self.kept} rows, {len(self.skipped)} skipped ({first}{', ...' if len(self.skipped) > 3 else ''})"


def infer_format(path: str | Path) -> str:
    suffix = Path(path).suffix.lower().lstrip(".")
    if suffix in ("tsv", "tab", "txt"):
        return "tsv"
    if suffix == "csv":
        return "csv"
    if suffix in ("jsonl", "ndjson", "json"):
        return "jsonl"
    raise DataError(path, f"cannot tell the format from the suffix {suffix!r}; set data.format to one of {', '.join(FORMATS)}")


def read_text_file(path: str | Path, encoding: str = "utf-8") -> str:
    """Whole file as text; a UTF-8 BOM is dropped, a decode error names its line and byte offset."""
    path = Path(path)
    if not path.exists():
        raise DataError(path, "file not found")
    if path.is_dir():
        raise DataError(path, "is a directory, expected a file")
    raw = path.read_bytes()
    codec = "utf-8-sig" if encoding.lower().replace("_", "-") in ("utf-8", "utf8") else encoding
    try:
        return raw.decode(codec)
    except UnicodeDecodeError as err:
        line = raw.count(b"\n", 0, err.start) + 1
        raise DataError(
            path,
            f"cannot decode byte 0x{raw[err.start]:02x} at byte offset {err.start} as {encoding}; "
            "set data.encoding (for example latin-1) if the file uses another encoding",
            line=line,
        ) from None
    except LookupError:
        raise DataError(path, f"unknown encoding {encoding!r}") from None


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
) -> list[Example]:
    """Read labelled (or, with ``label_field=None``, unlabelled) rows.

    ``text_field`` / ``label_field`` are column names (files with a header, JSONL keys) or
    0-based column indices (files without a header). Texts longer than ``max_chars`` are cut.
    """
    fmt = (format or infer_format(path)).lower()
    if fmt not in FORMATS:
        raise DataError(path, f"unknown format {fmt!r}; expected one of {', '.join(FORMATS)}")
    if on_bad_row not in BAD_ROW_POLICIES:
        raise DataError(path, f"on_bad_row={on_bad_row!r}; expected one of {', '.join(BAD_ROW_POLICIES)}")
    report = report if report is not None else ReadReport(str(path))
    text = read_text_file(path, encoding)
    rows = _jsonl_rows(path, text, text_field, label_field) if fmt == "jsonl" else _delimited_rows(
        path, text, "\t" if fmt == "tsv" else ",", text_field, label_field, has_header
    )
    examples: list[Example] = []
    for line, sentence, label, problem in rows:
        if problem is None and not sentence.strip():
            problem = "empty text"
        if problem is not None:
            if on_bad_row == "error":
                raise DataError(path, problem + " (set data.on_bad_row=skip to skip such rows)", line=line)
            report.skipped.append((line, problem))
            continue
        if max_chars is not None and len(sentence) > max_chars:
            sentence = sentence[:max_chars]
        examples.append(Example(sentence, label, line))
    report.kept = len(examples)
    if not examples:
        raise DataError(path, "no usable rows" + (f" ({len(report.skipped)} skipped)" if report.skipped else " (empty file)"))
    return examples


Row = tuple[int, str, "str | None", "str | None"]  # line, text, label, problem


def _delimited_rows(path, text: str, delimiter: str, text_field, label_field, has_header: bool):
    # TSV follows the GLUE convention (no quoting: a '"' is an ordinary character); CSV is RFC 4180.
    quoting = csv.QUOTE_NONE if delimiter == "\t" else csv.QUOTE_MINIMAL
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, quoting=quoting)
    try:
        header = next(reader) if has_header else None
    except StopIteration:
        raise DataError(path, "empty file") from None
    except csv.Error as err:
        raise DataError(path, f"malformed {('TSV' if delimiter == chr(9) else 'CSV')}: {err}", line=reader.line_num) from None
    text_col = _column_index(path, header, text_field, "text")
    label_col = None if label_field is None else _column_index(path, header, label_field, "label")
    needed = max(text_col, label_col if label_col is not None else 0) + 1
    while True:
        try:
            fields = next(reader)
        except StopIteration:
            return
        except csv.Error as err:
            raise DataError(path, f"malformed CSV: {err}", line=reader.line_num) from None
        line = reader.line_num
        if not fields or (len(fields) == 1 and not fields[0].strip() and needed > 1):
            continue  # blank line
        if len(fields) < needed:
            yield line, "", None, f"expected at least {needed} fields, found {len(fields)}"
            continue
        label = None if label_col is None else fields[label_col].strip()
        if label_col is not None and not label:
            yield line, "", None, "missing label"
            continue
        yield line, fields[text_col], label, None


def _column_index(path, header: list[str] | None, wanted: str | int, role: str) -> int:
    if isinstance(wanted, int):
        return wanted
    if header is None:
        if str(wanted).isdigit():
            return int(wanted)
        raise DataError(path, f"{role} column {wanted!r} named but the file has no header; use a 0-based column index")
    names = [h.strip() for h in header]
    if wanted not in names:
        raise DataError(path, f"no {role} column {wanted!r}; columns found: {', '.join(repr(n) for n in names)}", line=1)
    return names.index(wanted)


def _jsonl_rows(path, text: str, text_field, label_field):
    for line, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            obj = json.loads(raw)
        except json.JSONDecodeError as err:
            yield line, "", None, f"invalid JSON: {err.msg} at column {err.colno}"
            continue
        if not isinstance(obj, dict):
            yield line, "", None, f"expected a JSON object, found {type(obj).__name__}"
            continue
        if text_field not in obj:
            yield line, "", None, f"no text key {text_field!r}; keys found: {', '.join(map(repr, obj))}"
            continue
        sentence = obj[text_field]
        if not isinstance(sentence, str):
            yield line, "", None, f"text {text_field!r} is {type(sentence).__name__}, expected a string"
            continue
        label = None
        if label_field is not None:
            value = obj.get(label_field)
            if value is None or (isinstance(value, str) and not value.strip()):
                yield line, "", None, "missing label"
                continue
            if isinstance(value, (dict, list)) or isinstance(value, float) and not value.is_integer():
                yield line, "", None, f"label {value!r} is not a string or an integer"
                continue
            label = str(int(value)) if isinstance(value, (int, float)) and not isinstance(value, bool) else str(value).strip()
        yield line, sentence, label, None


def label_order(labels) -> list[str]:
    """A stable label order: numeric labels by value ("2" < "10"), otherwise alphabetical."""
    unique = set(labels)
    try:
        return sorted(unique, key=lambda s: (int(s), s))
    except ValueError:
        return sorted(unique)
