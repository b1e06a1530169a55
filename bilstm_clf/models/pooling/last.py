"""The LAST layer's final forward state (after each sentence's real last token) and final
backward state (after its first token): ``h_n[-2]`` and ``h_n[-1]`` of nn.LSTM."""

from __future__ import annotations

import torch
from torch import nn

from bilstm_clf.models.pooling import register

MERGE_MODES = ("concat", "sum", "mean")  # as keras.layers.Bidirectional(merge_mode=...)


@register("last")
class LastStatePooling(nn.Module):
    needs_outputs = False

    def __init__(self, num_directions: int, hidden_size: int, merge_mode: str = "concat"):
        super().__init__()
        if merge_mode not in MERGE_MODES:
            raise ValueError(f"unknown merge mode {merge_mode!r}; expected one of {', '.join(MERGE_MODES)}")
        self.merge_mode = merge_mode
        self.output_size = hidden_size * (num_directions if merge_mode == "concat" else 1)

    @classmethod
    def from_encoder(cls, encoder, merge_mode: str = "concat", **_):
        return cls(encoder.num_directions, encoder.hidden_size, merge_mode)

    def forward(self, outputs, final: torch.Tensor, mask) -> torch.Tensor:
        if self.merge_mode == "concat":
            return final.flatten(1)
        if self.merge_mode == "sum":
            return final.sum(1)
        return final.mean(1)
