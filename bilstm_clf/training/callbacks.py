"""Small Lightning callbacks of our own."""

from __future__ import annotations

import logging
import os
import random
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytorch_lightning as pl
import torch
from pytorch_lightning.callbacks import Checkpoint, ModelCheckpoint

from bilstm_clf.common.errors import ConfigError

log = logging.getLogger("bilstm_clf")


class EpochSummary(pl.Callback):
    """One log line per epoch (readable in CI logs and train.log, where progress bars are not):
    the epoch's mean training loss and, when the epoch validated, its validation metrics."""

    def __init__(self, keys: tuple[str, ...] = ("train/loss_epoch", "val/loss", "val/acc", "val/f1_macro")):
        self.keys = keys
        self._start = 0.0
        self._validated = False

    def on_train_epoch_start(self, trainer, pl_module):
        self._start = time.perf_counter()
        self._validated = False

    def on_validation_end(self, trainer, pl_module):
        if not trainer.sanity_checking:
            self._validated = True

    def on_train_epoch_end(self, trainer, pl_module):
        # After the epoch's validation. Reading callback_metrics here reduces the on_epoch=True
        # values (train/loss_epoch), across processes under DDP: every rank must read them.
        metrics = trainer.callback_metrics
        keys = [k for k in self.keys if self._validated or not k.startswith("val/")]
        parts = [f"{k.removesuffix('_epoch')} {float(metrics[k]):.4f}" for k in keys if k in metrics]
        if not trainer.is_global_zero:
            return
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

    # A run resumed in the middle of an epoch gets no on_train_epoch_start for that epoch.
    on_train_start = on_train_epoch_start


class TopKCheckpoint(ModelCheckpoint):
    """ModelCheckpoint that remembers the best scores so far when a resumed run writes elsewhere.

    A resume never writes into the old run (bilstm_clf.training.run_dir moves it to a fresh directory), and
    Lightning forgets the top-k it restores when the directory differs: the resumed run's next epoch
    would count as its best. The old run's files stay untouched (Lightning deletes only inside its
    own directory), so ``best_model_path`` may name one of them.
    """

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        super().load_state_dict({**state_dict, "dirpath": self.dirpath})


class LastCheckpoint(Checkpoint):
    """Keeps ``<dirpath>/last.ckpt`` the newest state, for ``ckpt_path=last``: written at the end of
    every epoch and every ``every_n_train_steps`` optimizer steps (null: epoch ends only).

    Lightning's ModelCheckpoint(save_last) refreshes last.ckpt only when it saves a new top-k
    checkpoint. As a ``Checkpoint`` this runs after ModelCheckpoint, so the saved state includes the
    epoch's top-k update. No step checkpoint after an epoch's last batch: Lightning resumes such a
    checkpoint by skipping that epoch's validation; the epoch-end one follows a moment later.
    Written then renamed, like every checkpoint (train.py plugs in AtomicCheckpointIO).
    """

    def __init__(self, dirpath: str, every_n_train_steps: int | None = None):
        if every_n_train_steps is not None and every_n_train_steps < 1:
            raise ConfigError("callbacks.last_checkpoint.every_n_train_steps", every_n_train_steps, "must be a positive integer or null")
        self.path = Path(dirpath) / "last.ckpt"
        self.every_n_train_steps = every_n_train_steps
        self._saved_at_step = -1

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        step = trainer.global_step
        if (
            self.every_n_train_steps
            and step % self.every_n_train_steps == 0
            and step != self._saved_at_step  # several batches per step with gradient accumulation
            and not trainer.fit_loop.epoch_loop.batch_progress.is_last_batch
        ):
            self._save(trainer)

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._save(trainer)
        if trainer.is_global_zero:
            self._share_with_top_k(trainer)

    def _share_with_top_k(self, trainer: pl.Trainer) -> None:
        """A top-k file saved at this very step holds the same weights and optimizer state as the
        last.ckpt just written: make it a second name (hard link) of that file instead of a second
        copy. Later saves of last.ckpt write a new file and rename it over the old name, so the
        top-k name keeps this epoch's state. Where links are not possible the copy stays."""
        for callback in trainer.checkpoint_callbacks:
            saved = getattr(callback, "_last_checkpoint_saved", "")
            if not isinstance(callback, ModelCheckpoint) or not saved or "://" in str(saved):
                continue
            if callback._last_global_step_saved != trainer.global_step:
                continue
            top_k = Path(saved)
            if not top_k.is_file() or top_k.resolve() == self.path.resolve():
                continue
            staging = top_k.with_name(f".{top_k.name}.link")
            try:
                staging.unlink(missing_ok=True)
                os.link(self.path, staging)
                os.replace(staging, top_k)
            except OSError as err:
                staging.unlink(missing_ok=True)
                log.debug("keeping %s as a copy (no hard link: %s)", top_k, err)

    def _save(self, trainer: pl.Trainer) -> None:
        self._saved_at_step = trainer.global_step
        # the full training state (optimizer, loops, callbacks): this file exists to resume from
        trainer.save_checkpoint(self.path, weights_only=False)  # collective under DDP: every rank calls it


