"""Every bad input in tests/bad_inputs/ gets its precise error, or with on_bad_row=skip a counted skip."""

import re
import shutil
from pathlib import Path

import pytest

from bilstm_clf.data.datamodule import TextClassificationDataModule
from bilstm_clf.data.readers import ReadReport, TextLines, read_examples
from bilstm_clf.common.errors import ConfigError, DataError
from tests.bad_input_cases import CASES, CONFIG_CASES, CORPUS, DIRECTORY, Case
from tests.conftest import ROOT

READER_CASES = [c for c in CASES if c.level == "reader"]
DATAMODULE_CASES = [c for c in CASES if c.level == "datamodule"]


@pytest.fixture(scope="session")
def corpus(tmp_path_factory) -> Path:
    """A copy of tests/bad_inputs/ plus a directory where a file is expected."""
    directory = tmp_path_factory.mktemp("corpus")
    for path in CORPUS.iterdir():
        shutil.copyfile(path, directory / path.name)
    (directory / DIRECTORY).mkdir()
    return directory


def _read(corpus: Path, case: Case, on_bad_row: str = "error", report: ReadReport | None = None):
    return read_examples(corpus / case.train, label_field="label", on_bad_row=on_bad_row, report=report, **case.options)


@pytest.mark.parametrize("case", READER_CASES, ids=lambda c: c.id)
def test_reader_error_names_file_line_and_problem(corpus, case):
    with pytest.raises(DataError) as info:
        _read(corpus, case)
    message = str(info.value)
    assert "\n" not in message
    assert re.search(case.error, message), message


@pytest.mark.parametrize("case", READER_CASES, ids=lambda c: c.id)
def test_reader_skip_policy_counts_what_it_drops(corpus, case):
    report = ReadReport(case.train)
    if case.skip is None or isinstance(case.skip, str):  # a whole-file problem stays an error
        with pytest.raises(DataError, match=case.skip or case.error):
            _read(corpus, case, "skip", report)
        return
    kept, lines = case.skip
    rows = _read(corpus, case, "skip", report)
    assert len(rows) == kept == report.kept
    assert [line for line, _ in report.skipped] == lines
    assert f"{len(lines)} skipped (line {lines[0]}: " in report.summary()
    assert all(r.text.strip() and r.label for r in rows)


def _datamodule(corpus: Path, case: Case, on_bad_row: str = "error") -> TextClassificationDataModule:
    return TextClassificationDataModule(
        data_dir=str(corpus), train_file=case.train, val_file=case.dev, test_file=None, on_bad_row=on_bad_row, **case.options
    )


@pytest.mark.parametrize("case", DATAMODULE_CASES, ids=lambda c: c.id)
def test_label_problems_across_splits(corpus, case):
    with pytest.raises(DataError) as info:
        _datamodule(corpus, case).setup("fit")
    assert re.search(case.error, str(info.value)), str(info.value)
    if isinstance(case.skip, tuple):
        dm = _datamodule(corpus, case, "skip")
        dm.setup("fit")
        kept, lines = case.skip
        assert len(dm.datasets["val"]) == kept == dm.reports["val"].kept
        assert [line for line, _ in dm.reports["val"].skipped] == lines
        assert dm.skipped_rows() == {"train": 0, "val": 1}
        assert any("1 skipped (line 3: label 'neutral' does not occur" in line for line in dm.data_report())


def test_messy_but_valid_csv_bom_crlf_quoted_multiline(corpus):
    rows = read_examples(corpus / "bom_crlf_multiline.csv", text_field="text")
    assert [(r.text, r.label, r.line) for r in rows] == [
        ("good, really\r\ngood", "pos", 2),
        ('she said "bad"', "neg", 4),
        ("fine", "pos", 5),
    ]


def test_encoding_option_reads_what_utf8_cannot(corpus):
    assert read_examples(corpus / "invalid_utf8.tsv", encoding="latin-1")[1].text == "café crème"
    assert [r.text for r in read_examples(corpus / "utf16.tsv", encoding="utf-16")] == ["good film", "bad film"]


