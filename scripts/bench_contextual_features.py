#!/usr/bin/env python
"""Our BiLSTM over a frozen pretrained transformer's features instead of word vectors, on the bench's splits.

    python scripts/bench_contextual_features.py --model-dir DIR                      # sst5, sst2_sentences, trec
    python scripts/bench_contextual_features.py --model-dir DIR --datasets sst5 --seeds 1
    python scripts/bench_contextual_features.py --model-dir DIR --dataset reviews=my/train.csv,,my/test.csv \\
        --text-field review --label-field stars

What it measures: how far the feature-based use of a contextual encoder (Peters et al. 2018: the
encoder frozen, its layers read as the input of a task model) takes this project's classifier,
against the published marks of docs/accuracy.md. DIR is a Hugging Face model folder (config.json,
weights, tokenizer.json), e.g. sentence-transformers' all-mpnet-base-v2; ``transformers`` must be
installed (``pip install 'bilstm-clf[contextual]'``). Nothing here is part of a training run or a
bundle: it is a measurement, not a recipe.

Splits: those of ``scripts/bench_accuracy.py`` (its ``materialise``: TREC's dev is a stratified 10% of
train), written to WORK/<dataset>/data. ``sst2_sentences`` is SST-2 trained on its 6,920 sentences (not
the 67,349 phrases that Tai et al. and ``data=sst2`` train on).

Features: each text is cut into the encoder's word pieces (its own tokenizer, at most 256), run once
through the encoder (bf16 autocast where the CPU has native bf16, else fp32), and each piece is the
mean of hidden states ``--layers`` (default 5-8: the middle of a 12-layer encoder; layer 0 is the
embedding output), kept as float16. They are cached in WORK/<dataset>/features, keyed by the model
folder, the layers and the split's contents.

Model and training: ``bilstm_clf.models.BiLSTMClassifier`` (hidden 128, last-state pooling, the
product's default encoder) fed the features through ``classify()``, dropout ``--dropout`` on the
features and on the sentence vector; Adam ``--lr``, halved after one flat epoch, gradient clip 5,
batches of 32 drawn in length buckets (the product's ``BucketBatchSampler``); up to ``--max-epochs`` epochs, early stopping after 3 without
a better dev macro-F1 (the product's monitor), and the best epoch's weights are tested. No class weights,
no checkpoint averaging. Wall times: featurising (every split) and training (all epochs, with the dev
scoring); ``--threads`` threads for both.
"""

from __future__ import annotations

import argparse
import copy
import functools
import hashlib
import json
import os
import shlex
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_accuracy import MIRROR_FILES, dataset_sources, fail, macro_f1, read_splits, write_atomic  # noqa: E402

from bilstm_clf.common.errors import UserError  # noqa: E402
from bilstm_clf.data import distill  # noqa: E402
from bilstm_clf.data.batching import BucketBatchSampler  # noqa: E402
from bilstm_clf.models import BiLSTMClassifier  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
DATASETS = {**MIRROR_FILES, "sst2_sentences": ("sst2/train.tsv", "sst2/dev.tsv", "sst2/test.tsv")}
# test accuracy of Tai et al. 2015 (BiLSTM, SST) and Kim 2014 (CNN, TREC), ../shared/datasets/README.md
PUBLISHED = {"sst2": 87.5, "sst2_sentences": 87.5, "sst5": 49.1, "trec": 93.6}
MAX_PIECES, FEATURE_BATCH = distill.MAX_PIECES, distill.FEATURE_BATCH
TRAIN_BATCH, POOL_BATCHES, PATIENCE = 32, 50, 3


class Features:
    """One split's word-piece features: ``rows(i)`` is text i's [pieces, D] float16 array."""

    def __init__(self, values: np.ndarray, offsets: np.ndarray):
        self.values, self.offsets = values, offsets

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def rows(self, i: int) -> np.ndarray:
        return self.values[self.offsets[i] : self.offsets[i + 1]]

    def lengths(self) -> np.ndarray:
        return np.diff(self.offsets)


def parse_layers(spec: str) -> list[int]:
    try:
        return distill.parse_layers(spec)
    except UserError as err:
        fail(f"--layers {err}")


