"""Run the training CLI's entry point on many command lines in one interpreter.

``python tests/cli_driver.py JOBS.json RESULTS.json``: for each job ``{"id", "argv"}`` it calls
``bilstm_clf.train.main()`` (what ``python -m bilstm_clf.train`` and ``bilstm-clf-train`` run) with
``sys.argv`` set, and records the exit status, stdout, stderr and any exception that escaped.
Importing torch and Lightning once instead of once per case makes a corpus of dozens of bad
inputs cost seconds, not minutes. tests/test_bad_inputs_cli.py also runs a few cases as separate
processes, for what only a fresh interpreter shows (import-time warnings, the real exit status).
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import sys
import traceback
import warnings


def run_one(argv: list[str]) -> dict:
    from hydra.core.global_hydra import GlobalHydra

    from bilstm_clf import train
    from bilstm_clf.training.run_dir import RESUME_ENV

    GlobalHydra.instance().clear()
    os.environ.pop(RESUME_ENV, None)
    out, err = io.StringIO(), io.StringIO()
    status, escaped = 0, None
    saved_argv = sys.argv
    sys.argv = ["bilstm_clf.train", *argv]
    try:
        # catch_warnings resets the "already shown" registries, so every case sees its warnings
        with warnings.catch_warnings(), contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                train.main()
            except SystemExit as stop:
                status = stop.code if isinstance(stop.code, int) else (0 if stop.code is None else 1)
            except BaseException:  # noqa: BLE001 - exactly what the test looks for
                status, escaped = 1, traceback.format_exc()
    finally:
        sys.argv = saved_argv
    return {"exit": status, "stdout": out.getvalue(), "stderr": err.getvalue(), "exception": escaped}


def call(target: str, args: list) -> dict:
    """A job ``{"id", "call": "module:function", "args"}``: test set-up between runs (making files
    from an earlier run's outputs) without starting another interpreter."""
    import importlib

    module, _, name = target.partition(":")
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # `tests.x` imports from the checkout
    if root not in sys.path:
        sys.path.insert(0, root)
    try:
        getattr(importlib.import_module(module), name)(*args)
    except BaseException:  # noqa: BLE001 - reported to the test like a CLI's escaped exception
        return {"exit": 1, "stdout": "", "stderr": "", "exception": traceback.format_exc()}
    return {"exit": 0, "stdout": "", "stderr": "", "exception": None}


def main(jobs_path: str, results_path: str) -> None:
    with open(jobs_path, encoding="utf-8") as f:
        jobs = json.load(f)
    results = [{"id": job["id"], **(call(job["call"], job["args"]) if "call" in job else run_one(job["argv"]))} for job in jobs]
    with open(results_path, "w", encoding="utf-8") as f:
        json.dump(results, f)


if __name__ == "__main__":
    main(*sys.argv[1:3])
