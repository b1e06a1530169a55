#!/usr/bin/env python
"""Data preparation at scale: first-run setup, cached setup, peak memory and the first training
steps, for N synthetic rows, beside the whole-file path this project used before (read every row
into Python objects, count and encode with HF tokenizers) at a size that path can run.

    python scripts/bench_data.py --rows 1000000 10000000 --legacy-rows 1000000
    python scripts/bench_data.py --quick          # seconds (smoke test)

Rows are SST-like: 4-36 words from a Zipfian vocabulary of 40,000 made-up words and punctuation,
capitalised, a label 0-4 (about 20 tokens and 124 bytes a row, 1.24 GB per 10M rows). Each
measurement runs in its own process, so peak RSS (``ru_maxrss``) is its own:

- ``first``: ``TextClassificationDataModule.setup`` into an empty cache (read, carve 10% for dev,
  count, encode, write), then the time to the first training batch, then ``--steps`` training
  steps of the default model shape (E 350, H 128, batch 64, Adam; random vectors, since loading
  GloVe/spaCy is not the data side's cost) over the real training DataLoader;
- ``cached``: the same setup again, memory-mapping what the first run wrote;
- ``legacy``: the previous path, re-created here for the side-by-side (whole-file reads,
  ``Example`` objects, ``train_from_iterator``, ``encode_batch_fast``, lists of arrays).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def synthesise(path: Path, n: int, seed: int = 0, vocab: int = 40_000) -> None:
    """``n`` rows of SST-like text (see the module docstring), written then renamed."""
    rng = np.random.default_rng(seed)
    syllables = ["ka", "lo", "mi", "ne", "ru", "ta", "vi", "zo", "be", "do", "fa", "gu", "hi", "ja", "pe", "so"]
    words = []
    for i in range(vocab):
        word, x = "", i + 16
        while x:
            word, x = word + syllables[x % 16], x // 16
        words.append(word)
    words = np.array(words + [",", ".", "'s", "!", "?", "(", ")", "--", '"', ":"], dtype=object)
    p = 1.0 / np.arange(1, len(words) + 1) ** 1.05
    p /= p.sum()
    tmp = path.with_suffix(".tmp")
    with tmp.open("w", encoding="utf-8") as f:
        f.write("sentence\tlabel\n")
        for start in range(0, n, 100_000):
            m = min(100_000, n - start)
            lengths = rng.integers(4, 37, m)
            tokens = rng.choice(len(words), size=int(lengths.sum()), p=p)
            labels = rng.integers(0, 5, m)
            ends = np.cumsum(lengths)
            f.write("".join(" ".join(words[tokens[e - k : e]]).capitalize() + f"\t{y}\n" for e, k, y in zip(ends, lengths, labels)))
    tmp.rename(path)


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def datamodule(data_dir: Path, cache_dir: Path):
    from bilstm_clf.data.datamodule import TextClassificationDataModule

    return TextClassificationDataModule(data_dir=str(data_dir), train_file="train.tsv", val_file=None, test_file=None, format="tsv",
                                        text_field="sentence", label_field="label", max_vocab_size=50_000, max_length=256,
                                        cache_dir=str(cache_dir))


def child_setup(data_dir: Path, cache_dir: Path, steps: int) -> dict:
    import torch

    import bilstm_clf.data.datamodule  # noqa: F401  (imports are not setup time)
    from bilstm_clf.models import BiLSTMClassifier

    torch.set_num_threads(1)
    start = time.perf_counter()
    dm = datamodule(data_dir, cache_dir)
    dm.setup("fit")
    result = {"setup_s": time.perf_counter() - start, "setup_rss_mb": peak_rss_mb(), "rows": sum(len(d) for d in dm.datasets.values()),
              "vocab": dm.vocab_size}
    if steps:
        loader = iter(dm.train_dataloader())
        batch = next(loader)
        result["first_batch_s"] = time.perf_counter() - start
        model = BiLSTMClassifier(vocab_size=dm.vocab_size, num_classes=dm.num_classes, embedding_dim=350, hidden_size=128)
        optimizer = torch.optim.Adam(model.parameters(), lr=2e-3)
        train_start = time.perf_counter()
        for step in range(steps):
            if step:
                batch = next(loader)
            loss = torch.nn.functional.cross_entropy(model(batch["input_ids"], batch["lengths"]), batch["labels"])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        result.update(steps=steps, steps_s=time.perf_counter() - train_start, peak_rss_mb=peak_rss_mb())
    return result


def child_legacy(data_dir: Path) -> dict:
    """The path before the streaming cache: every row a Python object, HF tokenizers for both passes."""
    from tokenizers import Tokenizer as HFTokenizer
    from tokenizers.models import WordLevel
    from tokenizers.trainers import WordLevelTrainer

    from bilstm_clf.data.batching import EncodedDataset
    from bilstm_clf.data.readers import label_order, read_examples
    from bilstm_clf.data.tokenizer import SPECIALS, UNK, _normalizer
    from tokenizers import pre_tokenizers

    start = time.perf_counter()
    rows = read_examples(data_dir / "train.tsv", format="tsv", text_field="sentence", label_field="label")
    order = np.random.default_rng(1234).permutation(len(rows))
    held = set(order[: round(len(rows) * 0.1)].tolist())
    train = [ex for i, ex in enumerate(rows) if i not in held]
    val = [rows[i] for i in sorted(held)]
    labels = label_order(ex.label for ex in train)
    hf = HFTokenizer(WordLevel(unk_token=UNK))
    hf.normalizer = _normalizer(True, "basic_english")
    hf.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    hf.train_from_iterator((ex.text for ex in train), trainer=WordLevelTrainer(vocab_size=50_002, special_tokens=list(SPECIALS), show_progress=False))
    hf.enable_truncation(256)
    datasets = {}
    for name, split in (("train", train), ("val", val)):
        ids = [e.ids for e in hf.encode_batch_fast([ex.text for ex in split])]
        datasets[name] = EncodedDataset(ids, [labels.index(ex.label) for ex in split])
    return {"setup_s": time.perf_counter() - start, "setup_rss_mb": peak_rss_mb(), "rows": len(rows), "vocab": hf.get_vocab_size()}


def child_hf_datasets(data_dir: Path, cache_dir: Path) -> dict:
    """HF ``datasets`` as the engine: Arrow CSV load, the same one-pass vocabulary, ``map`` with
    ``num_proc=2`` to encode (Arrow cache files). Run twice: the second run is its cache."""
    import datasets

    from bilstm_clf.data.tokenizer import BASIC_ENGLISH_RULES, Tokenizer

    datasets.disable_progress_bars()
    start = time.perf_counter()
    table = datasets.load_dataset("csv", data_files=str(data_dir / "train.tsv"), delimiter="\t", quoting=3, cache_dir=str(cache_dir), split="train")
    split = table.train_test_split(test_size=0.1, seed=1234)
    saved = cache_dir / "vocabulary.json"  # datasets caches map's results, not a vocabulary: keep it beside
    if saved.exists():
        words = json.loads(saved.read_text())
    else:  # the same one-pass count training uses (Tokenizer.build streams through WordIndex)
        texts = (text for batch in split["train"].iter(batch_size=20_000) for text in batch["sentence"])
        words = Tokenizer.build(texts, max_size=50_000).itos()
        saved.write_text(json.dumps(words))
    vocabulary = {w: i for i, w in enumerate(words)}

    def encode(batch, vocabulary=vocabulary, rules=BASIC_ENGLISH_RULES):
        out = []
        for text in batch["sentence"]:
            text = text.lower()
            for source, target in rules:
                text = text.replace(source, target)
            out.append([vocabulary.get(w, 1) for w in text.split()][:256])
        return {"ids": out}

    encoded = {name: part.map(encode, batched=True, batch_size=20_000, num_proc=2, remove_columns=["sentence"]) for name, part in split.items()}
    rows = sum(len(part) for part in encoded.values())
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return {"setup_s": time.perf_counter() - start, "setup_rss_mb": peak_rss_mb(), "children_rss_mb": children, "rows": rows, "vocab": len(vocabulary)}


def ddp_measurement(data_dir: Path, work: Path, steps: int) -> dict:
    """``trainer=ddp`` with 2 CPU ranks through the real CLI, a fresh cache: which rank built it, each
    rank's peak RSS (VmHWM, polled from /proc), and the run's dev metrics against a one-process
    evaluation of its best checkpoint over the whole dev split."""
    run_dir, cache_dir = work / "ddp_run", work / "ddp_cache"
    shutil.rmtree(run_dir, ignore_errors=True)
    shutil.rmtree(cache_dir, ignore_errors=True)
    command = [sys.executable, "-m", "bilstm_clf.train", "trainer=ddp", "trainer.accelerator=cpu", "trainer.devices=2", "embeddings=none",
               "model.embedding_dim=64", "model.hidden_size=64", "trainer.max_epochs=1", f"trainer.limit_train_batches={steps}",
               "data=custom", f"data.data_dir={data_dir}", "data.train_file=train.tsv", "data.format=tsv", "data.text_field=sentence",
               f"data.cache_dir={cache_dir}", "callbacks.progress_bar.refresh_rate=0", "export.enabled=false", f"hydra.run.dir={run_dir}"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    start = time.perf_counter()
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    peaks: dict[int, tuple[str, float]] = {}
    while process.poll() is None:
        for status in Path("/proc").glob("[0-9]*/status"):
            try:
                environ = (status.parent / "environ").read_bytes().split(b"\0")
                if f"data.cache_dir={cache_dir}".encode() not in (status.parent / "cmdline").read_bytes():
                    continue
                rank = next((e.split(b"=")[1].decode() for e in environ if e.startswith(b"LOCAL_RANK=")), "0")
                hwm = next(int(line.split()[1]) for line in status.read_text().splitlines() if line.startswith("VmHWM:")) / 1024
            except (OSError, StopIteration, IndexError):
                continue
            pid = int(status.parent.name)
            peaks[pid] = (rank, max(hwm, peaks.get(pid, ("", 0.0))[1]))
        time.sleep(0.2)
    output = process.stdout.read()
    if process.returncode != 0:
        raise SystemExit(f"DDP run failed:\n{output[-3000:]}")
    logs = "".join(p.read_text() for p in run_dir.glob("*.log"))
    metrics = json.loads((run_dir / "metrics.json").read_text())
    single = evaluate_in_one_process(metrics["best_checkpoint"], data_dir, cache_dir)
    return {"wall_s": time.perf_counter() - start, "builds": logs.count("prepared data cached in"), "mapped": logs.count("prepared data from the cache"),
            "rank_peak_rss_mb": {rank: rss for rank, rss in sorted(peaks.values())},
            "ddp_val": {k: metrics[k] for k in ("val/acc", "val/f1_macro", "val/loss")}, "one_process_val": single}


def evaluate_in_one_process(checkpoint_path: str, data_dir: Path, cache_dir: Path) -> dict:
    import torch

    from bilstm_clf.data.batching import PadCollate
    from bilstm_clf.models import BiLSTMClassifier

    checkpoint = torch.load(checkpoint_path, map_location="cpu", weights_only=True)
    model = BiLSTMClassifier(**checkpoint["hyper_parameters"]["model_config"])
    model.load_state_dict({k.removeprefix("model."): v for k, v in checkpoint["state_dict"].items() if k.startswith("model.")})
    model.eval()
    dm = datamodule(data_dir, cache_dir)
    dm.setup("fit")
    dataset, collate = dm.datasets["val"], PadCollate()
    logits, labels = [], []
    with torch.no_grad():
        for start in range(0, len(dataset), 1024):
            batch = collate([dataset[i] for i in range(start, min(start + 1024, len(dataset)))])
            logits.append(model(batch["input_ids"], batch["lengths"]))
            labels.append(batch["labels"])
    logits, labels = torch.cat(logits), torch.cat(labels)
    predicted = logits.argmax(-1)
    f1 = []
    for c in range(logits.shape[1]):
        tp = int(((predicted == c) & (labels == c)).sum())
        denominator = int((predicted == c).sum()) + int((labels == c).sum())
        f1.append(2 * tp / denominator if denominator else 0.0)
    return {"val/acc": float((predicted == labels).float().mean()), "val/f1_macro": float(np.mean(f1)),
            "val/loss": float(torch.nn.functional.cross_entropy(logits, labels))}


def run_child(*args: str, extra_path: str | None = None) -> dict:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "true"}
    if extra_path:  # only this child sees it (a --target install of datasets brings its own numpy)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (extra_path, env.get("PYTHONPATH")) if p)
    out = subprocess.run([sys.executable, __file__, "--child", *args], capture_output=True, text=True, env=env)
    if out.returncode != 0:
        raise SystemExit(f"child {args} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[1_000_000])
    parser.add_argument("--legacy-rows", type=int, default=None, help="also time the previous path at this size")
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--hf-datasets-path", default=None, help="a directory holding datasets (pip install --target DIR datasets)")
    parser.add_argument("--ddp-rows", type=int, default=None, help="also run trainer=ddp with 2 CPU ranks at this size")
    parser.add_argument("--hf-datasets-rows", type=int, default=None, help="also time HF datasets as the engine at this size (needs datasets)")
    parser.add_argument("--work", type=Path, default=Path("/tmp/bilstm-clf-bench-data"))
    parser.add_argument("--keep", action="store_true", help="keep the synthetic files for the next run")
    parser.add_argument("--quick", action="store_true", help="20,000 rows, 20 steps")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        kind, data_dir, *rest = args.child
        if kind == "legacy":
            result = child_legacy(Path(data_dir))
        elif kind == "datasets":
            result = child_hf_datasets(Path(data_dir), Path(rest[0]))
        else:
            result = child_setup(Path(data_dir), Path(rest[0]), int(rest[1]))
        print(json.dumps(result))
        return
    if args.quick:
        args.rows, args.legacy_rows, args.steps, args.ddp_rows = [20_000], 20_000, 20, None
        args.hf_datasets_rows = 20_000 if importlib.util.find_spec("datasets") or args.hf_datasets_path else None
    rows_list = sorted(set(args.rows) | {n for n in (args.legacy_rows, args.hf_datasets_rows, args.ddp_rows) if n})
    print(f"# bench_data: {' '.join(sys.argv[1:])}; {os.cpu_count()} CPUs, one thread for torch")
    table, ddp_rows = [], None
    for n in rows_list:
        data_dir = args.work / f"rows{n}"
        if not (data_dir / "train.tsv").exists():
            data_dir.mkdir(parents=True, exist_ok=True)
            t = time.perf_counter()
            synthesise(data_dir / "train.tsv", n)
            print(f"synthesised {n:,} rows ({(data_dir / 'train.tsv').stat().st_size / 1e6:,.0f} MB) in {time.perf_counter() - t:.0f} s", flush=True)
        size_mb = (data_dir / "train.tsv").stat().st_size / 1e6
        cache_dir = args.work / f"cache{n}"
        shutil.rmtree(cache_dir, ignore_errors=True)
        if n in args.rows:
            first = run_child("setup", str(data_dir), str(cache_dir), str(args.steps))
            cached = run_child("setup", str(data_dir), str(cache_dir), "0")
            table.append((n, size_mb, "streaming + cache", first, cached))
            print(json.dumps({"rows": n, "first": first, "cached": cached}), flush=True)
        if n == args.legacy_rows:
            legacy = run_child("legacy", str(data_dir))
            table.append((n, size_mb, "previous (whole file, HF encode)", legacy, None))
            print(json.dumps({"rows": n, "legacy": legacy}), flush=True)
        if n == args.hf_datasets_rows:
            shutil.rmtree(cache_dir, ignore_errors=True)
            first = run_child("datasets", str(data_dir), str(cache_dir), extra_path=args.hf_datasets_path)
            cached = run_child("datasets", str(data_dir), str(cache_dir), extra_path=args.hf_datasets_path)
            table.append((n, size_mb, "HF datasets (Arrow, map num_proc=2)", first, cached))
            print(json.dumps({"rows": n, "hf_datasets": first, "cached": cached}), flush=True)
        if n == args.ddp_rows:
            ddp = ddp_measurement(data_dir, args.work, min(args.steps, 200))
            print(json.dumps({"rows": n, "ddp": ddp}), flush=True)
            ddp_rows = (n, ddp)
        shutil.rmtree(cache_dir, ignore_errors=True)
        if not args.keep:
            shutil.rmtree(data_dir, ignore_errors=True)
    print()
    print("| rows | TSV | path | first setup | rows/s | setup peak RSS | cached setup | first batch | steps | peak RSS with steps |")
    print("|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|")
    for n, size_mb, path, first, cached in table:
        steps = f"{first['steps']} in {first['steps_s']:.0f} s" if "steps" in first else "-"
        cached_s = f"{cached['setup_s']:.2f} s" if cached else "-"
        first_batch = f"{first['first_batch_s']:.1f} s" if "first_batch_s" in first else "-"
        peak = f"{first['peak_rss_mb'] / 1024:.2f} GB" if "peak_rss_mb" in first else "-"
        setup_rss = f"{first['setup_rss_mb'] / 1024:.2f} GB"
        if "children_rss_mb" in first:
            setup_rss += f" (each worker {first['children_rss_mb'] / 1024:.2f} GB)"
        print(f"| {n:,} | {size_mb:,.0f} MB | {path} | {first['setup_s']:.1f} s | {n / first['setup_s']:,.0f} | "
              f"{setup_rss} | {cached_s} | {first_batch} | {steps} | {peak} |")
    if ddp_rows:
        n, ddp = ddp_rows
        ranks = ", ".join(f"rank {r} {rss / 1024:.2f} GB" for r, rss in ddp["rank_peak_rss_mb"].items())
        print(f"\nDDP, 2 CPU ranks, {n:,} rows: {ddp['builds']} cache build, {ddp['mapped']} rank mapped it; peak RSS {ranks}; "
              f"{ddp['wall_s']:.0f} s")
        for key in ("val/acc", "val/f1_macro", "val/loss"):
            print(f"  {key}: DDP {ddp['ddp_val'][key]:.6f}, one process over the whole dev split {ddp['one_process_val'][key]:.6f}")


if __name__ == "__main__":
    main()
