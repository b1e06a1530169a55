"""One table of input formats for training and predict, settled from the name before any byte is read."""

import pytest

from bilstm_clf.common.errors import DataError
from bilstm_clf.data import formats
from bilstm_clf.data.readers import read_examples
from tests.conftest import write


@pytest.mark.parametrize(("name", "expected"), [
    ("a.tsv", "tsv"), ("a.TAB", "tsv"), ("a.csv", "csv"), ("a.jsonl", "jsonl"), ("a.ndjson", "jsonl"), ("a.json", "jsonl"),
    ("a.txt", "txt"), ("a.text", "txt"), ("noext", "txt"), ("-", "txt"),
])
def test_training_and_predict_read_a_suffix_the_same_way(name, expected):
    assert formats.predict_format(name, None).name == expected
    if expected == "txt":
        with pytest.raises(DataError, match=r"a txt file holds one text per line, no labels; training reads tsv, csv, jsonl"):
            formats.training_format(name)
    else:
        assert formats.training_format(name).name == expected


def test_the_format_is_settled_before_the_file_is_read(tmp_path):
    missing = tmp_path / "notes.xml"  # does not exist: the suffix fails first
    with pytest.raises(DataError, match=r"notes\.xml: cannot tell the format from the suffix 'xml'; set data\.format"):
        read_examples(missing)
    with pytest.raises(DataError, match=r"texts\.txt: a txt file holds one text per line"):
        read_examples(tmp_path / "texts.txt")
    path = write(tmp_path / "texts.txt", "sentence\tlabel\ngood\t1\n")
    assert [e.label for e in read_examples(path, format="tsv")] == ["1"]  # an explicit format wins


def test_every_format_has_one_row_in_the_table():
    assert [f.name for f in formats.TABLE] == ["tsv", "csv", "jsonl", "txt"]
    assert sorted(formats.BY_SUFFIX) == sorted(s for f in formats.TABLE for s in f.suffixes)  # no suffix twice
    assert set(formats.PREDICT_FORMATS) == set(formats.BY_NAME)
    assert formats.TRAINING_FORMATS == ("tsv", "csv", "jsonl")
