"""The TensorBoard callback: confusion matrices, per-class PR curves, misclassified dev
sentences, the learned word embeddings in the projector, and hparams entries that compare runs
on their final metrics. The panels themselves are pure functions in ``tb_panels``."""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pytorch_lightning as pl
import torch
from pytorch_lightning.loggers import TensorBoardLogger

from bilstm_clf.common.errors import ConfigError
from bilstm_clf.data.tokenizer import SPECIALS
from bilstm_clf.training.tb_panels import (
    ErrorSample,
    confusion_matrix,
    confusion_matrix_image,
    confusion_matrix_markdown,
    misclassified_markdown,
    row_normalise,
    softmax,
)

log = logging.getLogger("bilstm_clf")

EMBEDDING_TAG = "word_embeddings"


# --- hparams ------------------------------------------------------------------------------
def log_final_hparams(logger: Any, params: Mapping[str, Any], metrics: Mapping[str, float]) -> None:
    """Record a run's hyperparameters together with its final metrics.

    For TensorBoard this writes the session start/end entries and the metric scalars, but no
    per-run *experiment* entry: TensorBoard takes the columns of its hparams table from the
    first experiment entry it finds, so one old or unusual run would hide the others' columns.
    Without it, the table has the union of every run's hparams and metrics.
    """
    params = {k: v if isinstance(v, (bool, int, float, str)) else str(v) for k, v in params.items()}
    metrics = {k: float(v) for k, v in metrics.items() if v is not None and math.isfinite(float(v))}
    if not isinstance(logger, TensorBoardLogger):
        logger.log_hyperparams(params, metrics=metrics)
        return
    from torch.utils.tensorboard.summary import hparams as hparams_summaries

    logger.hparams.update(params)  # hparams.yaml beside the events
    logger.log_metrics(metrics, step=0)  # the table shows the last value of each scalar tag
    _experiment, session_start, session_end = hparams_summaries(params, metrics)
    writer = logger.experiment._get_file_writer()  # as Lightning's own log_hyperparams does
    writer.add_summary(session_start)
    writer.add_summary(session_end)
    logger.experiment.flush()


