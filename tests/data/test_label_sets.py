"""Multi-label data: label sets in JSONL lists and separated CSV/TSV fields, the empty set where
allowed, and bad rows answered file:line as in single-label data."""

import json

import numpy as np
import pytest

from bilstm_clf.common.errors import ConfigError, DataError
from bilstm_clf.data.datamodule import TextClassificationDataModule
from bilstm_clf.data.label_sets import LabelSetParser, MultiHotCollate, MultiHotDataset, label_vocabulary, multi_hot
from bilstm_clf.data.readers import ReadReport, read_examples
from tests.conftest import write

PARSER = LabelSetParser("|", allow_empty=True)


def test_jsonl_lists_strings_and_integers_become_sorted_label_sets(tmp_path):
    path = write(tmp_path / "t.jsonl", "\n".join(json.dumps(o) for o in [
        {"text": "a", "tags": ["urgent", "billing"]},
        {"text": "b", "tags": "billing|refund"},
        {"text": "c", "tags": [3, "x", "x"]},
        {"text": "d", "tags": []},
        {"text": "e", "tags": 7},
    ]) + "\n")
    rows = read_examples(path, text_field="text", label_field="tags", label_parser=PARSER)
    assert [r.label for r in rows] == [("billing", "urgent"), ("billing", "refund"), ("3", "x"), (), ("7",)]
    assert [r.line for r in rows] == [1, 2, 3, 4, 5]


@pytest.mark.parametrize(("suffix", "sep"), [("csv", ","), ("tsv", "\t")])
def test_delimited_fields_split_on_the_separator(tmp_path, suffix, sep):
    body = f"text{sep}labels\n" + "".join(f"{t}{sep}{l}\n" for t, l in [("a", "pos|strong"), ("b", " neg "), ("c", "")])
    path = write(tmp_path / f"t.{suffix}", body)
    rows = read_examples(path, text_field="text", label_field="labels", label_parser=PARSER)
    assert [r.label for r in rows] == [("pos", "strong"), ("neg",), ()]


def test_a_configured_separator(tmp_path):
    path = write(tmp_path / "t.csv", 'text,labels\na,"x, y"\n')
    rows = read_examples(path, text_field="text", label_field="labels", label_parser=LabelSetParser(","))
    assert rows[0].label == ("x", "y")


@pytest.mark.parametrize(("content", "suffix", "problem"), [
    ('{"text": "a", "tags": []}\n', "jsonl", r"t\.jsonl:1: empty label set \(set data\.allow_empty_labels=true"),
    ('{"text": "a", "tags": ["x"]}\n{"text": "b", "tags": [["x"]]}\n', "jsonl", r"t\.jsonl:2: label list .* is not a string or an integer"),
    ('{"text": "a", "tags": ["x"]}\n{"text": "b"}\n', "jsonl", r"t\.jsonl:2: missing label"),
    ('{"text": "a", "tags": {"x": 1}}\n', "jsonl", r"t\.jsonl:1: label .* is not a list of labels"),
    ("text\tlabels\na\tx\nb\t\n", "tsv", r"t\.tsv:3: empty label set"),
    ("text\tlabels\na\tx||y\n", "tsv", r"t\.tsv:2: an empty label name in 'x\|\|y'"),
])
def test_bad_label_sets_name_file_and_line(tmp_path, content, suffix, problem):
    path = write(tmp_path / f"t.{suffix}", content)
    with pytest.raises(DataError, match=problem):
        read_examples(path, text_field="text", label_field="tags" if suffix == "jsonl" else "labels", label_parser=LabelSetParser("|"))


def test_skip_policy_counts_bad_label_sets(tmp_path):
    path = write(tmp_path / "t.tsv", "text\tlabels\na\tx\nb\t\nc\ty|z\n")
    report = ReadReport(str(path))
    rows = read_examples(path, text_field="text", label_field="labels", on_bad_row="skip", report=report, label_parser=LabelSetParser())
    assert [r.text for r in rows] == ["a", "c"] and report.skipped == [(3, "empty label set (set data.allow_empty_labels=true if a text may have no label)")]


def test_multi_hot_targets_and_batches():
    sets = [("b",), ("a", "c"), ()]
    names = label_vocabulary(sets)
    assert names == ["a", "b", "c"]
    targets = multi_hot(sets, {n: i for i, n in enumerate(names)})
    np.testing.assert_array_equal(targets, [[0, 1, 0], [1, 0, 1], [0, 0, 0]])
    dataset = MultiHotDataset([[2, 3], [4], [5, 6, 7]], targets)
    batch = MultiHotCollate(0)([dataset[i] for i in range(3)])
    assert batch["labels"].tolist() == [[0, 1, 0], [1, 0, 1], [0, 0, 0]]
    assert batch["input_ids"].shape == (3, 3) and batch["index"].tolist() == [0, 1, 2]


def _datamodule(tmp_path, dev: str, **options):
    write(tmp_path / "train.jsonl", "".join(json.dumps({"text": t, "tags": l}) + "\n" for t, l in [("good fun", ["pos"]), ("bad", ["neg", "strong"]), ("meh", [])]))
    write(tmp_path / "dev.jsonl", dev)
    return TextClassificationDataModule(data_dir=str(tmp_path), train_file="train.jsonl", val_file="dev.jsonl", test_file=None,
                                        text_field="text", label_field="tags", multi_label=True, allow_empty_labels=True, **options)


def test_datamodule_reads_label_sets_and_refuses_a_dev_label_train_lacks(tmp_path):
    dm = _datamodule(tmp_path, '{"text": "fun", "tags": ["pos"]}\n{"text": "so bad", "tags": ["neg", "angry"]}\n')
    with pytest.raises(DataError, match=r"dev\.jsonl:2: label 'angry' does not occur in the training split"):
        dm.setup()
    dm = _datamodule(tmp_path, '{"text": "fun", "tags": ["pos"]}\n')
    dm.setup()
    assert dm.label_names == ["neg", "pos", "strong"] and dm.num_classes == 3
    assert dm.class_counts().tolist() == [1, 1, 1]
    assert next(iter(dm.val_dataloader()))["labels"].tolist() == [[0, 1, 0]]


def test_label_separator_must_be_a_string(tmp_path):
    with pytest.raises(ConfigError, match="data.label_separator"):
        TextClassificationDataModule(data_dir=str(tmp_path), multi_label=True, label_separator="")


def test_label_sets_follow_the_one_label_policy():
    # the same spellings that are one class in single-label data are one label in a set
    parse = LabelSetParser("|")
    assert parse("1.0|01| +1 ") == (("1",), None)
    assert parse(["caf\u0065\u0301", "caf\u00e9", 2.0]) == (("2", "caf\u00e9"), None)
    assert parse(3) == (("3",), None)
