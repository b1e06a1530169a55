"""Training: the LightningModule, callbacks, checkpoint I/O, run directories, TensorBoard panels
and the Hydra glue. Imports data and models; nothing below imports it.

Importing it quiets two messages that are noise in a training log: Lightning's "💡 Tip: ..."
advertisements (litlogger, litmodels) and torch's ``LeafSpec`` deprecation warning, which
Lightning's own pytree helper triggers.
"""

import logging as _logging
import warnings as _warnings


class _NoTips(_logging.Filter):
    def filter(self, record: _logging.LogRecord) -> bool:
        return not str(record.msg).startswith("💡 Tip")


for _name in ("pytorch_lightning.utilities.rank_zero", "lightning.pytorch.utilities.rank_zero", "lightning_fabric.utilities.rank_zero"):
    _logging.getLogger(_name).addFilter(_NoTips())
_warnings.filterwarnings("ignore", message=r".*isinstance\(treespec, LeafSpec\)", category=FutureWarning)
