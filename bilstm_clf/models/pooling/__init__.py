"""Poolings: encoder outputs to one sentence vector. A registry, so a new pooling is one file here.

Each module in this package registers its class with ``@register("name")``. A pooling class has
``needs_outputs`` (does it read per-step outputs, or only the final states?), ``output_size``,
``forward(outputs [B, T, F] | None, final [B, D, H], mask [B, T] | None) -> [B, output_size]``, and
``from_encoder(encoder, **options)``, which takes the options it uses (``merge_mode``,
``attention_size``, ...) and ignores the rest.
"""

from __future__ import annotations

import importlib
import pkgutil

import torch
from torch import nn

POOLINGS: dict[str, type[nn.Module]] = {}


def register(name: str):
    def add(cls: type[nn.Module]) -> type[nn.Module]:
        POOLINGS[name] = cls
        return cls

    return add


def valid_mask(lengths: torch.Tensor, max_len: int, device: torch.device) -> torch.Tensor:
    """[B, T] True at real tokens. ``lengths`` may live on the host (async copy when pinned)."""
    return torch.arange(max_len, device=device)[None, :] < lengths.to(device, non_blocking=True)[:, None]


def build_pooling(name: str, encoder: nn.Module, **options) -> nn.Module:
    if name not in POOLINGS:
        raise ValueError(f"unknown pooling {name!r}; expected one of {', '.join(POOLINGS)}")
    return POOLINGS[name].from_encoder(encoder, **options)


# Import every module of this package once, so each registers itself.
for _module in sorted(m.name for m in pkgutil.iter_modules(__path__)):
    importlib.import_module(f"{__name__}.{_module}")

from bilstm_clf.models.pooling.last import MERGE_MODES  # noqa: E402

__all__ = ["MERGE_MODES", "POOLINGS", "build_pooling", "register", "valid_mask"]
