"""LightningDataModule: read the splits, fit labels and vocabulary on train, encode, batch by length."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader

from bilstm_clf.common import config_checks as check
from bilstm_clf.data.batching import BucketBatchSampler, EncodedDataset, PadCollate, ResumableDataLoader
from bilstm_clf.data.download import DATASETS, materialise
from bilstm_clf.data.label_sets import MultiHotCollate, label_set_options, label_vocabulary, multi_hot_dataset
from bilstm_clf.data.labels import canonical_label
from bilstm_clf.data.split_checks import check_vocabulary, drop_tokenless
from bilstm_clf.data.readers import BAD_ROW_POLICIES, FORMATS, SKIP_HINT, Example, ReadReport, label_order, read_examples
from bilstm_clf.data.tokenizer import STYLES, Tokenizer
from bilstm_clf.common.errors import ConfigError, DataError

log = logging.getLogger(__name__)


class TextClassificationDataModule(pl.LightningDataModule):
    def __init__(
        self,
        *,
        name: str = "custom",
        data_dir: str = "data",
        dataset: str | None = None,
        mirror_dir: str | None = None,
        train_file: str = "train.tsv",
        val_file: str | None = "dev.tsv",
        test_file: str | None = "test.tsv",
        format: str | None = None,
        text_field: str | int = "sentence",
        label_field: str | int = "label",
        label_names: dict | None = None,
        has_header: bool = True,
        encoding: str = "utf-8",
        on_bad_row: str = "error",
        max_chars: int | None = None,
        val_fraction: float = 0.1,
        split_seed: int = 1234,
        lowercase: bool = True,
        tokenizer_style: str = "basic_english",
        min_freq: int = 1,
        max_vocab_size: int | None = None,
        max_length: int | None = None,
        batch_size: int = 64,
        eval_batch_size: int = 256,
        pool_batches: int = 50,
        num_workers: int = 0,
        seed: int = 0,
        multi_label: bool = False,
        label_separator: str = "|",
        allow_empty_labels: bool = False,
    ):
        super().__init__()
        arguments = dict(locals())  # the constructor's arguments, by name
        _check_options(arguments)
        self.name = name
        self.data_dir = Path(data_dir)
        self.dataset = dataset
        self.mirror_dir = mirror_dir
        self.files = {"train": train_file, "val": val_file, "test": test_file}
        read_keys = ("format", "text_field", "label_field", "has_header", "encoding", "on_bad_row", "max_chars")
        self.read_options = {k: arguments[k] for k in read_keys}
        # multi-label data: the label field holds a set of labels (bilstm_clf.data.label_sets)
        self.multi_label = multi_label
        self.read_options.update(label_set_options(multi_label, label_separator, allow_empty_labels))
        # display names of the files' labels ({"0": "negative", ...}); labels not named keep their own
        self.display_names = {canonical_label(k): str(v) for k, v in (label_names or {}).items()}
        self.val_fraction = val_fraction
        self.split_seed = split_seed
        self.tokenizer_options = dict(
            lowercase=lowercase, style=tokenizer_style, min_freq=min_freq, max_size=max_vocab_size, max_length=max_length
        )
        self.batch_size = batch_size
        self.eval_batch_size = eval_batch_size
        self.pool_batches = pool_batches
        self.num_workers = num_workers
        self.seed = seed

        self.tokenizer: Tokenizer | None = None
        self.label_names: list[str] = []  # class order; display names where data.label_names gives them
        self.file_labels: list[str] = []
        self.examples: dict[str, list[Example]] = {}
        self.datasets: dict[str, EncodedDataset] = {}
        self.reports: dict[str, ReadReport] = {}  # per split file; skips and cuts are reported at the end

    # --- paths --------------------------------------------------------------------------
    def path(self, split: str) -> Path | None:
        filename = self.files[split]
        return None if filename is None else self.data_dir / filename

    def prepare_data(self) -> None:
        """Materialise a built-in dataset that is not in ``data_dir`` yet (copy from mirror or download)."""
        wanted = [p for p in (self.path(s) for s in self.files) if p is not None]
        missing = [p.name for p in wanted if not p.exists()]
        if missing and self.dataset is not None:
            log.info("materialising %s into %s", self.dataset, self.data_dir.parent)
            materialise(self.dataset, self.data_dir.parent, self.mirror_dir, files=missing)

    # --- setup --------------------------------------------------------------------------
    def setup(self, stage: str | None = None) -> None:
        if self.datasets:
            return  # already set up (train.py sets up early to size the model)
        self._check_paths()
        train = self._read("train")
        val = self._read("val") if self.files["val"] else None
        if val is None:
            train, val = self._carve_validation(train)
        test = self._read("test") if self.files["test"] else None
        self.examples = {"train": train, "val": val} | ({"test": test} if test is not None else {})

        # as the files spell them, in class order (multi-label: every label any row carries)
        self.file_labels = (label_vocabulary if self.multi_label else label_order)(ex.label for ex in train)
        if self.multi_label and not self.file_labels:
            raise DataError(self.path("train"), "no row of the training split carries a label")
        if len(self.file_labels) < 2 and not self.multi_label:
            raise DataError(self.path("train"), f"the training split has a single class ({self.file_labels[0]!r}); need at least 2")
        self.label_names = [self.display_names.get(label, label) for label in self.file_labels]
        label_ids = {label: i for i, label in enumerate(self.file_labels)}
        for split in ("val", "test"):
            if split in self.examples:
                self.examples[split] = self._known_labels(split, self.examples[split], label_ids)

        self.tokenizer = Tokenizer.build((ex.text for ex in train), **self.tokenizer_options)
        encoded = {}
        for split, rows in self.examples.items():  # each split tokenised once
            ids = self.tokenizer.token_ids([ex.text for ex in rows])
            # a text the tokenizer reduces to nothing teaches nothing
            self.examples[split], encoded[split] = drop_tokenless(self, split, rows, ids)
        check_vocabulary(self)
        for split, rows in self.examples.items():
            ids = encoded[split]
            if self.multi_label:
                self.datasets[split] = multi_hot_dataset(ids, [ex.label for ex in rows], label_ids)
            else:
                self.datasets[split] = EncodedDataset(ids, [label_ids[ex.label] for ex in rows])
        for report in self.reports.values():
            log.info("read %s", report.summary())
        log.info(
            "%s: %s; vocabulary %d words; %d classes",
            self.name,
            ", ".join(f"{k} {len(v)}" for k, v in self.datasets.items()),
            self.tokenizer.vocab_size,
            len(self.label_names),
        )

    def _check_paths(self) -> None:
        """Every configured file exists, before any is read: a typo in dev_file answers at once."""
        if not self.data_dir.is_dir():
            problem = "is not a directory" if self.data_dir.exists() else "directory not found"
            raise ConfigError("data.data_dir", str(self.data_dir), problem)
        for split, filename in self.files.items():
            if filename is not None and not self.path(split).exists():
                found = sorted(p.name for p in self.data_dir.iterdir() if p.is_file() and not p.name.startswith("."))
                listing = ", ".join(found[:12]) + (", ..." if len(found) > 12 else "") if found else "none"
                raise ConfigError(f"data.{split}_file", filename, f"no such file in {self.data_dir} (files there: {listing})")

    def _read(self, split: str) -> list[Example]:
        path = self.path(split)
        report = ReadReport(str(path))
        self.reports[split] = report
        return read_examples(path, report=report, **self.read_options)

    def _known_labels(self, split: str, rows: list[Example], label_ids: dict[str, int]) -> list[Example]:
        """A label the training split lacks cannot be learnt or scored: an error, or a counted skip."""
        # carved validation rows come from the train file, so their lines are train-file lines
        source = split if split in self.reports else "train"
        kept = []
        for ex in rows:
            unknown = [n for n in ex.label if n not in label_ids] if self.multi_label else [] if ex.label in label_ids else [ex.label]
            if not unknown:
                kept.append(ex)
                continue
            problem = f"label {unknown[0]!r} does not occur in the training split (labels: {', '.join(self.file_labels)})"
            if self.read_options["on_bad_row"] == "error":
                raise DataError(self.path(source), problem + SKIP_HINT, line=ex.line)
            self.reports[source].skip(ex.line, problem)
        if rows and not kept:
            raise DataError(self.path(source), "no usable rows: none of its labels occurs in the training split")
        self.reports[source].kept -= len(rows) - len(kept)
        return kept

    # --- what the end-of-run summary reports --------------------------------------------------
    def skipped_rows(self) -> dict[str, int]:
        return {split: len(report.skipped) for split, report in self.reports.items()}

    def data_report(self) -> list[str]:
        """One line per file read: rows kept, skipped (with the first reasons) and cut."""
        lines = [report.summary() for report in self.reports.values()]
        max_length = self.tokenizer_options["max_length"]
        if max_length and self.datasets:
            at_limit = sum(int((d.lengths >= max_length).sum()) for d in self.datasets.values())
            if at_limit:
                lines.append(f"texts at max_length={max_length} tokens (longer ones are cut there): {at_limit}")
        return lines

    def _carve_validation(self, train: list[Example]) -> tuple[list[Example], list[Example]]:
        """No dev split (TREC): hold out ``val_fraction`` of train, the same rows for a given split_seed."""
        order = np.random.default_rng(self.split_seed).permutation(len(train))
        n_val = max(1, int(round(len(train) * self.val_fraction)))
        if n_val >= len(train):
            raise ConfigError("data.val_fraction", self.val_fraction, f"holds out {n_val} of the {len(train)} rows of {self.path('train')}, "
                              "leaving none to train on; use a smaller fraction or set data.val_file")
        val_idx = set(order[:n_val].tolist())
        return [ex for i, ex in enumerate(train) if i not in val_idx], [train[i] for i in sorted(val_idx)]

    # --- facts the model needs -------------------------------------------------------------
    @property
    def vocab_size(self) -> int:
        assert self.tokenizer is not None, "call setup() first"
        return self.tokenizer.vocab_size

    @property
    def num_classes(self) -> int:
        return len(self.label_names)

    @property
    def pad_id(self) -> int:
        return 0

    def token_counts(self) -> np.ndarray:
        """How often each vocabulary id occurs in the training split."""
        ids = self.datasets["train"].ids
        return np.bincount(np.concatenate(ids), minlength=self.vocab_size) if ids else np.zeros(self.vocab_size, np.int64)

    def class_counts(self) -> np.ndarray:
        """Training examples per class; in multi-label data, per label (rows that carry it)."""
        labels = self.datasets["train"].labels
        if self.multi_label:
            return labels.sum(axis=0).astype(np.int64)
        return np.bincount(labels, minlength=self.num_classes)

    def transfer_batch_to_device(self, batch, device, dataloader_idx):
        # lengths stay on the host: packing reads them there, so moving them would cost a sync.
        return {k: v if k == "lengths" else v.to(device, non_blocking=True) for k, v in batch.items()}

    # --- loaders ------------------------------------------------------------------------
    def _loader(self, split: str, train: bool) -> DataLoader:
        dataset = self.datasets[split]
        # Under DDP every rank reads its own share of the batches (Lightning's distributed sampler is off).
        trainer = self.trainer
        sampler = BucketBatchSampler(
            dataset.lengths,
            self.batch_size if train else self.eval_batch_size,
            shuffle=train,
            pool_batches=self.pool_batches,
            seed=self.seed,
            num_replicas=trainer.world_size if trainer is not None else None,
            rank=trainer.global_rank if trainer is not None else None,
        )
        options = dict(
            batch_sampler=sampler,
            collate_fn=MultiHotCollate(self.pad_id) if self.multi_label else PadCollate(self.pad_id),
            num_workers=self.num_workers,
            persistent_workers=self.num_workers > 0,
            # its own generator: starting an epoch must not draw from the global RNG that dropout uses
            generator=torch.Generator().manual_seed(self.seed),
            pin_memory=self.pin_memory,
        )
        if not train:
            return DataLoader(dataset, **options)
        if trainer is not None:
            # Lightning builds the first iterator before it sets the epoch, and a run resumed at an
            # epoch boundary uses that iterator: start at the epoch the fit loop is about to run.
            sampler.set_epoch(trainer.fit_loop.epoch_progress.current.processed)
        return ResumableDataLoader(dataset, batches_done=self._train_batches_done, **options)

    def _train_batches_done(self) -> int:
        """Batches of the current epoch the fit loop has trained on (saved with mid-epoch checkpoints;
        the sampler's own count includes batches that DataLoader workers prefetched)."""
        return self.trainer.fit_loop.epoch_loop.batch_progress.current.processed

    @property
    def pin_memory(self) -> bool:
        """Pinned batches when training on CUDA: only copies from pinned host memory are truly
        asynchronous (the batch's non_blocking copies, and the encoder's copy of ``lengths``)."""
        return self.trainer is not None and self.trainer.strategy.root_device.type == "cuda"

    def train_dataloader(self) -> DataLoader:
        return self._loader("train", train=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader("val", train=False)

    def test_dataloader(self) -> DataLoader:
        if "test" not in self.datasets:
            raise DataError(self.data_dir, "no test split configured (data.test_file is null)")
        return self._loader("test", train=False)


def _check_options(options: dict) -> None:
    """Every constructor value, checked before any file is touched: errors name data.<key>."""
    key = "data.{}".format
    if not isinstance(options["data_dir"], (str, Path)) or not str(options["data_dir"]).strip():
        raise ConfigError(key("data_dir"), options["data_dir"], "must be the path of the directory holding the data files")
    check.choice(key("dataset"), options["dataset"], list(DATASETS), optional=True)
    check.filename(key("train_file"), options["train_file"])
    check.filename(key("val_file"), options["val_file"], optional=True)
    check.filename(key("test_file"), options["test_file"], optional=True)
    check.choice(key("format"), options["format"], FORMATS, optional=True)
    check.column(key("text_field"), options["text_field"])
    check.column(key("label_field"), options["label_field"])
    if str(options["text_field"]) == str(options["label_field"]):
        raise ConfigError(key("label_field"), options["label_field"], "is also data.text_field; the label cannot be the model's input")
    check.label_names(key("label_names"), options["label_names"])
    check.boolean(key("has_header"), options["has_header"])
    check.text_encoding(key("encoding"), options["encoding"])
    check.choice(key("on_bad_row"), options["on_bad_row"], BAD_ROW_POLICIES)
    check.positive_int(key("max_chars"), options["max_chars"], optional=True)
    check.fraction(key("val_fraction"), options["val_fraction"])
    check.non_negative_int(key("split_seed"), options["split_seed"])  # numpy's generator refuses negative seeds
    check.boolean(key("lowercase"), options["lowercase"])
    check.choice(key("tokenizer_style"), options["tokenizer_style"], STYLES)
    check.positive_int(key("min_freq"), options["min_freq"])
    check.positive_int(key("max_vocab_size"), options["max_vocab_size"], optional=True)
    check.positive_int(key("max_length"), options["max_length"], optional=True)
    for name in ("batch_size", "eval_batch_size", "pool_batches"):
        check.positive_int(key(name), options[name])
    check.non_negative_int(key("num_workers"), options["num_workers"])
    check.integer("seed", options["seed"])
