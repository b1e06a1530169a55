"""LightningModule: loss, metrics, optimisation and what a checkpoint carries. No data reading here."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import pytorch_lightning as pl
import torch
from pytorch_lightning.plugins.precision import MixedPrecision, Precision
from torch import nn
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn
from torchmetrics import MaxMetric, MeanMetric, MetricCollection
from torchmetrics.classification import MulticlassAccuracy, MulticlassConfusionMatrix, MulticlassF1Score

from bilstm_clf.models import BiLSTMClassifier
from bilstm_clf.training.class_report import per_class

CHECKPOINT_KEY = "bilstm_clf"  # our extra entry in Lightning checkpoints: tokenizer JSON and labels


class SentenceClassifierModule(pl.LightningModule):
    """Trains a ``BiLSTMClassifier`` built from ``model_config`` (plain values, so checkpoints
    rebuild the model with ``torch.load(weights_only=True)`` and no code from the run)."""

    def __init__(
        self,
        model_config: dict[str, Any],
        label_names: Sequence[str],
        optimizer: Callable[..., torch.optim.Optimizer] | None = None,
        scheduler: Callable[..., Any] | None = None,
        scheduler_interval: str = "epoch",
        monitor: str = "val/f1_macro",
        class_weights: Sequence[float] | None = None,
        label_smoothing: float = 0.0,
        tokenizer_json: str | None = None,
        ema_decay: float | None = None,
        adversarial_eps: float = 0.0,
        embedding_lr_scale: float = 1.0,
    ):
        super().__init__()
        # Plain values only; the factories are code, not hyperparameters. logger=False: train.py
        # logs hparams once at the end, together with the real final metrics.
        self.save_hyperparameters(ignore=["optimizer", "scheduler", "tokenizer_json"], logger=False)
        self.model = BiLSTMClassifier(**model_config)
        # An exponential moving average of the weights, used for validation, test and export
        # (Polyak averaging): smoother than the last step's weights, at one extra copy of them.
        # Buffers are copied, not averaged: the only one is the subword n-gram table (integers).
        self.ema = AveragedModel(self.model, multi_avg_fn=get_ema_multi_avg_fn(ema_decay), use_buffers=False) if ema_decay else None
        if self.ema is not None:
            self.ema.requires_grad_(False)  # updated by averaging, never by gradients (DDP must not wait for them)
        self._ema_started = False
        self.label_names = list(label_names)
        self.tokenizer_json = tokenizer_json
        self.optimizer_factory = optimizer or (lambda params: torch.optim.Adam(params, lr=1e-3))
        self.scheduler_factory = scheduler
        weight = torch.tensor(class_weights, dtype=torch.float32) if class_weights is not None else None
        self.criterion = nn.CrossEntropyLoss(weight=weight, label_smoothing=label_smoothing)

        num_classes = len(self.label_names)
        # validate_args=False: torchmetrics' checks read values on the host (torch.unique), a device
        # sync every step; label ids come from our own label map, so they are valid already.
        metrics = MetricCollection(
            {
                "acc": MulticlassAccuracy(num_classes, average="micro", validate_args=False),
                "f1_macro": MulticlassF1Score(num_classes, average="macro", validate_args=False),
            }
        )
        # nan_strategy=disable: no NaN check, which would read the value on the host every batch
        self.eval_loss = nn.ModuleDict({s: MeanMetric(nan_strategy="disable") for s in ("val", "test")})
        self.train_metrics = metrics.clone(prefix="train/")
        self.val_metrics = metrics.clone(prefix="val/")
        self.test_metrics = metrics.clone(prefix="test/")
        # confusion matrices give the per-class precision / recall / F1 (rare classes must count)
        self.confusion = nn.ModuleDict({s: MulticlassConfusionMatrix(num_classes, validate_args=False) for s in ("val", "test")})
        self.class_reports: dict[str, dict[str, dict[str, float | int]]] = {}
        self.val_best = MaxMetric()
        self._resumed_val_best: float | None = None

    @property
    def eval_model(self) -> BiLSTMClassifier:
        """The weights that are validated, tested and exported: the EMA once it has started."""
        if self.ema is not None and (self._ema_started or int(self.ema.n_averaged) > 0):  # a loaded EMA counts
            self._ema_started = True  # no host sync on later calls
            return self.ema.module
        return self.model

    def forward(self, input_ids: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        return self.eval_model(input_ids, lengths)

    def _log_loss(self, stage: str, loss: torch.Tensor, batch_size: int) -> None:
        if stage == "train":
            # sync_dist: under DDP the epoch loss is the mean over ranks (a no-op with one process).
            # Not in the progress bar: Lightning turns progress-bar values into Python numbers
            # (.item(), a device sync) on every step, whatever the bar's refresh rate.
            self.log("train/loss", loss, on_step=True, on_epoch=True, prog_bar=False, batch_size=batch_size, sync_dist=True)
            return
        # dev and test: the mean over every example, across DDP ranks too (a mean of the ranks' means
        # is not one when their shards differ in size)
        mean = self.eval_loss[stage]
        mean.update(loss.detach(), batch_size)
        self.log(f"{stage}/loss", mean, on_step=False, on_epoch=True, prog_bar=True)

    def _eval_step(self, batch, metrics: MetricCollection, stage: str) -> dict[str, torch.Tensor]:
        logits = self(batch["input_ids"], batch["lengths"])
        self._log_loss(stage, self.criterion(logits, batch["labels"]), batch["labels"].size(0))
        metrics.update(logits, batch["labels"])
        self.confusion[stage].update(logits.argmax(-1), batch["labels"])
        # logits for callbacks (tb_reports.TensorBoardReports: confusion matrix, PR curves, errors)
        return {"logits": logits}

    def training_step(self, batch, batch_idx):
        labels, lengths = batch["labels"], batch["lengths"]
        embedded = self.model.embed(batch["input_ids"])
        logits = self.model.classify(embedded, lengths)
        loss = self.criterion(logits, labels)
        if self.hparams.adversarial_eps > 0:
            loss = loss + self._adversarial_loss(loss, embedded, lengths, labels)
        self.train_metrics.update(logits.detach(), labels)
        self._log_loss("train", loss, labels.size(0))
        return loss

    def _adversarial_loss(self, loss, embedded, lengths, labels) -> torch.Tensor:
        """Miyato et al. 2017: the loss again with the word vectors moved by ``adversarial_eps``
        (L2 per sentence) in the direction that raises it most, to first order."""
        if not embedded.requires_grad:  # frozen vectors: the perturbation still needs a gradient
            embedded = embedded.detach().requires_grad_()
            loss = self.criterion(self.model.classify(embedded, lengths), labels)
        (grad,) = torch.autograd.grad(loss, embedded, retain_graph=True)
        norm = grad.flatten(1).norm(dim=1).clamp_min(1e-12)[:, None, None]
        perturbation = (self.hparams.adversarial_eps * grad / norm).detach()
        return self.criterion(self.model.classify(embedded + perturbation, lengths), labels)

    def on_train_batch_end(self, outputs, batch, batch_idx):
        if self.ema is not None:
            self.ema.update_parameters(self.model)
            for averaged, current in zip(self.ema.module.buffers(), self.model.buffers()):
                averaged.copy_(current)
            self._ema_started = True

    def on_train_epoch_end(self):
        # torchmetrics already reduced these across ranks; sync_dist only silences Lightning's warning
        self.log_dict(self.train_metrics.compute(), sync_dist=True)
        self.train_metrics.reset()

    def on_train_start(self):
        self.val_best.reset()  # forget the sanity check's numbers
        if self._resumed_val_best is not None:  # but not the best of the run we resume
            self.val_best.update(self._resumed_val_best)

    def validation_step(self, batch, batch_idx):
        return self._eval_step(batch, self.val_metrics, "val")

    def _class_report(self, stage: str) -> None:
        """Per-class numbers of the epoch: logged (TensorBoard) and kept for train.py's metrics.json."""
        report = per_class(self.confusion[stage].compute().cpu().numpy(), self.label_names)
        self.confusion[stage].reset()
        self.class_reports[stage] = report
        for name, row in report.items():
            for key in ("precision", "recall", "f1"):
                self.log(f"class_{key}/{stage}/{name}", row[key], sync_dist=True)  # own groups: the val/ and test/ cards stay few

    def on_validation_epoch_end(self):
        values = self.val_metrics.compute()
        self.val_metrics.reset()
        self.log_dict(values, prog_bar=True, sync_dist=True)
        self._class_report("val")
        if not self.trainer.sanity_checking:
            self.val_best.update(values[self.hparams.monitor])
            self.log(f"{self.hparams.monitor}_best", self.val_best.compute(), prog_bar=True, sync_dist=True)

    def test_step(self, batch, batch_idx):
        return self._eval_step(batch, self.test_metrics, "test")

    def on_test_epoch_end(self):
        self.log_dict(self.test_metrics.compute(), sync_dist=True)
        self.test_metrics.reset()
        self._class_report("test")

    def make_optimizer(self) -> torch.optim.Optimizer:
        """The optimizer over the model's weights (not the EMA copy). With ``embedding_lr_scale``
        != 1 the embedding table is a second group at that fraction of the learning rate:
        pretrained vectors move slowly while the LSTM and head learn at the full rate."""
        scale = float(self.hparams.embedding_lr_scale)
        if scale == 1.0:
            return self.optimizer_factory(params=self.model.parameters())
        table = self.model.embedding.weight
        rest = [p for p in self.model.parameters() if p is not table]
        # named, so TensorBoard's learning-rate curves read lr-Adam/model and lr-Adam/embeddings
        optimizer = self.optimizer_factory(params=[{"params": rest, "name": "model"}, {"params": [table], "name": "embeddings"}])
        optimizer.param_groups[1]["lr"] *= scale  # before any scheduler reads the groups' rates
        return optimizer

    def configure_optimizers(self):
        optimizer = self.make_optimizer()
        if self.scheduler_factory is None:
            return optimizer
        scheduler = self.scheduler_factory(optimizer=optimizer)
        return {
            "optimizer": optimizer,
            "lr_scheduler": {"scheduler": scheduler, "interval": self.hparams.scheduler_interval, "monitor": self.hparams.monitor},
        }

    def configure_gradient_clipping(self, optimizer, gradient_clip_val=None, gradient_clip_algorithm=None):
        precision = self.trainer.precision_plugin
        if gradient_clip_val and isinstance(precision, MixedPrecision) and precision.scaler is None:
            # bf16-mixed has no loss scale on the gradients, so clipping before a fused optimizer's
            # step is exact; Lightning refuses fused optimizers here for fp16's GradScaler only.
            Precision.clip_gradients(precision, optimizer, gradient_clip_val, gradient_clip_algorithm or "norm")
            return
        super().configure_gradient_clipping(optimizer, gradient_clip_val, gradient_clip_algorithm)

    # --- what a checkpoint carries besides weights: the vocabulary, as JSON text ---------------
    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        checkpoint[CHECKPOINT_KEY] = {"tokenizer_json": self.tokenizer_json, "label_names": self.label_names}
        if self.val_best.update_called:
            checkpoint[CHECKPOINT_KEY]["val_best"] = float(self.val_best.compute())

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        extra = checkpoint.get(CHECKPOINT_KEY, {})
        self.tokenizer_json = extra.get("tokenizer_json", self.tokenizer_json)
        self._resumed_val_best = extra.get("val_best")
