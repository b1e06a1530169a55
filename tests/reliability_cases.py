"""The second-round corpus (issue 14): special files, label identity, config values that reached
torch unchecked, damaged checkpoints and bundles, failing writes. Each case runs through a real
CLI entry point (tests/e2e/test_reliability_cli.py) and must give one ``error:`` line matching
its regex, exit 2 and no traceback. docs/robustness.md tabulates them by id.

``make_files`` builds what the cases name: files that cannot live in git (FIFOs, device symlinks,
compressed data) and checkpoints and bundles damaged from a real tiny run's.
"""

from __future__ import annotations

import bz2
import gzip
import io
import json
import os
import shutil
import zipfile
from pathlib import Path

from tests.conftest import NEGATIVE, POSITIVE

# id -> (overrides, regex of the one stderr line). {d}: the data dir, {f}: the files dir, {run}: a good run.
TRAIN_CASES = {
    # special files, refused by type before a byte is read
    "fifo_train": (["data.train_file=fifo.tsv"], r"fifo\.tsv: is a FIFO \(named pipe\), not a regular file"),
    "fifo_dev": (["data.val_file=fifo.tsv"], r"fifo\.tsv: is a FIFO \(named pipe\), not a regular file"),
    "dev_zero_symlink": (["data.train_file=zero.tsv"], r"zero\.tsv: is a character device \(a symlink to /dev/zero\), not a regular file"),
    "dev_null_symlink": (["data.train_file=null.tsv"], r"null\.tsv: is a character device \(a symlink to /dev/null\), not a regular file"),
    "gzip_named_csv": (["data.train_file=gz.csv"], r"gz\.csv: is gzip-compressed .*, not text; gunzip it first$"),
    "zip_named_tsv": (["data.train_file=zip.tsv"], r"zip\.tsv: is a zip archive .*, not text; unzip it first$"),
    "bzip2_named_jsonl": (["data.train_file=bz.jsonl"], r"bz\.jsonl: is bzip2-compressed .*; bunzip2 it first$"),
    # labels and texts
    "text_field_is_label_field": (["data.text_field=label"], r"config data\.label_field='label': is also data\.text_field; the label cannot be the model's input$"),
    "same_column_index": (["data.has_header=false", "data.text_field=0", "data.label_field=0"], r"config data\.label_field=0: is also data\.text_field"),
    "tokenless_text": (["data.train_file=tokenless.tsv"], r"tokenless\.tsv:4: no tokens: the tokenizer \(data\.tokenizer_style=basic_english\) drops every character of this text \(set data\.on_bad_row=skip"),
    "all_texts_tokenless": (["data.train_file=all_tokenless.tsv", "data.on_bad_row=skip"], r"all_tokenless\.tsv: no usable rows: no text of the train split has a token"),
    "tokenless_dev_text": (["data.val_file=tokenless_dev.tsv"], r"tokenless_dev\.tsv:3: no tokens"),
    "min_freq_above_every_word": (["data.min_freq=1000"], r"config data\.min_freq=1000: no word of the training split occurs that often; the vocabulary would hold only <pad> and <unk>$"),
    # non-finite config values
    "lr_inf": (["optimizer.lr=inf"], r"config optimizer\.lr=inf: must be a finite number$"),
    "lr_nan": (["optimizer.lr=nan"], r"config optimizer\.lr=nan: must be a finite number$"),
    "forget_bias_nan": (["model.forget_bias=nan"], r"config model\.forget_bias=nan: must be a finite number$"),
    "class_weight_inf": (["class_weights=[1,inf]"], r"config class_weights\[1\]=inf: must be a finite number$"),
    "ema_decay_nan": (["ema_decay=nan"], r"config ema_decay=nan: must be a finite number$"),
    "weight_decay_neg_inf": (["optimizer.weight_decay=-inf"], r"config optimizer\.weight_decay=-inf: must be a finite number$"),
    # values Lightning or torch met first
    "unknown_model_key": (["+model.poolin=max"], r"config model\.poolin='max': no such setting; did you mean 'pooling'\? settings in model: .*pooling"),
    "data_decided_model_key": (["+model.vocab_size=10"], r"config model\.vocab_size=10: no such setting"),
    "unknown_export_key": (["+export.quantise=int8"], r"config export\.quantise='int8': no such setting; did you mean 'quantize'\?"),
    "val_fraction_holds_out_all": (["data.val_file=null", "data.val_fraction=0.99"], r"config data\.val_fraction=0\.99: holds out 40 of the 40 rows of \S*train\.tsv, leaving none to train on"),
    "val_fraction_one": (["data.val_file=null", "data.val_fraction=1.0"], r"config data\.val_fraction=1\.0: must be a number in \(0, 1\)$"),
    "limit_val_batches_zero": (["trainer.limit_val_batches=0"], r"config trainer\.limit_val_batches=0: must be > 0: validation picks the best checkpoint"),
    "limit_train_batches_zero": (["trainer.limit_train_batches=0.0"], r"config trainer\.limit_train_batches=0\.0: must be > 0"),
    "limit_test_batches_zero": (["trainer.limit_test_batches=0", "data.test_file=train.tsv"], r"config trainer\.limit_test_batches=0: must be > 0: set test=false"),
    "limit_val_batches_below_one_batch": (["trainer.limit_val_batches=0.0001"], r"config: Lightning cannot run with these settings: .*limit_val_batches"),
    "split_seed_negative": (["data.val_file=null", "data.split_seed=-1"], r"config data\.split_seed=-1: must be an integer >= 0$"),
    "seed_out_of_range": (["seed=-404"], r"config seed=-404: must be an integer in \[0, 2\*\*32\)$"),
    "max_epochs_zero": (["trainer.max_epochs=0"], r"config trainer\.max_epochs=0: must be >= 1, -1 \(no limit\) or null; 0 trains nothing$"),
    # divergence from finite values: stopped before any checkpoint keeps it
    "divergence_exploded_loss": (["optimizer=sgd", "optimizer.lr=1e30", "trainer.gradient_clip_val=null"], r"training diverged: val/loss is [0-9.e+]+ after epoch 0; the run stops, and no checkpoint from there on is kept"),
    "divergence_nan_loss": (["optimizer.lr=1e37", "trainer.max_epochs=2"], r"training diverged: .*; the run stops, and no checkpoint from there on is kept"),
    # resuming from checkpoints that cannot resume this run
    "resume_truncated": (["ckpt_path={f}/truncated.ckpt"], r"truncated\.ckpt: cannot load as a weights-only torch checkpoint: "),
    "resume_pickle_payload": (["ckpt_path={f}/evil.ckpt"], r"evil\.ckpt: cannot load as a weights-only torch checkpoint: "),
    "resume_not_a_dict": (["ckpt_path={f}/list.ckpt"], r"list\.ckpt: not a training checkpoint \(holds a list, expected a dict\)$"),
    "resume_dict_without_keys": (["ckpt_path={f}/keyless.ckpt"], r"keyless\.ckpt: not a resumable training checkpoint: no state_dict, optimizer_states, loops, epoch, global_step"),
    "resume_weights_only": (["ckpt_path={f}/weights_only.ckpt"], r"weights_only\.ckpt: not a resumable training checkpoint: no optimizer_states"),
    "resume_other_model_size": (["ckpt_path={f}/bigger.ckpt"], r"bigger\.ckpt: a checkpoint of another model size: model\.embedding\.weight is \[\d+, 16\] there, \[\d+, 8\] here"),
    "resume_other_model": (["ckpt_path={f}/renamed.ckpt"], r"renamed\.ckpt: written for another model: it lacks model\.head\.weight"),
    "resume_other_optimizer": (["ckpt_path={f}/good.ckpt", "optimizer=sgd"], r"good\.ckpt: saved by another optimizer than SGD \(its state has no .*momentum"),
    "resume_loops_garbage": (["ckpt_path={f}/no_loops.ckpt"], r"no_loops\.ckpt: loops holds no fit_loop state"),
    "resume_text_file": (["ckpt_path={d}/train.tsv"], r"train\.tsv: cannot load as a weights-only torch checkpoint: "),
    "resume_fifo": (["ckpt_path={d}/fifo.tsv"], r"fifo\.tsv: is a FIFO \(named pipe\), not a regular file"),
    # writes that fail: the path named, exit 2
    "export_dir_unwritable": (["export.dir={d}/train.tsv/bundle"], r"error: bundle export failed: \S*train\.tsv/bundle: cannot write: \S*train\.tsv is a file, not a directory \(the run and its checkpoints are complete"),
    "optimizer_step_overflows": (["optimizer.lr=1e38", "optimizer.fused=false"], r"config optimizer: Adam\(lr=1e\+38, .*\) rejected its arguments: value cannot be converted to type float without overflow$"),
}

