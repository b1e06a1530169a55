"""A build of the encoded splits on disk: what decides it (``PrepareOptions``, the cache key's
fields), its files and format version, and reading it back (``load``, memory-mapped).
``bilstm_clf.data.prepared`` writes it; ``bilstm_clf.data.cache`` names and publishes it. No torch here.

Files: per split ``{split}.tokens.npy`` (int32 ids end to end), ``{split}.offsets.npy`` (int64, row i
is ``tokens[offsets[i]:offsets[i+1]]``), ``{split}.labels.npy`` (int64; multi-label: uint8 multi-hot
[N, L]), for dev and test ``{split}.texts.npy`` (UTF-8 bytes) and ``{split}.text_offsets.npy``;
``train.token_counts.npy``, ``tokenizer.json`` and, written last, ``manifest.json``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bilstm_clf.data.readers import ReadReport
from bilstm_clf.data.tokenizer import Tokenizer

FORMAT_VERSION = 1  # of the files above; part of the cache key
SPLITS = ("train", "val", "test")


@dataclass
class SplitArrays:
    """One split: ``tokens``/``offsets`` (ids), ``labels`` and, for dev and test, the texts."""

    tokens: np.ndarray
    offsets: np.ndarray
    labels: np.ndarray
    text_bytes: np.ndarray | None = None
    text_offsets: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def texts(self, index) -> list[str] | None:
        if self.text_bytes is None:
            return None
        o = self.text_offsets
        return [bytes(self.text_bytes[o[i] : o[i + 1]]).decode("utf-8") for i in index]


@dataclass
class PreparedData:
    splits: dict[str, SplitArrays]
    tokenizer: Tokenizer
    file_labels: list[str]
    token_counts: np.ndarray  # how often each vocabulary id occurs in the training split
    reports: dict[str, ReadReport]
    # ids below this come from the training split; those above, from embeddings.vocab_from_vectors
    trained_words: int | None = None


@dataclass
class PrepareOptions:
    """What decides the arrays (all of it goes into the cache key)."""

    files: dict[str, Path | None]
    read_options: dict
    tokenizer_options: dict
    multi_label: bool
    val_fraction: float
    split_seed: int

    def key_fields(self) -> dict:
        read = {k: v for k, v in self.read_options.items() if k != "label_parser"}
        parser = self.read_options.get("label_parser")
        if parser is not None:
            read["label_parser"] = {"separator": parser.separator, "allow_empty": parser.allow_empty}
        carve = {"val_fraction": self.val_fraction, "split_seed": self.split_seed} if self.files["val"] is None else None
        return {"read": read, "tokenizer": self.tokenizer_options, "multi_label": self.multi_label, "carve": carve}


class NpyWriter:
    """A ``.npy`` file of known shape, written in pieces (``np.save`` wants the whole array)."""

    def __init__(self, path: Path, dtype, shape: tuple[int, ...]):
        self.file = path.open("wb")
        header = {"descr": np.lib.format.dtype_to_descr(np.dtype(dtype)), "fortran_order": False, "shape": shape}
        np.lib.format.write_array_header_1_0(self.file, header)

    def __enter__(self):
        return self.file

    def __exit__(self, *exc):
        self.file.close()


def report_to_json(report: ReadReport) -> dict:
    return {"path": report.path, "kept": report.kept, "skipped": report.skipped, "skipped_count": report.skipped_count,
            "truncated": report.truncated, "max_chars": report.max_chars}


def report_from_json(data: dict) -> ReadReport:
    return ReadReport(data["path"], kept=data["kept"], skipped=[tuple(x) for x in data["skipped"]],
                      skipped_count=data["skipped_count"], truncated=data["truncated"], max_chars=data["max_chars"])


class IncompleteBuild(Exception):
    """The directory is not a whole build of this format (half-written, truncated, another version)."""


def load(directory: Path, *, mmap: bool = True) -> PreparedData:
    """The arrays of a build, memory-mapped (``mmap``) or read into memory; ``IncompleteBuild`` when
    anything is missing, truncated or of another format version."""
    try:
        manifest = json.loads((directory / "manifest.json").read_text(encoding="utf-8"))
        if manifest.get("format_version") != FORMAT_VERSION:
            raise IncompleteBuild(f"format version {manifest.get('format_version')}, expected {FORMAT_VERSION}")
        mode = "r" if mmap else None
        splits = {}
        for split, facts in manifest["splits"].items():
            arrays = {name: np.load(directory / f"{split}.{name}.npy", mmap_mode=mode if name in ("tokens", "texts") else None, allow_pickle=False)
                      for name in ("tokens", "offsets", "labels") + (("texts", "text_offsets") if facts["texts"] else ())}
            if arrays["tokens"].shape != (facts["tokens"],) or arrays["offsets"].shape != (facts["rows"] + 1,) or len(arrays["labels"]) != facts["rows"]:
                raise IncompleteBuild(f"{split} arrays do not have the recorded sizes")
            splits[split] = SplitArrays(arrays["tokens"], arrays["offsets"], arrays["labels"], arrays.get("texts"), arrays.get("text_offsets"))
        tokenizer = Tokenizer.load(directory / "tokenizer.json")
        token_counts = np.load(directory / "train.token_counts.npy", allow_pickle=False)
        reports = {k: report_from_json(v) for k, v in manifest["reports"].items()}
        trained_words = int(manifest.get("trained_words", tokenizer.vocab_size))
        return PreparedData(splits, tokenizer, list(manifest["file_labels"]), token_counts, reports, trained_words)
    except IncompleteBuild:
        raise
    except (OSError, ValueError, KeyError, TypeError, EOFError) as err:  # a missing or cut file
        raise IncompleteBuild(f"{type(err).__name__}: {err}") from None