class ExactResume(pl.Callback):
    """Saves what Lightning's checkpoints leave out, so a resumed run continues as if never stopped.

    - The random states (torch, CUDA, numpy, python) of every rank, restored when training starts:
      dropout then draws the masks the uninterrupted run would have drawn. (The training sampler's
      position inside the epoch travels with its DataLoader, see ``ResumableDataLoader``.)
    - The input of ``ReduceLROnPlateau``. Lightning does not step it at the end of the epoch a run
      resumes in, nor at the end of the epoch a checkpoint was written in; we take that step, with
      this epoch's validation result or the one saved with the checkpoint.

    Resume with the same number of processes: with another, every rank restores rank 0's states.
    """

    def __init__(self) -> None:
        self._trainer: pl.Trainer | None = None
        self._loaded: dict[str, Any] | None = None
        self._validated_since_load = False

    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        self._trainer = trainer

    def state_dict(self) -> dict[str, Any]:
        # Called on every rank when a checkpoint is written, so the gather below is collective.
        states = [_collect_rng_states()]
        if torch.distributed.is_available() and torch.distributed.is_initialized() and torch.distributed.get_world_size() > 1:
            gathered: list[Any] = [None] * torch.distributed.get_world_size()
            torch.distributed.all_gather_object(gathered, states[0])
            states = gathered
        state: dict[str, Any] = {"rng_states": states, "monitors": {}, "epoch_end_pending": None}
        if self._trainer is not None:
            epochs = self._trainer.fit_loop.epoch_progress.current
            state["monitors"] = _plateau_monitor_values(self._trainer)
            # written in on_train_epoch_end: the epoch's plateau step comes after the checkpoint
            state["epoch_end_pending"] = epochs.completed if epochs.processed > epochs.completed else None
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self._loaded = state
        self._validated_since_load = False

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        # After the sanity check and the first DataLoader iterator, just before the first batch.
        if self._loaded is None:
            return
        states = self._loaded.get("rng_states") or []
        if states:
            rank = trainer.global_rank
            if len(states) != trainer.world_size:
                log.warning("checkpoint holds random states of %d processes, this run has %d: all restore rank 0's", len(states), trainer.world_size)
                rank = 0
            _restore_rng_states(states[rank])
        ended_epoch = self._loaded.get("epoch_end_pending")
        if ended_epoch is not None and not trainer.fit_loop.restarting:
            # Lightning goes straight to the next epoch and never finishes this one's end
            self._step_plateau_schedulers(trainer, pl_module, ended_epoch, self._loaded.get("monitors", {}))

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if not trainer.sanity_checking:
            self._validated_since_load = True

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        fit_loop = trainer.fit_loop
        epoch_finished = fit_loop.epoch_loop.batch_progress.current.ready >= trainer.num_training_batches
        if self._loaded is None or not (fit_loop.restarting and epoch_finished):
            return  # not the first epoch after a resume: Lightning steps the plateau schedulers itself
        monitors = _plateau_monitor_values(trainer) if self._validated_since_load else self._loaded.get("monitors", {})
        self._step_plateau_schedulers(trainer, pl_module, trainer.current_epoch, monitors)

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._loaded = None

    @staticmethod
    def _step_plateau_schedulers(trainer: pl.Trainer, pl_module: pl.LightningModule, epoch: int, monitors: dict[str, float]) -> None:
        for config in trainer.lr_scheduler_configs:
            if not config.reduce_on_plateau or config.interval != "epoch" or (epoch + 1) % config.frequency:
                continue
            if config.monitor in monitors:
                pl_module.lr_scheduler_step(config.scheduler, torch.tensor(monitors[config.monitor]))
            else:
                log.warning("cannot step the LR schedule after the resume: %s was not saved with the checkpoint", config.monitor)


def _plateau_monitor_values(trainer: pl.Trainer) -> dict[str, float]:
    keys = {c.monitor for c in trainer.lr_scheduler_configs if c.reduce_on_plateau and c.monitor}
    return {k: float(trainer.callback_metrics[k]) for k in keys if k in trainer.callback_metrics}


def _collect_rng_states() -> dict[str, Any]:
    """Plain values and tensors only, so checkpoints load with ``torch.load(weights_only=True)``."""
    kind, keys, pos, has_gauss, cached_gaussian = np.random.get_state()
    version, python_state, gauss = random.getstate()
    states: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "numpy": [kind, keys.tolist(), int(pos), int(has_gauss), float(cached_gaussian)],
        "python": [version, list(python_state), gauss],
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        states["cuda"] = torch.cuda.get_rng_state_all()
    return states


def _restore_rng_states(states: dict[str, Any]) -> None:
    torch.set_rng_state(states["torch"])
    kind, keys, pos, has_gauss, cached_gaussian = states["numpy"]
    np.random.set_state((kind, np.asarray(keys, dtype=np.uint32), pos, has_gauss, cached_gaussian))
    version, python_state, gauss = states["python"]
    random.setstate((version, tuple(python_state), gauss))
    if "cuda" in states and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(states["cuda"])
