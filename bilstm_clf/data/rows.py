"""Labelled rows of a training file's decoded lines (``readers.TextLines``, each ending at
``'\n'``): ``(line, text, label, problem)`` per row, as they are read.

A bad row is yielded with its problem (``read_examples`` turns it into ``file:line: problem``, or
skips it); a bad file raises ``DataError``. Which parser reads which file: ``bilstm_clf.data.formats``.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable

from bilstm_clf.common.errors import DataError
from bilstm_clf.data.labels import canonical_label

# csv's default field limit (131,072 characters) would turn one long text into an error; long
# texts are cut by ``max_chars`` instead. 2**31 - 1 fits a C long on every platform.
csv.field_size_limit(max(csv.field_size_limit(), 2**31 - 1))

Row = tuple[int, str, "str | None", "str | None"]  # line, text, label, problem


def delimited_rows(path, lines: Iterable[str], fmt: str, text_field, label_field, has_header: bool, label_parser=None):
    # TSV follows the GLUE convention (no quoting: a '"' is an ordinary character); CSV is RFC 4180,
    # strictly: a stray quote or an unclosed quoted field is a bad row, not a silently merged one.
    # Lines end at '\n' only (a '\r\n' pair included): a lone '\r' in an unquoted field is a bad
    # row, not a line break that would split the text from its label (csv.writer with
    # lineterminator='\n', as pandas uses, leaves such fields unquoted).
    name, tab = fmt.upper(), fmt == "tsv"
    reader = csv.reader(
        lines,
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
        if label_parser is not None and label_col is not None:  # a label set (bilstm_clf.data.label_sets)
            labels, problem = label_parser(fields[label_col])
            yield (line, "", None, problem) if problem else (line, fields[text_col], labels, None)
            continue
        label = None if label_col is None else canonical_label(fields[label_col])
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


def jsonl_rows(path, lines: Iterable[str], fmt: str, text_field, label_field, has_header: bool, label_parser=None):
    # lines end at '\n' only: splitting on U+2028 and friends, which JSON strings may hold
    # unescaped, would shift every line number after them.
    for line, raw in enumerate(lines, start=1):
        raw = (raw[:-1] if raw.endswith("\n") else raw).rstrip("\r")
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
        if label_parser is not None and label_field is not None:  # a label set (bilstm_clf.data.label_sets)
            label, problem = label_parser(obj.get(label_field))
            if problem is None and not _encodable(sentence):
                problem = "an unpaired surrogate escape (such as \\ud800) in a string"
            yield (line, "", None, problem) if problem else (line, sentence, label, None)
            continue
        if label_field is not None:
            value = obj.get(label_field)
            if value is None or (isinstance(value, str) and not value.strip()):
                yield line, "", None, "missing label"
                continue
            if isinstance(value, (dict, list)) or isinstance(value, float) and not value.is_integer():
                yield line, "", None, f"label {value!r} is not a string or an integer"
                continue
            label = canonical_label(value)  # one policy for every format: bilstm_clf.data.labels
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
