"""Hashed character n-grams beside the word vectors (fastText's subword information, Bojanowski
et al. 2017): a word's vector gets the mean of its 3- to 5-gram vectors added, so rare words share
what their spelling shares ("unwatchable" with "watchable", "unfunny" with "funny").

The n-gram ids of every vocabulary word are computed once, in Python, and kept as a buffer
[V, K]: the graph only gathers (it exports to ONNX), and checkpoints carry the table.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

MIN_N, MAX_N = 3, 5


def fnv1a(text: str) -> int:
    """32-bit FNV-1a over UTF-8 bytes, as fastText hashes its n-grams: stable across processes."""
    value = 2166136261
    for byte in text.encode("utf-8"):
        value = ((value ^ byte) * 16777619) & 0xFFFFFFFF
    return value


def ngram_ids(words: Sequence[str], buckets: int, per_word: int, skip: int = 2) -> torch.Tensor:
    """[len(words), per_word] ids in 1..buckets of each word's n-grams ("<word>" framed, 3-5
    characters, the first ``per_word``); 0 pads. The first ``skip`` words (<pad>, <unk>) get none."""
    table = torch.zeros(len(words), per_word, dtype=torch.long)
    for row, word in enumerate(words):
        if row < skip:
            continue
        framed = f"<{word}>"
        grams = [framed[i : i + n] for n in range(MIN_N, MAX_N + 1) for i in range(len(framed) - n + 1)]
        ids = [1 + fnv1a(g) % buckets for g in dict.fromkeys(grams)][:per_word]
        table[row, : len(ids)] = torch.tensor(ids, dtype=torch.long)
    return table


class SubwordEmbedding(nn.Module):
    """``forward(input_ids [B, T]) -> [B, T, E]``: the mean of each word's n-gram vectors."""

    def __init__(self, vocab_size: int, embedding_dim: int, buckets: int, per_word: int = 16):
        super().__init__()
        self.buckets, self.per_word = buckets, per_word
        self.vectors = nn.Embedding(buckets + 1, embedding_dim, padding_idx=0)
        nn.init.normal_(self.vectors.weight, std=0.02)  # small: the word vectors lead at the start
        with torch.no_grad():
            self.vectors.weight[0].zero_()
        self.register_buffer("ngrams", torch.zeros(vocab_size, per_word, dtype=torch.long))

    def set_vocabulary(self, words: Sequence[str]) -> None:
        if len(words) != self.ngrams.size(0):
            raise ValueError(f"{len(words)} words for a table of {self.ngrams.size(0)} rows")
        self.ngrams.copy_(ngram_ids(words, self.buckets, self.per_word))

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        grams = self.ngrams[input_ids]  # [B, T, K]
        counts = (grams != 0).sum(-1, keepdim=True).clamp_min(1).to(self.vectors.weight.dtype)
        return self.vectors(grams).sum(-2) / counts
