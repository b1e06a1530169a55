"""Several classifiers over the same vocabulary and labels as one model: the mean of their
probabilities. ``forward`` returns log(mean probability), so a softmax of it gives that mean
back exactly and the bundle's ``logits``/``probabilities`` contract holds unchanged."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn


class ProbabilityAverage(nn.Module):
    def __init__(self, members: Sequence[nn.Module]):
        super().__init__()
        if len(members) < 2:
            raise ValueError("an ensemble needs at least two members")
        self.members = nn.ModuleList(members)

    @property
    def vocab_size(self) -> int:
        return self.members[0].vocab_size

    def forward(self, input_ids: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        probabilities = torch.stack([torch.softmax(m(input_ids, lengths), dim=-1) for m in self.members]).mean(0)
        return torch.log(probabilities.clamp_min(1e-30))  # clamp: log(0) would be -inf in the graph
