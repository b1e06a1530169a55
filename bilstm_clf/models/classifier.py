"""Embedding → dropout → (Bi)LSTM (packed, or exact on padded batches) → pooling → dropout → linear head."""

from __future__ import annotations

import torch
from torch import nn

from bilstm_clf.models.dropout import Dropout
from bilstm_clf.models.lstm import build_encoder
from bilstm_clf.models.pooling import build_pooling, valid_mask
from bilstm_clf.models.subwords import SubwordEmbedding


def _require(ok: bool, name: str, value, expected: str) -> None:
    if not ok:
        raise ValueError(f"{name}={value!r}: {expected}")


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
        word_dropout: float = 0.0,
        unk_idx: int = 1,
        subword_buckets: int = 0,
        frozen_words: int = 0,
    ):
        super().__init__()
        # Plain errors for programmatic use; the training config is checked, key by key, before
        # any of this runs (bilstm_clf.common.config_checks.check_model_config).
        for name, value in (("vocab_size", vocab_size), ("num_classes", num_classes), ("embedding_dim", embedding_dim), ("hidden_size", hidden_size)):
            _require(isinstance(value, int) and value >= 1, name, value, "must be a positive integer")
        _require(isinstance(frozen_words, int) and 0 <= frozen_words <= vocab_size - 2, "frozen_words", frozen_words,
                 f"must be an integer in [0, vocab_size - 2 = {vocab_size - 2}]")
        for name, value in (("embedding_dropout", embedding_dropout), ("lstm_dropout", lstm_dropout), ("output_dropout", output_dropout), ("word_dropout", word_dropout)):
            _require(isinstance(value, (int, float)) and 0.0 <= value < 1.0, name, value, "must be a probability in [0, 1)")

        self.word_dropout = word_dropout
        self.padding_idx, self.unk_idx = padding_idx, unk_idx
        self.vocab_size = vocab_size
        # The last ``frozen_words`` ids are words the training data never showed, known from the
        # pretrained vectors only: a fixed buffer, so the optimiser never walks over their rows.
        self.trained_words = vocab_size - frozen_words
        self.embedding = nn.Embedding(self.trained_words, embedding_dim, padding_idx=padding_idx)
        self.register_buffer("frozen_vectors", torch.zeros(frozen_words, embedding_dim) if frozen_words else None)
        # 0: words only; else hashed character n-grams beside them (call set_vocabulary(itos))
        self.subwords = SubwordEmbedding(vocab_size, embedding_dim, subword_buckets) if subword_buckets else None
        self.embedding_dropout = Dropout(embedding_dropout)
        self.encoder = build_encoder(
            encoder,
            input_size=embedding_dim,
            hidden_size=hidden_size,
            num_layers=num_layers,
            bidirectional=bidirectional,
            dropout=lstm_dropout,
            forget_bias=forget_bias,
        )
        self.pooling = build_pooling(pooling, self.encoder, merge_mode=merge_mode, attention_size=attention_size)
        self.output_dropout = Dropout(output_dropout)
        self.head = nn.Linear(self.pooling.output_size, num_classes)

    def embed(self, input_ids: torch.Tensor) -> torch.Tensor:
        """Word vectors [B, T, E]. While training, ``word_dropout`` replaces each real token by
        ``<unk>`` with that probability (Iyyer et al. 2015): the model cannot lean on single words,
        and it learns what to do with words it has never seen."""
        if self.training and self.word_dropout > 0:
            drop = torch.rand(input_ids.shape, device=input_ids.device) < self.word_dropout
            input_ids = input_ids.masked_fill(drop & (input_ids != self.padding_idx), self.unk_idx)
        vectors = self.word_vectors(input_ids)
        return vectors if self.subwords is None else vectors + self.subwords(input_ids)

    def word_vectors(self, input_ids: torch.Tensor) -> torch.Tensor:
        """Each id's row: the trained table's, or for the frozen ids the fixed pretrained vector."""
        if self.frozen_vectors is None:
            return self.embedding(input_ids)
        frozen = input_ids >= self.trained_words
        trained = self.embedding(input_ids.masked_fill(frozen, self.unk_idx))
        fixed = nn.functional.embedding((input_ids - self.trained_words).clamp_min(0), self.frozen_vectors)
        return torch.where(frozen.unsqueeze(-1), fixed.to(trained.dtype), trained)

    def sentence_vectors(self, embedded: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        outputs, final = self.encoder(self.embedding_dropout(embedded), lengths, need_outputs=self.pooling.needs_outputs)
        mask = valid_mask(lengths, embedded.size(1), embedded.device) if self.pooling.needs_outputs else None
        return self.pooling(outputs, final, mask)

    def classify(self, embedded: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """Logits from word vectors (adversarial training perturbs these)."""
        return self.head(self.output_dropout(self.sentence_vectors(embedded, lengths)))

    def forward(self, input_ids: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        return self.classify(self.embed(input_ids), lengths)
