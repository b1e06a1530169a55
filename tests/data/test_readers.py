import json

import pytest

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from bilstm_clf.data.readers import ReadReport, TextLines, label_order, read_examples
from bilstm_clf.common.errors import DataError
from tests.conftest import write


def test_tsv_with_header(tmp_path):
    path = write(tmp_path / "a.tsv", "sentence\tlabel\nhello world\t1\nbye \"now\"\t0\n")
    rows = read_examples(path)
    assert [(r.text, r.label, r.line) for r in rows] == [("hello world", "1", 2), ('bye "now"', "0", 3)]


def test_tsv_without_header_uses_column_indices(tmp_path):
    path = write(tmp_path / "a.tsv", "POS\tgreat movie\nNEG\tbad movie\n")
    rows = read_examples(path, has_header=False, text_field=1, label_field=0)
    assert [(r.text, r.label) for r in rows] == [("great movie", "POS"), ("bad movie", "NEG")]


def test_csv_custom_columns_quoted_multiline_bom_and_crlf(tmp_path):
    text = '\ufeffid,review,stars\r\n1,"good, really\r\ngood",5\r\n2,meh,3\r\n'
    path = write(tmp_path / "r.csv", text)
    rows = read_examples(path, text_field="review", label_field="stars")
    assert [(r.text, r.label) for r in rows] == [("good, really\r\ngood", "5"), ("meh", "3")]
    assert rows[1].line == 4  # physical line, after the two-line quoted field


def test_jsonl_int_and_string_labels(tmp_path):
    lines = [{"text": "one", "y": 3}, {"text": "two", "y": "spam"}, {}]
    path = write(tmp_path / "d.jsonl", "\n".join(json.dumps(x) for x in lines[:2]) + "\n\n")
    rows = read_examples(path, text_field="text", label_field="y")
    assert [(r.text, r.label) for r in rows] == [("one", "3"), ("two", "spam")]


def test_unlabelled_read(tmp_path):
    path = write(tmp_path / "u.tsv", "sentence\nfoo\nbar\n")
    assert [r.label for r in read_examples(path, label_field=None)] == [None, None]


def test_wrong_column_lists_columns_found(tmp_path):
    path = write(tmp_path / "a.tsv", "text\ttarget\nx\t1\n")
    with pytest.raises(DataError, match=r"a\.tsv:1: no text column 'sentence'; columns found: 'text', 'target'"):
        read_examples(path)


def test_missing_label_is_an_error_naming_the_line_or_a_counted_skip(tmp_path):
    path = write(tmp_path / "a.tsv", "sentence\tlabel\ngood\t1\nno label here\n\t0\nfine\t0\n")
    with pytest.raises(DataError, match=r"a\.tsv:3: expected at least 2 fields, found 1"):
        read_examples(path)
    report = ReadReport(str(path))
    rows = read_examples(path, on_bad_row="skip", report=report)
    assert [r.text for r in rows] == ["good", "fine"]
    assert [line for line, _ in report.skipped] == [3, 4]
    assert "2 skipped" in report.summary()


def test_invalid_utf8_names_line_and_offset_and_encoding_option_reads_it(tmp_path):
    path = tmp_path / "bad.tsv"
    path.write_bytes(b"sentence\tlabel\nok\t1\ncaf\xe9\t0\n")
    with pytest.raises(DataError, match=r"bad\.tsv:3: cannot decode byte 0xe9 at byte offset 23"):
        read_examples(path)
    assert read_examples(path, encoding="latin-1")[1].text == "café"


@pytest.mark.parametrize("make", ["missing", "directory", "empty"])
def test_missing_empty_or_directory(tmp_path, make):
    path = tmp_path / "x.tsv"
    if make == "directory":
        path.mkdir()
    elif make == "empty":
        path.write_text("")
    expected = {"missing": "file not found", "directory": "is a directory", "empty": "empty file"}[make]
    with pytest.raises(DataError, match=expected):
        read_examples(path)


def test_max_chars_truncates(tmp_path):
    path = write(tmp_path / "a.tsv", "sentence\tlabel\n" + "x" * 100_000 + "\t1\n")
    assert len(read_examples(path, max_chars=1000)[0].text) == 1000


def test_label_order_is_numeric_when_possible_and_stable():
    assert label_order(["10", "2", "1", "2"]) == ["1", "2", "10"]
    assert label_order(["NUM", "ABBR", "LOC"]) == ["ABBR", "LOC", "NUM"]


@given(st.lists(st.text(alphabet="ab\né€😀\r", max_size=12), min_size=1, max_size=12), st.integers(0, 200), st.sampled_from([b"\xff", b"\xe2\x82", b"\xc3"]),
       st.integers(1, 9))
@settings(max_examples=120, deadline=None)
def test_streamed_decoding_names_the_line_and_offset_of_a_whole_file_decode(tmp_path_factory, lines, where, bad, chunk_bytes):
    # the file is decoded in chunks of chunk_bytes: errors must not depend on where chunks end
    good = "\n".join(lines).encode("utf-8")
    cut = min(where, len(good))
    while cut and (good[cut] & 0xC0) == 0x80 if cut < len(good) else False:
        cut -= 1  # insert between characters, never inside one
    raw = good[:cut] + bad + good[cut:]
    path = tmp_path_factory.mktemp("stream") / "x.tsv"
    path.write_bytes(raw)
    try:
        raw.decode("utf-8")
        expected = None
    except UnicodeDecodeError as err:
        expected = (raw[: err.start].decode("utf-8", "replace").count("\n") + 1, err.start)
    stream = TextLines(path)
    stream.CHUNK_BYTES = chunk_bytes
    try:
        text = "".join(stream)
        got = None
    except DataError as err:
        found = re.search(r"x\.tsv:(\d+): cannot decode .* at byte offset (\d+) as", str(err))
        got = (int(found[1]), int(found[2]))
    assert got == expected
    if got is None:
        assert text == raw.decode("utf-8")
