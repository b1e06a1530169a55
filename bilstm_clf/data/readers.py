"""Readers for labelled text in TSV, CSV and JSONL.

Every reader returns ``Example`` rows and raises ``DataError`` (file:line: problem) on bad input;
no other exception escapes for any file content (tests/test_reader_fuzz.py holds them to that).
No torch here: the inference CLI reuses these readers for its file input.

Policy (docs/robustness.md has the full table):
- a bad row (missing or extra fields, missing label, empty text, malformed quoting or JSON) is an
  error naming file:line, or with ``on_bad_row="skip"`` is dropped and counted in a ``ReadReport``;
- a bad file (missing, a directory, unreadable, undecodable, empty, wrong columns) is always an error;
- texts longer than ``max_chars`` characters are cut to that length and counted.
"""

from __future__ import annotations

import codecs
import csv
import io
import json
from dataclasses import dataclass, field
from pathlib import Path

from bilstm_clf.common.errors import DataError

FORMATS = ("tsv", "csv", "jsonl")
BAD_ROW_POLICIES = ("error", "skip")
SKIP_HINT = " (set data.on_bad_row=skip to skip such rows)"

# csv's default field limit (131,072 characters) would turn one long text into an error; long
# texts are cut by ``max_chars`` instead. 2**31 - 1 fits a C long on every platform.
csv.field_size_limit(max(csv.field_size_limit(), 2**31 - 1))


@dataclass(frozen=True)
class Example:
    text: str
    label: str | None
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
    suffix = Path(path).suffix.lower().lstrip(".")
    if suffix in ("tsv", "tab", "txt"):
        return "tsv"
    if suffix == "csv":
        return "csv"
    if suffix in ("jsonl", "ndjson", "json"):
        return "jsonl"
    raise DataError(path, f"cannot tell the format from the suffix {suffix!r}; set data.format to one of {', '.join(FORMATS)}")


def _is_utf8(encoding: str) -> bool:
    return encoding.lower().replace("_", "-") in ("utf-8", "utf8", "utf-8-sig")


def read_text_file(path: str | Path, encoding: str = "utf-8") -> str:
    """Whole file as text; a UTF-8 BOM is dropped, a decode error names its line and byte offset."""
    path = Path(path)
    try:
        if path.is_dir():
            raise DataError(path, "is a directory, expected a file")
        raw = path.read_bytes()
    except FileNotFoundError:
        raise DataError(path, "file not found") from None
    except PermissionError:
        raise DataError(path, "permission denied") from None
    except (OSError, ValueError) as err:  # ValueError: a NUL in the path
        raise DataError(path, f"cannot read the file ({getattr(err, 'strerror', None) or err})") from None
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
    if max_chars is not None and (isinstance(max_chars, bool) or not isinstance(max_chars, int) or max_chars < 1):
        raise DataError(path, f"max_chars={max_chars!r}; expected a positive integer or null")
    report = report if report is not None else ReadReport(str(path))
    report.max_chars = max_chars
    text = read_text_file(path, encoding)
    if not text.strip():
        raise DataError(path, "empty file")
    if fmt == "jsonl":
        rows = _jsonl_rows(path, text, text_field, label_field)
    else:
        rows = _delimited_rows(path, text, fmt, text_field, label_field, has_header)
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
        raise DataError(path, "no data rows" + (" after the header" if has_header and fmt != "jsonl" else ""))
    return examples


def _row_problem(sentence: str, label: str | None) -> str | None:
    if not sentence.strip():
        return "empty text"
    if "\x00" in sentence or (label is not None and "\x00" in label):
        return "contains a NUL character (a binary file, or UTF-16 text: set data.encoding=utf-16)"
    return None


Row = tuple[int, str, "str | None", "str | None"]  # line, text, label, problem


