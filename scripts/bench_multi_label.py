#!/usr/bin/env python
"""Multi-label micro-/macro-F1 of our trainer and fastText ``-loss ova``, on identical files, side by side.

    python scripts/make_multi_label_dataset.py                                   # data/sst5_tags/
    python scripts/bench_multi_label.py --fasttext-python .venv-ft/bin/python    # ours (seed 1) and fastText
    python scripts/bench_multi_label.py --seeds 1 2 3 --ours "embeddings=glove_6b_50d model.pooling=max"
    python scripts/bench_multi_label.py --only-fasttext

Data: a folder of ``train.tsv``, ``dev.tsv``, ``test.tsv`` with the header ``sentence<TAB>labels``,
the labels joined by ``|``, an empty field for the empty set (what make_multi_label_dataset.py writes).

Ours: ``python -m bilstm_clf.train data=custom ... data.multi_label=true data.allow_empty_labels=true
seed=S`` plus ``--ours`` (default ``embeddings=glove_6b_50d``) in a subprocess; the thresholds are
tuned per label on dev by the trainer (``thresholds=per_label``); scores are read from the run's
metrics.json. fastText (``pip install fasttext-numpy2-wheel``, run by ``--fasttext-python``, so it
can live in its own environment): ``-loss ova`` (one-vs-all: a sigmoid per label) with
``wordNgrams=2 epoch=25`` (the settings that won its single-label runs in bench_accuracy.py) and
with its defaults otherwise, texts tokenised as ours (basic_english), seed 0, one thread.
fastText ignores training lines without a label, so it never sees the empty-set texts as
negatives for every label: a property of the tool, kept as it is. Its probabilities for every
label (``predict(k=-1, threshold=0)``) are scored here twice: at fastText's usual threshold 0.5,
and with thresholds tuned per label on dev by the same code as ours
(``bilstm_clf.training.multi_label_metrics``), so the decision rule is not what differs.

Output: the markdown table on stdout and in WORK/results.md, the numbers in WORK/results.json
(WORK: --work-dir, default logs/bench_multi_label).
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))
from bench_accuracy import basic_english  # noqa: E402  (the tokeniser both systems see)

from bilstm_clf.training import multi_label_metrics as ml  # noqa: E402

SCORES = ("f1_micro", "f1_macro", "subset_acc", "hamming_loss")
FASTTEXT_VARIANTS = {"fastText ova (defaults)": {}, "fastText ova (wordNgrams=2 epoch=25)": {"wordNgrams": 2, "epoch": 25}}
FASTTEXT_WORKER = """
import json, sys
import numpy as np, fasttext
job = json.loads(sys.argv[1])
model = fasttext.train_supervised(**job["train"])
labels = job["labels"]
for split, path in job["predict"].items():
    texts = open(path, encoding="utf-8").read().split("\\n")[:-1]
    out = np.zeros((len(texts), len(labels)), np.float64)
    names, probs = model.predict(texts, k=-1, threshold=0.0)
    for row, (ns, ps) in enumerate(zip(names, probs)):
        for n, p in zip(ns, ps):
            out[row, labels.index(n.removeprefix("__label__"))] = p
    np.save(job["out"][split], out)
