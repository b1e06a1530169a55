"""Word-level tokenisation and vocabulary on HF ``tokenizers`` (the maintained replacement for torchtext).

The whole pipeline (normaliser, pre-tokeniser, vocabulary, truncation) lives in one
``tokenizer.json``, so the exported bundle and the torch-free runtime encode exactly as training did.
No torch import here.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from tokenizers import Regex, normalizers, pre_tokenizers
from tokenizers import Tokenizer as HFTokenizer
from tokenizers.models import WordLevel

PAD = "<pad>"
UNK = "<unk>"
SPECIALS = (PAD, UNK)  # ids 0 and 1, always
STYLES = ("basic_english", "whitespace")

# torchtext's basic_english rules: split off punctuation, drop '"', ';' and ':', collapse spaces.
BASIC_ENGLISH_RULES = (
    ("'", " '  "),
    ('"', ""),
    (".", " . "),
    ("<br />", " "),
    (",", " , "),
    ("(", " ( "),
    (")", " ) "),
    ("!", " ! "),
    ("?", " ? "),
    (";", " "),
    (":", " "),
)


def _normalizer(lowercase: bool, style: str):
    steps = [normalizers.NFC()]
    if lowercase:
        steps.append(normalizers.Lowercase())
    if style == "basic_english":
        steps += [normalizers.Replace(src, dst) for src, dst in BASIC_ENGLISH_RULES]
        steps.append(normalizers.Replace(Regex(r"\s+"), " "))
    elif style != "whitespace":
        raise ValueError(f"unknown tokenizer style {style!r}; expected one of {', '.join(STYLES)}")
    return normalizers.Sequence(steps)


class Tokenizer:
    """Texts to word ids. Id 0 is ``<pad>``, 1 is ``<unk>``; an empty text encodes as ``[<unk>]``."""

    def __init__(self, tokenizer: HFTokenizer):
        self.hf = tokenizer
        self.pad_id = tokenizer.token_to_id(PAD)
        self.unk_id = tokenizer.token_to_id(UNK)
        if (self.pad_id, self.unk_id) != (0, 1):
            raise ValueError("tokenizer vocabulary must start with <pad>, <unk>")

    @classmethod
    def build(
        cls,
        texts: Iterable[str],
        *,
        lowercase: bool = True,
        style: str = "basic_english",
        min_freq: int = 1,
        max_size: int | None = None,
        max_length: int | None = None,
        chunk_size: int = 20_000,
    ) -> Tokenizer:
        """Fit the vocabulary on ``texts`` (the training split only), streaming them in chunks.

        ``max_size`` counts words without the specials; ties in frequency are broken
        alphabetically, so the same data always gives the same ids. A text's literal ``<pad>`` or
        ``<unk>`` is the special's id, never a second vocabulary entry.
        """
        from bilstm_clf.data.word_ids import WordIndex, ranked_vocabulary  # it builds on this module

        index = WordIndex(lowercase=lowercase, style=style)
        counts = np.zeros(0, np.int64)
        chunk: list[str] = []
        for text in [*texts, None]:
            if text is not None:
                chunk.append(text)
            if chunk and (text is None or len(chunk) == chunk_size):
                ids, _ = index.encode(chunk)
                counts = _add_counts(counts, ids, len(index.ids))
                chunk = []
        vocabulary = ranked_vocabulary(index.words(), counts, min_freq=min_freq, max_size=max_size)
        return cls.from_vocabulary(vocabulary, lowercase=lowercase, style=style, max_length=max_length)

    @classmethod
    def from_vocabulary(
        cls, words: Sequence[str], *, lowercase: bool = True, style: str = "basic_english", max_length: int | None = None
    ) -> Tokenizer:
        """The tokenizer whose id ``i`` is ``words[i]`` (``words`` starts with ``<pad>``, ``<unk>``)."""
        if len(set(words)) != len(words):
            raise ValueError("vocabulary words must be unique")
        tokenizer = HFTokenizer(WordLevel({word: i for i, word in enumerate(words)}, unk_token=UNK))
        tokenizer.normalizer = _normalizer(lowercase, style)
        tokenizer.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
        if max_length:
            tokenizer.enable_truncation(max_length)
        return cls(tokenizer)

    def own_words(self, words: Iterable[str]) -> list[str]:
        """Those of ``words`` this tokenizer reads back as themselves: one token, unchanged (a
        vector for "u.s." is no use to a tokenizer that splits it into four)."""
        normalize, split = self.hf.normalizer.normalize_str, self.hf.pre_tokenizer.pre_tokenize_str
        kept = []
        for word in words:
            pieces = split(normalize(word))
            if len(pieces) == 1 and pieces[0][0] == word and word not in SPECIALS:
                kept.append(word)
        return kept

    # --- encoding -------------------------------------------------------------------------
    def tokenize(self, text: str) -> list[str]:
        return self.hf.encode(text).tokens

    def encode(self, text: str) -> list[int]:
        return self.hf.encode(text).ids or [self.unk_id]

    def token_ids(self, texts: Sequence[str]) -> list[list[int]]:
        """Each text's ids as the tokenizer gives them: empty for a text with no tokens."""
        # Runs in Rust across threads. encode_batch_fast (tokenizers >= 0.20) skips the character
        # offsets nothing here reads: the same ids, 1.25-1.7x faster (docs/benchmarks.md).
        encode = getattr(self.hf, "encode_batch_fast", self.hf.encode_batch)
        return [enc.ids for enc in encode(list(texts))]

    def encode_batch(self, texts: Sequence[str]) -> list[list[int]]:
        return [ids or [self.unk_id] for ids in self.token_ids(texts)]

    # --- vocabulary -----------------------------------------------------------------------
    @property
    def vocab_size(self) -> int:
        return self.hf.get_vocab_size()

    @property
    def max_length(self) -> int | None:
        trunc = self.hf.truncation
        return trunc["max_length"] if trunc else None

    def itos(self) -> list[str]:
        vocab = self.hf.get_vocab()
        words = [""] * len(vocab)
        for word, idx in vocab.items():
            words[idx] = word
        return words

    # --- persistence ----------------------------------------------------------------------
    def to_json(self) -> str:
        return self.hf.to_str()

    @classmethod
    def from_json(cls, text: str) -> Tokenizer:
        return cls(HFTokenizer.from_str(text))

    def save(self, path: str | Path) -> None:
        Path(path).write_text(self.to_json(), encoding="utf-8")

    @classmethod
    def load(cls, path: str | Path) -> Tokenizer:
        return cls.from_json(Path(path).read_text(encoding="utf-8"))


def _add_counts(counts: np.ndarray, ids: np.ndarray, size: int) -> np.ndarray:
    grown = np.zeros(size, np.int64)
    grown[: len(counts)] = counts
    grown += np.bincount(ids, minlength=size)
    return grown


def save_labels(labels: Sequence[str], path: str | Path) -> None:
    Path(path).write_text(json.dumps(list(labels), indent=1) + "\n", encoding="utf-8")


def load_labels(path: str | Path) -> list[str]:
    labels = json.loads(Path(path).read_text(encoding="utf-8"))
    if not isinstance(labels, list) or not all(isinstance(x, str) for x in labels):
        raise ValueError(f"{path}: expected a JSON list of label strings")
    return labels
