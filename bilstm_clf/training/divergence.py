"""Stop a run whose loss or metrics stop being finite, before a checkpoint can keep them.

A learning rate too large for the data, or a weight of ``inf``, makes every weight NaN within a
few steps; the accuracy of a NaN model is still a number (argmax of NaN is class 0), so the run
would finish with exit 0, keep a NaN checkpoint as its best and export it. This callback raises
a ``UserError`` instead (one line, exit 2). It is not optional: train.py always adds it.

The training loss is checked without a device sync per step: each step folds "not finite" into a
flag on the device, read once before validation (so before the epoch's checkpoints, which
Lightning runs after every other callback) and at the end of the epoch.
"""

from __future__ import annotations

import math

import pytorch_lightning as pl
import torch

from bilstm_clf.common.errors import UserError

CHECKED = ("val/loss", "val/acc", "val/f1_macro")
# A cross-entropy above this has exploded: a uniform guess over C classes costs ln(C), and a
# confident mistake a few tens. Weights that large are finite garbage, so they count as divergence.
LOSS_LIMIT = 1e6
HINT = "lower optimizer.lr, keep trainer.gradient_clip_val set, check class_weights and label_smoothing"


class DivergenceGuard(pl.Callback):
    def __init__(self) -> None:
        self._flag: torch.Tensor | None = None  # on the loss's device: True once a loss was bad

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        loss = outputs.get("loss") if isinstance(outputs, dict) else outputs
        if not isinstance(loss, torch.Tensor):
            return
        loss = loss.detach()
        bad = ~torch.isfinite(loss) | (loss.abs() > LOSS_LIMIT)  # device ops only: no sync
        self._flag = bad if self._flag is None else self._flag | bad

    def _check_training(self, trainer) -> None:
        bad = self._flag is not None and bool(self._flag)
        strategy = getattr(trainer, "strategy", None)
        if strategy is not None:  # under DDP every rank stops together, or the others would hang in a collective
            bad = strategy.reduce_boolean_decision(bad, all=False)
        if bad:
            raise UserError(
                f"training diverged: the training loss became NaN, infinite or above {LOSS_LIMIT:g} by step {trainer.global_step} "
                f"(epoch {trainer.current_epoch}); the run stops, and no checkpoint from there on is kept ({HINT})"
            )

    def on_validation_start(self, trainer, pl_module):
        self._check_training(trainer)

    def on_validation_end(self, trainer, pl_module):
        for key in CHECKED:
            value = trainer.callback_metrics.get(key)
            if value is not None and not (math.isfinite(float(value)) and (key != "val/loss" or float(value) <= LOSS_LIMIT)):
                when = "the sanity check before training" if trainer.sanity_checking else f"epoch {trainer.current_epoch}"
                raise UserError(f"training diverged: {key} is {float(value)} after {when}; the run stops, and no checkpoint from there on is kept ({HINT})")

    def on_train_epoch_end(self, trainer, pl_module):
        self._check_training(trainer)
