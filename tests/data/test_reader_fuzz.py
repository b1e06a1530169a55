"""Property tests of the readers.

Fuzz: any bytes give rows or a DataError, never another exception, and the rows obey the
documented policy. Round trips: whatever csv.writer / json.dumps / a plain TSV writer produce is read
back exactly, at the right line numbers.
"""

import csv
import io
import json
import re

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from bilstm_clf.data.labels import canonical_label
from bilstm_clf.data.readers import ReadReport, read_examples
from bilstm_clf.common.errors import DataError

# Pieces that steer random bytes towards the parsers' edge cases: delimiters, quotes, line ends,
# BOMs, invalid UTF-8, NULs, JSON syntax and the column names the readers look for.
PIECES = [
    b",", b"\t", b"\n", b"\r\n", b"\r", b'"', b'""', b"\\", b" ", b"\x00", b"\xff", b"\xe9", b"\xef\xbb\xbf",
    b"\xff\xfe", b"{", b"}", b"[", b"]", b":", b"null", b"1", b"0.5", b"1e999", b"text", b"label",
    b'"text"', b'"label"', b'{"text": "a", "label": 1}', b"\\ud800", b"\xe2\x80\xa8", b"a", b"b c",
]
FUZZ_BYTES = st.one_of(
    st.binary(max_size=200),
    st.lists(st.one_of(st.sampled_from(PIECES), st.binary(max_size=6)), max_size=40).map(b"".join),
)
FORMATS = [("tsv", True), ("tsv", False), ("csv", True), ("csv", False), ("jsonl", True)]
FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def _fields(fmt: str, header: bool):
    if header or fmt == "jsonl":
        return "text", "label"
    return 0, 1


@pytest.mark.parametrize(("fmt", "header"), FORMATS)
@FUZZ
@given(data=FUZZ_BYTES, max_chars=st.sampled_from([None, 3]))
def test_any_bytes_give_rows_or_a_data_error(tmp_path, fmt, header, data, max_chars):
    path = tmp_path / f"fuzz.{fmt}"
    path.write_bytes(data)
    text_field, label_field = _fields(fmt, header)
    results = {}
    for policy in ("error", "skip"):
        report = ReadReport(str(path))
        try:
            rows = read_examples(
                path, format=fmt, text_field=text_field, label_field=label_field, has_header=header,
                on_bad_row=policy, max_chars=max_chars, report=report,
            )
        except DataError as err:
            assert str(err).startswith(str(path)) and "\n" not in str(err).replace(str(path), "")
            results[policy] = "error"
            continue
        assert rows and report.kept == len(rows)
        for row in rows:  # the documented guarantees of a kept row
            assert row.text.strip() and "\x00" not in row.text
            assert row.label and row.label == row.label.strip()
            assert max_chars is None or len(row.text) <= max_chars
            row.text.encode("utf-8")  # no lone surrogates reach the tokenizer
        assert [r.line for r in rows] == sorted({r.line for r in rows}) and rows[0].line >= 1
        if policy == "error":
            assert not report.skipped
        results[policy] = rows
    if results["error"] != "error":  # what reads cleanly reads the same under skip, with nothing skipped
        assert results["skip"] == results["error"]


def _line_breaks(text: str) -> int:
    return text.count("\n")  # the readers count '\n' only, as editors and `wc -l` do


TEXT = st.text(st.characters(blacklist_characters="\x00", blacklist_categories=("Cs",)), min_size=1, max_size=30).filter(
    lambda s: s.strip()
)
LABEL = st.text(st.characters(blacklist_characters="\x00", blacklist_categories=("Cs",)), min_size=1, max_size=8).filter(
    lambda s: s.strip() == s and s
)


@given(rows=st.lists(st.tuples(TEXT, LABEL), min_size=1, max_size=8), crlf=st.booleans())
@example(rows=[("0", "00"), ("x", "caf\u0065\u0301")], crlf=False)  # found by CI: label spellings of one class
@settings(deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_csv_round_trip(tmp_path, rows, crlf):
    buffer = io.StringIO(newline="")
    # with '\n' line ends csv.writer leaves a lone '\r' unquoted, which the reader refuses: quote all
    writer = csv.writer(buffer, lineterminator="\r\n" if crlf else "\n", quoting=csv.QUOTE_MINIMAL if crlf else csv.QUOTE_ALL)
    writer.writerow(["text", "label"])
    starts, line = [], 2
    for text, label in rows:
        before = buffer.tell()
        writer.writerow([text, label])
        starts.append(line)
        line += _line_breaks(buffer.getvalue()[before:])
    path = tmp_path / "rt.csv"
    path.write_bytes(buffer.getvalue().encode("utf-8"))
    got = read_examples(path, text_field="text")
    # labels come back in the label policy's form: "00" is the class "0" (bilstm_clf/data/labels.py)
    assert [(r.text, r.label, r.line) for r in got] == [(t, canonical_label(lb), s) for (t, lb), s in zip(rows, starts)]


TSV_TEXT = TEXT.filter(lambda s: not re.search(r"[\t\r\n\x0b\x0c\x1c-\x1e\x85\u2028\u2029]", s))


@given(rows=st.lists(st.tuples(TSV_TEXT, LABEL.filter(lambda s: not re.search(r"[\t\r\n]", s))), min_size=1, max_size=8))
@example(rows=[("0", "00"), ("x", "1.0")])
@settings(deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_tsv_round_trip(tmp_path, rows):
    path = tmp_path / "rt.tsv"
    path.write_bytes(("sentence\tlabel\n" + "".join(f"{t}\t{lb}\n" for t, lb in rows)).encode("utf-8"))
    got = read_examples(path)
    assert [(r.text, r.label, r.line) for r in got] == [(t, canonical_label(lb), i + 2) for i, (t, lb) in enumerate(rows)]


@given(
    rows=st.lists(st.tuples(TEXT, st.one_of(LABEL, st.integers(-5, 5))), min_size=1, max_size=8),
    ascii_only=st.booleans(),
)
@settings(deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_jsonl_round_trip_keeps_line_numbers_past_unicode_line_separators(tmp_path, rows, ascii_only):
    path = tmp_path / "rt.jsonl"
    lines = [json.dumps({"text": t, "label": lb}, ensure_ascii=ascii_only) for t, lb in rows]
    path.write_bytes(("\n".join(lines) + "\n").encode("utf-8"))
    got = read_examples(path, text_field="text")
    assert [(r.text, r.label, r.line) for r in got] == [(t, canonical_label(lb), i + 1) for i, (t, lb) in enumerate(rows)]


@given(text=TEXT, max_chars=st.integers(1, 40))
@settings(deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_max_chars_keeps_a_prefix(tmp_path, text, max_chars):
    path = tmp_path / "cut.jsonl"
    path.write_text(json.dumps({"text": text, "label": 1}) + "\n", encoding="utf-8")
    report = ReadReport(str(path))
    (row,) = read_examples(path, text_field="text", max_chars=max_chars, report=report)
    assert row.text == text[:max_chars]
    assert report.truncated == int(len(text) > max_chars)
