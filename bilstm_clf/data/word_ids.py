"""Corpus-scale tokenisation: texts to word ids in one pass, at numpy speed, the same ids as the
``tokenizer.json`` that predict uses.

HF ``tokenizers`` builds a full ``Encoding`` per text (offsets, masks, type ids): about 27,000
texts/s here with the basic_english rules, far too slow for millions of rows. Training needs only
the ids, so ``WordIndex`` computes them itself, and stays exact by construction:

- a text that is pure ASCII (without the four ASCII separator controls, which Python splits on and
  the tokenizer does not) takes the fast path: the chunk's texts joined, lower-cased and run through
  ``str.replace`` once per rule, then ``str.split``. On ASCII each step is the tokenizer's own
  (NFC and lower-casing are the identity or plain ASCII; ``\\s`` is ``[ \\t\\n\\v\\f\\r]``);
- any other text is normalised and pre-tokenised by the tokenizer's own components
  (``normalize_str``, ``pre_tokenize_str``), so Unicode never depends on Python agreeing with Rust.

Words get provisional ids in first-seen order while reading; once the training split is counted
(``numpy.bincount`` on those ids), ``ranked_vocabulary`` orders the words as the vocabulary does
and ``WordIndex.final_ids`` maps provisional ids to vocabulary ids. tests/data/test_word_ids.py
holds both paths to HF's encoding and HF's trainer. No torch here.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

import numpy as np

from bilstm_clf.data import tokenizer as tok

_SEPARATOR = "\x00"  # between a chunk's joined texts; a text holding one takes the slow path
_NUL_WORD = (_SEPARATOR,)  # the key of a real word "\x00" (slow path), apart from the separator's
_SLOW_CHARACTERS = frozenset("\x00\x1c\x1d\x1e\x1f")


class WordIndex:
    """Provisional word ids, in the order words are first seen, for one tokenizer configuration."""

    def __init__(self, *, lowercase: bool = True, style: str = "basic_english"):
        self.lowercase = lowercase
        self.rules = tok.BASIC_ENGLISH_RULES if style == "basic_english" else ()
        reference = tok.Tokenizer.from_vocabulary([tok.PAD, tok.UNK], lowercase=lowercase, style=style)
        self._normalize = reference.hf.normalizer.normalize_str
        self._pre_tokenize = reference.hf.pre_tokenizer.pre_tokenize_str
        # a missing word gets the next id: map(ids.__getitem__, words) numbers new words in C
        self.ids: defaultdict[str | tuple, int] = defaultdict()
        self.ids.default_factory = self.ids.__len__
        self._separator_id: int | None = None  # the separator's id, once a fast chunk has used it

    def __len__(self) -> int:
        return len(self.ids) - (self._separator_id is not None)

    def encode(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """Provisional ids of ``texts``: (flat int32 ids, int64 length per text); a text without
        tokens has length 0. Truncation is not applied (the vocabulary counts every word)."""
        fast = [i for i, text in enumerate(texts) if text.isascii() and _SLOW_CHARACTERS.isdisjoint(text)]
        if len(fast) == len(texts):
            return self._encode_ascii(texts)
        lengths = np.zeros(len(texts), np.int64)
        pieces: list[np.ndarray] = [np.empty(0, np.int32)] * len(texts)
        if fast:
            ids, fast_lengths = self._encode_ascii([texts[i] for i in fast])
            bounds = np.concatenate([[0], np.cumsum(fast_lengths)])
            for k, i in enumerate(fast):
                pieces[i] = ids[bounds[k] : bounds[k + 1]]
            lengths[fast] = fast_lengths
        fast_set = set(fast)
        for i, text in enumerate(texts):
            if i not in fast_set:
                words = [w if w != _SEPARATOR else _NUL_WORD for w, _ in self._pre_tokenize(self._normalize(text))]
                pieces[i] = np.fromiter(map(self.ids.__getitem__, words), np.int32, len(words))
                lengths[i] = len(words)
        return (np.concatenate(pieces) if pieces else np.empty(0, np.int32)), lengths

    def _encode_ascii(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        if not texts:
            return np.empty(0, np.int32), np.zeros(0, np.int64)
        joined = f" {_SEPARATOR} ".join(texts)
        if self.lowercase:
            joined = joined.lower()
        for source, target in self.rules:
            joined = joined.replace(source, target)
        words = joined.split()
        if self._separator_id is None:
            self._separator_id = self.ids[_SEPARATOR]
        ids = np.fromiter(map(self.ids.__getitem__, words), np.int32, len(words))
        boundaries = np.flatnonzero(ids == self._separator_id)
        lengths = np.diff(np.concatenate([[-1], boundaries, [len(ids)]])) - 1
        return ids[ids != self._separator_id], lengths.astype(np.int64)

    def words(self) -> list[str]:
        """Provisional id -> word (the separator's slot holds ``None``)."""
        words: list[str | None] = [None] * len(self.ids)
        for word, i in self.ids.items():
            words[i] = word if isinstance(word, str) else _SEPARATOR
        if self._separator_id is not None:
            words[self._separator_id] = None
        return words

    def final_ids(self, vocabulary: Sequence[str]) -> np.ndarray:
        """Lookup table provisional id -> vocabulary id (``<unk>`` for words not in it)."""
        position = {word: i for i, word in enumerate(vocabulary)}
        unk = position[tok.UNK]
        return np.fromiter((position.get(w, unk) if w is not None else unk for w in self.words()), np.int32, len(self.ids))


def ranked_vocabulary(words: Sequence[str | None], counts: np.ndarray, *, min_freq: int = 1, max_size: int | None = None) -> list[str]:
    """``<pad>``, ``<unk>``, then the words counted at least ``min_freq`` times, most frequent
    first, ties alphabetical (HF's WordLevelTrainer order), at most ``max_size`` of them."""
    counts = np.zeros(len(words), np.int64) if len(counts) == 0 else np.asarray(counts, np.int64)
    candidates = np.flatnonzero(counts[: len(words)] >= max(1, min_freq))
    if max_size and len(candidates) > max_size + len(tok.SPECIALS):
        # only words counted at least as often as the max_size-th can be in: sort those alone
        top = counts[candidates]
        cutoff = np.partition(top, len(top) - max_size - len(tok.SPECIALS))[len(top) - max_size - len(tok.SPECIALS)]
        candidates = candidates[top >= cutoff]
    kept = [(int(counts[i]), words[i]) for i in candidates.tolist()]
    kept = [(n, w) for n, w in kept if w is not None and w not in tok.SPECIALS]
    kept.sort(key=lambda item: (-item[0], item[1]))
    if max_size:
        kept = kept[:max_size]
    return [*tok.SPECIALS, *(w for _, w in kept)]
