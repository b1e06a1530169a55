"""What a run tells the user at its end: the summary on stdout, and the error in train.log.

Kept apart from train.py so that the summary's wording can be tested without training.
"""

from __future__ import annotations

import logging
import sys
import traceback
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from bilstm_clf.training.hydra_errors import as_user_error

log = logging.getLogger("bilstm_clf.train")


def _shown(path: str | Path) -> str:
    """``path`` relative to the current directory when it lies inside it, else absolute."""
    path = Path(path).absolute()
    try:
        return str(path.relative_to(Path.cwd())) or "."
    except ValueError:
        return str(path)


def tensorboard_command(tensorboard_dir: str | Path, log_root: str | Path) -> str:
    """A command that works as printed: this environment's ``tensorboard`` script (or ``python -m
    tensorboard.main``), on the log root when the run lies under it, else on the run's own directory."""
    script = Path(sys.executable).parent / "tensorboard"
    command = _shown(script) if script.is_file() else f"{_shown(sys.executable)} -m tensorboard.main"
    events, root = Path(tensorboard_dir).resolve(), Path(log_root).resolve()
    target = root if events.is_relative_to(root) else events.parent
    return f"{command} --logdir {_shown(target)}"


def print_summary(metrics: dict[str, Any], monitor: str, data_report: Sequence[str] = (), *, log_root: str | Path = "logs", no_test: str | None = None) -> None:
    """``no_test``: why there are no test metrics (``data.test_file is null``, ``test=false``)."""

    def pct(key: str) -> str:
        value = metrics.get(key)
        return "n/a" if value is None else f"{100 * value:.2f}%"

    if "test/acc" in metrics:
        head = f"test acc {pct('test/acc')}, test macro-F1 {pct('test/f1_macro')}"
    elif "test/f1_micro" in metrics:  # multi-label
        head = f"test micro-F1 {pct('test/f1_micro')}, macro-F1 {pct('test/f1_macro')}, subset acc {pct('test/subset_acc')}"
    else:
        head = f"no test split ({no_test or 'no test metrics'})"
    lines = [
        f"\n{metrics['dataset']}: {head}, best {monitor} {pct(f'best/{monitor}')} ({metrics['epochs_trained']} epochs, {metrics['train_seconds']} s)",
        f"  run dir:     {metrics['run_dir']}",
        f"  checkpoint:  {metrics['best_checkpoint']}",
    ]
    if metrics.get("averaged_from"):  # final_weights=average*: what was tested is not the best epoch alone
        lines.append(f"  weights:     the mean of {', '.join(metrics['averaged_from'])} (final_weights={metrics.get('final_weights')}); "
                     f"{monitor} {pct(monitor)}")
    if metrics.get("tensorboard_log_dir"):
        lines.append(f"  tensorboard: {tensorboard_command(metrics['tensorboard_log_dir'], log_root)}")
    per_class = metrics.get("per_class") or {}
    split = "test" if per_class.get("test") else "val"
    if per_class.get(split):
        from bilstm_clf.training.class_report import summary_line

        lines.append(f"  per class:   {split} {summary_line(per_class[split])}")
    if (metrics.get("calibration") or {}).get("method") == "temperature":
        after = f", test {pct('test/ece')} -> {pct('test/ece_calibrated')}" if "test/ece" in metrics else ""
        lines.append(f"  calibration: temperature {metrics['calibration']['temperature']:.3f}; ECE dev {pct('val/ece')} -> {pct('val/ece_calibrated')}{after}")
    missing = metrics.get("never_predicted_on_dev") or []
    if missing:
        # a model that ignores a class can still score well on accuracy: say so loudly
        warning = f"warning: the chosen model never predicts {', '.join(map(repr, missing))} on dev (try class_weights=balanced)"
        log.warning(warning)
        lines.append(f"  {warning}")
    # rows skipped (data.on_bad_row=skip) or cut, so nothing is dropped unseen
    lines += [f"  data:        {line}" for line in data_report]
    if metrics.get("bundle_dir"):
        lines.append(f"  bundle:      {metrics['bundle_dir']}")
    elif metrics.get("bundle_error"):  # said here and as the run's error: never a silent missing bundle
        lines.append(f"  bundle:      NOT WRITTEN: {metrics['bundle_error']}")
    print("\n".join(lines), flush=True)


def _run_log_handlers() -> list[logging.FileHandler]:
    return [h for h in logging.getLogger().handlers if isinstance(h, logging.FileHandler)]


@contextmanager
def errors_into_run_log() -> Iterator[None]:
    """A run that fails leaves its reason in train.log (Hydra's file handler): the one-line error
    the user sees on stderr, or the traceback of a bug. Nothing more reaches the console."""
    try:
        yield
    except BaseException as err:
        if isinstance(err, SystemExit) and err.code in (0, None):
            raise
        user_error = as_user_error(err) if isinstance(err, Exception) else None
        if user_error is not None:
            text = "error: " + " ".join(str(user_error).split())
        elif isinstance(err, KeyboardInterrupt):
            text = "interrupted (KeyboardInterrupt)"
        else:
            text = "".join(traceback.format_exception(err)).rstrip()
        record = log.makeRecord(log.name, logging.ERROR, __file__, 0, "%s", (text,), None)
        for handler in _run_log_handlers():
            handler.handle(record)
        raise
