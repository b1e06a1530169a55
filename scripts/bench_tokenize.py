#!/usr/bin/env python
"""Is data preparation ever the bottleneck? Encoding, dataset building and batching, against the
training step they feed, in one run.

    python scripts/bench_tokenize.py                 # SST-2 phrases repeated to 1M sentences
    python scripts/bench_tokenize.py --quick         # seconds (smoke test)

Measures: building the vocabulary (Tokenizer.build on the corpus), encoding N sentences with
Tokenizer.encode_batch (HF tokenizers, Rust, all cores) and, for comparison, with tokenizers'
encode_batch_fast and with plain Python (str.split + dict lookups), and with WordIndex (what training uses),
also under the basic_english rules; building EncodedDataset; one epoch of the training DataLoader
(BucketBatchSampler + PadCollate) per batch; and the default model's training step on the same
batches (E300 H256, batch 64, hand-written loop), so the last lines say what share of a step
the data side costs.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bilstm_clf.data.batching import BucketBatchSampler, EncodedDataset, PadCollate  # noqa: E402
from bilstm_clf.data.download import find_benchmark_file  # noqa: E402
from bilstm_clf.data.readers import read_examples  # noqa: E402
from bilstm_clf.data.tokenizer import Tokenizer  # noqa: E402
from bilstm_clf.data.word_ids import WordIndex  # noqa: E402
from bilstm_clf.common.errors import exit_on_user_error  # noqa: E402
from bilstm_clf.models import BiLSTMClassifier  # noqa: E402

PHRASES = Path("sst2") / "phrases_train.tsv"


def timed(fn):
    start = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - start


def load_average() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "n/a"


def python_encode(texts: list[str], vocab: dict[str, int]) -> list[list[int]]:
    """The plain-Python alternative: lower-case, split on whitespace, look words up."""
    get = vocab.get
    return [[get(word, 1) for word in text.lower().split()] or [1] for text in texts]


def word_index_encode(texts: list[str], tokenizer: Tokenizer, style: str, chunk: int = 20_000) -> list[list[int]]:
    """Ids as training computes them: provisional ids per chunk, then the vocabulary's."""
    index = WordIndex(lowercase=True, style=style)
    parts = [index.encode(texts[i : i + chunk]) for i in range(0, len(texts), chunk)]
    final = index.final_ids(tokenizer.itos())
    out = []
    for ids, lengths in parts:
        bounds = np.concatenate([[0], np.cumsum(lengths)])
        mapped = final[ids].tolist()
        out.extend(mapped[bounds[k] : bounds[k + 1]] or [1] for k in range(len(lengths)))
    return out