class Encoder(distill.FrozenEncoder):
    """The product's frozen encoder (``bilstm_clf.data.distill``), with a split's features."""

    def __init__(self, model_dir: Path, layers: list[int]):
        try:
            super().__init__(model_dir, layers)
        except UserError as err:
            fail(f"--{err}" if str(err).startswith("layers:") else str(err))

    def features(self, texts: list[str]) -> Features:
        pieces = self.tokenizer(texts, truncation=True, max_length=MAX_PIECES)["input_ids"]
        lengths = np.array([len(p) for p in pieces])
        offsets = np.concatenate([[0], np.cumsum(lengths)])
        values = np.zeros((offsets[-1], self.dims), np.float16)
        order = np.argsort(lengths, kind="stable")  # little padding in each batch
        for start in range(0, len(order), FEATURE_BATCH):
            chunk = order[start : start + FEATURE_BATCH]
            batch = self.tokenizer([texts[i] for i in chunk], truncation=True, max_length=MAX_PIECES, padding=True, return_tensors="pt")
            mixed = self.layer_mean(batch)
            for row, i in enumerate(chunk):
                values[offsets[i] : offsets[i + 1]] = mixed[row, : lengths[i]]
        return Features(values, offsets)


def cached_features(compute, model_dir: Path, layers: list[int], split: str, texts: list[str], folder: Path) -> tuple[Features, bool]:
    """The split's features and whether they came from the cache (same model folder, layers and texts);
    else computed by ``compute(texts)`` and cached."""
    key = hashlib.sha256(json.dumps([str(model_dir.resolve()), layers, texts]).encode()).hexdigest()[:16]
    path = folder / f"{split}-{key}.npz"
    if path.is_file():
        with np.load(path) as stored:
            return Features(stored["values"], stored["offsets"]), True
    features = compute(texts)
    folder.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}.npz")
    np.savez(tmp, values=features.values, offsets=features.offsets)
    os.replace(tmp, path)
    return features, False


def padded(features: Features, indices) -> tuple[torch.Tensor, torch.Tensor]:
    lengths = features.lengths()[indices]
    batch = np.zeros((len(indices), int(lengths.max()), features.values.shape[1]), np.float32)
    for row, i in enumerate(indices):
        batch[row, : lengths[row]] = features.rows(i)
    return torch.from_numpy(batch), torch.from_numpy(lengths)


@torch.no_grad()
def predict(model: BiLSTMClassifier, features: Features) -> np.ndarray:
    model.eval()
    predictions = np.empty(len(features), np.int64)
    for chunk in BucketBatchSampler(features.lengths(), 256, shuffle=False, num_replicas=1, rank=0):  # sorted by length
        predictions[chunk] = model.classify(*padded(features, chunk)).argmax(-1).numpy()
    return predictions


def scores(y_true: np.ndarray, y_pred: np.ndarray) -> tuple[float, float]:
    return 100 * float(np.mean(y_true == y_pred)), 100 * macro_f1(y_true, y_pred)


def train_one(splits: dict[str, Features], labels: dict[str, np.ndarray], classes: int, seed: int, args) -> dict:
    torch.manual_seed(seed)
    model = BiLSTMClassifier(vocab_size=2, num_classes=classes, embedding_dim=splits["train"].values.shape[1], hidden_size=args.hidden,
                             embedding_dropout=args.dropout, output_dropout=args.dropout)
    optimizer = torch.optim.Adam([p for name, p in model.named_parameters() if not name.startswith("embedding.")], lr=args.lr)
    scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, mode="max", factor=0.5, patience=1)
    criterion, train, y_train = nn.CrossEntropyLoss(), splits["train"], torch.from_numpy(labels["train"])
    # the training loop's sampler: shuffled each epoch, sorted by length within pools of batches
    batches = BucketBatchSampler(train.lengths(), TRAIN_BATCH, pool_batches=POOL_BATCHES, seed=seed, num_replicas=1, rank=0)
    best, best_state, stale, epochs, started = None, None, 0, 0, time.perf_counter()
    for epoch in range(args.max_epochs):
        model.train()
        batches.set_epoch(epoch)
        for batch in batches:
            loss = criterion(model.classify(*padded(train, batch)), y_train[batch])
            optimizer.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), 5.0)
            optimizer.step()
        epochs = epoch + 1
        dev = scores(labels["dev"], predict(model, splits["dev"]))
        scheduler.step(dev[1])
        if best is None or dev[1] > best[1]:
            best, best_state, stale = dev, copy.deepcopy(model.state_dict()), 0
        else:
            stale += 1
            if stale >= PATIENCE:
                break
    train_seconds = time.perf_counter() - started
    model.load_state_dict(best_state)
    test = scores(labels["test"], predict(model, splits["test"]))
    return {"seed": seed, "dev_acc": best[0], "dev_f1": best[1], "test_acc": test[0], "test_f1": test[1], "epochs": epochs, "train_s": train_seconds}


