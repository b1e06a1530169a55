"""Labelled text in TSV, CSV and JSONL, streamed row by row: ``iter_examples`` (the format table and its
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
from collections.abc import Iterator
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
    skipped: list[tuple[int, str]] = field(default_factory=list)  # the first KEEP_SKIPPED of them
    skipped_count: int = 0
    truncated: int = 0  # texts cut to max_chars
    max_chars: int | None = None

    KEEP_SKIPPED = 1000  # a file of millions of bad rows must not fill memory with reasons

    def skip(self, line: int, problem: str) -> None:
        self.skipped_count += 1
        if len(self.skipped) < self.KEEP_SKIPPED:
            self.skipped.append((line, problem))

    def summary(self) -> str:
        parts = [f"{self.kept} rows"]
        if self.skipped_count:
            first = ", ".join(f"line {line}: {why}" for line, why in self.skipped[:3])
            more = ", ..." if self.skipped_count > 3 else ""
            parts.append(f"{self.skipped_count} skipped ({first}{more})")
        if self.truncated:
            parts.append(f"{self.truncated} cut to {self.max_chars} characters")
        return f"{self.path}: " + ", ".join(parts)


def infer_format(path: str | Path) -> str:
    """The training format of ``path`` from its suffix (the table: ``bilstm_clf.data.formats``)."""
    return training_format(path).name


def _is_utf8(encoding: str) -> bool:
    return encoding.lower().replace("_", "-") in ("utf-8", "utf8", "utf-8-sig")


class TextLines:
    """The lines of a text file, decoded as they are read: never the whole file in memory.

    Lines end at ``'\n'`` only (kept; the last line may lack it). A UTF-8 BOM is dropped. A byte
    that does not decode stops the read with a ``DataError`` naming its line and byte offset, as a
    whole-file decode would. ``has_content`` tells, once iterated, whether any non-blank text was seen.
    """

    CHUNK_BYTES = 1 << 20

    def __init__(self, path: str | Path, encoding: str = "utf-8"):
        self.path = Path(path)
        self.encoding = encoding
        self.has_content = False
        regular_file(self.path)  # a FIFO, /dev/zero or a directory is refused before a byte is read

    def __iter__(self) -> Iterator[str]:
        carry = ""
        for text in self._decoded_chunks():
            if text and not self.has_content and not text.isspace():
                self.has_content = True
            lines = (carry + text).split("\n")
            carry = lines.pop()
            for line in lines:
                yield line + "\n"
        if carry:
            yield carry

    def _open(self):
        try:
            return self.path.open("rb")
        except FileNotFoundError:
            raise DataError(self.path, "file not found") from None
        except PermissionError:
            raise DataError(self.path, "permission denied") from None
        except (OSError, ValueError) as err:  # ValueError: a NUL in the path
            raise DataError(self.path, f"cannot read the file ({getattr(err, 'strerror', None) or err})") from None

    def _decoded_chunks(self) -> Iterator[str]:
        path, encoding = self.path, self.encoding
        codec = "utf-8" if _is_utf8(encoding) else encoding
        try:
            decoder = codecs.getincrementaldecoder(codec)("strict")
        except LookupError:
            raise DataError(path, f"unknown text encoding {encoding!r}") from None
        check_surrogates = codec != "utf-8"  # only escape codecs can produce lone surrogates
        fed = 0  # bytes given to the decoder so far
        newlines = 0  # '\n' decoded so far, for the line of an error
        start: bytes = b""
        with self._open() as stream:
            while True:
                try:
                    raw = stream.read(self.CHUNK_BYTES)
                except OSError as err:
                    raise DataError(path, f"cannot read the file ({err.strerror or err})") from None
                if fed == 0:
                    start = raw[:8]
                    refuse_compressed(path, start)
                    if codec == "utf-8" and raw.startswith(codecs.BOM_UTF8):
                        raw, fed = raw[len(codecs.BOM_UTF8) :], len(codecs.BOM_UTF8)
                pending = decoder.getstate()[0]
                try:
                    text = decoder.decode(raw, final=not raw)
                except UnicodeDecodeError as err:
                    self._decode_error(err, pending + raw, fed - len(pending), newlines, codec, start)
                fed += len(raw)
                if check_surrogates:
                    try:
                        text.encode("utf-8")
                    except UnicodeEncodeError as err:
                        line = newlines + text.count("\n", 0, err.start) + 1
                        raise DataError(path, f"decodes to an unpaired surrogate {text[err.start]!r}", line=line) from None
                newlines += text.count("\n")
                if text:
                    yield text
                if not raw:
                    return

    def _decode_error(self, err: UnicodeDecodeError, data: bytes, base: int, newlines: int, codec: str, start: bytes):
        offset = base + err.start
        line = newlines + data[: err.start].decode(codec, errors="replace").count("\n") + 1
        byte = f"byte 0x{data[err.start]:02x}" if err.start < len(data) else "the end of the file"
        hint = "set data.encoding (for example latin-1) if the file uses another encoding"
        if start.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
            hint = "the file starts with a UTF-16 byte-order mark: set data.encoding=utf-16"
        raise DataError(self.path, f"cannot decode {byte} at byte offset {offset} as {self.encoding}; {hint}", line=line) from None


def read_examples(path: str | Path, **options) -> list[Example]:
    """All rows of ``iter_examples``, as a list (small files; training streams them)."""
    return list(iter_examples(path, **options))


def iter_examples(
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
) -> Iterator[Example]:
    """Labelled (or, with ``label_field=None``, unlabelled) rows, one at a time, as the file is read.

    ``text_field`` / ``label_field`` are column names (files with a header, JSONL keys) or
    0-based column indices (files without a header). Texts longer than ``max_chars`` are cut.
    ``label_parser`` (multi-label data, ``bilstm_clf.data.label_sets.LabelSetParser``) reads the
    label field as a set of labels: ``Example.label`` is then a tuple of names.
    A file that yields no usable row raises ``DataError`` once it is exhausted.
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
    lines = TextLines(path, encoding)
    extra = {"label_parser": label_parser} if label_parser is not None else {}
    rows = reader.read_rows(path, lines, reader.name, text_field, label_field, has_header, **extra)
    kept = 0
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
        kept += 1
        report.kept += 1
        yield Example(sentence, label, line)
    if not kept:
        if not lines.has_content:
            raise DataError(path, "empty file")
        if report.skipped_count:
            line, why = report.skipped[0]
            raise DataError(path, f"no usable rows: all {report.skipped_count} rows were skipped (first at line {line}: {why})")
        raise DataError(path, "no data rows" + (" after the header" if has_header and reader.name != "jsonl" else ""))


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
