#!/usr/bin/env python
"""Test accuracy and macro-F1 of K trained runs, each alone and as ONE ensemble bundle.

    python scripts/bench_ensemble.py --test data/sst5/test.tsv logs/runs/sst5/seed1 logs/runs/sst5/seed2 logs/runs/sst5/seed3

Each run directory's best checkpoint is exported (``bilstm_clf.export``: the members' mean
probability in one ONNX graph), then the bundle and each member's own bundle (``<run>/bundle``,
written at the end of training) classify the test file through the torch-free runtime. The
members must come from one config on the same training data (same vocabulary and labels).
"""

from __future__ import annotations

import argparse
import csv
import sys
import tempfile
from pathlib import Path

import numpy as np

from bilstm_clf.common.errors import exit_on_user_error
from bilstm_clf.exporting.bundle_writer import export_ensemble
from bilstm_clf.serving.runtime import Classifier


def read_test(path: Path, text_field: str, label_field: str) -> tuple[list[str], list[str]]:
    with path.open(encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f, delimiter="\t" if path.suffix == ".tsv" else ",", quoting=csv.QUOTE_NONE if path.suffix == ".tsv" else csv.QUOTE_MINIMAL))
    return [r[text_field] for r in rows], [r[label_field] for r in rows]


def scores(classifier: Classifier, texts: list[str], gold: list[str]) -> tuple[float, float]:
    predicted = [p.label for p in classifier.predict(texts)]
    accuracy = float(np.mean([p == g for p, g in zip(predicted, gold)]))
    f1s = []
    for label in sorted(set(gold) | {p for p in predicted if p is not None}):
        tp = sum(p == label and g == label for p, g in zip(predicted, gold))
        fp = sum(p == label and g != label for p, g in zip(predicted, gold))
        fn = sum(p != label and g == label for p, g in zip(predicted, gold))
        f1s.append(2 * tp / (2 * tp + fp + fn) if tp else 0.0)
    return accuracy, float(np.mean(f1s))


@exit_on_user_error
def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", type=Path, help="run directories (or checkpoints) of one config")
    parser.add_argument("--test", type=Path, required=True, help="test file (TSV or CSV with a header)")
    parser.add_argument("--text-field", default="sentence")
    parser.add_argument("--label-field", default="label")
    args = parser.parse_args(argv)
    texts, gold = read_test(args.test, args.text_field, args.label_field)
    print(f"$ python scripts/bench_ensemble.py {' '.join(sys.argv[1:])}")
    print("| system | test acc | test macro-F1 |\n|---|---:|---:|")
    members = []
    for run in args.runs:
        if (run / "bundle").is_dir():
            members.append(scores(Classifier.load(run / "bundle", threads=1), texts, gold))
            print(f"| {run.name} | {100 * members[-1][0]:.2f} | {100 * members[-1][1]:.2f} |")
    if members:
        print(f"| members' mean | {100 * np.mean([m[0] for m in members]):.2f} | {100 * np.mean([m[1] for m in members]):.2f} |")
    with tempfile.TemporaryDirectory() as tmp:
        bundle = export_ensemble(list(args.runs), Path(tmp) / "ensemble")
        acc, f1 = scores(Classifier.load(bundle, threads=1), texts, gold)
    print(f"| ensemble of {len(args.runs)} (one bundle) | {100 * acc:.2f} | {100 * f1:.2f} |")


if __name__ == "__main__":
    main()
