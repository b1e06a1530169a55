"""After training: the weights that are validated, tested, calibrated and exported (``final_weights``).

- ``average`` (the default): the uniform mean of the saved top-k checkpoints' weights
  (``callbacks.model_checkpoint.save_top_k``, 2) and the last epoch's (``last.ckpt``);
- ``average_top_k``: the mean of the top-k alone;
- ``best``: the best checkpoint alone.

Checkpoint averaging: the checkpoints lie a few epochs apart on one run's path, so their mean is
one model of the same size (no inference cost), less tied to the one epoch that dev happened to
score best (Polyak averaging; SWA, Izmailov et al. 2018). On held-out halves of dev it won on
SST-5, TREC, SST-2 sentences and a set with a 3% class (docs/accuracy.md). Multi-label runs keep
the best checkpoint: its decision thresholds were tuned on dev for its own weights.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from bilstm_clf.common.atomic import write_atomic
from bilstm_clf.training.lit_module import CHECKPOINT_KEY

log = logging.getLogger("bilstm_clf.train")

AVERAGE_FILE = "average.ckpt"


class RunningMean:
    """The mean of state dicts added one at a time: every floating-point tensor summed in float64
    and returned in its own dtype; other entries (integer buffers, counters) are the first's. Only
    the sum is kept, so averaging k checkpoints holds two in memory, whatever the vocabulary's size."""

    def __init__(self) -> None:
        self.first: dict[str, Any] = {}
        self.sums: dict[str, torch.Tensor] = {}
        self.count = 0

    def add(self, state: dict[str, Any]) -> None:
        if not self.count:
            self.first = dict(state)
            self.sums = {k: v.to(torch.float64, copy=True) for k, v in state.items() if isinstance(v, torch.Tensor) and torch.is_floating_point(v)}
        else:
            for key, total in self.sums.items():
                total += state[key].to(torch.float64)
        self.count += 1

    def mean(self) -> dict[str, Any]:
        return {**self.first, **{k: (total / self.count).to(self.first[k].dtype) for k, total in self.sums.items()}}


def average_state_dicts(states: Sequence[dict[str, Any]]) -> dict[str, Any]:
    running = RunningMean()
    for state in states:
        running.add(state)
    return running.mean()


def _distinct(paths: Sequence[Path]) -> list[Path]:
    """Existing files, each once: last.ckpt is often a hard link of the newest top-k file."""
    kept: list[Path] = []
    for path in paths:
        if path.is_file() and not any(path.samefile(other) for other in kept):
            kept.append(path)
    return kept


def members(mode: str, best: Path, top_k: Sequence[Path], last: Path | None) -> list[Path]:
    """The checkpoints that make the final weights, the best first (its metadata is kept)."""
    if mode == "best":
        return [best]
    chosen = [best, *top_k] + ([last] if mode == "average" and last is not None else [])
    return _distinct(chosen)


def write_average(paths: Sequence[Path], out: Path) -> Path:
    """``out``: the first checkpoint with its weights replaced by the mean of all of theirs (a file
    whose state another member already holds, at the same step, counts once)."""
    base = torch.load(paths[0], map_location="cpu", weights_only=True)
    running, steps = RunningMean(), {base.get("global_step")}
    running.add(base["state_dict"])
    for path in paths[1:]:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
        if checkpoint.get("global_step") not in steps:
            steps.add(checkpoint.get("global_step"))
            running.add(checkpoint["state_dict"])
    base["state_dict"] = running.mean()
    base.setdefault(CHECKPOINT_KEY, {})["averaged_from"] = [p.name for p in paths]
    write_atomic(out, lambda tmp: torch.save(base, tmp))
    return out


def final_checkpoint(mode: str, best: str, top_k: Sequence[str], last: Path | None, out_dir: Path) -> tuple[str, list[str]]:
    """The checkpoint that validation, test, calibration and export read after training, and the
    names of the checkpoints averaged into it: ``best`` alone (nothing averaged) or
    ``out_dir/average.ckpt`` written from the members ``mode`` names (``best`` when there is only one)."""
    if mode == "best" or not best:
        return best, []
    paths = members(mode, Path(best), [Path(p) for p in top_k], last)
    if len(paths) < 2:
        return best, []
    out = write_average(paths, out_dir / AVERAGE_FILE)
    log.info("final_weights=%s: the mean of %d checkpoints' weights (%s) -> %s", mode, len(paths), ", ".join(p.name for p in paths), out)
    return str(out), [p.name for p in paths]