@exit_on_user_error
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", help="TSV with a sentence column (default: SST-2 phrases)")
    parser.add_argument("--sentences", type=int, default=1_000_000, help="the corpus repeated to this many sentences")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--steps", type=int, default=10, help="training steps timed for the comparison")
    parser.add_argument("--embedding-dim", type=int, default=300)
    parser.add_argument("--hidden-size", type=int, default=256)
    parser.add_argument("--threads", type=int, help="torch.set_num_threads for the training step (default: torch's choice)")
    parser.add_argument("--quick", action="store_true", help="small sizes: checks the script works")
    args = parser.parse_args(argv)
    if args.quick:
        args.sentences, args.steps = min(args.sentences, 20_000), min(args.steps, 2)
        args.embedding_dim, args.hidden_size = 16, 16

    if args.threads:
        torch.set_num_threads(args.threads)
    load_before = load_average()
    path = find_benchmark_file(PHRASES, ROOT, args.data)
    examples = read_examples(path, format="tsv", text_field="sentence", label_field="label")
    corpus = [ex.text for ex in examples]
    texts = (corpus * (args.sentences // len(corpus) + 1))[: args.sentences]

    encoder, build_s = timed(lambda: Tokenizer.build(corpus, style="whitespace", lowercase=True))
    ids, encode_s = timed(lambda: encoder.encode_batch(texts))
    tokens = sum(len(x) for x in ids)
    fast = getattr(encoder.hf, "encode_batch_fast", None)  # tokenizers >= 0.20: no offsets
    fast_s = None
    if fast:
        fast_encodings, fast_s = timed(lambda: fast(texts))
        assert [e.ids or [1] for e in fast_encodings[: len(corpus)]] == ids[: len(corpus)], "encode_batch_fast must give the same ids"
        del fast_encodings
    # tokenizers' encode_batch, with character offsets: what Tokenizer.encode_batch called before it
    # used encode_batch_fast (same ids)
    offsets_encodings, offsets_s = timed(lambda: encoder.hf.encode_batch(texts))
    assert [e.ids or [1] for e in offsets_encodings[: len(corpus)]] == ids[: len(corpus)], "encode_batch must give the same ids"
    del offsets_encodings
    vocab = encoder.hf.get_vocab()
    python_ids, python_s = timed(lambda: python_encode(texts, vocab))
    assert python_ids[: len(corpus)] == ids[: len(corpus)], "the Python baseline must encode identically"
    # what training uses since the streaming cache (bilstm_clf.data.word_ids): one pass, numpy ids
    word_ids, word_ids_s = timed(lambda: word_index_encode(texts, encoder, "whitespace"))
    assert word_ids[: len(corpus)] == [x or [1] for x in ids[: len(corpus)]], "WordIndex must give the tokenizer's ids"
    # and with the basic_english rules, where HF's normaliser chain runs per text
    basic = Tokenizer.build(corpus, style="basic_english")
    basic_fast = getattr(basic.hf, "encode_batch_fast", basic.hf.encode_batch)
    basic_hf, basic_hf_s = timed(lambda: [e.ids for e in basic_fast(texts)])
    basic_ids, basic_s = timed(lambda: word_index_encode(texts, basic, "basic_english"))
    assert basic_ids[: len(corpus)] == [x or [1] for x in basic_hf[: len(corpus)]], "WordIndex must give the tokenizer's ids (basic_english)"
    del basic_hf, basic_ids, word_ids
    labels = [0] * len(ids)
    dataset, dataset_s = timed(lambda: EncodedDataset(ids, labels))

    sampler = BucketBatchSampler(dataset.lengths, args.batch_size, shuffle=True, seed=0)
    loader = DataLoader(dataset, batch_sampler=sampler, collate_fn=PadCollate(0))
    batches, epoch_s = timed(lambda: list(loader))
    loader_ms = 1000 * epoch_s / len(batches)
    collate = PadCollate(0)
    items = [[dataset[i] for i in batch] for batch in sampler.batches()[:500]]
    _, collate_s = timed(lambda: [collate(x) for x in items])
    collate_ms = 1000 * collate_s / len(items)

    # The training step these batches feed (the default model, as bench_train's raw loop).
    torch.manual_seed(0)
    model = BiLSTMClassifier(encoder.vocab_size, 2, embedding_dim=args.embedding_dim, hidden_size=args.hidden_size).train()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3, fused=True)  # as configs/optimizer/adam.yaml
    step_times = []
    for step, batch in enumerate(batches[: args.steps + 2]):
        start = time.perf_counter()
        loss = torch.nn.functional.cross_entropy(model(batch["input_ids"], batch["lengths"]), batch["labels"])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        optimizer.step()
        if step >= 2:  # the first steps allocate optimizer state and oneDNN primitives
            step_times.append(time.perf_counter() - start)
    step_ms = 1000 * statistics.median(step_times)
    train_sentences_per_s = args.batch_size / (step_ms / 1000)
    load_after = load_average()

    n = len(texts)
    lines = [
        f"torch {torch.__version__}, {torch.get_num_threads()} thread(s), {os.cpu_count()} CPUs; corpus {path.name} "
        f"({len(corpus)} sentences) repeated to {n:,} sentences, {tokens:,} tokens; load average before {load_before}, after {load_after}",
        "",
        "| stage | time | throughput |",
        "|---|---:|---:|",
        f"| build vocabulary ({len(corpus):,} sentences, {encoder.vocab_size:,} words) | {build_s:.2f} s | {len(corpus) / build_s:,.0f} sentences/s |",
        f"| Tokenizer.encode_batch, {n:,} sentences | {encode_s:.2f} s | {n / encode_s:,.0f} sentences/s, {tokens / encode_s:,.0f} tokens/s |",
        *([f"| tokenizers encode_batch_fast (no offsets, Encoding objects only), {n:,} sentences | {fast_s:.2f} s | {n / fast_s:,.0f} sentences/s |"] if fast_s else []),
        f"| tokenizers encode_batch (with offsets, Encoding objects only), {n:,} sentences | {offsets_s:.2f} s | {n / offsets_s:,.0f} sentences/s |",
        f"| plain Python split + dict (whitespace style only), {n:,} sentences | {python_s:.2f} s | {n / python_s:,.0f} sentences/s |",
        f"| WordIndex (training's path: joined ASCII chunks, numpy ids), {n:,} sentences | {word_ids_s:.2f} s | {n / word_ids_s:,.0f} sentences/s |",
        f"| basic_english: tokenizers encode_batch_fast, {n:,} sentences | {basic_hf_s:.2f} s | {n / basic_hf_s:,.0f} sentences/s |",
        f"| basic_english: WordIndex, {n:,} sentences | {basic_s:.2f} s | {n / basic_s:,.0f} sentences/s |",
        f"| EncodedDataset, {n:,} sentences | {dataset_s:.2f} s | {n / dataset_s:,.0f} sentences/s |",
        f"| DataLoader epoch (BucketBatchSampler + PadCollate), batch {args.batch_size} | {loader_ms:.3f} ms/batch | {args.batch_size / loader_ms * 1000:,.0f} sentences/s |",
        f"| PadCollate alone, batch {args.batch_size} | {collate_ms:.3f} ms/batch | {args.batch_size / collate_ms * 1000:,.0f} sentences/s |",
        f"| training step, E{args.embedding_dim} H{args.hidden_size} (median of {len(step_times)}) | {step_ms:.1f} ms/batch | {train_sentences_per_s:,.0f} sentences/s |",
        "",
        f"- encoding outpaces training {n / encode_s / train_sentences_per_s:,.0f}x: one epoch of {n:,} sentences "
        f"encodes in {encode_s:.1f} s and trains in ~{n / train_sentences_per_s / 60:,.0f} min;",
        f"- batching (DataLoader) costs {100 * loader_ms / step_ms:.2f}% of a training step "
        f"(collate alone {100 * collate_ms / step_ms:.2f}%).",
    ]
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
