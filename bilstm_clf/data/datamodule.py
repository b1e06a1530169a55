"""LightningDataModule: the prepared splits (read, labelled, encoded once: ``data.prepared``,
cached by ``data.cache``), batched by length."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader

from bilstm_clf.common import config_checks as check
from bilstm_clf.data import cache
from bilstm_clf.data.batching import BucketBatchSampler, EncodedDataset, PadCollate, ResumableDataLoader
from bilstm_clf.data.download import DATASETS, materialise
from bilstm_clf.data.label_sets import MultiHotCollate, MultiHotDataset, label_set_options
from bilstm_clf.data.labels import canonical_label
from bilstm_clf.data.prepared_store import SPLITS, PreparedData, PrepareOptions
from bilstm_clf.data.readers import BAD_ROW_POLICIES, FORMATS, ReadReport
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
        max_chars: int | None = None,  # characters a text keeps (reading) ...
        max_length: int | None = None,  # ... and tokens (the tokenizer)
        val_fraction: float = 0.1,
        split_seed: int = 1234,
        lowercase: bool = True,
        tokenizer_style: str = "basic_english",
        min_freq: int = 1,
        max_vocab_size: int | None = None,
        batch_size: int = 64,
        eval_batch_size: int = 256,
        pool_batches: int = 50,
        num_workers: int = 0,
        seed: int = 0,
        multi_label: bool = False,
        label_separator: str = "|",
        allow_empty_labels: bool = False,
        cache_dir: str | None = None,
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
        # prepared splits are cached here (data.cache); None: prepared in memory on every run
        self.cache_dir = cache_dir

        self.prepared: PreparedData | None = None
        self.tokenizer: Tokenizer | None = None
        self.label_names: list[str] = []  # class order; display names where data.label_names gives them
        self.file_labels: list[str] = []
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

    def add_vector_words(self, words: Sequence[str]) -> None:
        """Words to add after the training vocabulary, before ``setup``: the pretrained vectors'
        words (``embeddings.vocab_from_vectors``), so a dev, test or user text's word that
        training never showed keeps its pretrained vector instead of becoming ``<unk>``."""
        if self.datasets:
            raise RuntimeError("add_vector_words() must come before setup()")
        self.tokenizer_options["added_words"] = list(words) or None

    # --- setup --------------------------------------------------------------------------
    def setup(self, stage: str | None = None) -> None:
        if self.datasets:
            return  # already set up (train.py sets up early to size the model)
        self._check_paths()
        options = PrepareOptions(
            files={split: self.path(split) for split in SPLITS},
            read_options=self.read_options,
            tokenizer_options=self.tokenizer_options,
            multi_label=self.multi_label,
            val_fraction=self.val_fraction,
            split_seed=self.split_seed,
        )
        self.prepared = cache.prepare(options, self.cache_dir, self.name)
        self.tokenizer = self.prepared.tokenizer
        # as the files spell them, in class order (multi-label: every label any row carries)
        self.file_labels = self.prepared.file_labels
        self.label_names = [self.display_names.get(label, label) for label in self.file_labels]
        self.reports = self.prepared.reports
        dataset = MultiHotDataset if self.multi_label else EncodedDataset
        for split, arrays in self.prepared.splits.items():
            self.datasets[split] = dataset.from_arrays(arrays.tokens, arrays.offsets, arrays.labels)
        for report in self.reports.values():
            log.info("read %s", report.summary())
        added = self.tokenizer.vocab_size - self.trained_words
        log.info(
            "%s: %s; vocabulary %d words%s; %d classes",
            self.name,
            ", ".join(f"{k} {len(v)}" for k, v in self.datasets.items()),
            self.trained_words,
            f" from training + {added} from the vectors" if added else "",
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

    # --- what the end-of-run summary reports --------------------------------------------------
    def skipped_rows(self) -> dict[str, int]:
        return {split: report.skipped_count for split, report in self.reports.items()}

    def data_report(self) -> list[str]:
        """One line per file read: rows kept, skipped (with the first reasons) and cut."""
        lines = [report.summary() for report in self.reports.values()]
        max_length = self.tokenizer_options["max_length"]
        if max_length and self.datasets:
            at_limit = sum(int((d.lengths >= max_length).sum()) for d in self.datasets.values())
            if at_limit:
                lines.append(f"texts at max_length={max_length} tokens (longer ones are cut there): {at_limit}")
        return lines

    def split_texts(self, split: str, index) -> list[str] | None:
        """The texts of rows ``index`` of the dev or test split (None for train, which keeps none)."""
        arrays = self.prepared.splits.get(split) if self.prepared is not None else None
        return None if arrays is None else arrays.texts(index)

    # --- facts the model needs -------------------------------------------------------------
    @property
    def vocab_size(self) -> int:
        assert self.tokenizer is not None, "call setup() first"
        return self.tokenizer.vocab_size

    @property
    def trained_words(self) -> int:
        """Ids below this are the training split's words; the rest came from ``add_vector_words``."""
        assert self.prepared is not None, "call setup() first"
        return self.prepared.trained_words or self.tokenizer.vocab_size

    @property
    def num_classes(self) -> int:
        return len(self.label_names)

    @property
    def pad_id(self) -> int:
        return 0

    def token_counts(self) -> np.ndarray:
        """How often each vocabulary id occurs in the training split."""
        return self.prepared.token_counts

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
    if options["cache_dir"] is not None and (not isinstance(options["cache_dir"], (str, Path)) or not str(options["cache_dir"]).strip()):
        raise ConfigError(key("cache_dir"), options["cache_dir"], "must be a directory path, or null to prepare the data in memory")
