"""One markdown table of the runs under a directory: ``python scripts/tabulate_runs.py SWEEP_DIR``.

Every directory below SWEEP_DIR that holds a ``metrics.json`` is a run (one per multirun job). Its
overrides come from Hydra's ``.hydra/overrides.yaml``; the columns show those that differ between
runs, the ones all runs share go in a line above the table. Runs without metrics.json (still
running, or failed) are listed below it. ``--over seed`` folds runs that differ only in the seed
into one row of mean ± std (sample standard deviation) per metric. No torch needed.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from bilstm_clf.common.errors import DataError, exit_on_user_error

# metrics.json keys shown after the test/ and best/ metrics, when present
TRAILING_KEYS = ("epochs_trained", "train_seconds")


@dataclass
class Run:
    name: str  # path relative to the sweep directory
    overrides: dict[str, str] = field(default_factory=dict)
    metrics: dict[str, Any] | None = None


def _natural_key(text: str) -> list[Any]:
    """So that job 10 sorts after job 9."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", text)]


def read_overrides(run_dir: Path) -> dict[str, str]:
    path = run_dir / ".hydra" / "overrides.yaml"
    if not path.is_file():
        return {}
    try:
        items = yaml.safe_load(path.read_text(encoding="utf-8")) or []
    except yaml.YAMLError as err:
        raise DataError(path, f"not valid YAML ({err.__class__.__name__})") from None
    if not isinstance(items, list) or not all(isinstance(item, str) for item in items):
        raise DataError(path, "expected a YAML list of key=value overrides")
    overrides = {}
    for item in items:
        key, _, value = item.partition("=")
        overrides[key] = value
    return overrides


def read_metrics(path: Path) -> dict[str, Any]:
    try:
        metrics = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise DataError(path, f"not valid JSON: {err.msg}", line=err.lineno) from None
    if not isinstance(metrics, dict):
        raise DataError(path, "expected a JSON object of metrics")
    return metrics


def find_runs(root: Path) -> list[Run]:
    """Finished runs (with metrics.json) and unfinished ones (a Hydra job directory without it)."""
    if not root.is_dir():
        raise DataError(root, "no such directory")
    run_dirs = {p.parent for p in root.rglob("metrics.json")} | {p.parent.parent for p in root.rglob(".hydra/overrides.yaml")}
    runs = []
    for run_dir in sorted(run_dirs, key=lambda p: _natural_key(str(p.relative_to(root)))):
        metrics_path = run_dir / "metrics.json"
        runs.append(
            Run(
                name=str(run_dir.relative_to(root)) if run_dir != root else ".",
                overrides=read_overrides(run_dir),
                metrics=read_metrics(metrics_path) if metrics_path.is_file() else None,
            )
        )
    if not any(run.metrics is not None for run in runs):
        raise DataError(root, "no metrics.json below this directory (not a sweep directory, or no run has finished)")
    return runs


def metric_columns(runs: list[Run]) -> list[str]:
    keys: dict[str, None] = {}
    for run in runs:
        for key, value in (run.metrics or {}).items():
            if "/" in key and (value is None or isinstance(value, (int, float))):
                keys[key] = None
    prefixes = ("test/", "val/")  # then best/ and the rest
    ordered = sorted(keys, key=lambda k: (next((i for i, p in enumerate(prefixes) if k.startswith(p)), len(prefixes)), k))
    present = [k for k in TRAILING_KEYS if any(k in (run.metrics or {}) for run in runs)]
    return ordered + present


def _cell(value: Any, digits: int | None = 4) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float) and digits is not None:
        return f"{value:.{digits}f}"
    return str(value).replace("|", "\\|")


def _run_label(name: str) -> str:
    """Hydra names job directories ``<job number>_<overrides>``; the overrides get their own columns."""
    first = Path(name).parts[0] if name != "." else name
    number = first.split("_", 1)[0]
    return number if number.isdigit() and len(Path(name).parts) == 1 else name


