"""Bundles of multi-label and temperature-calibrated checkpoints: what the metadata says, parity
with the checkpoint within 1e-5, the runtime's label sets and top-k, and predict's records."""

import json

import numpy as np
import pytest
import torch

from bilstm_clf.common.errors import DataError
from bilstm_clf.exporting.bundle_writer import export_bundle
from bilstm_clf.predict import main as predict_main
from bilstm_clf.serving.runtime import Classifier
from bilstm_clf.training.lit_module import CHECKPOINT_KEY
from tests.export_helpers import CORPUS, save_checkpoint, tiny_encoder

LABELS = ["negative", "positive", "strong"]
THRESHOLDS = [0.5, 0.3, 0.7]


def _with_extra(path, **extra):
    checkpoint = torch.load(path, weights_only=True)
    checkpoint[CHECKPOINT_KEY].update(extra)
    torch.save(checkpoint, path)
    return path


def _torch_outputs(model, tokenizer, texts):
    ids = tokenizer.encode_batch(texts)
    lengths = torch.tensor([len(r) for r in ids])
    batch = torch.nn.utils.rnn.pad_sequence([torch.tensor(r) for r in ids], batch_first=True)
    with torch.inference_mode():
        return model(batch, lengths).double().numpy()


@pytest.fixture(scope="module")
def multi_label_bundle(tmp_path_factory):
    root = tmp_path_factory.mktemp("ml")
    tokenizer = tiny_encoder()
    path, model = save_checkpoint(root / "model.ckpt", tokenizer, LABELS, seed=3)
    _with_extra(path, multi_label={"thresholds": THRESHOLDS, "threshold_mode": "per_label"})
    return export_bundle(path, root / "bundle"), model, tokenizer


def test_multi_label_bundle_equals_the_checkpoint_and_applies_its_thresholds(multi_label_bundle):
    bundle, model, tokenizer = multi_label_bundle
    metadata = json.loads((bundle / "metadata.json").read_text())
    assert metadata["task"] == "multi_label" and metadata["multi_label"]["thresholds"] == THRESHOLDS
    assert metadata["onnx"]["probabilities"] == "sigmoid"
    texts = [*CORPUS, "an unseen review of a film"]
    expected = 1 / (1 + np.exp(-_torch_outputs(model, tokenizer, texts)))
    classifier = Classifier.load(bundle)
    got = classifier.predict_proba(texts)
    assert np.abs(got - expected).max() <= 1e-5
    assert not np.allclose(got.sum(axis=1), 1.0)  # independent sigmoids, not a softmax
    for text, probabilities, prediction in zip(texts, got, classifier.predict(texts, top_k=2)):
        assert prediction.labels == tuple(l for l, p, t in zip(LABELS, probabilities, THRESHOLDS) if p >= t)
        assert [k for k, _ in prediction.top_k] == [LABELS[j] for j in np.argsort(-probabilities)[:2]]
        record = prediction.to_dict()
        assert set(record) == {"labels", "probabilities", "top_k"} and list(record["probabilities"]) == LABELS


def test_predict_cli_prints_label_sets_and_top_k(multi_label_bundle, capsys):
    bundle, _, _ = multi_label_bundle
    predict_main(["--bundle", str(bundle), "--top-k", "1", "a great and moving film", "   "])
    first, empty = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert isinstance(first["labels"], list) and len(first["top_k"]) == 1 and len(first["probabilities"]) == 3
    assert empty == {"index": 1, "labels": None, "probabilities": None, "empty": True}
    predict_main(["--bundle", str(bundle), "--format", "table", "i hated it"])
    assert "p(strong)" in capsys.readouterr().out


def test_bad_thresholds_are_refused_with_the_file_named(multi_label_bundle, tmp_path):
    import shutil

    bundle = shutil.copytree(multi_label_bundle[0], tmp_path / "b")
    metadata = json.loads((bundle / "metadata.json").read_text())
    metadata["multi_label"]["thresholds"] = [0.5, 2.0]
    (bundle / "metadata.json").write_text(json.dumps(metadata))
    with pytest.raises(DataError, match=r"metadata\.json: multi_label\.thresholds must be 3 numbers in \(0, 1\]"):
        Classifier.load(bundle)


def test_calibrated_bundle_divides_by_the_temperature_and_keeps_the_argmax(tmp_path):
    tokenizer = tiny_encoder()
    path, model = save_checkpoint(tmp_path / "model.ckpt", tokenizer, ["neg", "pos", "mid"], seed=5)
    _with_extra(path, calibration={"method": "temperature", "temperature": 2.5})
    classifier = Classifier.load(export_bundle(path, tmp_path / "bundle"))
    assert classifier.metadata["calibration"] == {"method": "temperature", "in_graph": True, "temperature": 2.5}
    assert classifier.temperature == 2.5 and not classifier.multi_label
    logits = _torch_outputs(model, tokenizer, CORPUS)
    scaled = np.exp(logits / 2.5 - (logits / 2.5).max(1, keepdims=True))
    got = classifier.predict_proba(CORPUS)
    assert np.abs(got - scaled / scaled.sum(1, keepdims=True)).max() <= 1e-5
    np.testing.assert_array_equal(got.argmax(1), logits.argmax(1))
    top = classifier.predict(CORPUS[:1], top_k=3)[0]
    assert top.label == top.top_k[0][0] and [p for _, p in top.top_k] == sorted((p for _, p in top.top_k), reverse=True)