def test_decode_error_offset_counts_the_bom(tmp_path):
    path = tmp_path / "bom.tsv"
    path.write_bytes(b"\xef\xbb\xbfsentence\tlabel\nok\t1\nbad\xff\t0\n")
    with pytest.raises(DataError, match=r"bom\.tsv:3: cannot decode byte 0xff at byte offset 26 "):
        read_examples(path)


@pytest.mark.parametrize("length", [100_000, 300_000])  # 300k is past csv's default field limit
def test_long_lines_are_cut_to_max_chars_and_counted(tmp_path, length):
    path = tmp_path / "long.tsv"
    path.write_text("sentence\tlabel\n" + "word " * (length // 5) + "\t1\nshort\t0\n", encoding="utf-8")
    report = ReadReport(str(path))
    rows = read_examples(path, max_chars=1000, report=report)
    assert [len(r.text) for r in rows] == [1000, 5]
    assert report.truncated == 1 and "1 cut to 1000 characters" in report.summary()
    assert len(read_examples(path)[0].text) == length  # without max_chars nothing is cut


def test_max_length_caps_tokens_and_is_reported(tmp_path):
    data = tmp_path / "d"
    rows = ["sentence\tlabel", "word " * 20_000 + "\tpos", "short one\tneg", "another\tpos", "more\tneg"]
    (data / "train.tsv").parent.mkdir()
    (data / "train.tsv").write_text("\n".join(rows) + "\n")
    dm = TextClassificationDataModule(data_dir=str(data), val_file=None, test_file=None, max_chars=50_000, max_length=64, val_fraction=0.25)
    dm.setup("fit")
    assert max(max(ds.lengths) for ds in dm.datasets.values()) == 64
    assert any("texts at max_length=64 tokens (longer ones are cut there): 1" in line for line in dm.data_report())


def test_unreadable_file_is_a_data_error(tmp_path, monkeypatch):
    path = tmp_path / "secret.tsv"
    path.write_text("sentence\tlabel\nx\t1\n")

    def denied(self, *args, **kwargs):
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(Path, "open", denied)
    with pytest.raises(DataError, match=r"secret\.tsv: permission denied$"):
        list(TextLines(path))


def test_datamodule_names_the_config_key_for_missing_paths(corpus):
    with pytest.raises(ConfigError, match=r"config data\.data_dir='/nonexistent/x': directory not found"):
        TextClassificationDataModule(data_dir="/nonexistent/x").setup("fit")
    with pytest.raises(ConfigError, match=r"config data\.val_file='dev\.csv': no such file in .* \(files there: .*"):
        TextClassificationDataModule(data_dir=str(corpus), train_file="missing_label.csv", val_file="dev.csv", text_field="text").setup("fit")
    with pytest.raises(ConfigError, match=r"config data\.train_file=None: must be a file name"):
        TextClassificationDataModule(data_dir=str(corpus), train_file=None)


@pytest.mark.parametrize(
    ("option", "value", "expected"),
    [
        ("batch_size", 0, "must be a positive integer"),
        ("max_length", -5, "must be a positive integer or null"),
        ("max_chars", 0, "must be a positive integer or null"),
        ("min_freq", "2", "must be a positive integer"),
        ("val_fraction", 1.0, r"must be a number in \(0, 1\)"),
        ("format", "xlsx", "expected one of tsv, csv, jsonl or null"),
        ("on_bad_row", "warn", "expected one of error, skip"),
        ("encoding", "base64", "unknown text encoding"),
        ("tokenizer_style", "bert", "expected one of basic_english, whitespace"),
        ("has_header", "yes", "must be true or false"),
        ("text_field", -1, "must be a column name"),
        ("num_workers", -1, "must be an integer >= 0"),
    ],
)
def test_datamodule_option_errors_name_key_value_and_choices(option, value, expected):
    with pytest.raises(ConfigError, match=rf"config data\.{option}={re.escape(repr(value))}: {expected}"):
        TextClassificationDataModule(data_dir="data", **{option: value})


def test_robustness_doc_lists_every_case():
    doc = (ROOT / "docs" / "robustness.md").read_text(encoding="utf-8")
    missing = [c.id for c in CASES if f"`{c.id}`" not in doc] + [cid for cid, _, _ in CONFIG_CASES if f"`{cid}`" not in doc]
    assert not missing, f"docs/robustness.md lacks rows for {missing}"
