"""Word vectors distilled from a frozen transformer over the training texts (Bommasani et al. 2020:
static vectors from a contextual model), for ``embeddings=distilled``.

Each word gets the mean of its representations over its occurrences in the training texts; one
occurrence is the mean of its word pieces' features, and a piece's features are the mean of the
encoder's hidden states ``layers``. Only the encoder's forward pass runs, once per text; labels are
not read. Words come out most frequent first (ties alphabetically), as a vectors file's order.

Two ways in: ``embeddings.distill_from=<model folder>`` makes training distill from its own
training split (the words exactly as its tokenizer split them) and cache the result, and
``scripts/distill_vectors.py`` writes the same files from a data file. Needs torch and
transformers (``pip install 'bilstm-clf[contextual]'``); imported only when distilling.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from bilstm_clf.common.errors import UserError

log = logging.getLogger(__name__)

MAX_PIECES = 256  # word pieces per text, [CLS] and [SEP] included; later words have no occurrence
FEATURE_BATCH = 64
VECTORS, WORDS = "vectors.npy", "words.txt"
DEFAULT_LAYERS = "5-8"  # the middle of a 12-layer encoder: won SST-5 dev in the features benchmark


def parse_layers(spec: str | int) -> list[int]:
    """``"5-8"`` -> [5, 6, 7, 8]; ``"12"`` or 12 -> [12] (hidden state 0 is the embedding output)."""
    first, _, last = str(spec).partition("-")
    try:
        layers = list(range(int(first), int(last or first) + 1))
    except ValueError:
        raise UserError(f"{spec!r}: expected N or FIRST-LAST, e.g. 5-8") from None
    if not layers or layers[0] < 0:
        raise UserError(f"{spec!r}: expected 0 <= FIRST <= LAST")
    return layers


class FrozenEncoder:
    """A Hugging Face encoder folder, frozen: batches of word pieces to the mean of some of its
    layers' hidden states. bf16 autocast where the CPU has native bf16; a GPU when there is one."""

    def __init__(self, model_dir: str | Path, layers: Sequence[int]):
        import torch

        from bilstm_clf.common.bundle import first_line
        from bilstm_clf.training.precision import cpu_has_native_bf16

        model_dir = Path(model_dir)
        if not (model_dir / "config.json").is_file():
            raise UserError(f"{model_dir}: not a Hugging Face model folder (no config.json)")
        try:
            from transformers import AutoModel, AutoTokenizer
        except ImportError:
            raise UserError(f"{model_dir}: reading a transformer needs the transformers package: pip install 'bilstm-clf[contextual]'") from None
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(model_dir)
            self.model = AutoModel.from_pretrained(model_dir).eval()
        except Exception as err:  # noqa: BLE001 - transformers and safetensors raise many kinds for missing or broken files
            raise UserError(f"{model_dir}: cannot load the model: {first_line(err)}") from None
        depth = self.model.config.num_hidden_layers
        if max(layers) > depth:
            raise UserError(f"layers: {model_dir.name} has hidden states 0-{depth}, not {max(layers)}")
        self.layers = list(layers)
        self.device = "cuda" if torch.cuda.is_available() else "cpu"
        self.model.to(self.device)
        self.bf16 = self.device == "cuda" or cpu_has_native_bf16()

    @property
    def dims(self) -> int:
        return int(self.model.config.hidden_size)

    def layer_mean(self, batch) -> np.ndarray:
        """[B, T, D] float32: the mean of ``layers``' hidden states for a padded batch of word pieces."""
        import torch

        with torch.inference_mode(), torch.autocast(self.device, dtype=torch.bfloat16, enabled=self.bf16):
            hidden = self.model(**batch.to(self.device), output_hidden_states=True).hidden_states
            return torch.stack([hidden[k] for k in self.layers]).float().mean(0).cpu().numpy()