# predict's command line, id -> (arguments, regex). {b}: a good bundle, {f}: the files dir.
PREDICT_CASES = {
    "predict_encoding_utf16": (["--bundle", "{b}", "--input", "{f}/texts.txt", "--encoding", "utf-16"], r"--encoding 'utf-16': predict reads line by line and needs an ASCII-compatible encoding"),
    "predict_encoding_utf32": (["--bundle", "{b}", "--input", "{f}/texts.txt", "--encoding", "utf-32-le"], r"--encoding 'utf-32-le': .*ASCII-compatible"),
    "predict_encoding_not_text": (["--bundle", "{b}", "--input", "{f}/texts.txt", "--encoding", "rot13"], r"--encoding 'rot13': unknown encoding$"),
    "predict_threads_huge": (["--bundle", "{b}", "--threads", "100000", "x"], r"--threads 100000: must be between 1 and \d+"),
    "predict_threads_zero": (["--bundle", "{b}", "--threads", "0", "x"], r"--threads 0: must be between 1 and \d+"),
    "predict_threads_negative": (["--bundle", "{b}", "--threads", "-3", "x"], r"--threads -3: must be between 1 and \d+"),
    "predict_input_fifo": (["--bundle", "{b}", "--input", "{f}/fifo.txt"], r"fifo\.txt: is a FIFO \(named pipe\), not a regular file"),
    "predict_input_dev_zero": (["--bundle", "{b}", "--input", "{f}/zero.txt"], r"zero\.txt: is a character device \(a symlink to /dev/zero\)"),
    "predict_input_gzip": (["--bundle", "{b}", "--input", "{f}/texts.txt.gz", "--input-format", "txt"], r"texts\.txt\.gz: is gzip-compressed"),
    "bundle_tokenizer_past_embedding": (["--bundle", "{f}/bundle_past_rows", "x"], r"bundle_past_rows/tokenizer\.json: maps a word to id 10000, which the model cannot embed"),
    "bundle_metadata_string_number": (["--bundle", "{f}/bundle_string_max_chars", "x"], r"bundle_string_max_chars/metadata\.json: inference\.max_chars is '100'; expected a positive integer$"),
    "bundle_metadata_section_not_object": (["--bundle", "{f}/bundle_inference_string", "x"], r"bundle_inference_string/metadata\.json: inference is str; expected a JSON object$"),
    "bundle_metadata_vocab_string": (["--bundle", "{f}/bundle_vocab_string", "x"], r"bundle_vocab_string/metadata\.json: model_config\.vocab_size is 'many'; expected a positive integer$"),
}

