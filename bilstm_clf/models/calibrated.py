"""A classifier whose logits are divided by a fitted temperature (temperature scaling, Guo et al.
2017): softmax of its output is the calibrated probability, and the argmax is unchanged. The
exporter wraps a calibrated checkpoint's model in it, so the bundle's graph carries T."""

from __future__ import annotations

import torch
from torch import nn


class TemperatureScaled(nn.Module):
    def __init__(self, classifier: nn.Module, temperature: float):
        super().__init__()
        if not temperature > 0:
            raise ValueError(f"temperature must be positive, got {temperature}")
        self.classifier = classifier
        self.register_buffer("temperature", torch.tensor(float(temperature)))

    @property
    def vocab_size(self) -> int:  # what the exporter and ensembles read the vocabulary size from
        return self.classifier.vocab_size

    def forward(self, input_ids: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        return self.classifier(input_ids, lengths) / self.temperature