def split_overrides(finished: list[Run], exclude: str | None = None) -> tuple[list[str], list[str]]:
    """(override keys whose values differ between runs, the lines naming the shared ones above a
    table: none when no key is shared)."""
    keys = list(dict.fromkeys(k for run in finished for k in run.overrides if k != exclude))
    varying = [k for k in keys if len({run.overrides.get(k) for run in finished}) > 1]
    shared = [k for k in keys if k not in varying]
    if not shared:
        return varying, []
    return varying, ["Shared overrides: " + " ".join(f"`{k}={finished[0].overrides[k]}`" for k in shared), ""]


def render(runs: list[Run], sort_by: str | None = None) -> str:
    finished = [run for run in runs if run.metrics is not None]
    unfinished = [run for run in runs if run.metrics is None]
    varying, shared_line = split_overrides(finished)
    columns = metric_columns(finished)
    if sort_by is not None:
        missing = float("-inf")
        finished = sorted(finished, key=lambda r: r.metrics.get(sort_by) if isinstance(r.metrics.get(sort_by), (int, float)) else missing, reverse=True)

    lines = [*shared_line]
    header = ["run", *varying, *columns]
    lines.append("| " + " | ".join(header) + " |")
    lines.append("|" + "|".join(["---"] * (1 + len(varying)) + ["---:"] * len(columns)) + "|")
    for run in finished:
        cells = [_cell(_run_label(run.name)), *(_cell(run.overrides.get(k, "")) for k in varying)]
        cells += [_cell(run.metrics.get(c), None if c in TRAILING_KEYS else 4) for c in columns]
        lines.append("| " + " | ".join(cells) + " |")
    if unfinished:
        lines += ["", "No metrics.json (running or failed): " + ", ".join(_run_label(run.name) for run in unfinished)]
    return "\n".join(lines)


def _mean_std(values: list[float], scale: float, digits: int) -> str:
    if not values:
        return "n/a"
    mean = statistics.fmean(values) * scale
    if len(values) == 1:
        return f"{mean:.{digits}f}"
    return f"{mean:.{digits}f} ± {statistics.stdev(values) * scale:.{digits}f}"


def render_over(runs: list[Run], over: str, percent: bool = False) -> str:
    """One row per group of finished runs that share every override but ``over``: the number of
    runs, the values of ``over`` they cover, then mean ± std of each metric."""
    finished = [run for run in runs if run.metrics is not None]
    varying, shared_line = split_overrides(finished, exclude=over)
    columns = metric_columns(finished)
    groups: dict[tuple[str, ...], list[Run]] = {}
    for run in finished:
        groups.setdefault(tuple(run.overrides.get(k, "") for k in varying), []).append(run)

    lines = [*shared_line]
    lines.append("| " + " | ".join([*varying, "runs", over, *columns]) + " |")
    lines.append("|" + "|".join(["---"] * len(varying) + ["---:", "---"] + ["---:"] * len(columns)) + "|")
    for group, members in groups.items():
        cells = [_cell(value) for value in group] + [str(len(members)), ",".join(m.overrides.get(over, "(default)") for m in members)]
        for column in columns:
            values = [m.metrics[column] for m in members if isinstance(m.metrics.get(column), (int, float))]
            as_percent = percent and column not in TRAILING_KEYS and ("acc" in column or "f1" in column)
            cells.append(_mean_std(values, 100.0 if as_percent else 1.0, 1 if column in TRAILING_KEYS else 2 if as_percent else 4))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


@exit_on_user_error
def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Tabulate the metrics.json files of a sweep (markdown).")
    parser.add_argument("sweep_dir", type=Path, help="e.g. logs/multiruns/sst2/2025-01-31_12-00-00")
    parser.add_argument("--sort", metavar="KEY", help="sort by this metric, best first (e.g. test/acc)")
    parser.add_argument("--over", metavar="KEY", help="fold runs that differ only in this override (e.g. seed) into mean ± std rows")
    parser.add_argument("--percent", action="store_true", help="with --over: accuracies and F1 in percent")
    args = parser.parse_args(argv)
    runs = find_runs(args.sweep_dir)
    print(render_over(runs, args.over, percent=args.percent) if args.over else render(runs, sort_by=args.sort))


if __name__ == "__main__":
    main()
