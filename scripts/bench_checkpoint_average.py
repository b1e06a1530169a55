#!/usr/bin/env python
"""The best checkpoint against the average of a run's saved checkpoints' weights, paired on the same runs.

    python scripts/bench_checkpoint_average.py --file dev_B=<held-out dev half> --file test=<test.tsv> RUN1 RUN2 RUN3

A run keeps its top-k checkpoints by the monitored dev metric (``callbacks.model_checkpoint.save_top_k``,
2 by default) and ``last.ckpt``. Each run is scored three ways on every ``--file``: its best
checkpoint alone; the uniform average of the top-k checkpoints' weights (one model, no extra
inference cost); the same with ``last.ckpt`` averaged in. The best checkpoint was chosen on the
run's own dev split, which flatters it there: compare on a file that the run neither trained nor
validated on (train with one half of dev, score on the other).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_accuracy import macro_f1  # noqa: E402
from bench_ensemble import read_test  # noqa: E402
from bench_unseen_words import predict  # noqa: E402

from bilstm_clf.common.errors import exit_on_user_error  # noqa: E402
from bilstm_clf.data.tokenizer import Tokenizer  # noqa: E402
from bilstm_clf.exporting.checkpoints import ExportSource, build_model, resolve_checkpoint, source_from_checkpoint  # noqa: E402
from bilstm_clf.training.checkpoint_average import AVERAGE_FILE, average_state_dicts  # noqa: E402

VARIANTS = ("best", "average of top-k", "average of top-k + last")


def averaged(sources: list[ExportSource]) -> ExportSource:
    """One source whose weights are the members' mean, as training's final_weights makes it."""
    state = average_state_dicts([s.state_dict for s in sources])
    return dataclasses.replace(sources[0], state_dict=state, calibration=None)  # a temperature never moves the argmax


def predict_texts(source: ExportSource, texts: list[str]) -> np.ndarray:
    return predict(build_model(source), Tokenizer.from_json(source.tokenizer_json).encode_batch(texts))


def variants(run: Path) -> dict[str, ExportSource]:
    best = resolve_checkpoint(run)
    folder = best.parent
    if best.name == AVERAGE_FILE:  # a run that averaged already (final_weights=average): its best comes first among the members
        best = folder / json.loads((run / "metrics.json").read_text(encoding="utf-8"))["averaged_from"][0]
    top_k = {p: source_from_checkpoint(p) for p in sorted(folder.glob("*.ckpt")) if p.name not in ("last.ckpt", AVERAGE_FILE)}
    sources = list(top_k.values())
    last = [source_from_checkpoint(folder / "last.ckpt")] if (folder / "last.ckpt").is_file() else []
    best_source = top_k[best] if best in top_k else source_from_checkpoint(best)
    return dict(zip(VARIANTS, (dataclasses.replace(best_source, calibration=None), averaged(sources), averaged(sources + last))))


@exit_on_user_error
def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", type=Path, help="run directories")
    parser.add_argument("--file", action="append", required=True, metavar="NAME=PATH", help="a labelled file to score (TSV or CSV with a header); repeatable")
    parser.add_argument("--text-field", default="sentence")
    parser.add_argument("--label-field", default="label")
    args = parser.parse_args(argv)
    files = dict(spec.split("=", 1) for spec in args.file)
    data = {name: read_test(Path(path), args.text_field, args.label_field) for name, path in files.items()}
    print(f"$ python scripts/bench_checkpoint_average.py {' '.join(sys.argv[1:])}")
    header = " | ".join(f"{name}: {v}" for name in files for v in VARIANTS)
    print(f"| run | {header} |\n|---|" + "---:|" * (len(files) * len(VARIANTS)))
    table = []
    for run in args.runs:
        models, row = variants(run), []
        labels = models["best"].label_names
        for texts, gold in data.values():
            gold_ids = np.array([labels.index(g) for g in gold])
            for source in models.values():
                predicted = predict_texts(source, texts)
                row.append((100 * float(np.mean(predicted == gold_ids)), 100 * macro_f1(gold_ids, predicted)))
        table.append(row)
        print(f"| {run.name} | " + " | ".join(f"{a:.2f} / {f:.2f}" for a, f in row) + " |")
    mean = np.mean(np.array(table), axis=0)
    print(f"| mean of {len(table)} | " + " | ".join(f"**{a:.2f} / {f:.2f}**" for a, f in mean) + " |")


if __name__ == "__main__":
    main()