def distill(encoder: FrozenEncoder, sentences: Sequence[Sequence[str]]) -> tuple[list[str], np.ndarray]:
    """(words most frequent first, [words, dims] float32): each word's mean over its occurrences."""
    index: dict[str, int] = {}
    for words in sentences:
        for word in words:
            index.setdefault(word, len(index))
    sums, counts = np.zeros((len(index), encoder.dims)), np.zeros(len(index), np.int64)
    nonempty = [i for i, words in enumerate(sentences) if words]
    order = sorted(nonempty, key=lambda i: len(sentences[i]))  # little padding in each batch
    for start in range(0, len(order), FEATURE_BATCH):
        chunk = [list(sentences[i]) for i in order[start : start + FEATURE_BATCH]]
        batch = encoder.tokenizer(chunk, is_split_into_words=True, truncation=True, max_length=MAX_PIECES, padding=True, return_tensors="pt")
        mixed = encoder.layer_mean(batch)
        for row, words in enumerate(chunk):
            word_of_piece = np.array([-1 if w is None else w for w in batch.word_ids(row)])
            pieces = np.flatnonzero(word_of_piece >= 0)  # special and padding pieces have no word
            seen, piece_word = np.unique(word_of_piece[pieces], return_inverse=True)  # words cut off by MAX_PIECES are absent
            occurrence = np.zeros((len(seen), encoder.dims))
            np.add.at(occurrence, piece_word, mixed[row, pieces])
            occurrence /= np.bincount(piece_word, minlength=len(seen))[:, None]
            types = np.array([index[words[w]] for w in seen])
            np.add.at(sums, types, occurrence)
            np.add.at(counts, types, 1)
    words = list(index)
    ranked = sorted((i for i in range(len(words)) if counts[i]), key=lambda i: (-counts[i], words[i]))
    return [words[i] for i in ranked], (sums[ranked] / counts[ranked, None]).astype(np.float32)


def write_vectors(out: Path, words: Sequence[str], vectors: np.ndarray) -> None:
    """``vectors.npy`` and ``words.txt`` into ``out``, each written whole or not at all."""
    out.mkdir(parents=True, exist_ok=True)
    tmp_vectors, tmp_words = out / f".vectors.tmp{os.getpid()}.npy", out / f".words.tmp{os.getpid()}.txt"
    np.save(tmp_vectors, vectors)
    tmp_words.write_text("".join(f"{w}\n" for w in words), encoding="utf-8")
    os.replace(tmp_words, out / WORDS)
    os.replace(tmp_vectors, out / VECTORS)  # last: its presence marks the pair complete


def _cache_key(model_dir: Path, layers: list[int], sentences: Sequence[Sequence[str]]) -> str:
    """Changes with the model folder (path, config, weights' sizes and times), the layers and the texts."""
    digest = hashlib.sha256()
    weights = sorted((p.name, p.stat().st_size, p.stat().st_mtime_ns) for p in model_dir.iterdir()
                     if p.suffix in (".safetensors", ".bin", ".pt", ".h5"))
    digest.update(json.dumps([str(model_dir.resolve()), (model_dir / "config.json").read_text(encoding="utf-8"), weights, layers]).encode())
    for words in sentences:
        digest.update(("\x00".join(words) + "\x01").encode())
    return digest.hexdigest()[:20]


def distilled_files(model_dir: str | Path, layers_spec: str | int, sentences: Sequence[Sequence[str]], cache_root: Path) -> Path:
    """The folder holding the vectors of ``sentences``' words distilled from ``model_dir``: from
    the cache when the same model, layers and texts were distilled before, else distilled now.
    The folder and layers were checked with the run's config (``check_distill_config``)."""
    model_dir, layers = Path(model_dir), parse_layers(layers_spec)
    out = cache_root / "distilled" / _cache_key(model_dir, layers, sentences)
    if (out / VECTORS).is_file() and (out / WORDS).is_file():
        log.info("embeddings.distill_from: vectors distilled before from %s (hidden states %s), reused from %s", model_dir, layers_spec, out)
        return out
    started = time.perf_counter()
    words, vectors = distill(FrozenEncoder(model_dir, layers), sentences)
    if not words:
        raise UserError("embeddings.distill_from: the training texts have no words to distill")
    write_vectors(out, words, vectors)
    log.info("embeddings.distill_from: %d words distilled from %d training texts with %s (hidden states %s) in %.0f s -> %s",
             len(words), len(sentences), model_dir, layers_spec, time.perf_counter() - started, out)
    return out


def training_sentences(itos: Sequence[str], dataset) -> list[list[str]]:
    """The training split's texts as its tokenizer split them (``<pad>`` and ``<unk>`` left out)."""
    return [[itos[i] for i in dataset.row(k).tolist() if i > 1] for k in range(len(dataset))]


def distilled_source(options: Mapping, datamodule, cache_root: Path) -> dict:
    """``options`` (``embeddings``) with ``path`` and ``words`` pointing at vectors distilled from
    ``distill_from`` over the datamodule's training split (set up)."""
    sentences = training_sentences(datamodule.tokenizer.itos(), datamodule.datasets["train"])
    out = distilled_files(options["distill_from"], options.get("distill_layers", DEFAULT_LAYERS), sentences, cache_root)
    return {**options, "source": "npy", "path": str(out / VECTORS), "words": str(out / WORDS)}
