"""Sentence vectors from the encoder: final states, or mean / max / attention over valid steps."""

from __future__ import annotations

import torch
from torch import nn

POOLINGS = ("last", "mean", "max", "attention")
MERGE_MODES = ("concat", "sum", "mean")  # as keras.layers.Bidirectional(merge_mode=...)


def valid_mask(lengths: torch.Tensor, max_len: int, device: torch.device) -> torch.Tensor:
    """[B, T] True at real tokens. ``lengths`` may live on the host (async copy when pinned)."""
    return torch.arange(max_len, device=device)[None, :] < lengths.to(device, non_blocking=True)[:, None]


class LastStatePooling(nn.Module):
    """Final forward state (after each sentence's real last token) and final backward state
    (after its first token), merged by ``merge_mode``."""

    needs_outputs = False

    def __init__(self, num_directions: int, hidden_size: int, merge_mode: str = "concat"):
        super().__init__()
        self.merge_mode = merge_mode
        self.output_size = hidden_size * (num_directions if merge_mode == "concat" else 1)

    def forward(self, outputs, final: torch.Tensor, mask) -> torch.Tensor:
        if self.merge_mode == "concat":
            return final.flatten(1)
        if self.merge_mode == "sum":
            return final.sum(1)
        return final.mean(1)


class MeanPooling(nn.Module):
    needs_outputs = True

    def __init__(self, input_size: int):
        super().__init__()
        self.output_size = input_size

    def forward(self, outputs: torch.Tensor, final, mask: torch.Tensor) -> torch.Tensor:
        weights = mask.unsqueeze(-1).to(outputs.dtype)
        return (outputs * weights).sum(1) / weights.sum(1).clamp_min(1.0)


class MaxPooling(nn.Module):
    needs_outputs = True

    def __init__(self, input_size: int):
        super().__init__()
        self.output_size = input_size

    def forward(self, outputs: torch.Tensor, final, mask: torch.Tensor) -> torch.Tensor:
        return outputs.masked_fill(~mask.unsqueeze(-1), float("-inf")).amax(1)


class AttentionPooling(nn.Module):
    """Additive attention (Bahdanau-style): score_t = v·tanh(W h_t + b), softmax over valid steps."""

    needs_outputs = True

    def __init__(self, input_size: int, attention_size: int):
        super().__init__()
        self.project = nn.Linear(input_size, attention_size)
        self.score = nn.Linear(attention_size, 1, bias=False)
        self.output_size = input_size

    def forward(self, outputs: torch.Tensor, final, mask: torch.Tensor) -> torch.Tensor:
        scores = self.score(torch.tanh(self.project(outputs))).squeeze(-1)
        scores = scores.masked_fill(~mask, float("-inf"))
        weights = torch.softmax(scores, dim=1)
        return torch.bmm(weights.unsqueeze(1), outputs).squeeze(1)