# export's command line, id -> (arguments, regex)
EXPORT_CASES = {
    "export_more_labels_than_outputs": (["{f}/three_labels.ckpt", "--out", "{out}"], r"three_labels\.ckpt: 3 label names but the model has 2 outputs$"),
    "export_repeated_labels": (["{f}/repeated_labels.ckpt", "--out", "{out}"], r"repeated_labels\.ckpt: label names repeat \('pos'\)"),
    "export_tokenizer_garbage": (["{f}/garbage_tokenizer.ckpt", "--out", "{out}"], r"garbage_tokenizer\.ckpt: its tokenizer JSON does not load: "),
    "export_tokenizer_past_embedding": (["{f}/past_rows.ckpt", "--out", "{out}"], r"past_rows\.ckpt: its tokenizer maps a word to id \d+, but the model has \d+ embedding rows$"),
    "export_nan_weights": (["{f}/nan_weights.ckpt", "--out", "{out}"], r"nan_weights\.ckpt: weight \S+ holds NaN or infinite values"),
    "export_hparams_not_dict": (["{f}/hparams_list.ckpt", "--out", "{out}"], r"hparams_list\.ckpt: not a bilstm_clf checkpoint \(hyper_parameters or bilstm_clf is not a dict\)$"),
    "export_truncated": (["{f}/truncated.ckpt", "--out", "{out}"], r"truncated\.ckpt: cannot load as a weights-only torch checkpoint"),
    "export_fifo": (["{d}/fifo.tsv", "--out", "{out}"], r"fifo\.tsv: is a FIFO \(named pipe\), not a regular file"),
    "export_out_unwritable": (["{f}/good.ckpt", "--out", "/sys/bilstm_clf_bundle"], r"/sys/bilstm_clf_bundle: cannot write: "),
    "export_out_under_a_file": (["{f}/good.ckpt", "--out", "{d}/train.tsv/bundle"], r"train\.tsv/bundle: cannot write: \S*train\.tsv is a file, not a directory$"),
}


def rows(pairs) -> str:
    return "text\tlabel\n" + "".join(f"{t}\t{label}\n" for t, label in pairs)


