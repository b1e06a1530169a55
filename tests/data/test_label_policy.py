"""One label policy for every format (bilstm_clf/data/labels.py), and the row checks that need the
tokenizer (bilstm_clf/data/prepared.py)."""

from __future__ import annotations

import json
import unicodedata

import pytest

from bilstm_clf.common.errors import ConfigError, DataError
from bilstm_clf.data.datamodule import TextClassificationDataModule
from bilstm_clf.data.labels import canonical_label
from bilstm_clf.data.readers import read_examples


@pytest.mark.parametrize(("raw", "label"), [
    ("1", "1"), ("01", "1"), ("+1", "1"), ("1.0", "1"), ("1e0", "1"), (1, "1"), (1.0, "1"), ("-0", "0"), ("0.0", "0"),
    ("1.50", "1.5"), (" pos ", "pos"), ("Pos", "Pos"), ("1e400", "1e400"), ("1_000", "1_000"), ("\u0661", "\u0661"),
    (unicodedata.normalize("NFD", "café"), "café"), (True, "true"),
])
def test_canonical_label(raw, label):
    assert canonical_label(raw) == label


def test_csv_tsv_and_jsonl_read_the_same_labels(tmp_path):
    spelt = ["1", "01", "1.0", "0", "00", unicodedata.normalize("NFD", "café"), "café"]
    (tmp_path / "a.csv").write_text("text,label\n" + "".join(f"t{i},{s}\n" for i, s in enumerate(spelt)), encoding="utf-8")
    (tmp_path / "a.tsv").write_text("text\tlabel\n" + "".join(f"t{i}\t{s}\n" for i, s in enumerate(spelt)), encoding="utf-8")
    as_json = [1, 1.0, "1.0", 0, "0", unicodedata.normalize("NFD", "café"), "café"]
    (tmp_path / "a.jsonl").write_text("".join(json.dumps({"text": f"t{i}", "label": v}) + "\n" for i, v in enumerate(as_json)), encoding="utf-8")
    expected = ["1", "1", "1", "0", "0", "café", "café"]
    for name in ("a.csv", "a.tsv", "a.jsonl"):
        assert [ex.label for ex in read_examples(tmp_path / name, text_field="text")] == expected, name


def _module(tmp_path, train_rows, **options):
    (tmp_path / "train.tsv").write_text("text\tlabel\n" + "".join(f"{t}\t{lab}\n" for t, lab in train_rows), encoding="utf-8")
    return TextClassificationDataModule(data_dir=str(tmp_path), train_file="train.tsv", val_file="train.tsv", test_file=None,
                                        text_field="text", **options)


def test_label_names_keys_follow_the_same_policy(tmp_path):
    dm = _module(tmp_path, [("good film", "01"), ("bad film", "0.0")] * 3, label_names={1: "positive", 0: "negative"})
    dm.setup("fit")
    assert dm.label_names == ["negative", "positive"]


def test_the_label_cannot_be_the_input():
    with pytest.raises(ConfigError, match=r"config data\.label_field='label': is also data\.text_field"):
        TextClassificationDataModule(data_dir="x", text_field="label", label_field="label")


def test_tokenless_texts_are_bad_rows(tmp_path):
    rows = [("good film", "pos"), (";;; :", "neg"), ("bad film", "neg")] * 2
    with pytest.raises(DataError, match=r"train\.tsv:3: no tokens: the tokenizer \(data\.tokenizer_style=basic_english\)"):
        _module(tmp_path, rows).setup("fit")
    dm = _module(tmp_path, rows, on_bad_row="skip")
    dm.setup("fit")
    assert len(dm.datasets["train"]) == 4 and dm.skipped_rows() == {"train": 2, "val": 2}
    assert any("no tokens" in line for line in dm.data_report())
    # under whitespace splitting the same text has a token: not a bad row there
    dm = _module(tmp_path, rows, tokenizer_style="whitespace")
    dm.setup("fit")
    assert len(dm.datasets["train"]) == 6


def test_a_validation_carve_must_leave_training_rows(tmp_path):
    dm = _module(tmp_path, [("good film", "pos"), ("bad film", "neg")] * 2, val_fraction=0.9)
    dm.files["val"] = None
    with pytest.raises(ConfigError, match=r"config data\.val_fraction=0\.9: holds out 4 of the 4 rows"):
        dm.setup("fit")
