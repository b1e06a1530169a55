"""Torch-free runtime for exported bundles: ``Classifier.load(bundle_dir).predict(texts)``.

Imports only onnxruntime, tokenizers and numpy (plus this package's torch-free tokenizer and
errors), so it installs and starts without torch, Lightning or Hydra.

Defined results for awkward texts:

- a text with no tokens (empty, whitespace only, or only characters the tokenizer drops) gets no
  prediction: ``label=None``, ``probabilities=None``, ``empty=True`` (a NaN row from
  ``predict_proba``);
- lone surrogates (JSON escapes such as ``"\\ud800"``, undecodable command-line bytes) are read
  as U+FFFD, an unknown word, instead of failing;
- a text longer than the bundle's ``max_chars`` (100,000 unless training set ``data.max_chars``)
  is cut to that many characters before tokenising, and one longer than the tokenizer's
  ``max_length`` tokens is cut there, as in training; either way ``truncated=True``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort

from bilstm_clf.common import bundle
from bilstm_clf.common.bundle import first_line
from bilstm_clf.common.errors import DataError
from bilstm_clf.data.tokenizer import Tokenizer
from bilstm_clf.serving.bundle_checks import check_against_model, positive

# Texts are sorted by length and run in slices of this many rows: on CPU, less padding beats
# bigger matrices (SST-2 test, E300 H256, one thread: 256 texts in slices of 32 ran 2.4x faster
# than as one padded batch).
ROWS_PER_RUN = 32


@dataclass(frozen=True)
class Prediction:
    """``label``: the most probable class (single-label bundles). ``labels``: multi-label bundles,
    every label whose probability is at or above its threshold (possibly none). ``top_k``: the
    ``top_k`` most probable labels with their probabilities, best first, when asked for."""

    label: str | None
    probabilities: dict[str, float] | None
    empty: bool = False
    truncated: bool = False
    labels: tuple[str, ...] | None = None
    multi_label: bool = False
    top_k: tuple[tuple[str, float], ...] | None = None

    def to_dict(self, digits: int | None = 6) -> dict[str, Any]:
        probabilities = self.probabilities
        if probabilities is not None and digits is not None:
            probabilities = {k: round(v, digits) for k, v in probabilities.items()}
        if self.multi_label:
            record: dict[str, Any] = {"labels": None if self.labels is None else list(self.labels), "probabilities": probabilities}
        else:
            record = {"label": self.label, "probabilities": probabilities}
        if self.top_k is not None:
            record["top_k"] = [{"label": k, "probability": round(v, digits) if digits is not None else v} for k, v in self.top_k]
        if self.empty:
            record["empty"] = True
        if self.truncated:
            record["truncated"] = True
        return record


@dataclass(frozen=True)
class Encoded:
    ids: list[list[int]]  # [unk] for empty texts, so every row can still be fed to the model
    empty: np.ndarray  # bool [N]
    truncated: np.ndarray  # bool [N]


class Classifier:
    """An exported bundle, ready to classify raw texts."""

    def __init__(self, session: ort.InferenceSession, tokenizer: Tokenizer, labels: list[str], metadata: dict[str, Any], path: Path):
        self.session = session
        self.tokenizer = tokenizer
        self.labels = labels
        self.metadata = metadata
        self.path = path
        self.max_chars = int((metadata.get("inference") or {}).get("max_chars") or bundle.DEFAULT_MAX_CHARS)
        # multi-label bundles: one threshold per label (bundle.read_decision); None: single-label
        thresholds = bundle.read_decision(path, metadata, labels)
        self.multi_label = thresholds is not None
        self.thresholds = None if thresholds is None else np.asarray(thresholds, np.float32)
        # temperature scaling is part of the graph (the exported logits are already divided by T)
        self.temperature = float((metadata.get("calibration") or {}).get("temperature", 1.0))

    @classmethod
    def load(cls, path: str | Path, *, threads: int | None = None, providers: Sequence[str] | None = None) -> Classifier:
        """Open a bundle directory. Raises ``DataError`` (one line naming the file) when it is not
        a complete, readable bundle. ``threads`` sets onnxruntime's intra-op threads."""
        path = Path(path)
        if threads is not None:
            positive("threads", threads)
        metadata, labels = bundle.read_parts(path)
        bundle.read_decision(path, metadata, labels)  # before the slow part: a bad task answers at once
        try:
            encoder = Tokenizer.load(path / bundle.TOKENIZER_FILE)
        except Exception as err:  # noqa: BLE001 - tokenizers raises plain Exceptions on bad JSON
            raise DataError(path / bundle.TOKENIZER_FILE, f"cannot load the tokenizer: {first_line(err)}") from None
        rows = (metadata.get("model_config") or {}).get("vocab_size")
        bundle.check_vocabulary(path, encoder.vocab_size, rows if isinstance(rows, int) else None)

        session = _session(path / bundle.MODEL_FILE, threads, providers)
        inputs = {i.name for i in session.get_inputs()}
        outputs = {o.name: o for o in session.get_outputs()}
        if inputs != {"input_ids", "lengths"} or "probabilities" not in outputs:
            raise DataError(path / bundle.MODEL_FILE, "unexpected model signature (need inputs input_ids, lengths and output probabilities)")
        classes = outputs["probabilities"].shape[-1]
        if isinstance(classes, int) and classes != len(labels):
            raise DataError(path / bundle.LABELS_FILE, f"{len(labels)} labels but the model has {classes} classes")
        check_against_model(session, encoder.hf.get_vocab(), labels, path)
        return cls(session, encoder, labels, metadata, path)

    # --- encoding ---------------------------------------------------------------------------
    def encode(self, texts: Sequence[str]) -> Encoded:
        cut = [_encodable(t[: self.max_chars] if len(t) > self.max_chars else t) for t in texts]
        # one text: encode() directly; encode_batch hands even one text to the tokenizers thread pool
        encodings = [self.tokenizer.hf.encode(cut[0])] if len(cut) == 1 else self.tokenizer.hf.encode_batch(cut)
        ids, empty, truncated = [], np.zeros(len(cut), bool), np.zeros(len(cut), bool)
        for i, (text, enc) in enumerate(zip(texts, encodings)):
            row = enc.ids
            empty[i] = not row
            truncated[i] = bool(enc.overflowing) or len(text) > self.max_chars
            ids.append(row or [self.tokenizer.unk_id])
        return Encoded(ids, empty, truncated)

    # --- prediction -------------------------------------------------------------------------
    def _run(self, ids: list[list[int]], batch_size: int) -> np.ndarray:
        """Probabilities [N, C] for encoded rows, run ``batch_size`` rows at a time in order of
        length, so each run carries little padding; the result is in input order."""
        if len(ids) == 1:  # the latency path: no sorting, no padding
            feed = {"input_ids": np.array(ids, np.int64), "lengths": np.array([len(ids[0])], np.int64)}
            return self.session.run(["probabilities"], feed)[0]
        probabilities = np.empty((len(ids), len(self.labels)), np.float32)
        lengths = np.fromiter((len(r) for r in ids), np.int64, len(ids))
        order = np.argsort(lengths, kind="stable")
        for start in range(0, len(ids), batch_size):
            chunk = order[start : start + batch_size]
            chunk_lengths = lengths[chunk]
            batch = np.zeros((len(chunk), int(chunk_lengths.max())), np.int64)  # 0 = <pad>
            for row, index in enumerate(chunk):
                batch[row, : chunk_lengths[row]] = ids[index]
            probabilities[chunk] = self.session.run(["probabilities"], {"input_ids": batch, "lengths": chunk_lengths})[0]
        return probabilities

    def predict_proba(self, texts: Sequence[str], batch_size: int = ROWS_PER_RUN) -> np.ndarray:
        """[N, C] float32 probabilities in ``self.labels`` order; NaN rows for texts with no tokens.
        ``batch_size``: rows per onnxruntime run (texts are sorted by length first)."""
        texts, batch_size = _as_texts(texts), positive("batch_size", batch_size)
        if not texts:
            return np.empty((0, len(self.labels)), np.float32)
        encoded = self.encode(texts)
        probabilities = self._run(encoded.ids, batch_size)
        probabilities[encoded.empty] = np.nan
        return probabilities

    def predict(self, texts: Sequence[str], batch_size: int = ROWS_PER_RUN, top_k: int | None = None) -> list[Prediction]:
        """One ``Prediction`` per text, in order: the label (single-label) or the labels at or
        above their thresholds (multi-label), every label's probability, and with ``top_k`` the
        ``top_k`` most probable labels, best first."""
        texts, batch_size = _as_texts(texts), positive("batch_size", batch_size)
        if top_k is not None and (isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 1):
            raise ValueError(f"top_k must be a positive integer, got {top_k!r}")
        if not texts:
            return []
        encoded = self.encode(texts)
        probabilities = self._run(encoded.ids, batch_size)
        best = probabilities.argmax(axis=1)
        ranked = np.argsort(-probabilities, axis=1, kind="stable")[:, :top_k] if top_k else None
        chosen = probabilities >= self.thresholds[None, :] if self.multi_label else None
        results = []
        for i in range(len(texts)):
            if encoded.empty[i]:
                results.append(Prediction(None, None, empty=True, truncated=bool(encoded.truncated[i]), multi_label=self.multi_label))
                continue
            results.append(
                Prediction(
                    None if self.multi_label else self.labels[best[i]],
                    {label: float(p) for label, p in zip(self.labels, probabilities[i])},
                    truncated=bool(encoded.truncated[i]),
                    labels=tuple(self.labels[j] for j in np.flatnonzero(chosen[i])) if self.multi_label else None,
                    multi_label=self.multi_label,
                    top_k=None if ranked is None else tuple((self.labels[j], float(probabilities[i, j])) for j in ranked[i]),
                )
            )
        return results

    def predict_stream(self, texts: Iterable[str], chunk_size: int = 256) -> Iterator[Prediction]:
        """Predictions for an iterable of any length, reading ``chunk_size`` texts at a time."""
        chunk, chunk_size = [], positive("chunk_size", chunk_size)
        for text in texts:
            chunk.append(text)
            if len(chunk) == chunk_size:
                yield from self.predict(chunk)
                chunk = []
        if chunk:
            yield from self.predict(chunk)


