"""Loading a checkpoint file, for resuming and for export: ``torch.load(weights_only=True)``, and
every way it can fail (a pickle that would run code, a truncated or foreign file, a FIFO) as one
``DataError`` naming the file. Torch-free at import."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bilstm_clf.common.errors import DataError
from bilstm_clf.common.file_checks import regular_file


def load_checkpoint_dict(path: str | Path) -> dict[str, Any]:
    """Tensors and plain containers only, never arbitrary pickles."""
    import torch

    path = Path(path)
    regular_file(path)
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except MemoryError:
        raise DataError(path, "cannot load as a weights-only torch checkpoint: out of memory") from None
    except Exception as err:  # noqa: BLE001 - any failure to load an untrusted file is the file's
        text = str(err).strip()
        first = text.splitlines()[0] if text else type(err).__name__
        raise DataError(path, f"cannot load as a weights-only torch checkpoint: {first[:300]}") from None
    if not isinstance(checkpoint, dict):
        raise DataError(path, f"not a training checkpoint (holds a {type(checkpoint).__name__}, expected a dict)")
    return checkpoint
