"""Texts streamed from a binary input, one record at a time (``python -m bilstm_clf.predict``).

Lines are decoded one by one, so a bad byte spoils only its own record and no physical line is
held beyond ``max_chars`` characters. Readers yield ``Record``s; a record that cannot be read
carries an ``error`` instead of a text. Which reader reads which file: ``bilstm_clf.data.formats``.
"""

from __future__ import annotations

import codecs
import csv
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

from bilstm_clf.common.errors import DataError


@dataclass
class Record:
    index: int
    line: int | None
    text: str | None  # None when error is set
    error: str | None = None
    cut: bool = False  # the physical line was longer than max_chars and was cut while reading


class LineReader:
    """Physical lines of a binary stream, decoded one at a time.

    Yields (line number, text or None, problem or None, cut). A line longer than ``max_chars``
    characters is cut there and the rest skipped without being held in memory. A line that does
    not decode yields a problem instead of text; the lines after it are unaffected.
    """

    def __init__(self, stream: BinaryIO, encoding: str, max_chars: int):
        self.stream = stream
        self.encoding = encoding
        self.max_bytes = max_chars * 4 + 4  # enough bytes for max_chars characters in UTF-8
        self.max_chars = max_chars
        self.line = 0

    def __iter__(self) -> Iterator[tuple[int, str | None, str | None, bool]]:
        first = True
        while True:
            raw = self.stream.readline(self.max_bytes)
            if not raw:
                return
            self.line += 1
            cut = False
            if not raw.endswith(b"\n") and len(raw) == self.max_bytes:
                cut = True
                while True:  # drop the rest of an over-long line, chunk by chunk
                    rest = self.stream.readline(self.max_bytes)
                    if not rest or rest.endswith(b"\n"):
                        break
            if first and raw.startswith(codecs.BOM_UTF8) and self.encoding.lower().replace("_", "-") in ("utf-8", "utf8"):
                raw = raw[len(codecs.BOM_UTF8) :]
            first = False
            decoder = codecs.getincrementaldecoder(self.encoding)("strict")
            try:
                # final=False when cut: a character split by the cut is dropped, not an error.
                text = decoder.decode(raw, final=not cut)
            except UnicodeError as err:  # UnicodeDecodeError, or a codec's own (UTF-16's missing BOM)
                start = getattr(err, "start", None)
                where = f"byte 0x{raw[start]:02x} at column {start + 1}" if isinstance(start, int) and start < len(raw) else str(err)
                yield self.line, None, f"not valid {self.encoding}: {where}", False
                continue
            if cut or len(text) > self.max_chars:
                text, cut = text[: self.max_chars], True
            yield self.line, text, None, cut


def _strip_newline(text: str) -> str:
    return text[:-2] if text.endswith("\r\n") else text[:-1] if text.endswith("\n") else text


def read_txt(lines: LineReader, source: str, fmt: str, text_field: str, has_header: bool) -> Iterator[Record]:
    for index, (line, text, problem, cut) in enumerate(lines):
        yield Record(index, line, None if text is None else _strip_newline(text), problem, cut)


def read_jsonl(lines: LineReader, source: str, fmt: str, text_field: str, has_header: bool) -> Iterator[Record]:
    index = 0
    for line, text, problem, cut in lines:
        if text is not None and not text.strip():
            continue  # blank lines separate nothing in JSONL
        record = Record(index, line, None, problem)
        index += 1
        if problem is None:
            if cut:
                record.error = "line longer than max_chars; cannot parse a cut JSON object"
            else:
                try:
                    obj = json.loads(text)
                except json.JSONDecodeError as err:
                    obj, record.error = None, f"invalid JSON: {err.msg} at column {err.colno}"
                if record.error is None:
                    if not isinstance(obj, dict):
                        record.error = f"expected a JSON object, found {type(obj).__name__}"
                    elif text_field not in obj:
                        record.error = f"no text key {text_field!r}"
                    elif not isinstance(obj[text_field], str):
                        record.error = f"text {text_field!r} is {type(obj[text_field]).__name__}, expected a string"
                    else:
                        record.text = obj[text_field]
        yield record


def read_delimited(lines: LineReader, path: str, fmt: str, text_field: str, has_header: bool) -> Iterator[Record]:
    """CSV (RFC 4180, quoted fields may span lines) or TSV (GLUE convention: no quoting)."""
    delimiter = "\t" if fmt == "tsv" else ","
    problems: list[tuple[int, str]] = []
    cut_lines: set[int] = set()

    def decoded() -> Iterator[str]:
        for line, text, problem, cut in lines:
            if problem is not None:
                problems.append((line, problem))  # reported as its own record; never fed to csv
                continue
            if cut:
                cut_lines.add(line)
            yield text if text.endswith("\n") else text + "\n"

    quoting = csv.QUOTE_NONE if delimiter == "\t" else csv.QUOTE_MINIMAL
    csv.field_size_limit(max(csv.field_size_limit(), lines.max_bytes))
    reader = csv.reader(decoded(), delimiter=delimiter, quoting=quoting)
    column = None
    if text_field.isdigit():
        column = int(text_field)
    if has_header:
        try:
            header = next(reader)
        except StopIteration:
            return
        except csv.Error as err:
            raise DataError(path, f"malformed header: {err}", line=lines.line) from None
        names = [h.strip() for h in header]
        if column is None:
            if text_field not in names:
                raise DataError(path, f"no text column {text_field!r}; columns found: {', '.join(map(repr, names))} (set --text-field)", line=lines.line)
            column = names.index(text_field)
    elif column is None:
        raise DataError(path, f"--text-field {text_field!r} names a column but --no-header says there is no header; use a 0-based index")

    index = 0
    while True:
        try:
            fields = next(reader)
            error = None
        except StopIteration:
            fields, error = None, None
        except csv.Error as err:
            fields, error = [], f"malformed {'TSV' if delimiter == chr(9) else 'CSV'}: {err}"
        for line, problem in problems:  # undecodable lines met while reading this row
            yield Record(index, line, None, problem)
            index += 1
        problems.clear()
        if fields is None:
            return
        if not fields and error is None:
            continue  # blank line
        if error is None and len(fields) <= column:
            error = f"expected at least {column + 1} fields, found {len(fields)}"
        line = lines.line
        yield Record(index, line, None if error else fields[column], error, cut=line in cut_lines)
        index += 1


def argument_records(texts: list[str], max_chars: int) -> Iterator[Record]:
    for index, text in enumerate(texts):
        yield Record(index, None, text[:max_chars], cut=len(text) > max_chars)
