"""The bundle contract, shared by the exporter (which writes bundles) and the runtime (which reads
them): file names, the ONNX signature, the metadata schema and the checks a bundle must pass.

A bundle is a directory with ``model.onnx`` (inputs ``input_ids`` [batch, length] int64 and
``lengths`` [batch] int64, right-padded with id 0; outputs ``logits`` and ``probabilities``
[batch, classes] float32), ``tokenizer.json``, ``labels.json`` and ``metadata.json``. Nothing in
it is a pickle. Torch-free: the runtime imports this module.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import platform
from importlib import metadata as importlib_metadata
from pathlib import Path
from typing import Any

from bilstm_clf.common.errors import DataError

FORMAT = "bilstm_clf.bundle"
FORMAT_VERSION = 1
MODEL_FILE, TOKENIZER_FILE, LABELS_FILE, METADATA_FILE = "model.onnx", "tokenizer.json", "labels.json", "metadata.json"
FILES = (MODEL_FILE, TOKENIZER_FILE, LABELS_FILE, METADATA_FILE)
INPUT_NAMES = ("input_ids", "lengths")
OUTPUT_NAMES = ("logits", "probabilities")
PADDING_ID = 0
DEFAULT_MAX_CHARS = 100_000  # the runtime cuts longer texts before tokenising
# What metadata.json's "training" section records of the run's config (CLI export and the
# end-of-training export alike).
TRAINING_KEYS = ("data", "seed", "optimizer", "trainer")


def read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise DataError(path, f"cannot read JSON: {first_line(err)}") from None


def first_line(err: BaseException) -> str:
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__


def is_bundle(path: Path) -> bool:
    try:
        meta = json.loads((path / METADATA_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(meta, dict) and meta.get("format") == FORMAT


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def library_versions() -> dict[str, str | None]:
    versions: dict[str, str | None] = {"python": platform.python_version()}
    for dist in ("bilstm-clf", "torch", "pytorch-lightning", "onnx", "onnxscript", "onnxruntime", "tokenizers", "numpy"):
        try:
            versions[dist] = importlib_metadata.version(dist)
        except importlib_metadata.PackageNotFoundError:
            versions[dist] = None
    return versions


def build_metadata(
    *,
    labels: list[str],
    model_config: dict[str, Any],
    onnx: dict[str, Any],
    checkpoint: dict[str, Any],
    training: dict[str, Any],
    metrics: dict[str, Any],
    decision: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """metadata.json: one schema, whoever exports. ``decision``: ``decision_metadata``'s keys."""
    data = training.get("data") or {}
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "labels": labels,
        "model_config": {**model_config, "encoder": "padded"},
        "trained_with_encoder": model_config.get("encoder"),
        "onnx": onnx,
        "inference": {"max_chars": data.get("max_chars") or DEFAULT_MAX_CHARS, "text_field": data.get("text_field")},
        "checkpoint": checkpoint,
        "training": training,
        "metrics": metrics,
        "versions": library_versions(),
        **(decision or {"task": SINGLE_LABEL}),
    }


# --- how probabilities become a decision ------------------------------------------------------
# single_label: probabilities are a softmax, the label is the argmax (metadata may add
# "calibration": the temperature already divided into the graph's logits);
# multi_label: one sigmoid per label, the labels are those at or above "multi_label.thresholds".
SINGLE_LABEL, MULTI_LABEL = "single_label", "multi_label"


def decision_metadata(multi_label: dict[str, Any] | None, calibrations: list[dict[str, Any] | None]) -> dict[str, Any]:
    """metadata.json's ``task``, ``multi_label`` (thresholds) and ``calibration`` entries."""
    if multi_label:
        return {"task": MULTI_LABEL, "multi_label": {"thresholds": [float(t) for t in multi_label["thresholds"]],
                                                      "threshold_mode": multi_label.get("threshold_mode")}}
    temperatures = [float((c or {}).get("temperature", 1.0)) for c in calibrations]
    calibration: dict[str, Any] = {"method": "none"}
    if any(t != 1.0 for t in temperatures):
        calibration = {"method": "temperature", "in_graph": True}
        calibration.update({"temperature": temperatures[0]} if len(temperatures) == 1 else {"member_temperatures": temperatures})
    return {"task": SINGLE_LABEL, "calibration": calibration}