def summary(name: str, result: dict) -> str:
    runs = result["runs"]
    mean = lambda key: statistics.mean(r[key] for r in runs)  # noqa: E731
    sizes = ", ".join(f"{split} {n:,}" for split, n in result["sizes"].items())
    features = "from the cache" if result["features_cached"] else f"{result['featurise_s']:.0f} s"
    lines = [f"{name} ({sizes}): features {features}"]
    lines += [
        f"  seed {r['seed']}: dev {r['dev_acc']:.2f} / {r['dev_f1']:.2f}  test {r['test_acc']:.2f} / {r['test_f1']:.2f}"
        f"  {r['epochs']} epochs, {r['train_s']:.0f} s"
        for r in runs
    ]
    published = f"; published {PUBLISHED[name]}" if name in PUBLISHED else ""
    lines.append(f"  mean of {len(runs)}: dev {mean('dev_acc'):.2f} / {mean('dev_f1'):.2f}  test {mean('test_acc'):.2f} / {mean('test_f1'):.2f}"
                 f"  (acc / macro-F1, %{published})")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model-dir", type=Path, required=True, help="a Hugging Face model folder")
    parser.add_argument("--layers", default=distill.DEFAULT_LAYERS, help="hidden states to average, N or FIRST-LAST (0: the embedding output)")
    parser.add_argument("--datasets", nargs="*", choices=sorted(DATASETS), help="mirror benchmarks (default: sst5 sst2_sentences trec, or none with --dataset)")
    parser.add_argument("--dataset", action="append", default=[], metavar="NAME=TRAIN[,DEV[,TEST]]", help="your own data (or NAME=DIR)")
    parser.add_argument("--text-field", default="sentence", help="text column of --dataset files")
    parser.add_argument("--label-field", default="label", help="label column of --dataset files")
    parser.add_argument("--seeds", nargs="+", type=int, default=[1, 2, 3])
    parser.add_argument("--hidden", type=int, default=128)
    parser.add_argument("--dropout", type=float, default=0.3)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--max-epochs", type=int, default=15)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--mirror", type=Path, default=Path(os.environ.get("BILSTM_CLF_DATA_MIRROR", ROOT.parent / "shared" / "datasets")))
    parser.add_argument("--work-dir", type=Path, default=ROOT / "logs" / "bench_contextual_features")
    args = parser.parse_args(argv)
    command = "$ python scripts/bench_contextual_features.py " + shlex.join(sys.argv[1:] if argv is None else argv)
    print(command, flush=True)
    torch.set_num_threads(args.threads)
    layers = parse_layers(args.layers)
    names = args.datasets if args.datasets is not None else [] if args.dataset else ["sst5", "sst2_sentences", "trec"]
    sources = dataset_sources(names, DATASETS, args.mirror, args.dataset, args.text_field, args.label_field)
    if not (args.model_dir / "config.json").is_file():
        fail(f"{args.model_dir}: not a Hugging Face model folder (no config.json)")
    load_encoder = functools.cache(lambda: Encoder(args.model_dir, layers))  # only when a split is not cached
    featurise = lambda texts: load_encoder().features(texts)  # noqa: E731
    results = {"command": command[2:], "model_dir": str(args.model_dir), "layers": layers, "datasets": {}}
    for dataset, (files, fields) in sources.items():
        rows = read_splits(dataset, files, fields, args.work_dir / dataset / "data")
        classes = sorted({label for _, label in rows["train"]})
        unseen = sorted({label for split in ("dev", "test") for _, label in rows[split]} - set(classes))
        if unseen:
            fail(f"{dataset}: labels {', '.join(unseen)} are in dev/test but not in train")
        started = time.perf_counter()
        folder = args.work_dir / dataset / "features"
        cached = {split: cached_features(featurise, args.model_dir, layers, split, [t for t, _ in split_rows], folder) for split, split_rows in rows.items()}
        splits = {split: features for split, (features, _) in cached.items()}
        index = {label: i for i, label in enumerate(classes)}
        labels = {split: np.array([index[label] for _, label in split_rows]) for split, split_rows in rows.items()}
        result = {"sizes": {k: len(v) for k, v in rows.items()}, "featurise_s": time.perf_counter() - started,
                  "features_cached": all(hit for _, hit in cached.values()), "runs": []}
        for seed in args.seeds:
            result["runs"].append(train_one(splits, labels, len(classes), seed, args))
            print(f"{dataset} seed {seed}: " + json.dumps({k: round(v, 2) for k, v in result["runs"][-1].items()}), flush=True)
        results["datasets"][dataset] = result
        write_atomic(args.work_dir / "results.json", json.dumps(results, indent=1) + "\n")
    print("\n" + "\n".join(summary(name, result) for name, result in results["datasets"].items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