def make_data(data: Path) -> None:
    """The good data set (40 train rows, 10 dev) and the special files beside it."""
    data.mkdir(parents=True, exist_ok=True)
    train = [(p, "pos") for p in POSITIVE * 4] + [(n, "neg") for n in NEGATIVE * 4]
    (data / "train.tsv").write_text(rows(train), encoding="utf-8")
    (data / "dev.tsv").write_text(rows([(p, "pos") for p in POSITIVE] + [(n, "neg") for n in NEGATIVE]), encoding="utf-8")
    (data / "tokenless.tsv").write_text(rows(train[:2] + [(";;; :", "pos")] + train[2:]), encoding="utf-8")
    (data / "all_tokenless.tsv").write_text(rows([(";;;", "pos"), (":", "neg"), ('"', "pos")]), encoding="utf-8")
    (data / "tokenless_dev.tsv").write_text(rows([("i loved it", "pos"), (";", "neg")]), encoding="utf-8")
    raw = (data / "train.tsv").read_bytes()
    (data / "gz.csv").write_bytes(gzip.compress(raw))
    (data / "bz.jsonl").write_bytes(bz2.compress(raw))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("train.tsv", raw)
    (data / "zip.tsv").write_bytes(buffer.getvalue())
    os.mkfifo(data / "fifo.tsv")
    os.symlink("/dev/zero", data / "zero.tsv")
    os.symlink("/dev/null", data / "null.tsv")


class _Payload:
    """Unpickling this would run code: a weights-only load must refuse it."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def make_files(files: str | Path, run: str | Path) -> None:
    """Damaged copies of ``run``'s checkpoint and bundle, and predict inputs."""
    import torch

    files, run = Path(files), Path(run)
    files.mkdir(parents=True, exist_ok=True)
    best = Path(json.loads((run / "metrics.json").read_text())["best_checkpoint"])
    good = torch.load(best, weights_only=True)
    shutil.copy(best, files / "good.ckpt")

    def save(name: str, payload) -> None:
        torch.save(payload, files / name)

    (files / "truncated.ckpt").write_bytes(best.read_bytes()[: best.stat().st_size // 2])
    save("evil.ckpt", {"state_dict": {}, "hyper_parameters": {"model_config": _Payload(files / "pwned")}})
    save("list.ckpt", [1, 2, 3])
    save("keyless.ckpt", {"weights": torch.zeros(2)})
    save("weights_only.ckpt", {k: v for k, v in good.items() if k not in ("optimizer_states", "lr_schedulers")})
    state = dict(good["state_dict"])
    bigger = {**good, "state_dict": {**state, "model.embedding.weight": torch.zeros(state["model.embedding.weight"].shape[0], 16)}}
    save("bigger.ckpt", bigger)
    save("no_loops.ckpt", {**good, "loops": {}})
    save("renamed.ckpt", {**good, "state_dict": {("model.head.renamed" if k == "model.head.weight" else k): v for k, v in state.items()}})
    extra = good["bilstm_clf"]
    save("three_labels.ckpt", {**good, "bilstm_clf": {**extra, "label_names": ["neg", "pos", "neutral"]}})
    save("repeated_labels.ckpt", {**good, "bilstm_clf": {**extra, "label_names": ["pos", "pos"]}})
    save("garbage_tokenizer.ckpt", {**good, "bilstm_clf": {**extra, "tokenizer_json": "{not json"}})
    tokenizer = json.loads(extra["tokenizer_json"])
    tokenizer["model"]["vocab"]["zzzfar"] = 10_000
    save("past_rows.ckpt", {**good, "bilstm_clf": {**extra, "tokenizer_json": json.dumps(tokenizer)}})
    save("nan_weights.ckpt", {**good, "state_dict": {**state, "model.head.bias": torch.full_like(state["model.head.bias"], float("nan"))}})
    save("hparams_list.ckpt", {**good, "hyper_parameters": [1, 2]})

    (files / "texts.txt").write_text("i loved it\na dull , boring mess\n", encoding="utf-8")
    (files / "texts.txt.gz").write_bytes(gzip.compress(b"i loved it\n"))
    os.mkfifo(files / "fifo.txt")
    os.symlink("/dev/zero", files / "zero.txt")
    bundle = run / "bundle"

    def damaged(name: str, change) -> None:
        target = files / name
        shutil.copytree(bundle, target)
        change(target)

    def edit_json(target: Path, file: str, change) -> None:
        data = json.loads((target / file).read_text())
        change(data)
        (target / file).write_text(json.dumps(data))

    def past_rows(target: Path) -> None:  # metadata.json agrees with the tokenizer: only the model can tell
        edit_json(target, "tokenizer.json", lambda d: d["model"]["vocab"].update(zzzfar=10_000))
        edit_json(target, "metadata.json", lambda d: d["model_config"].update(vocab_size=d["model_config"]["vocab_size"] + 1))

    damaged("bundle_past_rows", past_rows)
    damaged("bundle_string_max_chars", lambda t: edit_json(t, "metadata.json", lambda d: d["inference"].update(max_chars="100")))
    damaged("bundle_inference_string", lambda t: edit_json(t, "metadata.json", lambda d: d.update(inference="fast")))
    damaged("bundle_vocab_string", lambda t: edit_json(t, "metadata.json", lambda d: d["model_config"].update(vocab_size="many")))
