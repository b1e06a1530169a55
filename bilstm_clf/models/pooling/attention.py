"""Additive attention (Bahdanau-style): score_t = v·tanh(W h_t + b), softmax over valid steps."""

from __future__ import annotations

import torch
from torch import nn

from bilstm_clf.models.pooling import register


@register("attention")
class AttentionPooling(nn.Module):
    needs_outputs = True

    def __init__(self, input_size: int, attention_size: int):
        super().__init__()
        self.project = nn.Linear(input_size, attention_size)
        self.score = nn.Linear(attention_size, 1, bias=False)
        self.output_size = input_size

    @classmethod
    def from_encoder(cls, encoder, attention_size: int = 128, **_):
        return cls(encoder.output_size, attention_size)

    def forward(self, outputs: torch.Tensor, final, mask: torch.Tensor) -> torch.Tensor:
        scores = self.score(torch.tanh(self.project(outputs))).squeeze(-1)
        scores = scores.masked_fill(~mask, float("-inf"))
        weights = torch.softmax(scores, dim=1)
        return torch.bmm(weights.unsqueeze(1), outputs).squeeze(1)