def read_decision(path: Path, metadata: dict[str, Any], labels: list[str]) -> list[float] | None:
    """The multi-label thresholds of a bundle (one per label, in (0, 1]), or None for single-label."""
    task = metadata.get("task", SINGLE_LABEL)
    if task == SINGLE_LABEL:
        return None
    if task != MULTI_LABEL:
        raise DataError(path / METADATA_FILE, f"task {task!r}; this bilstm_clf reads {SINGLE_LABEL} and {MULTI_LABEL}")
    thresholds = (metadata.get("multi_label") or {}).get("thresholds")
    ok = isinstance(thresholds, list) and len(thresholds) == len(labels) and all(
        isinstance(t, (int, float)) and not isinstance(t, bool) and 0.0 < t <= 1.0 for t in thresholds)
    if not ok:
        raise DataError(path / METADATA_FILE, f"multi_label.thresholds must be {len(labels)} numbers in (0, 1], one per label")
    return [float(t) for t in thresholds]


def read_parts(path: Path) -> tuple[dict[str, Any], list[str]]:
    """(metadata, labels) of a bundle directory, checked against the contract and each other.
    Raises ``DataError`` naming the file at fault."""
    if not path.is_dir():
        raise DataError(path, "not a bundle directory" + ("" if path.exists() else " (not found)"))
    missing = [name for name in FILES if not (path / name).is_file()]
    if missing:
        raise DataError(path, f"not a complete bundle: missing {', '.join(missing)}")
    metadata = read_json(path / METADATA_FILE)
    if not isinstance(metadata, dict) or metadata.get("format") != FORMAT:
        raise DataError(path / METADATA_FILE, f"not bundle metadata (expected format {FORMAT!r})")
    if metadata.get("format_version") != FORMAT_VERSION:
        raise DataError(
            path / METADATA_FILE,
            f"bundle format version {metadata.get('format_version')!r}; this bilstm_clf reads version {FORMAT_VERSION}",
        )
    check_metadata(path / METADATA_FILE, metadata)
    labels = read_json(path / LABELS_FILE)
    if not isinstance(labels, list) or not labels or not all(isinstance(x, str) for x in labels):
        raise DataError(path / LABELS_FILE, "expected a non-empty JSON list of label strings")
    if len(set(labels)) != len(labels):
        raise DataError(path / LABELS_FILE, "labels repeat; each class needs its own name")
    recorded = metadata.get("labels")
    # Same count, other names or order: a mislabelled bundle (a count mismatch is caught against
    # the model's outputs, with its own message).
    if isinstance(recorded, list) and len(recorded) == len(labels) and recorded != labels:
        raise DataError(path / LABELS_FILE, "labels differ from the ones metadata.json records (names or order)")
    return metadata, labels


def _count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 1


# What the runtime reads from metadata.json, with the type each value must have: a hand-edited
# or foreign file fails at load, naming the key, not later with a traceback.
_SECTIONS = ("model_config", "inference", "onnx", "checkpoint", "training", "metrics")
_VALUES = (
    ("inference", "max_chars", lambda v: v is None or _count(v), "a positive integer"),
    ("inference", "text_field", lambda v: v is None or isinstance(v, str) or (isinstance(v, int) and not isinstance(v, bool) and v >= 0),
     "a column name, a 0-based index or null"),
    ("model_config", "vocab_size", lambda v: v is None or _count(v), "a positive integer"),
    ("model_config", "num_classes", lambda v: v is None or _count(v), "a positive integer"),
)


def check_metadata(path: Path, metadata: dict[str, Any]) -> None:
    for section in _SECTIONS:
        if metadata.get(section) is not None and not isinstance(metadata[section], dict):
            raise DataError(path, f"{section} is {type(metadata[section]).__name__}; expected a JSON object")
    for section, key, valid, expected in _VALUES:
        value = (metadata.get(section) or {}).get(key)
        if not valid(value):
            raise DataError(path, f"{section}.{key} is {value!r}; expected {expected}")
    if metadata.get("labels") is not None and not isinstance(metadata["labels"], list):
        raise DataError(path, f"labels is {type(metadata['labels']).__name__}; expected a JSON list")


def check_vocabulary(path: Path, vocab_size: int, embedding_rows: int | None) -> None:
    """The tokenizer may not produce ids the model's embedding has no row for."""
    if embedding_rows is not None and vocab_size > embedding_rows:
        raise DataError(path / TOKENIZER_FILE, f"maps words to {vocab_size} ids but the model has {embedding_rows} embedding rows")
