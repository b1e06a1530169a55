"""Small Lightning callbacks of our own."""

from __future__ import annotations

import logging
import time

import pytorch_lightning as pl

log = logging.getLogger("bilstm_clf")


class EpochSummary(pl.Callback):
    """One log line per epoch (readable in CI logs and train.log, where progress bars are not)."""

    def __init__(self, keys: tuple[str, ...] = ("train/loss_step", "val/loss", "val/acc", "val/f1_macro")):
        self.keys = keys
        self._start = 0.0

    def on_train_epoch_start(self, trainer, pl_module):
        self._start = time.perf_counter()

    def on_validation_end(self, trainer, pl_module):
        if trainer.sanity_checking or not trainer.is_global_zero or trainer.state.fn != "fit":
            return  # not for trainer.validate after fit (train.py re-checks the best checkpoint)
        metrics = trainer.callback_metrics
        parts = [f"{k} {float(metrics[k]):.4f}" for k in self.keys if k in metrics]
        log.info("epoch %d: %s (%.1f s)", trainer.current_epoch, ", ".join(parts), time.perf_counter() - self._start)


class UnfreezeEmbeddings(pl.Callback):
    """Pretrained embeddings start frozen and are fine-tuned from ``epoch`` on."""

    def __init__(self, epoch: int):
        self.epoch = epoch

    def on_train_epoch_start(self, trainer, pl_module):
        weight = pl_module.model.embedding.weight
        if trainer.current_epoch >= self.epoch and not weight.requires_grad:
            weight.requires_grad_(True)
            log.info("epoch %d: embeddings unfrozen", trainer.current_epoch)
