"""Checkpoints and bundles made in seconds, for the export / inference tests."""

from __future__ import annotations

from pathlib import Path

import torch

from bilstm_clf.data.tokenizer import Tokenizer
from bilstm_clf.training.lit_module import CHECKPOINT_KEY
from bilstm_clf.models import BiLSTMClassifier

CORPUS = [
    "a great and moving film", "wonderful acting , great story", "i loved it", "superb and funny",
    "a dull , boring mess", "terrible acting and a bad story", "i hated it", "awful and tedious",
]


def model_config(vocab_size: int, num_classes: int = 2, **overrides) -> dict:
    config = dict(
        vocab_size=vocab_size, num_classes=num_classes, embedding_dim=16, hidden_size=16, num_layers=1,
        bidirectional=True, pooling="last", merge_mode="concat", attention_size=8, embedding_dropout=0.5,
        lstm_dropout=0.0, output_dropout=0.5, forget_bias=1.0, padding_idx=0, encoder="padded",
    )
    config.update(overrides)
    return config


def save_checkpoint(path: Path, tokenizer: Tokenizer, labels: list[str], seed: int = 0, **overrides) -> tuple[Path, BiLSTMClassifier]:
    """A checkpoint laid out as train.py's Lightning checkpoints are, from a randomly initialised model.
    The head is scaled up so probabilities spread well away from uniform."""
    torch.manual_seed(seed)
    config = model_config(tokenizer.vocab_size, len(labels), **overrides)
    model = BiLSTMClassifier(**config).eval()
    with torch.no_grad():
        model.head.weight.mul_(8.0)
    checkpoint = {
        "epoch": 0,
        "global_step": 0,
        "state_dict": {f"model.{k}": v for k, v in model.state_dict().items()},
        "hyper_parameters": {"model_config": config, "label_names": labels},
        CHECKPOINT_KEY: {"tokenizer_json": tokenizer.to_json(), "label_names": labels},
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(checkpoint, path)
    return path, model


def tiny_encoder(max_length: int | None = 12) -> Tokenizer:
    return Tokenizer.build(CORPUS, lowercase=True, style="basic_english", max_length=max_length)
