"""The workload and the training-step variants of scripts/bench_train.py (which times them and
prints the tables): the sentences and their batchings, the clock, and ``Bench``, which runs one
variant's steps."""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bilstm_clf.data.batching import BucketBatchSampler, EncodedDataset, PadCollate  # noqa: E402
from bilstm_clf.data.readers import read_examples  # noqa: E402
from bilstm_clf.data.tokenizer import Tokenizer  # noqa: E402
from bilstm_clf.models import BiLSTMClassifier  # noqa: E402


# --- data ---------------------------------------------------------------------------------------
@dataclass
class Workload:
    bucketed: list[dict[str, torch.Tensor]]  # what the project trains on
    naive: list[dict[str, torch.Tensor]]  # the same sentences: random batches, padded to the dataset max
    sentences: int
    tokens: int  # real tokens, the same in both
    bucketed_padded_tokens: int
    naive_padded_tokens: int
    vocab_size: int
    num_classes: int
    dataset_sentences: int
    mean_length: float
    max_length: int


def build_workload(path: Path, batch_size: int, num_batches: int, seed: int) -> Workload:
    examples = read_examples(path, format="tsv", text_field="sentence", label_field="label")
    encoder = Tokenizer.build((ex.text for ex in examples), style="whitespace", lowercase=True)
    labels = sorted({ex.label for ex in examples})
    dataset = EncodedDataset(encoder.encode_batch([ex.text for ex in examples]), [labels.index(ex.label) for ex in examples])
    collate = PadCollate(pad_id=0)

    sampler = BucketBatchSampler(dataset.lengths, batch_size, shuffle=True, drop_last=True, seed=seed)
    chosen = sampler.batches()[:num_batches]
    bucketed = [collate([dataset[i] for i in batch]) for batch in chosen]

    # Naive: the same sentences, shuffled, every batch padded to the longest sentence of the dataset.
    rng = np.random.default_rng(seed)
    order = rng.permutation(np.concatenate(chosen))
    max_len = int(dataset.lengths.max())
    naive = []
    for start in range(0, len(order), batch_size):
        batch = collate([dataset[i] for i in order[start : start + batch_size]])
        ids = batch["input_ids"]
        batch["input_ids"] = torch.nn.functional.pad(ids, (0, max_len - ids.size(1)))
        naive.append(batch)

    def padded_tokens(batches):
        return sum(b["input_ids"].numel() for b in batches)

    return Workload(
        bucketed=bucketed,
        naive=naive,
        sentences=sum(len(b["labels"]) for b in bucketed),
        tokens=int(sum(b["lengths"].sum() for b in bucketed)),
        bucketed_padded_tokens=padded_tokens(bucketed),
        naive_padded_tokens=padded_tokens(naive),
        vocab_size=encoder.vocab_size,
        num_classes=len(labels),
        dataset_sentences=len(dataset),
        mean_length=float(dataset.lengths.mean()),
        max_length=max_len,
    )


def loader(batches) -> DataLoader:
    """Pre-collated batches, served as the project's DataLoader would serve them."""
    return DataLoader(batches, batch_size=None, shuffle=False)


# --- the project's configuration ------------------------------------------------------------------
def compose_config(overrides: list[str]):
    from hydra import compose, initialize_config_dir

    from bilstm_clf.configs import CONFIG_DIR

    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        return compose("train", overrides=["data=custom", *overrides])


# --- variants -------------------------------------------------------------------------------------
class Clock:
    """Wall-clock and this process's CPU seconds. On a busy machine with one thread per process,
    CPU seconds are the stable measure: they do not count time spent waiting for a core.
    On CUDA it waits for the device at both ends."""

    def __init__(self, device: torch.device = torch.device("cpu")):
        self.cuda = device.type == "cuda"
        if self.cuda:
            torch.cuda.synchronize()
        self.wall, self.cpu = time.perf_counter(), time.process_time()

    def stop(self) -> tuple[float, float]:
        if self.cuda:
            torch.cuda.synchronize()
        return time.perf_counter() - self.wall, time.process_time() - self.cpu


def to_device(batch: dict[str, torch.Tensor], device: torch.device) -> dict[str, torch.Tensor]:
    """As the datamodule moves a batch: everything but ``lengths``, which stays on the host."""
    from bilstm_clf.data.datamodule import TextClassificationDataModule

    return TextClassificationDataModule.transfer_batch_to_device(None, batch, device, 0)


class InexactPaddedEncoder(torch.nn.Module):
    """nn.LSTM straight on the padded batch: the speed of padding, not its results."""

    def __init__(self, lstm: torch.nn.LSTM):
        super().__init__()
        self.lstm = lstm
        self.num_directions = 2 if lstm.bidirectional else 1
        self.hidden_size = lstm.hidden_size

    def forward(self, embedded, lengths, need_outputs=True):
        outputs, (h_n, _) = self.lstm(embedded)
        return outputs, h_n[-self.num_directions :].transpose(0, 1)


