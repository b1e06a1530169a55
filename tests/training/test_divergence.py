"""DivergenceGuard: a NaN, infinite or exploded loss or metric stops the run as a UserError,
before the epoch's checkpoints (tests/reliability_cases.py runs it through the CLI)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch

from bilstm_clf.common.errors import UserError
from bilstm_clf.training.divergence import DivergenceGuard


def _trainer(**metrics):
    return SimpleNamespace(global_step=3, current_epoch=1, sanity_checking=False, callback_metrics={k: torch.tensor(v) for k, v in metrics.items()})


@pytest.mark.parametrize("loss", [float("nan"), float("inf"), -float("inf"), 1e30])
def test_a_bad_training_loss_stops_the_run_before_validation(loss):
    guard, trainer = DivergenceGuard(), _trainer()
    guard.on_train_batch_end(trainer, None, {"loss": torch.tensor(0.7)}, None, 0)
    guard.on_validation_start(trainer, None)  # finite so far: nothing happens
    guard.on_train_batch_end(trainer, None, {"loss": torch.tensor(loss)}, None, 1)
    guard.on_train_batch_end(trainer, None, torch.tensor(0.5), None, 2)  # a later good step does not clear it
    with pytest.raises(UserError, match=r"training diverged: the training loss became NaN, infinite or above 1e\+06 by step 3 \(epoch 1\)"):
        guard.on_validation_start(trainer, None)
    with pytest.raises(UserError):
        guard.on_train_epoch_end(trainer, None)


@pytest.mark.parametrize(("metrics", "bad"), [({"val/loss": float("nan")}, "val/loss is nan"), ({"val/loss": 2e7}, "val/loss is 2"),
                                               ({"val/loss": 0.5, "val/f1_macro": float("nan")}, "val/f1_macro is nan")])
def test_a_bad_validation_metric_stops_the_run(metrics, bad):
    with pytest.raises(UserError, match=f"training diverged: {bad}.* after epoch 1; the run stops"):
        DivergenceGuard().on_validation_end(_trainer(**metrics), None)


def test_finite_values_pass():
    guard, trainer = DivergenceGuard(), _trainer(**{"val/loss": 0.4, "val/acc": 0.9, "val/f1_macro": 0.9})
    guard.on_train_batch_end(trainer, None, {"loss": torch.tensor(0.3)}, None, 0)
    guard.on_validation_start(trainer, None)
    guard.on_validation_end(trainer, None)
    guard.on_train_epoch_end(trainer, None)
