"""The bundle contract's checks on load: each names the file at fault."""

import json
from pathlib import Path

import pytest

from bilstm_clf.common import bundle
from bilstm_clf.common.errors import DataError


def make_bundle(path: Path, labels=("neg", "pos"), **metadata_changes) -> Path:
    path.mkdir()
    for name in bundle.FILES:
        (path / name).write_text("{}")
    metadata = {"format": bundle.FORMAT, "format_version": bundle.FORMAT_VERSION, "labels": list(labels), "inference": {"max_chars": 100}}
    metadata.update(metadata_changes)
    (path / bundle.METADATA_FILE).write_text(json.dumps(metadata))
    (path / bundle.LABELS_FILE).write_text(json.dumps(list(labels)))
    return path


def test_a_well_formed_bundle_reads(tmp_path):
    metadata, labels = bundle.read_parts(make_bundle(tmp_path / "b"))
    assert labels == ["neg", "pos"] and metadata["inference"]["max_chars"] == 100


@pytest.mark.parametrize(
    ("damage", "file", "message"),
    [(lambda b: (b / bundle.LABELS_FILE).write_text('["pos", "neg"]'), bundle.LABELS_FILE, "labels differ from the ones metadata.json records"),
     (lambda b: (b / bundle.LABELS_FILE).write_text('["pos", "pos"]'), bundle.LABELS_FILE, "labels repeat"),
     (lambda b: (b / bundle.LABELS_FILE).write_text("[]"), bundle.LABELS_FILE, "expected a non-empty JSON list"),
     (lambda b: (b / bundle.METADATA_FILE).write_text(json.dumps({"format": bundle.FORMAT, "format_version": 1, "inference": {"max_chars": "many"}})),
      bundle.METADATA_FILE, "inference.max_chars is 'many'"),
     (lambda b: (b / bundle.METADATA_FILE).write_text(json.dumps({"format": bundle.FORMAT, "format_version": 99})), bundle.METADATA_FILE, "format version 99"),
     (lambda b: (b / bundle.MODEL_FILE).unlink(), None, "missing model.onnx")],
)
def test_damaged_parts_are_one_error_naming_the_file(tmp_path, damage, file, message):
    path = make_bundle(tmp_path / "b")
    damage(path)
    with pytest.raises(DataError, match=message) as err:
        bundle.read_parts(path)
    assert err.value.path == str(path / file if file else path)


def test_a_tokenizer_with_more_ids_than_embedding_rows_is_refused(tmp_path):
    bundle.check_vocabulary(tmp_path, 10, 10)
    bundle.check_vocabulary(tmp_path, 10, None)  # unknown size: nothing to compare
    with pytest.raises(DataError, match="11 ids but the model has 10 embedding rows"):
        bundle.check_vocabulary(tmp_path, 11, 10)