class Bench:
    def __init__(self, cfg, work: Workload, seed: int, device: torch.device = torch.device("cpu")):
        from hydra.utils import instantiate
        from omegaconf import OmegaConf

        self.cfg = cfg
        self.work = work
        self.seed = seed
        self.device = device
        self.model_config = OmegaConf.to_container(cfg.model, resolve=True)
        self.model_config.update(vocab_size=work.vocab_size, num_classes=work.num_classes, padding_idx=0)
        self.optimizer_factory = instantiate(cfg.optimizer)
        self.clip = float(cfg.trainer.gradient_clip_val or 0.0)
        self.default_encoder = self.model_config.get("encoder", "padded")

    def model(self, encoder: str | None = None) -> BiLSTMClassifier:
        torch.manual_seed(self.seed)  # the same initial weights for every variant
        model = BiLSTMClassifier(**(self.model_config | {"encoder": encoder or self.default_encoder}))
        return model.to(self.device).train()

    def raw(self, batches, encoder: str | None = None, unfused: bool = False, autocast: bool = False,
            torch_dropout: bool = False) -> tuple[float, float]:
        """A hand-written training loop."""
        model = self.model(encoder)
        if torch_dropout:  # torch's nn.Dropout (CPU bernoulli_) instead of bilstm_clf.models.dropout
            model.embedding_dropout = torch.nn.Dropout(model.embedding_dropout.p)
            model.output_dropout = torch.nn.Dropout(model.output_dropout.p)
        optimizer = self.optimizer_factory(params=model.parameters(), **({"fused": None} if unfused else {}))
        criterion = torch.nn.CrossEntropyLoss()
        clock = Clock(self.device)
        for batch in loader(batches):
            batch = to_device(batch, self.device)
            with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=autocast):
                loss = criterion(model(batch["input_ids"], batch["lengths"]), batch["labels"])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if self.clip:
                torch.nn.utils.clip_grad_norm_(model.parameters(), self.clip)
            optimizer.step()
        return clock.stop()

    def lightning(self, batches) -> tuple[float, float]:
        """The project's LightningModule under pl.Trainer; times the training epoch only."""
        import pytorch_lightning as pl
        from hydra.utils import instantiate

        from bilstm_clf.data.datamodule import TextClassificationDataModule
        from bilstm_clf.training.lit_module import SentenceClassifierModule

        device = self.device

        class EpochTimer(pl.Callback):
            def on_train_epoch_start(self, trainer, pl_module):
                self.clock = Clock(device)

            def on_train_epoch_end(self, trainer, pl_module):
                self.seconds = self.clock.stop()

        torch.manual_seed(self.seed)
        module = SentenceClassifierModule(
            model_config=self.model_config,
            label_names=[str(i) for i in range(self.work.num_classes)],
            optimizer=self.optimizer_factory,
            scheduler=None,
            monitor=self.cfg.monitor,
        )
        class Batches(pl.LightningDataModule):
            """The prepared batches, moved to the device as the project's datamodule moves them."""

            transfer_batch_to_device = TextClassificationDataModule.transfer_batch_to_device

            def train_dataloader(self):
                return loader(batches)

        from bilstm_clf.training.precision import resolve_precision

        timer = EpochTimer()
        accelerator = "gpu" if device.type == "cuda" else "cpu"
        trainer = instantiate(
            self.cfg.trainer,
            precision=resolve_precision(self.cfg.trainer.get("precision"), accelerator),  # as train.py does
            accelerator=accelerator,
            devices=1,
            default_root_dir=None,
            max_epochs=1,
            min_epochs=1,
            callbacks=[timer],
            logger=False,
            enable_checkpointing=False,
            enable_progress_bar=False,
            enable_model_summary=False,
            limit_val_batches=0,
            num_sanity_val_steps=0,
        )
        trainer.fit(module, datamodule=Batches())
        return timer.seconds

    def encoder_only(self, batches, encoder: str) -> tuple[float, float]:
        """The recurrent encoder alone, forward and backward, on the embedded batches."""
        model = self.model("packed" if encoder == "inexact" else encoder)
        if encoder == "inexact":
            model.encoder = InexactPaddedEncoder(model.encoder.lstm)
        with torch.no_grad():
            inputs = [(model.embedding(b["input_ids"].to(self.device)), b["lengths"]) for b in batches]
        torch.manual_seed(self.seed)
        weight = torch.randn(model.encoder.num_directions, model.encoder.hidden_size).to(self.device)
        clock = Clock(self.device)
        for embedded, lengths in inputs:
            embedded.requires_grad_(True)
            _, final = model.encoder(embedded, lengths, need_outputs=model.pooling.needs_outputs)
            (final * weight).sum().backward()
            embedded.grad = None
        return clock.stop()

    def run(self, variant: str) -> tuple[float, float]:
        w = self.work
        return {
            "lightning": lambda: self.lightning(w.bucketed),
            "raw": lambda: self.raw(w.bucketed),
            "raw-packed": lambda: self.raw(w.bucketed, "packed"),
            "naive": lambda: self.raw(w.naive),
            "naive-packed": lambda: self.raw(w.naive, "packed"),
            "enc-padded": lambda: self.encoder_only(w.bucketed, "padded"),
            "enc-packed": lambda: self.encoder_only(w.bucketed, "packed"),
            "enc-inexact": lambda: self.encoder_only(w.bucketed, "inexact"),
            "raw-unfused": lambda: self.raw(w.bucketed, unfused=True),
            "raw-bf16": lambda: self.raw(w.bucketed, autocast=True),
            "raw-torch-dropout": lambda: self.raw(w.bucketed, torch_dropout=True),
        }[variant]()
