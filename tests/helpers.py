"""Callbacks the tests inject into real training runs through Hydra overrides."""

import json
import time
from pathlib import Path

import pytorch_lightning as pl


class PauseAtStep(pl.Callback):
    """After optimizer step ``step`` (or when validation starts after it), write ``marker`` and wait,
    so a test can kill the run at a known point."""

    def __init__(self, step: int, marker: str, at_validation: bool = False):
        self.step = step
        self.marker = Path(marker)
        self.at_validation = at_validation

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        if not self.at_validation and trainer.global_step == self.step:
            self._pause(trainer)

    def on_validation_start(self, trainer, pl_module):
        if self.at_validation and not trainer.sanity_checking and trainer.global_step == self.step:
            self._pause(trainer)

    def _pause(self, trainer):
        self.marker.write_text(f"epoch {trainer.current_epoch} step {trainer.global_step}\n")
        time.sleep(600)


class RecordBatches(pl.Callback):
    """Writes ``<directory>/rank<r>.json``: the dataset indices of every training batch per epoch,
    and of every test example, as this process saw them."""

    def __init__(self, directory: str):
        self.directory = Path(directory)
        self.seen: dict = {"train": {}, "test": []}

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        self.seen["train"].setdefault(str(trainer.current_epoch), []).append(batch["index"].tolist())

    def on_test_batch_start(self, trainer, pl_module, batch, batch_idx, dataloader_idx=0):
        self.seen["test"].extend(batch["index"].tolist())

    def on_train_end(self, trainer, pl_module):
        self._write(trainer)

    def on_test_end(self, trainer, pl_module):
        self._write(trainer)

    def _write(self, trainer):
        self.directory.mkdir(parents=True, exist_ok=True)
        record = {"world_size": trainer.world_size, "rank": trainer.global_rank, **self.seen}
        (self.directory / f"rank{trainer.global_rank}.json").write_text(json.dumps(record))