"""


def read_split(path: Path) -> tuple[list[str], list[tuple[str, ...]]]:
    lines = path.read_text(encoding="utf-8").splitlines()
    if not lines or lines[0].split("\t")[1:] != ["labels"]:
        sys.exit(f"error: {path}: expected a 'sentence<TAB>labels' header")
    texts, sets = [], []
    for line in lines[1:]:
        if line.strip():
            text, _, labels = line.rpartition("\t")
            texts.append(text)
            sets.append(tuple(sorted(x for x in labels.split("|") if x)))
    return texts, sets


def targets(sets, labels) -> np.ndarray:
    return np.array([[name in s for name in labels] for s in sets], dtype=np.float64)


def run_ours(data: Path, work: Path, seeds: list[int], extra: list[str], threads: int) -> list[dict]:
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    results = []
    for seed in seeds:
        run = work / "ours" / f"seed{seed}_{time.strftime('%Y%m%d-%H%M%S')}"
        command = [sys.executable, "-m", "bilstm_clf.train", "data=custom", f"data.data_dir={data.resolve()}", "data.train_file=train.tsv",
                   "data.val_file=dev.tsv", "data.test_file=test.tsv", "data.text_field=sentence", "data.label_field=labels",
                   "data.multi_label=true", "data.allow_empty_labels=true", f"seed={seed}", "callbacks.progress_bar.refresh_rate=0",
                   *extra, f"hydra.run.dir={run}"]
        print("$", shlex.join(command), flush=True)
        start = time.perf_counter()
        proc = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
        wall = time.perf_counter() - start
        if proc.returncode != 0:
            print(proc.stderr[-2000:], file=sys.stderr)
            results.append({"system": f"ours (seed {seed})", "note": "failed"})
            continue
        metrics = json.loads((run / "metrics.json").read_text())
        results.append({"system": f"ours (seed {seed})", "run": str(run), "wall_s": round(wall, 1),
                        **{f"test/{k}": metrics[f"test/{k}"] for k in SCORES}, "dev/f1_micro": metrics["val/f1_micro"],
                        "dev/f1_macro": metrics["val/f1_macro"], "thresholds": {n: r["threshold"] for n, r in metrics["per_class"]["test"].items()}})
    return results


def run_fasttext(data: Path, work: Path, python: str, threads: int) -> list[dict]:
    splits = {s: read_split(data / f"{s}.tsv") for s in ("train", "dev", "test")}
    labels = ml_labels = sorted({n for s in splits["train"][1] for n in s})
    work.mkdir(parents=True, exist_ok=True)
    (work / "train.txt").write_text("".join(" ".join(f"__label__{n}" for n in s) + f" {basic_english(t)}\n"
                                            for t, s in zip(*splits["train"])), encoding="utf-8")
    for split in ("dev", "test"):
        (work / f"{split}.txt").write_text("".join(basic_english(t) + "\n" for t in splits[split][0]), encoding="utf-8")
    truth = {s: targets(splits[s][1], ml_labels) for s in ("dev", "test")}
    results = []
    for name, options in FASTTEXT_VARIANTS.items():
        tag = "defaults" if not options else "ngrams"
        job = {"train": {"input": str(work / "train.txt"), "loss": "ova", "thread": threads, "seed": 0, "verbose": 0, **options},
               "labels": labels, "predict": {s: str(work / f"{s}.txt") for s in ("dev", "test")},
               "out": {s: str(work / f"{tag}_{s}.npy") for s in ("dev", "test")}}
        print("$", shlex.join([python, "-c", "FASTTEXT_WORKER", json.dumps(job["train"])]), flush=True)
        start = time.perf_counter()
        proc = subprocess.run([python, "-c", FASTTEXT_WORKER, json.dumps(job)], capture_output=True, text=True,
                              env={**os.environ, "OMP_NUM_THREADS": str(threads)})
        wall = time.perf_counter() - start
        if proc.returncode != 0:
            print(proc.stderr[-2000:], file=sys.stderr)
            results.append({"system": name, "note": "failed"})
            continue
        probs = {s: np.load(job["out"][s]) for s in ("dev", "test")}
        for rule, thresholds in (("0.5", np.full(len(labels), 0.5)), ("dev-tuned", ml.tune_thresholds(probs["dev"], truth["dev"], "per_label"))):
            test = ml.scores(ml.decide(probs["test"], thresholds), truth["test"])
            dev = ml.scores(ml.decide(probs["dev"], thresholds), truth["dev"])
            results.append({"system": f"{name}, thresholds {rule}", "wall_s": round(wall, 1), **{f"test/{k}": v for k, v in test.items()},
                            "dev/f1_micro": dev["f1_micro"], "dev/f1_macro": dev["f1_macro"],
                            "thresholds": dict(zip(labels, map(float, thresholds)))})
    return results


def table(results: list[dict]) -> str:
    rows = ["| system | test micro-F1 | test macro-F1 | test subset acc | test Hamming loss | dev micro-F1 | dev macro-F1 | wall s |",
            "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for r in results:
        if "note" in r:
            rows.append(f"| {r['system']} | {r['note']} | | | | | | |")
            continue
        cells = [f"{100 * r[f'test/{k}']:.2f}" for k in ("f1_micro", "f1_macro", "subset_acc")] + [f"{r['test/hamming_loss']:.4f}"]
        cells += [f"{100 * r['dev/f1_micro']:.2f}", f"{100 * r['dev/f1_macro']:.2f}", f"{r['wall_s']:.0f}"]
        rows.append(f"| {r['system']} | " + " | ".join(cells) + " |")
    ours = [r for r in results if r["system"].startswith("ours") and "note" not in r]
    if len(ours) > 1:
        mean = {k: statistics.mean(r[k] for r in ours) for k in ("test/f1_micro", "test/f1_macro")}
        std = {k: statistics.stdev(r[k] for r in ours) for k in mean}
        rows.append(f"\nours over {len(ours)} seeds: test micro-F1 {100 * mean['test/f1_micro']:.2f} ± {100 * std['test/f1_micro']:.2f}, "
                    f"macro-F1 {100 * mean['test/f1_macro']:.2f} ± {100 * std['test/f1_macro']:.2f}")
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default=str(ROOT / "data" / "sst5_tags"), help="folder of train/dev/test.tsv (make_multi_label_dataset.py)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[1])
    parser.add_argument("--ours", default="embeddings=glove_6b_50d", help="extra overrides for our trainer, space-separated")
    parser.add_argument("--fasttext-python", default=str(ROOT / ".venv-ft" / "bin" / "python") if (ROOT / ".venv-ft").is_dir() else sys.executable,
                        help="a Python with fasttext installed (default: .venv-ft/bin/python if present, else this one)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--only-fasttext", action="store_true")
    parser.add_argument("--work-dir", default=str(ROOT / "logs" / "bench_multi_label"))
    args = parser.parse_args(argv)
    data, work = Path(args.data), Path(args.work_dir)
    if not (data / "train.tsv").is_file():
        sys.exit(f"error: {data}/train.tsv not found; run scripts/make_multi_label_dataset.py first")
    results = [] if args.only_fasttext else run_ours(data, work, args.seeds, shlex.split(args.ours), args.threads)
    results += run_fasttext(data, work / "fasttext", args.fasttext_python, args.threads)
    work.mkdir(parents=True, exist_ok=True)
    (work / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    text = table(results)
    (work / "results.md").write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
