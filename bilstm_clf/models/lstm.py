"""Recurrent encoders. Both give the same numbers; neither lets padding reach a sentence's states.

- ``PackedLSTMEncoder``: nn.LSTM over ``pack_padded_sequence``.
- ``PaddedLSTMEncoder``: plain padded calls, made exact. The forward direction runs on the
  right-padded batch (padding comes after every real token, so it cannot affect them) and is read
  at ``lengths - 1``. The backward direction runs as a forward LSTM over each sentence reversed
  *within its length*, padding kept at the end, so it starts at the real last token.
  Padded calls skip packing's sort/scatter work and export to ONNX as plain LSTM ops.

Both store parameters under nn.LSTM's names (``lstm.weight_ih_l0_reverse`` ...): checkpoints load
into either encoder.
"""

from __future__ import annotations

import re

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

ENCODERS = ("packed", "padded")


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


def reverse_within_length(x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Reverse each row's first ``lengths[b]`` steps of [B, T, F]; padding stays at the end.

    Its own inverse. ``lengths`` must be on ``x``'s device.
    """
    steps = torch.arange(x.size(1), device=x.device)[None, :]
    reversed_steps = lengths[:, None] - 1 - steps
    index = torch.where(reversed_steps >= 0, reversed_steps, steps)
    return x.gather(1, index.unsqueeze(-1).expand_as(x))


class _EncoderBase(nn.Module):
    """Returns per-step outputs [B, T, D·H] (zeros past each length; None when not needed) and
    the LAST layer's final states [B, D, H] (D = 2 when bidirectional: 0 forward, 1 backward)."""

    def __init__(self, input_size: int, hidden_size: int, num_layers: int, bidirectional: bool):
        super().__init__()
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.num_directions = 2 if bidirectional else 1

    @property
    def output_size(self) -> int:
        return self.num_directions * self.hidden_size


class PackedLSTMEncoder(_EncoderBase):
    def __init__(self, input_size, hidden_size, num_layers=1, bidirectional=True, dropout=0.0, forget_bias=1.0):
        super().__init__(input_size, hidden_size, num_layers, bidirectional)
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

    def forward(self, embedded: torch.Tensor, lengths: torch.Tensor, need_outputs: bool = True):
        # lengths must be on the CPU for packing; collate keeps them there, so this is free.
        packed = pack_padded_sequence(embedded, lengths.cpu(), batch_first=True, enforce_sorted=False)
        packed_out, (h_n, _) = self.lstm(packed)
        outputs = None
        if need_outputs:
            outputs, _ = pad_packed_sequence(packed_out, batch_first=True, total_length=embedded.size(1))
        # h_n: [layers·D, B, H], already back in batch order; keep the last layer only.
        batch, hidden = h_n.size(1), h_n.size(2)
        final = h_n.view(self.num_layers, self.num_directions, batch, hidden)[-1].transpose(0, 1)
        return outputs, final


_LSTM_NAME = re.compile(r"lstm\.(weight_ih|weight_hh|bias_ih|bias_hh)_l(\d+)(_reverse)?$")
_LAYER_NAME = re.compile(r"layers\.(\d+)\.([01])\.(weight_ih|weight_hh|bias_ih|bias_hh)_l0$")


def _rename_to_lstm_names(module, state_dict, prefix, local_metadata) -> None:
    """layers.{k}.{d}.weight_ih_l0 -> lstm.weight_ih_l{k}[_reverse]"""
    for key in [k for k in state_dict if k.startswith(prefix)]:
        match = _LAYER_NAME.match(key[len(prefix) :])
        if match:
            layer, direction, kind = match.groups()
            state_dict[f"{prefix}lstm.{kind}_l{layer}{'_reverse' if direction == '1' else ''}"] = state_dict.pop(key)


def _rename_from_lstm_names(module, state_dict, prefix, *args) -> None:
    """lstm.weight_ih_l{k}[_reverse] -> layers.{k}.{d}.weight_ih_l0"""
    for key in [k for k in state_dict if k.startswith(prefix)]:
        match = _LSTM_NAME.match(key[len(prefix) :])
        if match:
            kind, layer, reverse = match.groups()
            state_dict[f"{prefix}layers.{layer}.{int(bool(reverse))}.{kind}_l0"] = state_dict.pop(key)



class PaddedLSTMEncoder(_EncoderBase):
    def __init__(self, input_size, hidden_size, num_layers=1, bidirectional=True, dropout=0.0, forget_bias=1.0):
        super().__init__(input_size, hidden_size, num_layers, bidirectional)
        # One single-layer, one-direction nn.LSTM per (layer, direction): each runs as one fused call.
        self.layers = nn.ModuleList(
            nn.ModuleList(
                nn.LSTM(input_size if layer == 0 else self.output_size, hidden_size, batch_first=True)
                for _ in range(self.num_directions)
            )
            for layer in range(num_layers)
        )
        self.inter_layer_dropout = nn.Dropout(dropout if num_layers > 1 else 0.0)
        if forget_bias is not None:
            for layer in self.layers:
                for lstm in layer:
                    set_forget_bias(lstm, forget_bias)
        # Checkpoints use nn.LSTM's parameter names, so both encoders read each other's weights.
        self.register_state_dict_post_hook(_rename_to_lstm_names)
        self.register_load_state_dict_pre_hook(_rename_from_lstm_names)

    def forward(self, embedded: torch.Tensor, lengths: torch.Tensor, need_outputs: bool = True):
        # One small host-to-device copy per batch; asynchronous when the batch is pinned.
        lengths = lengths.to(embedded.device, non_blocking=True)
        batch_index = torch.arange(embedded.size(0), device=embedded.device)
        last_step = lengths - 1
        x = embedded
        finals: list[torch.Tensor] = []
        for depth, layer in enumerate(self.layers):
            if depth > 0:
                x = self.inter_layer_dropout(x)
            forward_out, _ = layer[0](x)
            finals = [forward_out[batch_index, last_step]]
            backward_rev = None
            if self.num_directions == 2:
                backward_rev, _ = layer[1](reverse_within_length(x, lengths))
                finals.append(backward_rev[batch_index, last_step])
            if depth == self.num_layers - 1 and not need_outputs:
                break  # pooling reads the final states only: skip re-aligning the last layer
            # Steps past a length hold garbage; later steps never feed earlier ones in either
            # direction, so it only needs masking where it is read out.
            if backward_rev is None:
                x = forward_out
            else:
                x = torch.cat([forward_out, reverse_within_length(backward_rev, lengths)], dim=-1)
        final = torch.stack(finals, dim=1)
        outputs = None
        if need_outputs:
            mask = torch.arange(x.size(1), device=x.device)[None, :] < lengths[:, None]
            outputs = x * mask.unsqueeze(-1).to(x.dtype)
        return outputs, final


def build_encoder(kind: str, **kwargs) -> _EncoderBase:
    if kind not in ENCODERS:
        raise ValueError(f"unknown encoder {kind!r}; expected one of {', '.join(ENCODERS)}")
    return {"packed": PackedLSTMEncoder, "padded": PaddedLSTMEncoder}[kind](**kwargs)

