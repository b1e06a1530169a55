"""Mean and max over each sentence's valid steps (padding never counts)."""

from __future__ import annotations

import torch
from torch import nn

from bilstm_clf.models.pooling import register


class _StepPooling(nn.Module):
    needs_outputs = True

    def __init__(self, input_size: int):
        super().__init__()
        self.output_size = input_size

    @classmethod
    def from_encoder(cls, encoder, **_):
        return cls(encoder.output_size)


@register("mean")
class MeanPooling(_StepPooling):
    def forward(self, outputs: torch.Tensor, final, mask: torch.Tensor) -> torch.Tensor:
        weights = mask.unsqueeze(-1).to(outputs.dtype)
        return (outputs * weights).sum(1) / weights.sum(1).clamp_min(1.0)


@register("max")
class MaxPooling(_StepPooling):
    def forward(self, outputs: torch.Tensor, final, mask: torch.Tensor) -> torch.Tensor:
        return outputs.masked_fill(~mask.unsqueeze(-1), float("-inf")).amax(1)
