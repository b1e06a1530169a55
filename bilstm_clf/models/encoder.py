"""The recurrent encoder: nn.LSTM over packed sequences, so padding never reaches a state."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence


def set_forget_bias(lstm: nn.LSTM, value: float) -> None:
    """Make the forget gate's total bias ``value`` in every layer and direction.

    PyTorch orders gates i, f, g, o in ``bias_ih``/``bias_hh`` (4H each) and adds both biases;
    TensorFlow's BasicLSTMCell adds ``forget_bias=1.0`` to f, which this reproduces.
    """
    hidden = lstm.hidden_size
    with torch.no_grad():
        for name, param in lstm.named_parameters():
            if name.startswith("bias_ih"):
                param[hidden : 2 * hidden].fill_(value)
            elif name.startswith("bias_hh"):
                param[hidden : 2 * hidden].zero_()


class LSTMEncoder(nn.Module):
    """Returns per-step outputs [B, T, D·H] (zeros past each length) and the LAST layer's final
    states [B, D, H] (D = 2 when bidirectional: index 0 forward, 1 backward)."""

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bidirectional: bool = True,
        dropout: float = 0.0,
        forget_bias: float | None = 1.0,
    ):
        super().__init__()
        self.lstm = nn.LSTM(
            input_size,
            hidden_size,
            num_layers=num_layers,
            batch_first=True,
            bidirectional=bidirectional,
            dropout=dropout if num_layers > 1 else 0.0,  # nn.LSTM warns on dropout with one layer
        )
        if forget_bias is not None:
            set_forget_bias(self.lstm, forget_bias)
        self.num_directions = 2 if bidirectional else 1

    @property
    def output_size(self) -> int:
        return self.num_directions * self.lstm.hidden_size

    def forward(
        self, embedded: torch.Tensor, lengths: torch.Tensor, need_outputs: bool = True
    ) -> tuple[torch.Tensor | None, torch.Tensor]:
        # lengths must be on the CPU for packing; collate keeps them there, so this is free.
        packed = pack_padded_sequence(embedded, lengths.cpu(), batch_first=True, enforce_sorted=False)
        packed_out, (h_n, _) = self.lstm(packed)
        outputs = None
        if need_outputs:
            outputs, _ = pad_packed_sequence(packed_out, batch_first=True, total_length=embedded.size(1))
        # h_n: [layers·D, B, H], already back in batch order; keep the last layer only.
        batch, hidden = h_n.size(1), h_n.size(2)
        final = h_n.view(self.lstm.num_layers, self.num_directions, batch, hidden)[-1].transpose(0, 1)
        return outputs, final
