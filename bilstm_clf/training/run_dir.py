"""Every run gets a directory of its own: an existing run is never written into.

Hydra names run directories by the second (``logs/runs/<data>/<timestamp>``), so two runs started
in the same second, or a rerun with the same ``hydra.run.dir``, would share one and overwrite each
other's checkpoints and metrics. ``FreshRunDir`` (a Hydra callback, see configs/hydra/default.yaml)
claims the directory before Hydra writes anything; when it is taken, the run moves to
``<dir>_1``, ``<dir>_2``, ... Claiming is atomic (an ``O_EXCL`` marker file), so concurrent runs
cannot both win.

Resuming (``ckpt_path=last hydra.run.dir=<old run>``) continues from ``<old run>/checkpoints/last.ckpt``
into a fresh directory, so the old run stays as it was.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from bilstm_clf.common.errors import UserError

MARKER = ".bilstm_clf_run"  # created with O_EXCL: whoever creates it owns the directory
RESUME_ENV = "BILSTM_CLF_RESUME_FROM"  # the resolved ckpt_path=last, for DDP worker processes
MAX_SUFFIX = 1000


def claim_run_dir(path: str | Path) -> Path:
    """Return ``path`` if it is new or empty, else the first free ``path_N``; the result is claimed."""
    path = Path(path)
    for n in range(MAX_SUFFIX):
        candidate = path if n == 0 else path.with_name(f"{path.name}_{n}")
        if _claim(candidate):
            return candidate
    raise UserError(f"{path}: {MAX_SUFFIX} runs already use this directory name; choose another hydra.run.dir")


def _claim(candidate: Path) -> bool:
    try:
        candidate.mkdir(parents=True, exist_ok=True)
        if any(entry.name != MARKER for entry in candidate.iterdir()):
            return False  # holds another run (or anything else of the user's)
        fd = os.open(candidate / MARKER, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
    except (FileExistsError, NotADirectoryError):
        return False  # claimed by someone else just now, or a file of that name
    except OSError as err:
        raise UserError(f"{candidate}: cannot create the run directory ({err.strerror or err})") from None
    with os.fdopen(fd, "w") as f:
        f.write(f"pid {os.getpid()}\n")
    return True


def _is_worker_process() -> bool:
    """A DDP worker started by Lightning (or torchrun) joins rank 0's directory; it claims nothing."""
    return any(os.environ.get(var, "0") != "0" for var in ("LOCAL_RANK", "RANK", "NODE_RANK"))


def _resolve_resume(config: Any, requested: Path) -> str | None:
    """``ckpt_path=last``: the requested run's last.ckpt, as an absolute path (None if it has none:
    train.py then reports that, since Hydra turns exceptions in callbacks into mere warnings)."""
    if config.get("ckpt_path") != "last":
        return None
    inherited = os.environ.get(RESUME_ENV)
    if inherited:
        return inherited
    last = requested / "checkpoints" / "last.ckpt"
    return str(last.resolve()) if last.is_file() else None


def _set(config: Any, key: str, value: Any) -> None:
    """Set a value in a composed config whose nodes Hydra made read-only (each node has its own flag)."""
    from contextlib import ExitStack

    from omegaconf import OmegaConf, open_dict, read_write

    with ExitStack() as stack:
        node = config
        for part in [None, *key.split(".")[:-1]]:
            node = node if part is None else node[part]
            stack.enter_context(read_write(node))
            stack.enter_context(open_dict(node))
        OmegaConf.update(config, key, value, merge=False)


def _note(message: str) -> None:
    # Hydra has not set up logging yet when its callbacks start; stderr is kept for errors.
    print(f"note: {message}", flush=True)


try:
    from hydra.experimental.callback import Callback
except ImportError:  # pragma: no cover - Hydra is a dependency; this keeps the module importable
    Callback = object  # type: ignore[assignment,misc]


class FreshRunDir(Callback):
    """Hydra callback: move a run (or a sweep) whose directory is taken to a fresh one."""

    def on_run_start(self, config: Any, **kwargs: Any) -> None:
        from omegaconf import OmegaConf

        requested = Path(str(OmegaConf.select(config, "hydra.run.dir")))
        resume_from = _resolve_resume(config, requested)
        if resume_from is not None:
            _set(config, "ckpt_path", resume_from)
            os.environ[RESUME_ENV] = resume_from
        if _is_worker_process():
            return
        try:
            claimed = claim_run_dir(requested)
        except UserError:
            return  # unwritable: Hydra's own mkdir fails next, and that error is reported as one line
        if claimed != requested:
            _note(f"{requested} holds another run; this run writes to {claimed}")
            _set(config, "hydra.run.dir", str(claimed))

    def on_multirun_start(self, config: Any, **kwargs: Any) -> None:
        from omegaconf import OmegaConf

        if _is_worker_process():
            return
        requested = Path(str(OmegaConf.select(config, "hydra.sweep.dir")))
        try:
            claimed = claim_run_dir(requested)
        except UserError:
            return
        if claimed != requested:
            _note(f"{requested} holds another sweep; this sweep writes to {claimed}")
            _set(config, "hydra.sweep.dir", str(claimed))
