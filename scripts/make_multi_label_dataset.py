#!/usr/bin/env python
"""A multi-label dataset from the mirror's SST-5 sentences: ``data/sst5_tags/{train,dev,test}.tsv``.

    python scripts/make_multi_label_dataset.py                       # mirror: $BILSTM_CLF_DATA_MIRROR or ../shared/datasets
    python scripts/make_multi_label_dataset.py --mirror /work/shared/datasets --out data/sst5_tags

Each sentence gets the set of tags its five-way sentiment class implies, over three labels:

| SST-5 class | tags |
|---|---|
| 0 very negative | negative, strong |
| 1 negative | negative |
| 2 neutral | (none: the empty set) |
| 3 positive | positive |
| 4 very positive | positive, strong |

Why this derivation: the tags are facts the annotation states (polarity, and intensity for the
two extreme classes), so nothing is invented; a text can carry zero, one or two tags, so the
empty set and label co-occurrence both occur; and ``strong`` cuts across the polarity labels, so a
model must learn intensity apart from direction (a single-label model cannot output
{negative, strong} and {positive, strong} from one "strong" decision). Its limit: every tag set
is a function of one 5-way class, so the labels are more structured than real ticket tags.

Files are GLUE-style TSVs with the header ``sentence<TAB>labels``, the tags joined by ``|`` and an
empty field for the empty set: train with ``data.multi_label=true data.allow_empty_labels=true``
(``label_separator`` ``|`` is the default). Stdlib only; written to a temporary name and renamed.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TAGS = {"0": ("negative", "strong"), "1": ("negative",), "2": (), "3": ("positive",), "4": ("positive", "strong")}
SPLITS = ("train", "dev", "test")


def fail(message: str):
    print(f"error: {message}", file=sys.stderr)
    raise SystemExit(2)


def convert(source: Path, target: Path) -> dict[str, int]:
    lines = source.read_text(encoding="utf-8").splitlines()
    if not lines or lines[0].split("\t") != ["sentence", "label"]:
        fail(f"{source}: expected a 'sentence<TAB>label' header")
    out, counts = ["sentence\tlabels"], {"rows": 0, "empty": 0}
    for number, line in enumerate(lines[1:], start=2):
        if not line.strip():
            continue
        text, _, label = line.rpartition("\t")
        if label not in TAGS:
            fail(f"{source}:{number}: label {label!r} is not an SST-5 class 0-4")
        tags = TAGS[label]
        out.append(f"{text}\t{'|'.join(tags)}")
        counts["rows"] += 1
        counts["empty"] += not tags
        for tag in tags:
            counts[tag] = counts.get(tag, 0) + 1
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.tmp{os.getpid()}")
    tmp.write_text("\n".join(out) + "\n", encoding="utf-8")
    os.replace(tmp, target)
    return counts


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    default_mirror = os.environ.get("BILSTM_CLF_DATA_MIRROR") or str(ROOT.parent / "shared" / "datasets")
    parser.add_argument("--mirror", default=default_mirror, help="the datasets mirror (holds sst5/)")
    parser.add_argument("--out", default=str(ROOT / "data" / "sst5_tags"), help="output folder")
    args = parser.parse_args(argv)
    for split in SPLITS:
        source = Path(args.mirror) / "sst5" / f"{split}.tsv"
        if not source.is_file():
            fail(f"{source}: not found (set --mirror or BILSTM_CLF_DATA_MIRROR)")
        counts = convert(source, Path(args.out) / f"{split}.tsv")
        print(f"{split}: " + ", ".join(f"{k} {v}" for k, v in counts.items()))


if __name__ == "__main__":
    main()