def _delimited_rows(path, text: str, fmt: str, text_field, label_field, has_header: bool):
    # TSV follows the GLUE convention (no quoting: a '"' is an ordinary character); CSV is RFC 4180,
    # strictly: a stray quote or an unclosed quoted field is a bad row, not a silently merged one.
    # Lines end at '\n' only (a '\r\n' pair included): a lone '\r' in an unquoted field is a bad
    # row, not a line break that would split the text from its label (csv.writer with
    # lineterminator='\n', as pandas uses, leaves such fields unquoted).
    name, tab = fmt.upper(), fmt == "tsv"
    reader = csv.reader(
        io.StringIO(text, newline="\n"),
        delimiter="\t" if tab else ",",
        quoting=csv.QUOTE_NONE if tab else csv.QUOTE_MINIMAL,
        strict=True,
    )
    header: list[str] | None = None
    if has_header:
        while header is None:  # the first non-blank line
            try:
                row = next(reader)
            except StopIteration:
                raise DataError(path, "empty file") from None
            except csv.Error as err:
                raise DataError(path, f"malformed {name} header: {_csv_problem(err)}", line=reader.line_num) from None
            if any(cell.strip() for cell in row):
                header = [cell.strip() for cell in row]
    text_col = _column_index(path, header, text_field, "text", reader.line_num)
    label_col = None if label_field is None else _column_index(path, header, label_field, "label", reader.line_num)
    needed = max(text_col, label_col if label_col is not None else 0) + 1
    width = len(header) if header is not None else None  # without a header: the first row's width
    extra_hint = "a tab inside the text?" if tab else "an unquoted ',' in the text?"
    while True:
        line = reader.line_num + 1  # csv returns [] for a blank line, so this is where the row starts
        try:
            fields = next(reader)
        except StopIteration:
            return
        except csv.Error as err:
            yield line, "", None, f"malformed {name}: {_csv_problem(err)}"
            continue
        if not fields or (len(fields) == 1 and not fields[0].strip() and needed > 1):
            continue  # blank line
        if width is None:
            width = len(fields)
        if len(fields) < needed:
            yield line, "", None, f"expected at least {needed} fields, found {len(fields)}"
            continue
        if len(fields) > width and any(cell.strip() for cell in fields[width:]):
            where = "the header" if header is not None else "the first row"
            yield line, "", None, f"expected {width} fields as in {where}, found {len(fields)} ({extra_hint})"
            continue
        label = None if label_col is None else fields[label_col].strip()
        if label_col is not None and not label:
            yield line, "", None, "missing label"
            continue
        yield line, fields[text_col], label, None


def _csv_problem(err: csv.Error) -> str:
    message = str(err)
    if "new-line character seen" in message:
        return "a carriage return (\\r) inside an unquoted field; quote the field, or end lines with \\n"
    if "end of data" in message:
        return message + " (unclosed quote?)"
    return message


def _column_index(path, header: list[str] | None, wanted: str | int, role: str, header_line: int) -> int:
    if isinstance(wanted, bool) or not isinstance(wanted, (str, int)):
        raise DataError(path, f"{role} column {wanted!r}: expected a column name or a 0-based index")
    if isinstance(wanted, int):
        if wanted < 0:
            raise DataError(path, f"{role} column index {wanted}: expected a 0-based index >= 0")
        return wanted
    if header is None:
        if wanted.isdigit():
            return int(wanted)
        raise DataError(path, f"{role} column {wanted!r} named but the file has no header; use a 0-based column index")
    if wanted not in header:
        found = ", ".join(repr(n) for n in header)
        hint = " (NUL bytes: is the file UTF-16? set data.encoding=utf-16)" if "\x00" in found else ""
        raise DataError(path, f"no {role} column {wanted!r}; columns found: {found}{hint}", line=header_line)
    if header.count(wanted) > 1:
        raise DataError(path, f"the {role} column {wanted!r} appears {header.count(wanted)} times in the header", line=header_line)
    return header.index(wanted)


def _jsonl_rows(path, text: str, text_field, label_field):
    # split on '\n' only: str.splitlines would also split on U+2028 and friends, which JSON strings
    # may hold unescaped, and would shift every line number after them.
    for line, raw in enumerate(text.split("\n"), start=1):
        raw = raw.rstrip("\r")
        if not raw.strip():
            continue
        try:
            obj = json.loads(raw)
        except json.JSONDecodeError as err:
            yield line, "", None, f"invalid JSON: {err.msg} at column {err.colno}"
            continue
        except (ValueError, RecursionError) as err:  # a >4300-digit integer; absurd nesting
            yield line, "", None, f"invalid JSON: {type(err).__name__}: {str(err)[:80] or 'nested too deeply'}"
            continue
        if not isinstance(obj, dict):
            yield line, "", None, f"expected a JSON object, found {type(obj).__name__}"
            continue
        if text_field not in obj:
            yield line, "", None, f"no text key {text_field!r}; keys found: {', '.join(map(repr, obj)) or '(none)'}"
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
        if not _encodable(sentence) or (label is not None and not _encodable(label)):
            yield line, "", None, "an unpaired surrogate escape (such as \\ud800) in a string"
            continue
        yield line, sentence, label, None


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def label_order(labels) -> list[str]:
    """A stable label order: numeric labels by value ("2" < "10"), otherwise alphabetical."""
    unique = set(labels)
    try:
        return sorted(unique, key=lambda s: (int(s), s))
    except ValueError:
        return sorted(unique)