def session_options(threads: int | None) -> ort.SessionOptions:
    """onnxruntime with every graph optimisation; with ``threads`` set, exactly that many intra-op
    threads, none spinning while idle (they would burn the cores a caller limited it to)."""
    options = ort.SessionOptions()
    options.log_severity_level = 3  # errors only: they also come back as exceptions
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    if threads:
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.add_session_config_entry("session.inter_op.allow_spinning", "0")
    return options


def _session(model: Path, threads: int | None, providers: Sequence[str] | None) -> ort.InferenceSession:
    options = session_options(threads)
    try:
        return ort.InferenceSession(str(model), options, providers=list(providers) if providers else ["CPUExecutionProvider"])
    except Exception as err:  # noqa: BLE001 - onnxruntime's own exception types
        raise DataError(model, f"cannot load the ONNX model: {first_line(err)}") from None


def _encodable(text: str) -> str:
    """Lone surrogates (from JSON escapes like "\\ud800", or undecodable command-line bytes) make
    the tokenizer raise; they become U+FFFD, which tokenises as an unknown word."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "".join("\ufffd" if "\ud800" <= ch <= "\udfff" else ch for ch in text)
    return text


def _as_texts(texts: Sequence[str]) -> list[str]:
    if isinstance(texts, str):
        raise TypeError("predict() takes a sequence of texts; wrap a single text in a list")
    texts = list(texts)
    for i, text in enumerate(texts):
        if not isinstance(text, str):
            raise TypeError(f"text {i} is {type(text).__name__}, expected str")
    return texts
