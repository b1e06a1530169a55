"""Checkpoints written then renamed, beside their final path.

Lightning's own local save goes through an fsspec transaction that stages the file in the system
temp directory and then *copies* it over when that is another filesystem: a crash mid-copy leaves
a truncated ``last.ckpt``, and a small /tmp fills up. Here the temporary sits next to the target,
so the final step is an atomic ``os.replace``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from pytorch_lightning.plugins.io import TorchCheckpointIO

from bilstm_clf.common.atomic import write_atomic, write_failure


class AtomicCheckpointIO(TorchCheckpointIO):
    def save_checkpoint(self, checkpoint: dict[str, Any], path, storage_options: Any | None = None) -> None:
        if storage_options is not None or "://" in str(path):  # remote storage: Lightning's way
            return super().save_checkpoint(checkpoint, path, storage_options)
        write_atomic(Path(path), lambda tmp: _save(checkpoint, tmp, path))


def _save(checkpoint: dict[str, Any], tmp: Path, path) -> None:
    try:
        torch.save(checkpoint, tmp)
    except RuntimeError as err:  # torch's C++ writer says "basic_ios::clear" for a full disk
        raise write_failure(path, err) from None
