"""Tagged data end to end through the real CLIs: a multi-label JSONL set trains (sigmoid, dev-tuned
thresholds), logs its panels, exports and predicts; a single-label run fits a temperature and
reports ECE before and after. ``embeddings=none``, tiny files."""

import json
from pathlib import Path

import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.util import tensor_util

from tests.conftest import NEGATIVE, POSITIVE, ROOT, run_cli, write

TINY = ["embeddings=none", "model.embedding_dim=16", "model.hidden_size=16", "trainer.max_epochs=3",
        "callbacks.progress_bar.refresh_rate=0", "callbacks.tensorboard_reports.projector_words=0"]
STRONG = {"a great and moving film", "a joy to watch", "a waste of time", "terrible acting and a bad story"}


def _tags(text: str) -> list[str]:
    tags = ["positive"] if text in POSITIVE else ["negative"]
    return tags + (["strong"] if text in STRONG else [])


def _events(run: Path) -> EventAccumulator:
    events = EventAccumulator(str(run / "tensorboard"), size_guidance={"scalars": 0, "images": 0, "tensors": 0})
    events.Reload()
    return events


def _text(events, tag: str) -> str:
    return tensor_util.make_ndarray(events.Tensors(f"{tag}/text_summary")[-1].tensor_proto).item().decode()


