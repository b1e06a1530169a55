"""Console entry points of the commands that need the ``train`` extra.

The base install is the torch-free runtime; ``bilstm-clf-train`` and ``bilstm-clf-export`` are
installed with it too (a wheel cannot make console scripts depend on an extra), so without the
extra they answer one line naming the install command instead of an ImportError traceback.
"""

from __future__ import annotations

import importlib.util

from bilstm_clf.common.errors import UserError, one_line_errors

# what bilstm_clf.train and bilstm_clf.export import that the base install lacks
TRAIN_MODULES = ("torch", "pytorch_lightning", "torchmetrics", "hydra", "omegaconf", "onnx")
INSTALL_HINT = "pip install 'bilstm-clf[train]'"


def _importable(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


def missing_train_modules() -> list[str]:
    return [name for name in TRAIN_MODULES if not _importable(name)]


def require_train_extra(command: str) -> None:
    missing = missing_train_modules()
    if missing:
        raise UserError(f"{command} needs the training install ({INSTALL_HINT}); missing: {', '.join(missing)}")


def train():
    with one_line_errors():
        require_train_extra("bilstm-clf-train")
    from bilstm_clf.train import main

    return main()


def export():
    with one_line_errors():
        require_train_extra("bilstm-clf-export")
    from bilstm_clf.export import main

    return main()
