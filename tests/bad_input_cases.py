"""The corpus of bad inputs: each file under tests/bad_inputs/, what the user must see, what skip does.

Shared by tests/test_bad_inputs.py (readers and data module, in-process) and
tests/test_bad_inputs_cli.py (the real CLI, one process per case). docs/robustness.md tabulates
the same cases; tests/test_bad_inputs.py checks that every case id appears there.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

CORPUS = Path(__file__).resolve().parent / "bad_inputs"
DIRECTORY = "a_directory.csv"  # made at test time: a directory where a file is expected


@dataclass(frozen=True)
class Case:
    id: str
    train: str  # a file in CORPUS (or a name that is not there)
    error: str  # regex the one-line error must match (default on_bad_row=error)
    options: dict = field(default_factory=dict)  # reader keyword arguments == data.<key> overrides
    dev: str | None = None
    # with on_bad_row=skip: (rows kept in the failing file, lines skipped), or a regex of the error
    # that remains; None: the same error (a whole-file problem)
    skip: tuple[int, list[int]] | str | None = None
    cli_error: str | None = None  # when the CLI names the config key instead (missing file)
    level: str = "reader"  # "datamodule": found after reading (labels across splits)


TEXT = {"text_field": "text"}
SENTENCE = {"text_field": "sentence"}

CASES = [
    Case("missing_label", "missing_label.csv", r"missing_label\.csv:3: missing label \(set data\.on_bad_row=skip", TEXT, skip=(2, [3])),
    Case("missing_field", "too_few_fields.tsv", r"too_few_fields\.tsv:3: expected at least 2 fields, found 1", SENTENCE, skip=(2, [3])),
    Case("extra_fields", "extra_fields.csv", r"extra_fields\.csv:3: expected 2 fields as in the header, found 3 \(an unquoted ','", TEXT, skip=(2, [3])),
    Case("empty_text", "empty_text.tsv", r"empty_text\.tsv:3: empty text", SENTENCE, skip=(2, [3])),
    Case("invalid_utf8", "invalid_utf8.tsv", r"invalid_utf8\.tsv:3: cannot decode byte 0xe9 at byte offset 30 as utf-8; set data\.encoding", SENTENCE),
    Case("utf16_without_encoding", "utf16.tsv", r"utf16\.tsv:1: cannot decode byte 0xff at byte offset 0 as utf-8; the file starts with a UTF-16 byte-order mark: set data\.encoding=utf-16", SENTENCE),
    Case("nul_byte", "nul_byte.tsv", r"nul_byte\.tsv:3: contains a NUL character", SENTENCE, skip=(1, [3])),
    Case("empty_file", "empty.csv", r"empty\.csv: empty file$", TEXT),
    Case("whitespace_only_file", "whitespace_only.csv", r"whitespace_only\.csv: empty file$", TEXT),
    Case("header_only", "header_only.csv", r"header_only\.csv: no data rows after the header$", TEXT),
    Case("all_rows_bad", "all_rows_bad.csv", r"all_rows_bad\.csv:2: missing label", TEXT,
         skip=r"all_rows_bad\.csv: no usable rows: all 2 rows were skipped \(first at line 2: missing label\)"),
    Case("missing_file", "no_such_file.csv", r"no_such_file\.csv: file not found$", TEXT,
         cli_error=r"config data\.train_file='no_such_file\.csv': no such file in \S+ \(files there: .*missing_label\.csv"),
    Case("directory_not_file", DIRECTORY, r"a_directory\.csv: is a directory, expected a file$", TEXT),
    Case("wrong_column", "wrong_column.csv", r"wrong_column\.csv:1: no text column 'text'; columns found: 'review', 'stars'$", TEXT),
    Case("duplicate_column", "duplicate_column.csv", r"duplicate_column\.csv:1: the text column 'text' appears 2 times in the header", TEXT),
    Case("name_without_header", "wrong_column.csv", r"wrong_column\.csv: text column 'text' named but the file has no header; use a 0-based column index",
         {"text_field": "text", "has_header": False}),
    Case("unknown_suffix", "notes.xml", r"notes\.xml: cannot tell the format from the suffix 'xml'; set data\.format to one of tsv, csv, jsonl", TEXT),
    Case("unclosed_quote", "unclosed_quote.csv", r"unclosed_quote\.csv:3: malformed CSV: unexpected end of data \(unclosed quote\?\)", TEXT, skip=(1, [3])),
    Case("stray_quote", "stray_quote.csv", r"stray_quote\.csv:3: malformed CSV: ',' expected after '\"'", TEXT, skip=(2, [3])),
    Case("carriage_return_in_field", "carriage_return.csv", r"carriage_return\.csv:3: malformed CSV: a carriage return \(\\r\) inside an unquoted field", TEXT, skip=(2, [3])),
    Case("invalid_json", "invalid_json.jsonl", r"invalid_json\.jsonl:2: invalid JSON: Expecting property name enclosed in double quotes at column 22", TEXT, skip=(1, [2])),
    Case("json_not_object", "not_an_object.jsonl", r"not_an_object\.jsonl:2: expected a JSON object, found list", TEXT, skip=(1, [2])),
    Case("json_wrong_key", "wrong_key.jsonl", r"wrong_key\.jsonl:1: no text key 'text'; keys found: 'sentence', 'label'", TEXT,
         skip=r"wrong_key\.jsonl: no usable rows: all 2 rows were skipped \(first at line 1: no text key 'text'"),
    Case("json_lone_surrogate", "surrogate.jsonl", r"surrogate\.jsonl:2: an unpaired surrogate escape", TEXT, skip=(1, [2])),
    Case("json_fractional_label", "fractional_label.jsonl", r"fractional_label\.jsonl:2: label 0\.5 is not a string or an integer", TEXT, skip=(1, [2])),
    Case("single_class_train", "single_class.tsv", r"single_class\.tsv: the training split has a single class \('pos'\); need at least 2$", SENTENCE,
         level="datamodule"),
    Case("unseen_dev_label", "unseen_train.tsv", r"unseen_dev\.tsv:3: label 'neutral' does not occur in the training split \(labels: neg, pos\)", SENTENCE,
         dev="unseen_dev.tsv", skip=(1, [3]), level="datamodule"),
]

# Config mistakes, run through the CLI against a good data set: (id, overrides, one-line error regex).
CONFIG_CASES = [
    ("unknown_pooling", ["model.pooling=min"], r"config model\.pooling='min': expected one of attention, last, mean, max$"),
    ("unknown_optimizer", ["optimizer=adamx"], r"config optimizer='adamx': did you mean 'adam'\? expected one of adam, adamw, sgd$"),
    ("optimizer_target", ["optimizer._target_=torch.optim.Adamx"], r"config optimizer\._target_='torch\.optim\.Adamx': cannot import it; .* optimizer=adam\|adamw\|sgd$"),
    ("negative_lr", ["optimizer.lr=-1"], r"config optimizer\.lr=-1: Adam rejected it: Invalid learning rate: -1$"),
    ("unknown_scheduler_mode", ["scheduler.mode=bogus"], r"config scheduler\.mode='bogus': ReduceLROnPlateau rejected it"),
    ("zero_hidden_size", ["model.hidden_size=0"], r"config model\.hidden_size=0: must be a positive integer$"),
    ("zero_batch_size", ["data.batch_size=0"], r"config data\.batch_size=0: must be a positive integer$"),
    ("text_batch_size", ["data.batch_size=abc"], r"config data\.batch_size='abc': must be a positive integer$"),
    ("missing_data_dir", ["data.data_dir=/nonexistent/bilstm_clf_data"], r"config data\.data_dir='/nonexistent/bilstm_clf_data': directory not found$"),
    ("data_dir_not_given", ["data.data_dir=???"], r"config data\.data_dir='\?\?\?': is required: add data\.data_dir=\.\.\. to the command line$"),
    ("unknown_format", ["data.format=xml"], r"config data\.format='xml': expected one of tsv, csv, jsonl or null$"),
    ("unknown_on_bad_row", ["data.on_bad_row=ignore"], r"config data\.on_bad_row='ignore': expected one of error, skip$"),
    ("unknown_encoding", ["data.encoding=latin-9x"], r"config data\.encoding='latin-9x': unknown text encoding"),
    ("misspelt_key", ["model.hiden_size=8"], r"config model\.hiden_size: no such key; did you mean 'hidden_size'\?"),
    ("override_syntax", ["model.pooling=["], r"cannot parse the override 'model\.pooling=\[': "),
    ("loss_monitor", ["monitor=val/loss"], r"config monitor='val/loss': expected one of val/acc, val/f1_macro$"),
    ("text_max_epochs", ["trainer.max_epochs=ten"], r"config trainer\.max_epochs='ten': must be an integer >= -1"),
    ("missing_checkpoint", ["ckpt_path=/nonexistent/last.ckpt"], r"config ckpt_path='/nonexistent/last\.ckpt': no such checkpoint file"),
    ("resume_without_run", ["ckpt_path=last"], r"config ckpt_path='last': no checkpoints/last\.ckpt in that run"),
]


def override_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