@pytest.fixture(scope="module")
def multi_label_run(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("tags")
    rows = [{"text": t, "tags": _tags(t)} for t in POSITIVE + NEGATIVE] + [{"text": "it is a film", "tags": []}]
    for split, repeat in (("train", 6), ("dev", 2), ("test", 2)):
        write(root / f"{split}.jsonl", "".join(json.dumps(r) + "\n" for r in rows * repeat))
    run = root / "run"
    result = run_cli(["-m", "bilstm_clf.train", "data=custom", f"data.data_dir={root}", "data.train_file=train.jsonl",
                      "data.val_file=dev.jsonl", "data.test_file=test.jsonl", "data.label_field=tags", "data.multi_label=true",
                      "data.allow_empty_labels=true", "pos_weight=balanced", *TINY, f"hydra.run.dir={run}"], cwd=ROOT)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "test micro-F1" in result.stdout
    return run


def test_multi_label_run_reports_its_scores_and_keeps_thresholds_in_checkpoint_and_bundle(multi_label_run):
    metrics = json.loads((multi_label_run / "metrics.json").read_text())
    assert metrics["task"] == "multi_label" and metrics["calibration"] == {"method": "none"}
    for split in ("val", "test"):
        for key in ("f1_micro", "f1_macro", "subset_acc", "hamming_loss", "loss"):
            assert 0.0 <= metrics[f"{split}/{key}"] <= 1.0 or key == "loss"
        assert set(metrics["per_class"][split]) == {"negative", "positive", "strong"}
    assert metrics["best/val/f1_macro"] == pytest.approx(metrics["val/f1_macro"])
    checkpoint = torch.load(metrics["best_checkpoint"], weights_only=True)
    thresholds = checkpoint["bilstm_clf"]["multi_label"]["thresholds"]
    assert [metrics["per_class"]["test"][n]["threshold"] for n in ("negative", "positive", "strong")] == pytest.approx(thresholds)
    bundle = json.loads((multi_label_run / "bundle" / "metadata.json").read_text())
    assert bundle["task"] == "multi_label" and bundle["multi_label"]["thresholds"] == pytest.approx(thresholds)
    assert bundle["metrics"]["test/f1_micro"] == pytest.approx(metrics["test/f1_micro"])


def test_multi_label_panels_in_tensorboard(multi_label_run):
    events = _events(multi_label_run)
    tensors, scalars = events.Tags()["tensors"], events.Tags()["scalars"]
    for split in ("val", "test"):
        for label in ("negative", "positive", "strong"):
            assert f"{split}/pr_curve/{label}" in tensors
            assert f"class_threshold/{split}/{label}" in scalars
        assert f"{split}/per_label/text_summary" in tensors
        for key in ("f1_micro", "f1_macro", "subset_acc", "hamming_loss"):
            assert f"{split}/{key}" in scalars
    table = _text(events, "test/per_label")
    assert "| label | support | predicted | precision | recall | F1 | threshold |" in table and "strong" in table
    assert "with a wrong label set" in _text(events, "val/misclassified")


def test_the_trained_bundle_equals_its_checkpoint(multi_label_run):
    from bilstm_clf.data.tokenizer import Tokenizer
    from bilstm_clf.models import BiLSTMClassifier
    from bilstm_clf.serving.runtime import Classifier

    metrics = json.loads((multi_label_run / "metrics.json").read_text())
    checkpoint = torch.load(metrics["best_checkpoint"], weights_only=True)
    model = BiLSTMClassifier(**checkpoint["hyper_parameters"]["model_config"]).eval()
    model.load_state_dict({k[len("model."):]: v for k, v in checkpoint["state_dict"].items() if k.startswith("model.")})
    texts = [*POSITIVE, *NEGATIVE, "an unseen text about nothing"]
    ids = Tokenizer.from_json(checkpoint["bilstm_clf"]["tokenizer_json"]).encode_batch(texts)
    batch = torch.nn.utils.rnn.pad_sequence([torch.tensor(r) for r in ids], batch_first=True)
    with torch.inference_mode():
        expected = torch.sigmoid(model(batch, torch.tensor([len(r) for r in ids]))).numpy()
    classifier = Classifier.load(multi_label_run / "bundle")
    assert abs(classifier.predict_proba(texts) - expected).max() <= 1e-5
    thresholds = checkpoint["bilstm_clf"]["multi_label"]["thresholds"]
    for row, prediction in zip(expected, classifier.predict(texts)):
        assert prediction.labels == tuple(n for n, p, t in zip(classifier.labels, row, thresholds) if p >= t)


def test_predict_with_the_multi_label_bundle(multi_label_run, tmp_path):
    result = run_cli(["-m", "bilstm_clf.predict", "--bundle", str(multi_label_run / "bundle"), "--top-k", "2", "a joy to watch"], cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    record = json.loads(result.stdout)
    assert set(record) == {"index", "labels", "probabilities", "top_k"} and len(record["top_k"]) == 2
    assert set(record["labels"]) <= {"negative", "positive", "strong"}


def test_single_label_run_fits_a_temperature_and_reports_ece(tiny_dataset, tmp_path):
    run = tmp_path / "run"
    result = run_cli(["-m", "bilstm_clf.train", "data=custom", f"data.data_dir={tiny_dataset}", "data.train_file=train.tsv",
                      "data.val_file=dev.tsv", "data.test_file=test.tsv", "data.text_field=sentence", *TINY, f"hydra.run.dir={run}"], cwd=ROOT)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "calibration: temperature" in result.stdout
    metrics = json.loads((run / "metrics.json").read_text())
    temperature = metrics["calibration"]["temperature"]
    assert metrics["calibration"]["method"] == "temperature" and temperature > 0
    assert metrics["calibration"]["val_nll_calibrated"] <= metrics["calibration"]["val_nll"] + 1e-9
    for key in ("val/ece", "val/ece_calibrated", "test/ece", "test/ece_calibrated"):
        assert 0.0 <= metrics[key] <= 1.0
    checkpoint = torch.load(metrics["best_checkpoint"], weights_only=True)
    assert checkpoint["bilstm_clf"]["calibration"]["temperature"] == temperature
    bundle = json.loads((run / "bundle" / "metadata.json").read_text())
    if temperature != 1.0:  # exactly 1.0: scaling did not lower the dev NLL, and the bundle says method none
        assert bundle["calibration"] == {"method": "temperature", "in_graph": True, "temperature": pytest.approx(temperature)}
    images = _events(run).Tags()["images"]
    assert "val/reliability_diagram" in images and "test/reliability_diagram" in images


def test_calibration_none_leaves_model_and_bundle_uncalibrated():
    from bilstm_clf.common.bundle import decision_metadata
    from bilstm_clf.training.calibrate_run import calibrate

    assert calibrate("none", module=None, datamodule=None, best_path="") == {"calibration": {"method": "none"}}
    assert decision_metadata(None, [None]) == {"task": "single_label", "calibration": {"method": "none"}}
    assert decision_metadata(None, [{"temperature": 1.5}, {"temperature": 2.0}])["calibration"]["member_temperatures"] == [1.5, 2.0]
