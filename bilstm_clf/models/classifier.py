"""Embedding → dropout → (Bi)LSTM (packed, or exact on padded batches) → pooling → dropout → linear head."""

from __future__ import annotations

import torch
from torch import nn

from bilstm_clf.errors import ConfigError
from bilstm_clf.models.encoder import ENCODERS, build_encoder
from bilstm_clf.models.pooling import (
    MERGE_MODES,
    POOLINGS,
    AttentionPooling,
    LastStatePooling,
    MaxPooling,
    MeanPooling,
    valid_mask,
)


def _check_positive(key: str, value, allow_zero: bool = False) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < (0 if allow_zero else 1):
        raise ConfigError(f"model.{key}", value, "must be a positive integer" if not allow_zero else "must be >= 0")


def _check_probability(key: str, value) -> None:
    if not isinstance(value, (int, float)) or not 0.0 <= value < 1.0:
        raise ConfigError(f"model.{key}", value, "must be a probability in [0, 1)")


class BiLSTMClassifier(nn.Module):
    """Sentence classifier; ``forward(input_ids [B, T], lengths [B]) -> logits [B, C]``.

    Padding never changes a sentence's logits: both encoders (``packed``, ``padded``) keep
    padding out of every state, and every pooling looks at valid steps only.
    """

    def __init__(
        self,
        vocab_size: int,
        num_classes: int,
        embedding_dim: int = 300,
        hidden_size: int = 256,
        num_layers: int = 1,
        bidirectional: bool = True,
        pooling: str = "last",
        merge_mode: str = "concat",
        attention_size: int = 128,
        embedding_dropout: float = 0.5,
        lstm_dropout: float = 0.0,
        output_dropout: float = 0.5,
        forget_bias: float | None = 1.0,
        padding_idx: int = 0,
        encoder: str = "padded",
    ):
        super().__init__()
        for key, value in (
            ("vocab_size", vocab_size),
            ("num_classes", num_classes),
            ("embedding_dim", embedding_dim),
            ("hidden_size", hidden_size),
            ("num_layers", num_layers),
            ("attention_size", attention_size),
        ):
            _check_positive(key, value)
        for key, value in (
            ("embedding_dropout", embedding_dropout),
            ("lstm_dropout", lstm_dropout),
            ("output_dropout", output_dropout),
        ):
            _check_probability(key, value)
        if pooling not in POOLINGS:
            raise ConfigError("model.pooling", pooling, f"expected one of {', '.join(POOLINGS)}")
        if encoder not in ENCODERS:
            raise ConfigError("model.encoder", encoder, f"expected one of {', '.join(ENCODERS)}")
        if merge_mode not in MERGE_MODES:
            raise ConfigError("model.merge_mode", merge_mode, f"expected one of {', '.join(MERGE_MODES)}")

        self.embedding = nn.Embedding(vocab_size, embedding_dim, padding_idx=padding_idx)
        self.embedding_dropout = nn.Dropout(embedding_dropout)
        self.encoder = build_encoder(
            encoder,
            input_size=embedding_dim,
            hidden_size=hidden_size,
            num_layers=num_layers,
            bidirectional=bidirectional,
            dropout=lstm_dropout,
            forget_bias=forget_bias,
        )
        if pooling == "last":
            self.pooling = LastStatePooling(self.encoder.num_directions, hidden_size, merge_mode)
        elif pooling == "mean":
            self.pooling = MeanPooling(self.encoder.output_size)
        elif pooling == "max":
            self.pooling = MaxPooling(self.encoder.output_size)
        else:
            self.pooling = AttentionPooling(self.encoder.output_size, attention_size)
        self.output_dropout = nn.Dropout(output_dropout)
        self.head = nn.Linear(self.pooling.output_size, num_classes)

    def sentence_vectors(self, input_ids: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        embedded = self.embedding_dropout(self.embedding(input_ids))
        outputs, final = self.encoder(embedded, lengths, need_outputs=self.pooling.needs_outputs)
        mask = valid_mask(lengths, input_ids.size(1), input_ids.device) if self.pooling.needs_outputs else None
        return self.pooling(outputs, final, mask)

    def forward(self, input_ids: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        return self.head(self.output_dropout(self.sentence_vectors(input_ids, lengths)))