# --- the callback -------------------------------------------------------------------------
class TensorBoardReports(pl.Callback):
    """Writes decision panels to the run's TensorBoard logger (does nothing without one).

    - ``{val,test}/confusion_matrix/{counts,normalised}`` images and ``.../table`` text;
    - ``{val,test}/pr_curve/<label>`` per-class precision-recall curves;
    - ``val/misclassified`` text: a sample of wrong dev predictions (dev only: studying test
      errors invites tuning on the test set);
    - the word embeddings (``projector_words`` most frequent words) in the projector at fit end.

    Validation panels are written every ``every_n_val_epochs`` epochs and always for the last one.
    Needs ``validation_step``/``test_step`` to return ``{"logits": ...}`` and the batch's ``index``.
    """

    def __init__(
        self,
        every_n_val_epochs: int = 1,
        misclassified_samples: int = 20,
        max_sentence_chars: int = 200,
        projector_words: int = 2000,
        pr_curve_thresholds: int = 127,
        seed: int = 0,
    ):
        for key, value, least in (("every_n_val_epochs", every_n_val_epochs, 1), ("misclassified_samples", misclassified_samples, 0),
                                  ("projector_words", projector_words, 0), ("pr_curve_thresholds", pr_curve_thresholds, 2)):
            if not isinstance(value, int) or value < least:
                raise ConfigError(f"callbacks.tensorboard_reports.{key}", value, f"must be an integer >= {least}")
        self.every_n_val_epochs = every_n_val_epochs
        self.error_sample = ErrorSample(misclassified_samples, seed, max_sentence_chars)
        self.projector_words, self.pr_curve_thresholds = projector_words, pr_curve_thresholds
        self._batches: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = []
        self._unlogged_val: tuple[np.ndarray, np.ndarray, np.ndarray, int] | None = None
        self._val_epochs_seen = 0

    # --- collecting predictions ---------------------------------------------------------------
    @staticmethod
    def _active(trainer: pl.Trainer) -> bool:
        """A TensorBoard logger is attached (the same answer on every process), not a sanity check.
        train.py's re-validation of the best checkpoint runs without loggers, so it is skipped."""
        return not trainer.sanity_checking and any(isinstance(lg, TensorBoardLogger) for lg in trainer.loggers)

    def _start(self) -> None:
        self._batches = []

    def _collect(self, trainer: pl.Trainer, outputs: Any, batch: Mapping[str, torch.Tensor]) -> None:
        if not self._active(trainer) or not isinstance(outputs, Mapping) or "logits" not in outputs:
            return
        logits = outputs["logits"].detach().float().cpu()
        self._batches.append((logits, batch["labels"].detach().cpu(), batch["index"].detach().cpu()))

    def _gathered(self, trainer: pl.Trainer) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
        """(logits [N, C], labels [N], dataset index [N]) of this epoch, from every process, by index.
        Called on every process (a collective under DDP)."""
        local = tuple(torch.cat(parts).numpy() for parts in zip(*self._batches)) if self._batches else None
        self._batches = []
        parts = [local]
        if trainer.world_size > 1 and torch.distributed.is_available() and torch.distributed.is_initialized():
            parts = [None] * trainer.world_size
            torch.distributed.all_gather_object(parts, local)
        parts = [p for p in parts if p is not None]
        if not parts:
            return None
        logits, labels, index = (np.concatenate(column) for column in zip(*parts))
        # processes may have seen the same examples (no sharding, or padded shards): keep each once
        index, first = np.unique(index, return_index=True)
        return logits[first], labels[first], index

    @staticmethod
    def _step(trainer: pl.Trainer) -> int:
        # the step Lightning gives the scalars logged now, so images and curves line up with them
        return int(getattr(trainer.fit_loop.epoch_loop, "_batches_that_stepped", trainer.global_step))

    @staticmethod
    def _writer(trainer: pl.Trainer):
        if not trainer.is_global_zero:
            return None
        logger = next((lg for lg in trainer.loggers if isinstance(lg, TensorBoardLogger)), None)
        return None if logger is None else logger.experiment

    # --- validation ---------------------------------------------------------------------------
    def on_validation_epoch_start(self, trainer, pl_module):
        self._start()

    def on_validation_batch_end(self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0):
        self._collect(trainer, outputs, batch)

    def on_validation_epoch_end(self, trainer, pl_module):
        if not self._active(trainer) or trainer.state.fn != "fit":
            return
        gathered = self._gathered(trainer)
        writer = self._writer(trainer)
        if gathered is None or writer is None:
            return
        self._val_epochs_seen += 1
        if self._val_epochs_seen % self.every_n_val_epochs == 0:
            self._log_split(writer, trainer, pl_module, "val", *gathered, self._step(trainer))
            self._unlogged_val = None
        else:
            self._unlogged_val = (*gathered, self._step(trainer))

    def on_fit_end(self, trainer, pl_module):
        writer = self._writer(trainer)
        if writer is None:
            return
        if self._unlogged_val is not None:  # the last epoch is always reported
            self._log_split(writer, trainer, pl_module, "val", *self._unlogged_val)
            self._unlogged_val = None
        self._log_embeddings(writer, trainer, pl_module)
        writer.flush()

    # --- test -----------------------------------------------------------------------------------
    def on_test_epoch_start(self, trainer, pl_module):
        self._start()

    def on_test_batch_end(self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0):
        self._collect(trainer, outputs, batch)

    def on_test_epoch_end(self, trainer, pl_module):
        if not self._active(trainer):
            return
        gathered = self._gathered(trainer)
        writer = self._writer(trainer)
        if gathered is None or writer is None:
            return
        self._log_split(writer, trainer, pl_module, "test", *gathered, self._step(trainer))
        writer.flush()

    # --- the panels -------------------------------------------------------------------------------
    def _log_split(self, writer, trainer, pl_module, split, logits, labels, index, step) -> None:
        if getattr(pl_module, "multi_label", False):
            return self._log_multi_label_split(writer, trainer, pl_module, split, logits, labels, index, step)
        label_names = list(pl_module.label_names)
        classes = len(label_names)
        probs = softmax(logits.astype(np.float64))
        counts = confusion_matrix(labels, probs.argmax(axis=1), classes)
        name = "dev" if split == "val" else split
        for kind, matrix in (("counts", counts), ("normalised", row_normalise(counts))):
            title = f"{name} confusion matrix ({'row-normalised' if kind == 'normalised' else 'counts'}), step {step}"
            image = confusion_matrix_image(matrix, label_names, title, normalised=kind == "normalised")
            writer.add_image(f"{split}/confusion_matrix/{kind}", image, step, dataformats="HWC")
        writer.add_text(f"{split}/confusion_matrix/table", confusion_matrix_markdown(counts, label_names), step)
        for c, label in enumerate(label_names):
            writer.add_pr_curve(
                f"{split}/pr_curve/{label}", labels == c, probs[:, c], step, num_thresholds=self.pr_curve_thresholds
            )
        if split == "val":
            texts = self._texts(trainer, split, index)
            if texts is not None:
                writer.add_text("val/misclassified", misclassified_markdown(texts, labels, probs, label_names, self.error_sample), step)

    def _log_multi_label_split(self, writer, trainer, pl_module, split, logits, targets, index, step) -> None:
        """Per-label PR curves (sigmoid), the per-label table and, on dev, the wrong label sets."""
        from bilstm_clf.training import multi_label_metrics as ml
        from bilstm_clf.training.tb_multi_label_panels import per_label_markdown, wrong_sets_markdown

        label_names = list(pl_module.label_names)
        probabilities = 1.0 / (1.0 + np.exp(-logits.astype(np.float64)))
        # dev: the thresholds this epoch tunes (the module tunes them on the same numbers); test: the checkpoint's
        thresholds = ml.tune_thresholds(probabilities, targets, pl_module.threshold_mode) if split == "val" else pl_module.thresholds.cpu().numpy()
        decided = ml.decide(probabilities, thresholds)
        for j, label in enumerate(label_names):
            writer.add_pr_curve(f"{split}/pr_curve/{label}", targets[:, j] > 0.5, probabilities[:, j], step, num_thresholds=self.pr_curve_thresholds)
        report = ml.per_label(decided, targets, thresholds, label_names)
        writer.add_text(f"{split}/per_label", per_label_markdown(report, ml.scores(decided, targets)), step)
        if split == "val":
            texts = self._texts(trainer, split, index)
            if texts is not None:
                report = wrong_sets_markdown(texts, targets, probabilities, thresholds, label_names, self.error_sample)
                writer.add_text("val/misclassified", report, step)

    @staticmethod
    def _texts(trainer, split, index) -> list[str] | None:
        split_texts = getattr(trainer.datamodule, "split_texts", None) if trainer.datamodule is not None else None
        return None if split_texts is None else split_texts(split, index)

    def _log_embeddings(self, writer, trainer, pl_module) -> None:
        tokenizer = getattr(trainer.datamodule, "tokenizer", None) if trainer.datamodule is not None else None
        embedding = getattr(getattr(pl_module, "model", None), "embedding", None)
        if tokenizer is None or embedding is None or self.projector_words <= 0:
            return
        words = tokenizer.itos()
        # ids follow frequency after the specials (<pad>, <unk>): the top N words are the next N ids
        first = len(SPECIALS)
        last = min(embedding.num_embeddings, first + self.projector_words)  # trained rows (not frozen_words)
        if last <= first:
            return
        vectors = embedding.weight.detach()[first:last].float().cpu()
        token_counts = getattr(trainer.datamodule, "token_counts", None)
        if token_counts is not None:  # a second column to colour or filter the points by
            counts = token_counts()
            metadata, header = [[words[i], int(counts[i])] for i in range(first, last)], ["word", "train_count"]
        else:
            metadata, header = words[first:last], None
        writer.add_embedding(vectors, metadata=metadata, metadata_header=header, tag=EMBEDDING_TAG, global_step=self._step(trainer))
