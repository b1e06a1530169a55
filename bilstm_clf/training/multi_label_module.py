"""The LightningModule for multi-label data (``data.multi_label=true``): the same model, with one
sigmoid per label and binary cross-entropy, and a decision threshold per label tuned on dev.

Every validation epoch gathers the dev probabilities (from all processes), tunes the thresholds
on them (``thresholds``: ``per_label``, ``global`` or a fixed number; ``multi_label_metrics``) and
logs micro-F1, macro-F1, subset accuracy and Hamming loss at those thresholds, so the checkpoint
chosen by ``monitor`` (``val/f1_macro`` by default: here the mean of the labels' F1) carries the
thresholds that go with its weights. Test scores use the checkpoint's thresholds, never re-tuned.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import nn
from torchmetrics import MetricCollection
from torchmetrics.aggregation import CatMetric
from torchmetrics.classification import MultilabelF1Score

from bilstm_clf.training import multi_label_metrics as ml
from bilstm_clf.training.lit_module import CHECKPOINT_KEY, SentenceClassifierModule

MONITORS = ("val/f1_macro", "val/f1_micro", "val/subset_acc")  # all maximised
SCORES = ("f1_micro", "f1_macro", "subset_acc", "hamming_loss")


class MultiHotBCE(nn.Module):
    """``BCEWithLogitsLoss`` on integer multi-hot targets, with optional per-label positive weights."""

    def __init__(self, pos_weight: Sequence[float] | None = None):
        super().__init__()
        weight = torch.tensor(pos_weight, dtype=torch.float32) if pos_weight is not None else None
        self.loss = nn.BCEWithLogitsLoss(pos_weight=weight)

    def forward(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return self.loss(logits, targets.to(logits.dtype))


class OnProbabilities(MetricCollection):
    """Metrics updated with logits, fed sigmoid probabilities: torchmetrics guesses whether its
    input is logits from the values (all in [0, 1]: probabilities), which early logits can fool."""

    def update(self, logits: torch.Tensor, targets: torch.Tensor) -> None:
        super().update(torch.sigmoid(logits.float()), targets.long())


class MultiLabelClassifierModule(SentenceClassifierModule):
    multi_label = True

    def __init__(self, *args: Any, thresholds: str | float = "per_label", pos_weight: Sequence[float] | None = None, **kwargs: Any):
        super().__init__(*args, **kwargs)  # class_weights / label_smoothing: refused by config_checks here
        labels = len(self.label_names)
        self.threshold_mode = thresholds
        self.criterion = MultiHotBCE(pos_weight)
        self.register_buffer("thresholds", torch.full((labels,), ml.DEFAULT_THRESHOLD, dtype=torch.float64))
        # training-set scores at threshold 0.5 (the thresholds are tuned on dev only)
        train = OnProbabilities(
            {
                "f1_micro": MultilabelF1Score(labels, threshold=0.5, average="micro", validate_args=False),
                "f1_macro": MultilabelF1Score(labels, threshold=0.5, average="macro", validate_args=False),
            }
        )
        self.train_metrics = train.clone(prefix="train/")
        # every dev / test probability and target of the epoch, concatenated across processes
        self.gathered = nn.ModuleDict({f"{s}_{k}": CatMetric() for s in ("val", "test") for k in ("probabilities", "targets")})

    def _eval_step(self, batch, metrics, stage: str) -> dict[str, torch.Tensor]:
        logits = self(batch["input_ids"], batch["lengths"])
        self._log_loss(stage, self.criterion(logits, batch["labels"]), batch["labels"].size(0))
        self.gathered[f"{stage}_probabilities"].update(torch.sigmoid(logits.float()))
        self.gathered[f"{stage}_targets"].update(batch["labels"].float())
        return {"logits": logits}

    def _epoch_arrays(self, stage: str) -> tuple[np.ndarray, np.ndarray]:
        parts = [self.gathered[f"{stage}_{k}"] for k in ("probabilities", "targets")]
        if not parts[0].update_called:
            return np.zeros((0, len(self.label_names))), np.zeros((0, len(self.label_names)))
        arrays = tuple(p.compute().reshape(-1, len(self.label_names)).double().cpu().numpy() for p in parts)
        for p in parts:
            p.reset()
        return arrays

    def _log_scores(self, stage: str, probabilities: np.ndarray, targets: np.ndarray) -> dict[str, float]:
        thresholds = self.thresholds.cpu().numpy()
        decided = ml.decide(probabilities, thresholds)
        values = {f"{stage}/{k}": v for k, v in ml.scores(decided, targets).items()}
        self.log_dict(values, prog_bar=stage == "val", sync_dist=True)
        report = ml.per_label(decided, targets, thresholds, self.label_names)
        self.class_reports[stage] = report
        for name, row in report.items():
            for key in ("precision", "recall", "f1", "threshold"):
                self.log(f"class_{key}/{stage}/{name}", row[key], sync_dist=True)
        return values

    def on_validation_epoch_end(self):
        probabilities, targets = self._epoch_arrays("val")
        if len(targets):
            tuned = ml.tune_thresholds(probabilities, targets, self.threshold_mode)
            self.thresholds.copy_(torch.from_numpy(tuned))
        values = self._log_scores("val", probabilities, targets)
        if not self.trainer.sanity_checking:
            self.val_best.update(values[self.hparams.monitor])
            self.log(f"{self.hparams.monitor}_best", self.val_best.compute(), prog_bar=True, sync_dist=True)

    def on_test_epoch_end(self):
        self._log_scores("test", *self._epoch_arrays("test"))

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        super().on_save_checkpoint(checkpoint)
        # plain values for the exporter: the thresholds tuned on dev for these weights
        checkpoint[CHECKPOINT_KEY]["multi_label"] = {
            "thresholds": [float(t) for t in self.thresholds.cpu()],
            "threshold_mode": self.threshold_mode,
        }
