#!/usr/bin/env python
"""Small "user-like" datasets derived from the benchmark mirror, to check a recipe beyond SST.

    python scripts/make_derived_datasets.py                      # -> data/derived/<name>/
    python scripts/make_derived_datasets.py --out /tmp/derived --mirror /work/shared/datasets
    python scripts/bench_accuracy.py --only-fasttext --dataset sst3_rare=data/derived/sst3_rare \\
        --dataset sst2_sentences_small=data/derived/sst2_sentences_small --dataset trec_nodev=data/derived/trec_nodev

Each is a folder of GLUE-style TSV files (header ``sentence<TAB>label``):

- ``sst3_rare``: SST-5 collapsed to 3 classes (0 negative = 0+1, 1 neutral = 2, 2 positive = 3+4),
  the negative class downsampled to 3% of each split (train, dev and test alike: rare everywhere,
  as in users' data); which negatives are kept is fixed by ``random.Random(1234)``, order kept;
- ``sst2_sentences_small``: SST-2 sentences only (train 6,920 / dev 872 / test 1,821), the
  small-data regime of MR/CR-like sets;
- ``trec_nodev``: TREC train/test only (no dev.tsv: the trainer, or the bench, carves one).

Stdlib only. Files are written to a temporary name and renamed.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SEED, RARE_SHARE = 1234, 0.03
SST3 = {"0": "0", "1": "0", "2": "1", "3": "2", "4": "2"}  # SST-5 label -> 0 negative / 1 neutral / 2 positive


def fail(message: str):
    print(f"error: {message}", file=sys.stderr)
    raise SystemExit(2)


def read_tsv(path: Path) -> list[tuple[str, str]]:
    lines = path.read_text(encoding="utf-8").splitlines()
    if not lines or lines[0].split("\t") != ["sentence", "label"]:
        fail(f"{path}: expected a 'sentence<TAB>label' header")
    return [tuple(line.split("\t")) for line in lines[1:] if line.strip()]  # type: ignore[misc]


def write_tsv(path: Path, rows: list[tuple[str, str]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    tmp.write_text("sentence\tlabel\n" + "".join(f"{text}\t{label}\n" for text, label in rows), encoding="utf-8")
    os.replace(tmp, path)


def downsample(rows: list[tuple[str, str]], label: str, share: float, rng: random.Random) -> list[tuple[str, str]]:
    """Keep a random subset of `label`'s rows so that they make up `share` of the result."""
    rare = [i for i, (_, y) in enumerate(rows) if y == label]
    keep = round(share * (len(rows) - len(rare)) / (1 - share))
    kept = set(rng.sample(rare, min(keep, len(rare))))
    return [row for i, row in enumerate(rows) if rows[i][1] != label or i in kept]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--mirror", type=Path, default=Path(os.environ.get("BILSTM_CLF_DATA_MIRROR", ROOT.parent / "shared" / "datasets")))
    parser.add_argument("--out", type=Path, default=ROOT / "data" / "derived")
    args = parser.parse_args(argv)
    for needed in ("sst5/train.tsv", "sst5/dev.tsv", "sst5/test.tsv", "sst2/train.tsv", "sst2/dev.tsv", "sst2/test.tsv", "trec/train.tsv", "trec/test.tsv"):
        if not (args.mirror / needed).is_file():
            fail(f"{args.mirror / needed}: not found (set --mirror or BILSTM_CLF_DATA_MIRROR)")
    rng = random.Random(SEED)
    derived = {
        "sst3_rare": {split: downsample([(t, SST3[y]) for t, y in read_tsv(args.mirror / "sst5" / f"{split}.tsv")], "0", RARE_SHARE, rng)
                      for split in ("train", "dev", "test")},
        "sst2_sentences_small": {split: read_tsv(args.mirror / "sst2" / f"{split}.tsv") for split in ("train", "dev", "test")},
        "trec_nodev": {split: read_tsv(args.mirror / "trec" / f"{split}.tsv") for split in ("train", "test")},
    }
    for name, splits in derived.items():
        for split, rows in splits.items():
            write_tsv(args.out / name / f"{split}.tsv", rows)
            counts = {label: sum(y == label for _, y in rows) for label in sorted({y for _, y in rows})}
            print(f"{args.out / name / split}.tsv: {len(rows):,} rows; " + ", ".join(f"{k}: {v:,}" for k, v in counts.items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
